//! The real-GIL tracer's cost to the traced program.
//!
//! Runs `assets/python/trace_rate.py` (a loop of `os.fstat`, each call
//! dropping and re-taking the GIL: three probe hits) with pyenv's 3.11,
//! reads its calls per 100 ms alone, then with `threadlab attach` (release
//! build), then after detaching. Prints the medians and the probes' cost per
//! GIL release + re-take. A CPU-bound program switches ~200 times a second,
//! so its cost is that figure × 200 per second.
//!
//! Needs root and the uprobe PMU; skips with a message otherwise.
//!
//! Run: `cargo build --release && sudo cargo bench --bench trace`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

fn main() {
    if !common::should_run("trace") {
        return;
    }
    if !rustix::process::geteuid().is_root()
        || !Path::new("/sys/bus/event_source/devices/uprobe/type").exists()
    {
        println!("trace: skipped (needs root and the uprobe PMU)");
        return;
    }
    let Some(python) = pyenv_311() else {
        println!("trace: skipped (no pyenv 3.11 under /root/.pyenv/versions)");
        return;
    };
    let bin = common::release_binary();
    println!("{}", common::machine_line());
    let windows = common::runs(20);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/python/trace_rate.py");
    let mut program = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn trace_rate.py");
    let rx = rates(program.stdout.take().expect("stdout"));
    skip(&rx, 5);
    let alone = median_of(&rx, windows);
    let mut tracer = Command::new(&bin)
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
        "probe cost per release+retake (3 hits): {:.2} µs; a CPU-bound pair (~200 switches/s) pays ~{:.2} ms/s",
        per_call(traced) - per_call(alone),
        (per_call(traced) - per_call(alone)) * 200.0 / 1000.0
    );
}

fn pyenv_311() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/root/.pyenv/versions")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin/python3.11"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
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
