//! Idle cost: CPU time the dashboard process uses while it has nothing to do.
//!
//! `target/release/threadlab` runs in a 160×48 pty; after its first frame
//! and a second to settle, the bench reads `utime + stime` of the whole
//! process (every thread, from `/proc/PID/stat`) before and after a 10 s
//! window, and reports it as a percentage of one core:
//!
//! * `nothing` — the dashboard open, no worker. Budget ≤ 1 % of one core.
//! * `sleep8` — 8 sleep workers (the seed demo: two threads printing once a
//!   second). They end after 5 s, so the bench presses `s` again whenever
//!   the header shows fewer than 8 running (no budget; for comparison).
//!
//! Each runs `THREADLAB_BENCH_RUNS` times (default 3); the result is the median.
//! Clock ticks are 10 ms, so one window resolves 0.1 % of a core.
//!
//! Run: `cargo build --release && cargo bench --bench idle`.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{Pty, median};

const WINDOW: Duration = Duration::from_secs(10);

fn measure(bin: &std::path::Path, sleepers: u64) -> (f64, u64) {
    let mut pty = Pty::dashboard(bin, &[]);
    if sleepers > 0 {
        pty.send("s".repeat(sleepers as usize).as_bytes());
        pty.wait("the sleep workers", Duration::from_secs(30), |s| {
            common::header_count(s, "running") == Some(sleepers)
        });
    }
    thread::sleep(Duration::from_secs(1));
    let pid = pty.pid();
    let before = common::cpu_ticks(pid).expect("read /proc/PID/stat");
    let t0 = Instant::now();
    let mut respawns = 0;
    while t0.elapsed() < WINDOW {
        thread::sleep(Duration::from_millis(20));
        if sleepers > 0 {
            let running = pty.running().unwrap_or(sleepers);
            if running < sleepers {
                pty.send("s".repeat((sleepers - running) as usize).as_bytes());
                respawns += 1;
                pty.try_wait(Duration::from_secs(5), |s| {
                    common::header_count(s, "running").is_some_and(|n| n >= sleepers)
                });
            }
        }
    }
    let after = common::cpu_ticks(pid).expect("read /proc/PID/stat");
    let elapsed = t0.elapsed().as_secs_f64();
    pty.quit();
    let cpu_s = (after - before) as f64 / common::clock_ticks_per_s() as f64;
    (cpu_s / elapsed * 100.0, respawns)
}

fn main() {
    if !common::should_run("idle") {
        return;
    }
    let filters = common::filters();
    let bin = common::release_binary();
    println!("{}", common::machine_line());
    let runs = common::runs(3);
    for (name, sleepers) in [("nothing", 0u64), ("sleep8", 8)] {
        if !common::wanted(&filters, name) {
            continue;
        }
        let mut shares = Vec::new();
        for run in 1..=runs {
            common::wait_quiet(Duration::from_secs(120));
            let (share, respawns) = measure(&bin, sleepers);
            println!(
                "idle {name:<8} run {run}: {share:.2} % of one core over {:.0} s (re-spawn rounds: {respawns})",
                WINDOW.as_secs_f64()
            );
            shares.push(share);
        }
        let share = median(&shares);
        let judged = if sleepers == 0 {
            format!("budget ≤ 1 % {}", if share <= 1.0 { "✅" } else { "❌" })
        } else {
            "no budget".to_string()
        };
        println!("idle {name:<8} RESULT (median of {runs}): {share:.2} % of one core — {judged}");
    }
}
