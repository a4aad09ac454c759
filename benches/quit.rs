//! Quitting under load: `q` to the process's exit with 500 workers running.
//!
//! docs/guarantees.md promises that `q` with 500 running workers of all kinds exits
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

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Pty, Summary, ms};

/// Workers of each kind.
const EACH: usize = 125;

/// How long the workers may take to start, and `q` to end the process.
const PATIENCE: Duration = Duration::from_secs(60);

/// Seconds since midnight UTC of a log line's RFC 3339 time stamp
/// (`2026-12-02T00:07:14.026921Z …`).
fn log_seconds(line: &str) -> Option<f64> {
    let time = line.get(11..)?.split('Z').next()?;
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// Seconds since midnight UTC now, on the clock the log stamps with.
fn seconds_of_day() -> f64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    since.as_secs_f64() % 86_400.0
}

/// The exit's steps the app logged (`quit requested` … `session shut
/// down left=… joined_ms=… server_ms=… workdir_ms=…`), each with the ms
/// since `q` was pressed (`pressed`, seconds of day), and the process's
/// end at `took`: where a slow exit's time went.
fn timed_exit_steps(log: &std::path::Path, pressed: f64, took: Duration) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut steps: Vec<String> = common::step_lines(&text)
        .map(|line| {
            let at = log_seconds(line).map_or(f64::NAN, |at| (at - pressed) * 1e3);
            let what = line.split(": ").nth(1).unwrap_or(line);
            format!("  +{at:>5.0} ms  {what}")
        })
        .collect();
    steps.push(format!("  +{:>5.0} ms  the process has exited", ms(took)));
    steps.join("\n")
}

/// One run in `mode`: the time from `q` to the exit, and the exit's
/// logged steps.
fn run(bin: &std::path::Path, mode: &str) -> (Duration, String) {
    let logs = tempfile::tempdir().expect("a temp dir for the log");
    let log = logs.path().join("threadlab.log");
    let log_arg = log.to_string_lossy().into_owned();
    let args = [
        "--log",
        &log_arg,
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
    // 625 means every worker is up; the header's count means the dashboard
    // has handled every spawn key too (`q` measures the quit, not a
    // backlog of 500 spawns still being worked through).
    while common::thread_count(pid).unwrap_or(0) < 5 * EACH as u64
        || pty.running().unwrap_or(0) < 4 * EACH as u64
    {
        assert!(
            started.elapsed() < PATIENCE,
            "only {:?} threads, {:?} shown running after {PATIENCE:?}\n{}",
            common::thread_count(pid),
            pty.running(),
            pty.dump()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let pressed = seconds_of_day();
    match pty.quit_timed(PATIENCE) {
        Some(took) => (took, timed_exit_steps(&log, pressed, took)),
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
        let mut samples = Vec::new();
        for _ in 0..runs {
            let (took, steps) = run(&bin, mode);
            if took > Duration::from_millis(500) {
                println!(
                    "quit-{mode}: a slow exit, {:.0} ms; its steps:\n{steps}",
                    ms(took)
                );
            }
            samples.push(took);
        }
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
