//! A thread back from I/O beside two CPU threads (#25 §2), emulated `gil`
//! beside every CPython 3 under `$(pyenv root)/versions/`.
//!
//! The thread sleeps 5–25 ms with the GIL released, then takes it back;
//! what is timed is how much longer than the sleep that took (its wait
//! for the GIL). Both sides run the same loop: the emulated one on the
//! engine's `Gil` with two cpu-step threads, the real one
//! `benches/python/back_from_io.py`. Runs alternate between the sides.
//! One line per run: sleeps measured and the wait's p50, p90 and p99 (ms).
//!
//! Environment: `THREADLAB_BENCH_RUNS` (default 2) runs per side;
//! `THREADLAB_BENCH_SECONDS` (default 8) per run.
//!
//! Run: `cargo bench --bench back_from_io`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use threadlab::lab::back_from_io_waits;

fn main() {
    let env = |name: &str, default: f64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(default)
    };
    let runs = env("THREADLAB_BENCH_RUNS", 2.0) as usize;
    let seconds = env("THREADLAB_BENCH_SECONDS", 8.0);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python/back_from_io.py");
    let pythons = pyenv_pythons();
    if pythons.is_empty() {
        println!("no CPython 3 under $(pyenv root)/versions: the real side is skipped");
    }
    println!("a thread back from a 5–25 ms sleep beside two CPU threads: its wait for the GIL, ms");
    for _ in 0..runs {
        println!("{:<10} {}", "emulated", emulated(seconds));
        for python in &pythons {
            let out = Command::new(python)
                .arg(&script)
                .arg(seconds.to_string())
                .output()
                .expect("running back_from_io.py");
            let version = python
                .ancestors()
                .nth(2)
                .and_then(Path::file_name)
                .map_or_else(String::new, |v| v.to_string_lossy().into_owned());
            println!(
                "{version:<10} {}",
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }
    }
}

/// `$(pyenv root)/versions/3.*/bin/python3`, in version order.
fn pyenv_pythons() -> Vec<PathBuf> {
    let root = Command::new("pyenv")
        .arg("root")
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .unwrap_or_else(|| PathBuf::from("/root/.pyenv"));
    let mut found: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(root.join("versions"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let python = entry.path().join("bin/python3");
            let version = name.split('.').map(|n| n.parse().unwrap_or(0)).collect();
            (name.starts_with("3.") && python.exists()).then_some((version, python))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, python)| python).collect()
}

/// One emulated run (`threadlab::lab::back_from_io_waits`), as a line.
fn emulated(seconds: f64) -> String {
    let mut waits = back_from_io_waits(Duration::from_secs_f64(seconds));
    waits.sort_by(f64::total_cmp);
    let at = |p: f64| waits[((waits.len() - 1) as f64 * p) as usize];
    format!(
        "n {} p50 {:.2} p90 {:.2} p99 {:.2}",
        waits.len(),
        at(0.5),
        at(0.9),
        at(0.99)
    )
}
