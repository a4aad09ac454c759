//! Key-to-screen latency of the real dashboard in a pseudo-terminal.
//!
//! `target/release/threadlab` runs in a 160×48 pty. Each measured press
//! types `?` (until the help overlay's title "Help · keys" is on the parsed
//! screen) or Esc (until it is gone), alternately, 200 presses per run with
//! jittered gaps of 5–25 ms, so presses land at every phase of the frame
//! timer. A latency runs from the write to the pty until the pty reader has
//! parsed the bytes that show the change (see `common`).
//!
//! Scenarios (workers are kept at their count: sleep workers end after 5 s,
//! so before each `?` press the run tops the count up with `s` presses,
//! unmeasured, and waits until the header shows it again):
//!
//! | name | what runs |
//! |---|---|
//! | `idle` | nothing |
//! | `free64` | 64 mixed workers, `free`: 16 each of fetch (a 1 GB body at 1 MB/s from a `threadlab serve` child), file (`--file-mib 4096`), cpu (`--cpu-steps 1e11`), sleep |
//! | `gil64` | the same in `--mode gil` |
//! | `flood` | 64 cpu workers, `free`: every worker reports progress as often as it may (every 8 ms) |
//! | `sleep1`, `sleep16`, `sleep256`, `sleep1024` | N sleep workers (2 threads each) |
//! | `uigil8` | 8 cpu workers in `gil` with the UI under the GIL (`u`): slow on purpose |
//!
//! Budgets: idle, free64, gil64 and flood p50 ≤ 3 ms and p99 ≤ 10 ms;
//! sleep1024 p99 ≤ 20 ms; uigil8 has none (it is the demonstration).
//! Each budgeted scenario runs `THREADLAB_BENCH_RUNS` times (default 3) in a
//! fresh process; the result is the median of the runs' p50 and p99.
//!
//! Run: `cargo build --release && cargo bench --bench latency [-- NAME…]`.

mod common;

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::{Jitter, Pty, Serve, Summary, median, ms};

/// Measured presses per run.
const PRESSES: usize = 200;

#[derive(Clone, Copy, PartialEq)]
enum Budget {
    /// p50 ≤ 3 ms, p99 ≤ 10 ms.
    Interactive,
    /// p99 ≤ 20 ms.
    Many,
    /// None: the demonstration.
    None,
}

struct Scenario {
    name: &'static str,
    mode: &'static str,
    /// Keys that start the workers, and how many workers that makes.
    spawn: String,
    workers: u64,
    /// Press `u` (UI under the GIL) once the workers run.
    ui_under_gil: bool,
    budget: Budget,
    runs: usize,
}

/// What one run measured.
struct Run {
    latency: Summary,
    top_ups: usize,
    hwm_kib: Option<u64>,
    threads: Option<u64>,
    events_per_s: Option<u64>,
    app_frame_ms: Option<(f64, f64)>,
    app_key_ms: Option<(f64, f64)>,
}

fn scenarios(runs: usize) -> Vec<Scenario> {
    let mixed = "fdcs".repeat(16);
    let sleep = |n: usize| "s".repeat(n);
    let mut list = vec![
        Scenario {
            name: "idle",
            mode: "free",
            spawn: String::new(),
            workers: 0,
            ui_under_gil: false,
            budget: Budget::Interactive,
            runs,
        },
        Scenario {
            name: "free64",
            mode: "free",
            spawn: mixed.clone(),
            workers: 64,
            ui_under_gil: false,
            budget: Budget::Interactive,
            runs,
        },
        Scenario {
            name: "gil64",
            mode: "gil",
            spawn: mixed,
            workers: 64,
            ui_under_gil: false,
            budget: Budget::Interactive,
            runs,
        },
        Scenario {
            name: "flood",
            mode: "free",
            spawn: "c".repeat(64),
            workers: 64,
            ui_under_gil: false,
            budget: Budget::Interactive,
            runs,
        },
    ];
    for n in [1, 16, 256, 1024] {
        list.push(Scenario {
            name: match n {
                1 => "sleep1",
                16 => "sleep16",
                256 => "sleep256",
                _ => "sleep1024",
            },
            mode: "free",
            spawn: sleep(n),
            workers: n as u64,
            ui_under_gil: false,
            budget: if n == 1024 {
                Budget::Many
            } else {
                Budget::None
            },
            runs: if n == 1024 { runs } else { 1 },
        });
    }
    list.push(Scenario {
        name: "uigil8",
        mode: "gil",
        spawn: "c".repeat(8),
        workers: 8,
        ui_under_gil: true,
        budget: Budget::None,
        runs: 1,
    });
    list
}

/// The dashboard's own `key→screen p50 X ms  p99 Y ms` (read → drawn).
fn app_key_ms(screen: &vt100::Screen) -> Option<(f64, f64)> {
    screen.rows(0, common::COLS).find_map(|row| {
        let at = row.find("key→screen p50 ")?;
        let mut words = row[at..].split_whitespace();
        let p50 = words.nth(2)?.parse().ok()?;
        let p99 = words.nth(2)?.parse().ok()?;
        Some((p50, p99))
    })
}

