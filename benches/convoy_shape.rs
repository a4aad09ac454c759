//! The one-CPU convoy's shape (#25 §4), emulated `gil` beside CPython 3.11,
//! counted per release.
//!
//! Each round trip of `compare convoy`'s I/O thread releases the GIL twice
//! (around `sendall`, around `recv`); beside one CPU thread it may wait a
//! switch interval after either. For each run this prints, emulated and
//! real in turn: round trips/s, the round trips, the waits after a send,
//! after a receive, and the round trips that waited after both. The
//! emulated side is `threadlab::lab::convoy` in `gil` mode, read from its
//! timeline (the I/O thread's `Io` lanes alternate send, receive; a wait
//! is a `Wait` lane right after one); the real side is
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

use threadlab::gil::{Mode, SwitchInterval, Transition};
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
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut config = BenchConfig::new(
        vec![1],
        SwitchInterval::DEFAULT,
        Duration::from_secs_f64(SECONDS),
    );
    config.gils = Some(tx);
    let rows = lab::convoy(Mode::Gil, &config).expect("the convoy runs");
    let rate = rows
        .iter()
        .find(|r| r.cpu_threads == Some(1))
        .and_then(|r| r.round_trips_per_s)
        .unwrap_or(0.0);
    let (_, gil) = rx
        .try_iter()
        .find(|(n, _)| *n == 1)
        .expect("the measurement beside a CPU thread");
    let mut events = Vec::new();
    let next = gil.timeline().read_since(0, &mut events);
    if next as usize > events.len() {
        // The ring wrapped: which release came first is unknown.
        println!("emu   {rate:.0}/s (too many round trips to count per release)");
        return;
    }
    let io = events
        .iter()
        .find(|e| e.what == Transition::Io)
        .map(|e| e.thread);
    let (mut releases, mut waits, mut both) = (0u64, [0u64; 2], 0u64);
    let (mut last_io, mut send_waited) = (None, false);
    for e in events.iter().filter(|e| Some(e.thread) == io) {
        match e.what {
            Transition::Io => {
                let which = (releases % 2) as usize;
                if which == 0 {
                    send_waited = false;
                }
                last_io = Some(which);
                releases += 1;
            }
            Transition::Wait => {
                if let Some(which) = last_io.take() {
                    waits[which] += 1;
                    send_waited |= which == 0;
                    both += u64::from(which == 1 && send_waited);
                }
            }
            Transition::Hold => last_io = None,
            _ => {}
        }
    }
    println!(
        "emu   {rate:.0}/s  {}  {}  {}  {both}",
        releases / 2,
        waits[0],
        waits[1]
    );
}
