//! Event throughput of the reducer: how many events `App::apply` takes per
//! second, on an app with 16 to 4,096 workers.
//!
//! * `progress` — `AppEvent::Worker(WorkerEvent::Progress { .. })`, round
//!   robin over every worker, as the run loop drains the progress channel.
//!   Budget: ≥ 1,000,000 events/s (divan prints items/s).
//! * `gil_batch` — one `AppEvent::Gil` of 1,024 timeline transitions spread
//!   over the workers' lanes, as the run loop applies once per frame.
//!
//! The end-to-end half (workers flooding progress while keys stay fast) is
//! the `flood` scenario of `cargo bench --bench latency`.
//!
//! Run: `cargo bench --bench reducer`.

use std::time::{Duration, Instant};

use divan::counter::ItemsCount;
use threadlab::gil::{GilEvent, Mode, SwitchInterval, Transition};
use threadlab::ui::app::{App, AppEvent};
use threadlab::work::{WorkerEvent, WorkerKind};

/// Events applied per measured iteration.
const BATCH: usize = 4096;
const SIZES: [usize; 3] = [16, 1024, 4096];

fn main() {
    divan::main();
}

fn app_with(workers: usize) -> (App, Instant) {
    let mut app = App::new(Mode::Free, SwitchInterval::DEFAULT);
    let start = Instant::now();
    for i in 0..workers {
        let id = i as u64 + 1;
        app.apply(AppEvent::Spawned {
            id,
            kind: WorkerKind::ALL[i % WorkerKind::ALL.len()],
            at: start,
        });
        app.apply(AppEvent::Worker(WorkerEvent::Started {
            id,
            thread: id as u32,
            at: start,
        }));
    }
    (app, start)
}

/// `BATCH` progress events per iteration.
#[divan::bench(args = SIZES)]
fn progress(bencher: divan::Bencher, workers: usize) {
    let (mut app, start) = app_with(workers);
    let mut done = 0u64;
    bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
        for k in 0..BATCH {
            done += 1;
            let id = (k % workers) as u64 + 1;
            app.apply(AppEvent::Worker(WorkerEvent::Progress {
                id,
                done,
                total: Some(u64::MAX),
                at: start + Duration::from_nanos(done),
            }));
        }
    });
}

/// One batch of 1,024 GIL transitions per iteration (counted per transition).
#[divan::bench(args = SIZES)]
fn gil_batch(bencher: divan::Bencher, workers: usize) {
    const EVENTS: usize = 1024;
    let (mut app, _) = app_with(workers);
    let states = [Transition::Hold, Transition::Wait, Transition::Io];
    let mut at_us = 0u64;
    bencher
        .counter(ItemsCount::new(EVENTS))
        .with_inputs(|| {
            (0..EVENTS)
                .map(|k| {
                    at_us += 5;
                    GilEvent {
                        at_us,
                        thread: (k % workers) as u32 + 1,
                        what: states[k % states.len()],
                    }
                })
                .collect::<Vec<_>>()
        })
        .bench_local_values(|events| app.apply(AppEvent::Gil(events)));
}
