//! The real-GIL tracer's cost to the traced program, two ways.
//!
//! `rate`: runs `assets/python/trace_rate.py` (a loop of `os.fstat`, each
//! call dropping and re-taking the GIL: four probe hits, `drop_gil` having
//! a return probe too) with pyenv's 3.11,
//! reads its calls per 100 ms alone, then with `threadlab attach` (release
//! build), then after detaching. Prints the medians and the probes' cost per
//! GIL release + re-take. A CPU-bound program switches ~200 times a second,
//! so its cost is that figure × 200 per second.
//!
//! `overhead`: the side-by-side rows. Two programs, each run for 2 s
//! of its own wall clock and printing the work it did: two CPU-bound threads
//! (`trace_cpu.py`: loop iterations) and the convoy (`trace_convoy.py`:
//! loopback round trips beside a CPU thread, the most GIL events per
//! second). Each runs alone and under `threadlab trace --json`, alternated,
//! `THREADLAB_BENCH_RUNS` times each (default 5); the row gives every run's
//! work, the medians, the slowdown of the medians, a verdict against the
//! budget (CPU-bound ≤ 3 %, convoy ≤ 15 %) from the quiet pairs only (other
//! processes ≤ 0.15 cores; none without 3 of them), and the probe events
//! and lost events the traced runs reported. Each run first waits for a quiet machine and notes the CPU
//! other processes used meanwhile. The CPU-bound script also prints its own
//! CPU time, so the row adds work per CPU second alone and traced: the
//! probes' traps run on the program's threads, so that ratio shows their
//! cost even when other processes take the cores (wall-clock work then
//! says more about them than about the tracer).
//!
//! Needs root and the uprobe PMU; skips with a message otherwise.
//!
//! `stacks`: what sampling the Python stacks adds (`--rate`), beside the
//! probes alone and py-spy's `--gil` sampling at the same rate
//! (`trace/stacks.rs`).
//!
//! `sampled`: the sampled mode's hold % error against exact and its cost,
//! at 100, 250 and 1000 Hz, beside `py-spy record --gil` at the same rates
//! (`trace/sampled.rs`).
//!
//! Run: `cargo build --release && sudo cargo bench --bench trace [-- rate|overhead|overhead-cpu|overhead-convoy|stacks|sampled]`.

mod common;
#[path = "trace/overhead.rs"]
mod overhead;
#[path = "trace/sampled.rs"]
mod sampled;
#[path = "trace/stacks.rs"]
mod stacks;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

/// Rate windows (100 ms each) per phase of the `rate` measurement.
const WINDOWS: usize = 20;

fn main() {
    if !common::should_run("trace") {
        return;
    }
    if let Some(why) = common::cannot_trace() {
        println!("trace: skipped ({why})");
        return;
    }
    let Some(python) = common::pyenv_python("3.11") else {
        println!("trace: skipped (no pyenv 3.11)");
        return;
    };
    let bin = common::release_binary();
    println!("{}", common::machine_line());
    let filters = common::filters();
    if common::wanted(&filters, "rate") {
        rate(&bin, &python);
    }
    if filters.iter().any(|f| f.starts_with("overhead")) || filters.is_empty() {
        overhead::run(&bin, &python, common::runs(5), &filters);
    }
    if common::wanted(&filters, "stacks") {
        stacks::run(&bin, &python, common::runs(5));
    }
    if common::wanted(&filters, "sampled") {
        sampled::run(&bin, &python, common::runs(3));
    }
}

/// The probes' cost per GIL release + re-take, attached to a running loop.
fn rate(bin: &Path, python: &Path) {
    let windows = WINDOWS;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/python/trace_rate.py");
    let mut program = Command::new(python)
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn trace_rate.py");
    let rx = rates(program.stdout.take().expect("stdout"));
    skip(&rx, 5);
    let alone = median_of(&rx, windows);
    let mut tracer = Command::new(bin)
        .args(["attach", &program.id().to_string(), "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn threadlab attach");
    skip(&rx, 5);
    let traced = median_of(&rx, windows);
    if let Some(pid) = rustix::process::Pid::from_raw(tracer.id() as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
    }
    let _ = tracer.wait();
    skip(&rx, 5);
    let after = median_of(&rx, windows);
    let _ = program.kill();
    let _ = program.wait();
    let per_call = |rate: f64| 100_000.0 / rate;
    println!(
        "GIL release+retake (os.fstat) per 100 ms, median of {windows}: alone {alone:.0}, traced {traced:.0}, after detach {after:.0}"
    );
    println!(
        "probe cost per release+retake (4 hits): {:.2} µs; a CPU-bound pair (~200 switches/s) pays ~{:.2} ms/s",
        per_call(traced) - per_call(alone),
        (per_call(traced) - per_call(alone)) * 200.0 / 1000.0
    );
}

fn rates(out: impl std::io::Read + Send + 'static) -> Receiver<f64> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(n) = line
                .strip_prefix("rate ")
                .and_then(|n| n.trim().parse().ok())
                && tx.send(n).is_err()
            {
                break;
            }
        }
    });
    rx
}

fn next(rx: &Receiver<f64>) -> f64 {
    rx.recv_timeout(Duration::from_secs(30))
        .expect("trace_rate.py prints a rate every 100 ms")
}

fn skip(rx: &Receiver<f64>, n: usize) {
    for _ in 0..n {
        next(rx);
    }
}

fn median_of(rx: &Receiver<f64>, n: usize) -> f64 {
    let values: Vec<f64> = (0..n).map(|_| next(rx)).collect();
    common::median(&values)
}
