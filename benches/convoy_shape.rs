//! The one-CPU convoy's shape (#25 §4), emulated `gil` beside CPython 3.11,
//! counted per release.
//!
//! Each round trip of `compare convoy`'s I/O thread releases the GIL twice
//! (around `sendall`, around `recv`); beside one CPU thread it may wait a
//! switch interval after either. For each run this prints, emulated and
//! real in turn: round trips/s, the round trips, the waits after a send,
//! after a receive, and the round trips that waited after both. The
//! emulated side is `threadlab::lab::convoy_shape` (`convoy` in `gil`
//! mode, counted from its timeline); the real side is
//! `benches/python/convoy_split.py`, which times each call.
//!
//! Environment: `THREADLAB_BENCH_RUNS` (default 6) runs;
//! `THREADLAB_BENCH_PYTHON` the interpreter (default pyenv's 3.11.7; the
//! real side is skipped with one line if it is missing).
//!
//! Run: `cargo bench --bench convoy_shape`. For the shape of a quiet
//! machine on a busy one, run the built binary under SCHED_FIFO:
//! `cargo bench --bench convoy_shape --no-run`, then
//! `chrt -f 10 target/release/deps/convoy_shape-HASH --bench`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use threadlab::gil::SwitchInterval;
use threadlab::lab::{self, BenchConfig};

/// Seconds per run, each side.
const SECONDS: f64 = 1.0;

fn main() {
    let runs: usize = std::env::var("THREADLAB_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let python = std::env::var("THREADLAB_BENCH_PYTHON")
        .unwrap_or_else(|_| "/root/.pyenv/versions/3.11.7/bin/python3.11".to_string());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python/convoy_split.py");
    let real = Path::new(&python).exists();
    if !real {
        println!("{python} not found: the real side is skipped");
    }
    println!("side      rt/s  round trips  waits after send  after recv  both");
    for _ in 0..runs {
        emulated();
        if real {
            let out = Command::new(&python)
                .arg(&script)
                .arg(SECONDS.to_string())
                .output()
                .expect("running convoy_split.py");
            println!("real  {}", String::from_utf8_lossy(&out.stdout).trim());
        }
    }
}

/// One emulated run beside one CPU thread, printed as a line.
fn emulated() {
    let config = BenchConfig::new(
        vec![1],
        SwitchInterval::DEFAULT,
        Duration::from_secs_f64(SECONDS),
    );
    match lab::convoy_shape(&config) {
        Some(shape) => println!(
            "emu   {:.0}/s  {}  {}  {}  {}",
            shape.round_trips_per_s,
            shape.round_trips,
            shape.after_send,
            shape.after_recv,
            shape.both
        ),
        // The ring wrapped: which release came first is unknown.
        None => println!("emu   too many round trips to count per release"),
    }
}
