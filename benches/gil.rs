//! The emulated GIL's overhead on one thread, nobody else around.
//!
//! * `take_drop` — `GilThread::blocking(|| ())` in `gil` mode while holding:
//!   drop the GIL, stamp the I/O lane, take it back, stamp the hold lane.
//!   Budget: ≤ 200 ns.
//! * `check_holding` — the eval-breaker check in `gil` mode while holding
//!   (no drop request): what a CPU worker pays per step under the GIL.
//! * `loop_free_worker` vs `loop_raw` — 4,096 steps of the cpu worker's
//!   loop (`check()` + `cpu_step`) in `free` mode, against the same steps
//!   with no GIL code. Budget: within 5 %.
//!
//! After divan's table, a paired run settles the 5 % question with less
//! noise: the whole cpu worker (spawned by the engine's `Pool` in `free`
//! mode, progress reports included) against the raw loop on a plain thread,
//! alternated, the median of the per-pair ratios.
//!
//! Run: `cargo bench --bench gil`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use divan::counter::ItemsCount;
use threadlab::cancel::CancelToken;
use threadlab::gil::{Gil, Mode, SwitchInterval};
use threadlab::work::{FetchTarget, Pool, WorkSettings, WorkerEvent, WorkerKind, cpu_step};

/// Steps per measured loop (the cpu worker's batch between two reports).
const STEPS: u64 = 4096;

fn main() {
    divan::main();
    if std::env::args().any(|arg| arg == "--bench") {
        paired_worker_vs_raw();
    }
}

#[divan::bench]
fn take_drop(bencher: divan::Bencher) {
    let gil = Gil::new(Mode::Gil, SwitchInterval::DEFAULT);
    let mut thread = gil.register(CancelToken::new());
    thread.enter().expect("not cancelled");
    assert!(thread.is_holding());
    bencher.bench_local(|| thread.blocking(|| ()).expect("not cancelled"));
}

#[divan::bench]
fn check_holding(bencher: divan::Bencher) {
    let gil = Gil::new(Mode::Gil, SwitchInterval::DEFAULT);
    let mut thread = gil.register(CancelToken::new());
    thread.enter().expect("not cancelled");
    bencher.counter(ItemsCount::new(STEPS)).bench_local(|| {
        for _ in 0..STEPS {
            thread.check().expect("not cancelled");
        }
    });
}

/// 4,096 steps of `check()` + `cpu_step` by a thread of a GIL in `mode`.
fn worker_loop(bencher: divan::Bencher, mode: Mode) {
    let gil = Gil::new(mode, SwitchInterval::DEFAULT);
    let mut thread = gil.register(CancelToken::new());
    thread.enter().expect("not cancelled");
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    bencher.counter(ItemsCount::new(STEPS)).bench_local(|| {
        for _ in 0..STEPS {
            thread.check().expect("not cancelled");
            state = cpu_step(state);
        }
        black_box(state)
    });
}

#[divan::bench]
fn loop_free_worker(bencher: divan::Bencher) {
    worker_loop(bencher, Mode::Free);
}

#[divan::bench]
fn loop_gil_worker_uncontended(bencher: divan::Bencher) {
    worker_loop(bencher, Mode::Gil);
}

#[divan::bench]
fn loop_raw(bencher: divan::Bencher) {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    bencher.counter(ItemsCount::new(STEPS)).bench_local(|| {
        for _ in 0..STEPS {
            state = cpu_step(state);
        }
        black_box(state)
    });
}

/// Steps per side of one pair (about half a second each).
const PAIR_STEPS: u64 = 50_000_000;
const PAIRS: usize = 11;

/// The engine's cpu worker, spawned by a `Pool` in `free` mode, from spawn
/// to its `Finished` event.
fn pool_worker(pool: &mut Pool, events: &crossbeam_channel::Receiver<WorkerEvent>) -> Duration {
    let started = Instant::now();
    let id = pool.spawn(WorkerKind::Cpu).expect("spawn a cpu worker");
    loop {
        match events.recv().expect("the pool's lifecycle channel") {
            WorkerEvent::Finished { id: done, .. } if done == id => break,
            WorkerEvent::Failed { message, .. } => panic!("cpu worker failed: {message}"),
            _ => {}
        }
    }
    let took = started.elapsed();
    pool.reap(id);
    took
}

/// The same steps with no GIL code, on a fresh thread like the worker's.
fn raw_thread() -> Duration {
    let started = Instant::now();
    std::thread::spawn(|| {
        let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ 1;
        for _ in 0..PAIR_STEPS {
            state = cpu_step(state);
        }
        black_box(state)
    })
    .join()
    .expect("raw loop thread");
    started.elapsed()
}

fn paired_worker_vs_raw() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut settings = WorkSettings::new(
        FetchTarget::parse("http://127.0.0.1:9/").expect("a valid URL"),
        dir.path().to_path_buf(),
    );
    settings.cpu_steps = PAIR_STEPS;
    let (mut pool, receivers) = Pool::new(settings, Gil::new(Mode::Free, SwitchInterval::DEFAULT));
    // Warm both paths once.
    pool_worker(&mut pool, &receivers.lifecycle);
    raw_thread();
    let mut ratios = Vec::new();
    let mut worker_ns = Vec::new();
    let mut raw_ns = Vec::new();
    for pair in 0..PAIRS {
        // Alternate which side goes first, so drift hits both alike.
        let (worker, raw) = if pair % 2 == 0 {
            let w = pool_worker(&mut pool, &receivers.lifecycle);
            (w, raw_thread())
        } else {
            let r = raw_thread();
            (pool_worker(&mut pool, &receivers.lifecycle), r)
        };
        let per_step = |d: Duration| d.as_nanos() as f64 / PAIR_STEPS as f64;
        worker_ns.push(per_step(worker));
        raw_ns.push(per_step(raw));
        ratios.push(worker.as_secs_f64() / raw.as_secs_f64());
        // Drain progress so the bounded channel never matters.
        while receivers.progress.try_recv().is_ok() {}
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratio = median(&mut ratios);
    println!();
    println!(
        "paired: free-mode cpu worker (Pool, {PAIR_STEPS} steps) vs raw cpu_step loop, {PAIRS} alternated pairs"
    );
    println!(
        "  worker {:.3} ns/step, raw {:.3} ns/step (medians); median ratio {ratio:.4} → overhead {:+.2} % (budget ≤ +5 %)",
        median(&mut worker_ns),
        median(&mut raw_ns),
        (ratio - 1.0) * 100.0
    );
}
