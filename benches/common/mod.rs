//! Shared by the process-level benchmarks (`latency`, `idle`, `memory`,
//! `startup`, `throughput`): choosing what runs and finding the release
//! binary (here), a pseudo-terminal harness that timestamps what the screen
//! shows ([`pty`]), `/proc` readers ([`procfs`]), a loopback `threadlab
//! serve` child ([`serve`]), and percentile summaries ([`stats`]).
//!
//! These benchmarks have their own `main` (`harness = false`). Cargo passes
//! `--bench` to them under `cargo bench` only; without it (`cargo test
//! --benches`, `--all-targets`) they print one line and exit, so tests never
//! run the slow pty scenarios.
//!
//! The pty harness is not the tests' one (`tests/common/pty.rs`), because
//! it differs in one way that matters for timing: the reader thread itself
//! evaluates the awaited condition after every chunk it feeds to the `vt100`
//! parser and stamps the instant it first holds, so a measured latency ends
//! when the bytes that make the change visible have been read and parsed —
//! not when a waiting thread happens to be scheduled. For the same reason
//! the reader runs before the child is spawned (start-up is timed from the
//! spawn) and keeps no copy of the raw output (a long run writes a lot).

// Each bench binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::thread;
use std::time::SystemTime;

mod pty;
mod serve;
// The exit's logged steps, `/proc` readers and the pty reader loop: one
// copy for the benchmarks and the tests (the `threadlab-test-support` crate).
use threadlab_test_support::{exit_steps, procfs, pty_reader};
mod stats;

// Each bench binary uses its own subset.
#[allow(unused_imports)]
pub use exit_steps::*;
#[allow(unused_imports)]
pub use procfs::*;
#[allow(unused_imports)]
pub use pty::*;
#[allow(unused_imports)]
pub use serve::*;
#[allow(unused_imports)]
pub use stats::*;

/// The terminal size every pty benchmark uses (the frame benchmark's size).
pub const ROWS: u16 = 48;
/// The terminal size every pty benchmark uses (the frame benchmark's size).
pub const COLS: u16 = 160;

/// Text of the help overlay's title: visible iff the overlay is open.
pub const HELP_TITLE: &str = "Help · keys";

/// True when cargo runs this binary as a benchmark (`cargo bench`).
pub fn bench_mode() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// Returns false (after saying so) unless running under `cargo bench`.
pub fn should_run(name: &str) -> bool {
    if bench_mode() {
        true
    } else {
        println!(
            "{name}: benchmark skipped (not a test); run it with `cargo bench --bench {name}`"
        );
        false
    }
}

/// Positional arguments after `--bench` (`cargo bench --bench latency -- idle`).
pub fn filters() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect()
}

/// True if `name` was asked for (no filter: everything).
pub fn wanted(filters: &[String], name: &str) -> bool {
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}

/// How many times to repeat each measured scenario (`THREADLAB_BENCH_RUNS`).
pub fn runs(default: usize) -> usize {
    std::env::var("THREADLAB_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// The release binary, `target/release/threadlab`. Exits with a clear message
/// if it is missing; warns if any file under `src/` is newer than it.
pub fn release_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = root.join("target/release/threadlab");
    let Ok(meta) = std::fs::metadata(&bin) else {
        eprintln!(
            "error: {} is missing. Build it first:\n\n    cargo build --release\n",
            bin.display()
        );
        std::process::exit(1);
    };
    let built = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    if let Some(newer) = newest_file(&root.join("src")).filter(|(t, _)| *t > built) {
        eprintln!(
            "warning: {} is newer than {}; run `cargo build --release` for current numbers",
            newer.1.display(),
            bin.display()
        );
    }
    bin
}

fn newest_file(dir: &Path) -> Option<(SystemTime, PathBuf)> {
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let candidate = if path.is_dir() {
            newest_file(&path)
        } else {
            entry.metadata().ok()?.modified().ok().map(|t| (t, path))
        };
        if let Some(c) = candidate
            && newest.as_ref().is_none_or(|n| c.0 > n.0)
        {
            newest = Some(c);
        }
    }
    newest
}

/// One line naming the machine, for the log of a benchmark run.
pub fn machine_line() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    let cores = thread::available_parallelism().map_or(0, usize::from);
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "machine: {cores} cores, {model}, {:.1} GiB, kernel {}",
        mem_kib as f64 / 1024.0 / 1024.0,
        kernel.trim()
    )
}

/// pyenv's newest CPython `minor` (e.g. `3.11`) interpreter, if installed
/// (`$(pyenv root)/versions`, or `/root/.pyenv/versions`).
pub fn pyenv_python(minor: &str) -> Option<PathBuf> {
    let mut roots = Vec::new();
    if let Ok(out) = std::process::Command::new("pyenv").arg("root").output()
        && out.status.success()
    {
        roots.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    roots.push(PathBuf::from("/root/.pyenv"));
    roots.into_iter().find_map(|root| {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join("versions"))
            .ok()?
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&format!("{minor}.")))
            })
            .map(|e| e.path().join(format!("bin/python{minor}")))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        found.pop()
    })
}

/// `pid` and every process below it (children, their children…), from
/// `/proc/PID/task/*/children`.
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut tree = vec![pid];
    let mut next = 0;
    while next < tree.len() {
        let parent = tree[next];
        next += 1;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{parent}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                if !tree.contains(&child) {
                    tree.push(child);
                }
            }
        }
    }
    tree
}

/// Whether this machine can run the tracer: root and the uprobe PMU
/// (`None`), or why not.
pub fn cannot_trace() -> Option<&'static str> {
    if !rustix::process::geteuid().is_root() {
        Some("needs root")
    } else if !Path::new("/sys/bus/event_source/devices/uprobe/type").exists() {
        Some("no uprobe PMU in this kernel")
    } else {
        None
    }
}
