//! The soak test: ten minutes (or `THREADLAB_SOAK_SECS`) of mixed workers,
//! with memory and threads checked to stay flat. Ignored by default; run it
//! alone (it measures this whole process) with
//! `THREADLAB_SOAK_SECS=20 cargo test --test faults_soak -- --ignored soak --nocapture`.
//!
//! Part of the fault matrix (`tests/faults_*.rs`).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::time::{Duration, Instant};

use common::heavy;
use common::lab::Lab;
use crossbeam_channel::RecvTimeoutError;
use threadlab::gil::Mode;
use threadlab::work::{WorkerEvent, WorkerId, WorkerKind};

// ---------------------------------------------------------------------------
// 9. Soak
// ---------------------------------------------------------------------------

/// `(VmRSS in KiB, threads)` of this process.
fn rss_and_threads() -> (u64, u64) {
    let status = fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/self/status"))
    };
    (field("VmRSS:"), field("Threads:"))
}

#[test]
#[ignore = "soak: 10 minutes (THREADLAB_SOAK_SECS overrides); run with --ignored"]
fn soak_ten_minutes_of_mixed_workers() {
    let _turn = heavy();
    let secs: u64 = std::env::var("THREADLAB_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let duration = Duration::from_secs(secs.max(10));
    let window = duration / 10;
    let baseline = rss_and_threads();
    // 4 MiB at 16 MiB/s, 4 MiB files, short cpu and seed runs: each worker
    // lives a fraction of a second, so thousands come and go.
    let mut lab = Lab::new("/bytes/4194304?rate=16777216", Mode::Gil, |s| {
        s.file_bytes = 4 << 20;
        s.cpu_steps = 5_000_000;
        s.seed_sleep = Duration::from_millis(10);
    });
    let mut live: BTreeMap<WorkerId, WorkerKind> = BTreeMap::new();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut spawned = 0u64;
    let per_kind = 2;
    let start = Instant::now();
    let mut next_sample = start;
    let mut samples: Vec<(Duration, u64, u64)> = Vec::new();
    let mut modes = [Mode::Gil, Mode::Legacy, Mode::Free].into_iter().cycle();
    let mut next_mode = start + Duration::from_secs(5);
    while start.elapsed() < duration {
        // Keep `per_kind` of each kind alive.
        for kind in WorkerKind::ALL {
            while live.values().filter(|&&k| k == kind).count() < per_kind {
                let id = lab.spawn(kind);
                live.insert(id, kind);
                spawned += 1;
                // Every 7th worker is cancelled right away: the cancel path soaks too.
                if spawned.is_multiple_of(7) {
                    lab.pool.cancel(id);
                }
            }
        }
        match lab.rx.lifecycle.recv_timeout(Duration::from_millis(100)) {
            Ok(event) if event.is_terminal() => {
                let id = event.id();
                lab.pool.reap(id);
                live.remove(&id);
                let what = match &event {
                    WorkerEvent::Finished { .. } => "finished",
                    WorkerEvent::Cancelled { .. } => "cancelled",
                    WorkerEvent::Failed { message, .. } => {
                        panic!("worker {id} failed during the soak: {message}")
                    }
                    _ => unreachable!(),
                };
                *counts.entry(what).or_default() += 1;
            }
            Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => panic!("lifecycle channel closed"),
        }
        // Progress is bounded and lossy: drain it like the UI does.
        for _ in lab.rx.progress.try_iter() {}
        let now = Instant::now();
        if now >= next_mode {
            lab.gil().set_mode(modes.next().unwrap_or(Mode::Free));
            next_mode = now + Duration::from_secs(5);
        }
        if now >= next_sample {
            let (rss, threads) = rss_and_threads();
            samples.push((now - start, rss, threads));
            next_sample = now + Duration::from_secs(1);
        }
    }
    let left = lab.pool.shutdown(Duration::from_secs(2));
    assert_eq!(left, 0, "workers left at the end of the soak");
    drop(lab);

    let max_in = |from: Duration, to: Duration, pick: fn(&(Duration, u64, u64)) -> u64| {
        samples
            .iter()
            .filter(|s| s.0 >= from && s.0 < to)
            .map(pick)
            .max()
            .unwrap_or(0)
    };
    let first_rss = max_in(Duration::ZERO, window, |s| s.1);
    let last_rss = max_in(duration - window, duration + window, |s| s.1);
    let first_threads = max_in(Duration::ZERO, window, |s| s.2);
    let last_threads = max_in(duration - window, duration + window, |s| s.2);
    let after = rss_and_threads();
    for window_start in (0..10).map(|i| window * i) {
        eprintln!(
            "soak window from {:>4} s: max rss {} KiB, max threads {}",
            window_start.as_secs(),
            max_in(window_start, window_start + window, |s| s.1),
            max_in(window_start, window_start + window, |s| s.2)
        );
    }
    eprintln!(
        "soak {secs} s: {spawned} workers ({counts:?}); baseline rss {} KiB / {} threads; \
         first window max rss {first_rss} KiB / {first_threads} threads; last window max rss \
         {last_rss} KiB / {last_threads} threads; after shutdown rss {} KiB / {} threads",
        baseline.0, baseline.1, after.0, after.1
    );
    assert!(samples.len() >= 5, "too few samples: {}", samples.len());
    assert!(spawned > 100, "the soak hardly ran: {spawned} workers");
    // Slack: 16 MiB of RSS (allocator caches) and 4 threads.
    assert!(
        last_rss <= first_rss * 3 / 2 + 16 * 1024,
        "memory grew: first window max {first_rss} KiB, last window max {last_rss} KiB"
    );
    assert!(
        last_threads <= first_threads * 3 / 2 + 4,
        "threads grew: first window max {first_threads}, last window max {last_threads}"
    );
    // Every worker, server and HTTP runtime thread is gone after shutdown.
    assert!(
        after.1 <= baseline.1 + 1,
        "threads left after shutdown: {} (baseline {})",
        after.1,
        baseline.1
    );
}
