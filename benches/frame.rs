//! Frame cost: building and drawing one dashboard frame into a ratatui
//! `TestBackend` at 160×48, with 1 to 4,096 workers in the table.
//!
//! The app is filled through its public reducer only (`AppEvent::Spawned`,
//! `AppEvent::Worker`, `AppEvent::Gil`), as the run loop fills it. Each
//! iteration draws with a clock 100 ms later than the last, so the time
//! column changes and ratatui's diff has real work, as in a live frame.
//!
//! Two shapes:
//! * `table` — workers in the table, each with the single lane change a
//!   worker thread makes when it registers (a cpu worker in `free` mode).
//!   Budget: ≤ 2 ms at 4,096 workers; the cost must follow visible rows.
//! * `busy_lanes` — the same, plus every worker's lane busy in the visible
//!   100 ms span (a hand-over every 2 ms, as under the GIL), the worst case
//!   for the timeline pane, which draws only the newest lanes that fit.
//! * `full_history` — 16 or 64 workers whose lanes each hold the most
//!   history the app keeps (`LANE_CHANGES` = 20,000 changes over the last
//!   10 s: `legacy` mode with many CPU threads gets there), at the default
//!   100 ms span. Not budgeted separately; it shows what a long history costs.
//!
//! Run: `cargo bench --bench frame`.

use std::cell::Cell;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use threadlab::gil::{GilEvent, Mode, SwitchInterval, Transition};
use threadlab::ui::app::{App, AppEvent, LANE_CHANGES};
use threadlab::ui::view;
use threadlab::work::{WorkerEvent, WorkerKind};

const WIDTH: u16 = 160;
const HEIGHT: u16 = 48;
const SIZES: [usize; 5] = [1, 16, 256, 1024, 4096];

fn main() {
    divan::main();
}

/// An app with `workers` rows (kinds in turn, every 8th finished), and the
/// instant they started. `busy` adds 50 lane changes per worker in the last
/// 100 ms of the timeline.
fn populated(workers: usize, busy: bool) -> (App, Instant) {
    populated_with(workers, if busy { 50 } else { 0 }, 100_000)
}

/// `changes` lane changes per worker, evenly over the last `over_us`.
fn populated_with(workers: usize, changes: u64, over_us: u64) -> (App, Instant) {
    let busy = changes > 0;
    let mut app = App::new(
        if busy { Mode::Gil } else { Mode::Free },
        SwitchInterval::DEFAULT,
    );
    let start = Instant::now();
    let now_us: u64 = 10_000_000;
    let mut gil = Vec::new();
    for i in 0..workers {
        let id = i as u64 + 1;
        let thread = id as u32;
        let kind = WorkerKind::ALL[i % WorkerKind::ALL.len()];
        app.apply(AppEvent::Spawned {
            id,
            kind,
            at: start,
        });
        app.apply(AppEvent::Worker(WorkerEvent::Started {
            id,
            thread,
            at: start,
        }));
        let total = (kind != WorkerKind::Fetch || i % 2 == 0).then_some(1 << 30);
        app.apply(AppEvent::Worker(WorkerEvent::Progress {
            id,
            done: (id * 7_919_993) % (1 << 30),
            total,
            at: start + Duration::from_millis(500),
        }));
        if i % 8 == 7 {
            app.apply(AppEvent::Worker(WorkerEvent::Finished {
                id,
                done: 1 << 30,
                summary: format!("{} finished, checksum {id:016x}", kind.name()),
                at: start + Duration::from_secs(1),
            }));
        }
        gil.push(GilEvent {
            at_us: now_us - 9_000_000,
            thread,
            what: Transition::Run,
        });
        if busy {
            let states = [Transition::Hold, Transition::Io, Transition::Wait];
            let step = over_us / changes;
            for k in 0..changes {
                gil.push(GilEvent {
                    at_us: now_us - over_us + k * step + (id % step),
                    thread,
                    what: states[(k as usize + i) % states.len()],
                });
            }
        }
    }
    gil.sort_by_key(|e| e.at_us);
    app.apply(AppEvent::Gil(gil));
    app.apply(AppEvent::Clock(now_us));
    (app, start)
}

fn draw_frames(bencher: divan::Bencher, workers: usize, busy: bool) {
    draw_app(bencher, populated(workers, busy));
}

fn draw_app(bencher: divan::Bencher, (app, start): (App, Instant)) {
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).expect("a test terminal");
    let frame_no = Cell::new(0u64);
    bencher.bench_local(|| {
        let n = frame_no.get() + 1;
        frame_no.set(n);
        let now = start + Duration::from_millis(1_000 + 100 * n);
        terminal
            .draw(|frame| view::draw(frame, &app, now))
            .expect("draw into the test backend");
    });
}

/// One frame with `workers` in the table.
#[divan::bench(args = SIZES)]
fn table(bencher: divan::Bencher, workers: usize) {
    draw_frames(bencher, workers, false);
}

/// One frame with `workers` in the table and every lane busy.
#[divan::bench(args = SIZES)]
fn busy_lanes(bencher: divan::Bencher, workers: usize) {
    draw_frames(bencher, workers, true);
}

/// One frame with `workers` whose lanes hold a full history.
#[divan::bench(args = [16, 64])]
fn full_history(bencher: divan::Bencher, workers: usize) {
    draw_app(
        bencher,
        populated_with(workers, LANE_CHANGES as u64, 9_900_000),
    );
}
