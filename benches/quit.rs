//! Quitting under load: `q` to the process's exit with 500 workers running.
//!
//! README promises that `q` with 500 running workers of all kinds exits
//! within 1 s, leaving nothing behind (the tests check the "nothing behind"
//! and catch hangs; the time is measured here). Each run starts
//! `target/release/threadlab` in a 160×48 pty in `free` or `gil` mode,
//! spawns 125 fetch workers (1 GiB streamed at 100 kB/s from the embedded
//! server, so they stay mid-body), 125 file workers (1 GiB files), 125 cpu
//! workers (endless) and 125 seed demos, waits until the process has 625
//! threads (two per seed demo), presses `q` and stamps the moment the
//! process has exited (polled every millisecond).
//!
//! Budget: every run ≤ 1 s. Environment: `THREADLAB_BENCH_RUNS` (default 5)
//! runs per mode.
//!
//! Run: `cargo build --release && cargo bench --bench quit [-- free|gil]`.

mod common;

use std::time::{Duration, Instant};

use common::{Pty, Summary, ms};

/// Workers of each kind.
const EACH: usize = 125;

/// How long the workers may take to start, and `q` to end the process.
const PATIENCE: Duration = Duration::from_secs(60);

/// One run in `mode`: the time from `q` to the exit.
fn run(bin: &std::path::Path, mode: &str) -> Duration {
    let args = [
        "--mode",
        mode,
        "--file-mib",
        "1024",
        "--cpu-steps",
        "100000000000",
        "--serve-path",
        "/bytes/1073741824?rate=100000",
    ];
    let mut pty = Pty::dashboard(bin, &args);
    let pid = pty.pid();
    pty.send(&b"fdc".repeat(EACH));
    pty.send(&b"s".repeat(EACH));
    let started = Instant::now();
    // One thread per worker, two per seed demo, plus the dashboard's own:
    // 625 means every worker is up.
    while common::thread_count(pid).unwrap_or(0) < 5 * EACH as u64 {
        assert!(
            started.elapsed() < PATIENCE,
            "only {:?} threads after {PATIENCE:?}\n{}",
            common::thread_count(pid),
            pty.dump()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    match pty.quit_timed(PATIENCE) {
        Some(took) => took,
        None => panic!("threadlab did not exit within {PATIENCE:?} of q"),
    }
}

fn main() {
    if !common::should_run("quit") {
        return;
    }
    let filters = common::filters();
    let runs = common::runs(5);
    let bin = common::release_binary();
    println!("{}", common::machine_line());
    println!(
        "q → exit with {} workers ({EACH} each of fetch, file, cpu, seed), {runs} runs per mode",
        4 * EACH
    );
    for mode in ["free", "gil"] {
        if !common::wanted(&filters, mode) {
            continue;
        }
        common::wait_quiet(Duration::from_secs(60));
        let interference = common::Interference::start(&[]);
        let samples: Vec<Duration> = (0..runs).map(|_| run(&bin, mode)).collect();
        let foreign = interference.foreign_cores();
        let s = Summary::of(&samples);
        println!(
            "quit-{mode:<4}  p50 {:.0} ms, max {:.0} ms, min {:.0} ms (n {}) — budget max ≤ 1000 ms {}{}",
            ms(s.p50),
            ms(s.max),
            ms(s.min),
            s.n,
            if ms(s.max) <= 1000.0 { "✅" } else { "❌" },
            if foreign > common::DISTURBED_CORES {
                format!(" (other processes {foreign:.2} cores ⚠)")
            } else {
                String::new()
            }
        );
    }
}
