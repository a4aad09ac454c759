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
//! First it prints the Python the real round trip runs beyond its
//! syscalls (`benches/python/convoy_python.py`'s loop, less the same
//! syscalls timed here without Python): the emulated I/O thread holds the
//! GIL that long between its releases.
//!
//! Environment: `THREADLAB_BENCH_RUNS` (default 6) runs;
//! `THREADLAB_BENCH_PYTHON` the interpreter (default pyenv's 3.11.7; the
//! real side is skipped with one line if it is missing).
//!
//! Run: `cargo bench --bench convoy_shape`. For the shape of a quiet
//! machine on a busy one, run the built binary under SCHED_FIFO:
//! `cargo bench --bench convoy_shape --no-run`, then
//! `chrt -f 10 target/release/deps/convoy_shape-HASH --bench`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

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
    if real {
        python_between(&python);
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

/// Round trips timed for the Python-between-releases line.
const ROUND_TRIPS: u32 = 200_000;

/// Prints the real round trip's Python: `convoy_python.py`'s microseconds
/// per round trip less those of the same syscalls (a `send` and a `recv` of
/// 64 bytes on a loopback pair, two wall-clock reads) with no Python.
fn python_between(python: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python/convoy_python.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(ROUND_TRIPS.to_string())
        .output()
        .expect("running convoy_python.py");
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(real_us) = text
        .split(':')
        .nth(1)
        .and_then(|v| v.trim().trim_end_matches('}').trim().parse::<f64>().ok())
    else {
        println!("convoy_python.py printed {text:?}");
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback listener");
    let mut conn = TcpStream::connect(listener.local_addr().expect("listener address"))
        .expect("connecting on loopback");
    let (mut peer, _) = listener.accept().expect("accepting on loopback");
    conn.set_nodelay(true).expect("TCP_NODELAY");
    let mut buf = [7u8; 64];
    let began = Instant::now();
    for _ in 0..ROUND_TRIPS {
        std::hint::black_box(SystemTime::now());
        conn.write_all(&buf).expect("loopback send");
        peer.read_exact(&mut buf).expect("loopback recv");
        std::hint::black_box(SystemTime::now());
    }
    let syscalls_us = began.elapsed().as_secs_f64() * 1e6 / f64::from(ROUND_TRIPS);
    println!(
        "python between releases: {:.2} us per round trip ({real_us:.2} us with Python, {syscalls_us:.2} us without)",
        real_us - syscalls_us
    );
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