/// Brings the live count back to `target` with `s` presses (sleep workers
/// end after 5 s). Returns whether it had to.
fn top_up(pty: &mut Pty, target: u64, scenario: &str) -> bool {
    let running = pty.running().unwrap_or(target);
    if running >= target {
        return false;
    }
    let deficit = (target - running) as usize;
    pty.send("s".repeat(deficit).as_bytes());
    let shown = pty.try_wait(Duration::from_secs(60), |s| {
        common::header_count(s, "running").is_some_and(|n| n >= target)
    });
    assert!(
        shown.is_some(),
        "{scenario}: could not get back to {target} running workers\n{}",
        pty.dump()
    );
    // Let the new threads start before the next measured press.
    thread::sleep(Duration::from_millis(200));
    true
}

fn run_once(bin: &Path, serve: &Serve, scenario: &Scenario) -> Run {
    let url = serve.url("/bytes/1000000000?rate=1000000");
    let args = [
        "--mode",
        scenario.mode,
        "--cpu-steps",
        "100000000000",
        "--file-mib",
        "4096",
        "--url",
        &url,
    ];
    let mut pty = Pty::dashboard(bin, &args);
    if scenario.workers > 0 {
        pty.send(scenario.spawn.as_bytes());
        let target = scenario.workers;
        pty.wait(
            &format!("{target} running workers"),
            Duration::from_secs(60),
            |s| common::header_count(s, "running") == Some(target),
        );
    }
    if scenario.ui_under_gil {
        pty.send(b"u");
        pty.wait("the UI under the GIL", Duration::from_secs(30), |s| {
            s.contents().contains("UI UNDER THE GIL")
        });
    }
    // Let every worker thread start and settle into its loop.
    thread::sleep(Duration::from_millis(if scenario.workers > 0 {
        1000
    } else {
        300
    }));
    let timeout = if scenario.ui_under_gil {
        Duration::from_secs(30)
    } else {
        Duration::from_secs(10)
    };
    let mut jitter = Jitter::new();
    let mut samples = Vec::with_capacity(PRESSES);
    let mut top_ups = 0;
    for press in 0..PRESSES {
        if press % 2 == 0
            && scenario.workers > 0
            && top_up(&mut pty, scenario.workers, scenario.name)
        {
            top_ups += 1;
        }
        thread::sleep(jitter.between(Duration::from_millis(5), Duration::from_millis(25)));
        match pty.toggle_help(timeout) {
            Some(latency) => samples.push(latency),
            None => panic!(
                "{}: press {press} not shown within {timeout:?}\n{}",
                scenario.name,
                pty.dump()
            ),
        }
    }
    // Let the Responsiveness pane's per-second event count catch up.
    thread::sleep(Duration::from_millis(1100));
    let (events_per_s, app_frame_ms, app_key_ms) =
        pty.with_screen(|s| (common::events_per_s(s), common::frame_ms(s), app_key_ms(s)));
    let run = Run {
        latency: Summary::of(&samples),
        top_ups,
        hwm_kib: pty.vm_hwm_kib(),
        threads: common::thread_count(pty.pid()),
        events_per_s,
        app_frame_ms,
        app_key_ms,
    };
    pty.quit();
    run
}

fn verdict(ok: bool) -> &'static str {
    if ok { "✅" } else { "❌" }
}

fn main() {
    if !common::should_run("latency") {
        return;
    }
    let filters = common::filters();
    let bin = common::release_binary();
    println!("{}", common::machine_line());
    println!(
        "key→screen latency, pty {}×{}, {PRESSES} presses per run (? / Esc alternately, gaps 5–25 ms)",
        common::COLS,
        common::ROWS
    );
    let serve = Serve::start(&bin);
    let started = Instant::now();
    for scenario in scenarios(common::runs(3)) {
        if !common::wanted(&filters, scenario.name) {
            continue;
        }
        let mut p50s = Vec::new();
        let mut p99s = Vec::new();
        for run_no in 1..=scenario.runs {
            let run = run_once(&bin, &serve, &scenario);
            let l = run.latency;
            println!(
                "{:<10} run {run_no}: p50 {:6.2} ms  p90 {:6.2}  p99 {:6.2}  max {:7.2}  min {:5.2}  (n {}, top-ups {})  VmHWM {} MiB, threads {}, app: key p50/p99 {}, frame p50/p99 {}, events {}/s",
                scenario.name,
                ms(l.p50),
                ms(l.p90),
                ms(l.p99),
                ms(l.max),
                ms(l.min),
                l.n,
                run.top_ups,
                run.hwm_kib
                    .map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
                run.threads.map_or("?".into(), |t| t.to_string()),
                run.app_key_ms
                    .map_or("?".into(), |(a, b)| format!("{a}/{b} ms")),
                run.app_frame_ms
                    .map_or("?".into(), |(a, b)| format!("{a}/{b} ms")),
                run.events_per_s.map_or("?".into(), |e| e.to_string()),
            );
            p50s.push(ms(l.p50));
            p99s.push(ms(l.p99));
        }
        let (p50, p99) = (median(&p50s), median(&p99s));
        let judged = match scenario.budget {
            Budget::Interactive => format!(
                "budget p50 ≤ 3 ms {} · p99 ≤ 10 ms {}",
                verdict(p50 <= 3.0),
                verdict(p99 <= 10.0)
            ),
            Budget::Many => format!("budget p99 ≤ 20 ms {}", verdict(p99 <= 20.0)),
            Budget::None => "no budget".to_string(),
        };
        println!(
            "{:<10} RESULT ({} runs, medians): p50 {p50:.2} ms, p99 {p99:.2} ms — {judged}",
            scenario.name, scenario.runs
        );
    }
    println!("latency: done in {:.0} s", started.elapsed().as_secs_f64());
}
