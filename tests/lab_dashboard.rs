//! The coordination lab's dashboard side: the scenarios run to their end
//! (or deadlock) under a shared GIL, with the lab's own counters asserted
//! (never the screen's); and the reducer and the panes for marks, names
//! and the lab pane. The keys end to end in a pty are in `lab_pty.rs`.

mod common;

use std::time::{Duration, Instant};

use threadlab::gil::{Gil, Mode, SwitchInterval};
use threadlab::server::Server;
use threadlab::sync::{LabThreadState, Scenario, ScenarioConfig, ScenarioKind, ScenarioStatus};

/// Generous: a scenario takes well under a second in a release build.
const RUN_BOUND: Duration = Duration::from_secs(60);

fn spawn(kind: ScenarioKind, mode: Mode, url: &str) -> Scenario {
    Scenario::spawn(ScenarioConfig {
        kind,
        gil: Gil::new(mode, SwitchInterval::DEFAULT),
        fetch_url: url.to_string(),
        nice: 0,
    })
    .expect("scenario threads start")
}

/// Polls the status until `done` says so (or the bound passes: a hang).
fn poll_until(
    scenario: &mut Scenario,
    what: &str,
    mut done: impl FnMut(&ScenarioStatus) -> bool,
) -> ScenarioStatus {
    let started = Instant::now();
    let mut worst = Vec::new();
    loop {
        let status = scenario.status();
        worst.push(status.counters);
        if done(&status) {
            return status;
        }
        assert!(
            started.elapsed() < RUN_BOUND,
            "{what}: not within {RUN_BOUND:?}: {status:#?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn all_done(status: &ScenarioStatus) {
    for thread in &status.threads {
        assert_eq!(thread.state, LabThreadState::Done, "{status:#?}");
    }
}

#[test]
fn the_deadlock_is_found_named_and_broken_and_the_ordered_fix_finishes() {
    let mut opposite = spawn(ScenarioKind::Deadlock, Mode::Gil, "");
    let status = poll_until(&mut opposite, "deadlock", |s| s.cycle.is_some());
    assert_eq!(
        status.cycle.as_deref(),
        Some("AB-1 waits for lock B held by BA-2, which waits for lock A held by AB-1")
    );
    let names: Vec<&str> = status.threads.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["AB-1", "BA-2"]);
    for thread in &status.threads {
        assert!(
            matches!(&thread.state, LabThreadState::Blocked(on) if on.starts_with("lock ")),
            "{status:#?}"
        );
    }
    let detection = status.detection_us.expect("detection time");
    eprintln!("deadlock seen {detection} µs after the cycle closed (polled every 2 ms)");
    let cancelled = Instant::now();
    opposite.interrupt();
    let status = poll_until(&mut opposite, "break", |s| s.finished);
    assert!(cancelled.elapsed() < Duration::from_secs(5));
    assert!(status.cycle.is_none());
    for thread in &status.threads {
        assert_eq!(thread.state, LabThreadState::Cancelled);
    }

    let mut ordered = spawn(ScenarioKind::DeadlockOrdered, Mode::Gil, "");
    let status = poll_until(&mut ordered, "ordered", |s| {
        assert!(s.cycle.is_none(), "one lock order cannot deadlock: {s:#?}");
        s.finished
    });
    all_done(&status);
    assert_eq!(status.counters.rounds, 80);
}

/// The dashboard's UI thread, under the GIL (`u`), may stop a scenario
/// whose threads are waiting for that very GIL: cancelling must wake them,
/// or joining them waits forever (found by a key storm: `u`, `m`, `D`, `r`).
#[test]
fn stopping_a_scenario_while_holding_the_gil_its_threads_wait_for_returns() {
    use threadlab::cancel::CancelToken;
    for mode in [Mode::Legacy, Mode::Gil] {
        let gil = Gil::new(mode, SwitchInterval::DEFAULT);
        let mut ui = gil.register(CancelToken::new());
        ui.enter().expect("the UI thread takes the GIL");
        let scenario = Scenario::spawn(ScenarioConfig {
            kind: ScenarioKind::Deadlock,
            gil: gil.clone(),
            fetch_url: String::new(),
            nice: 0,
        })
        .expect("scenario threads start");
        // Its threads queue behind the GIL this thread holds (and never
        // releases: it does not check in this test); wait until both do.
        let started = Instant::now();
        loop {
            let mut events = Vec::new();
            gil.timeline().read_since(0, &mut events);
            let mut waiting: Vec<_> = events
                .iter()
                .filter(|e| e.thread != ui.tag() && e.what == threadlab::gil::Transition::Wait)
                .map(|e| e.thread)
                .collect();
            waiting.sort_unstable();
            waiting.dedup();
            if waiting.len() == 2 {
                break;
            }
            assert!(
                started.elapsed() < RUN_BOUND,
                "{mode}: the threads never waited"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let (done, stopped) = crossbeam_channel::bounded(1);
        let stopper = std::thread::spawn(move || {
            scenario.cancel();
            let _ = done.send(());
        });
        // `cancel` from another thread stands for the UI thread's own call:
        // the GIL stays held by `ui` either way.
        assert!(
            stopped.recv_timeout(RUN_BOUND).is_ok(),
            "{mode}: stopping the scenario hung on threads waiting for the GIL"
        );
        stopper.join().expect("the stopper ends");
        ui.exit();
    }
}

#[test]
fn producers_block_on_the_full_queue_and_every_item_is_consumed() {
    let mut run = spawn(ScenarioKind::ProducerConsumer, Mode::Gil, "");
    let status = poll_until(&mut run, "producer/consumer", |s| s.finished);
    all_done(&status);
    let c = status.counters;
    assert_eq!((c.produced, c.consumed, c.depth), (48, 48, 0));
    assert!(c.depth_max <= 4, "{c:?}");
    assert!(
        c.producer_blocks > 0,
        "a slow consumer makes producers wait: {c:?}"
    );
}

#[test]
fn the_semaphore_never_lets_more_than_two_downloads_into_io() {
    let server = Server::start("127.0.0.1:0".parse().expect("addr")).expect("server");
    let url = server.url("/bytes/262144?rate=2097152");
    for mode in [Mode::Free, Mode::Gil] {
        let mut run = spawn(ScenarioKind::Semaphore, mode, &url);
        let mut seen_full = false;
        let status = poll_until(&mut run, "semaphore", |s| {
            assert!(s.counters.in_io <= 2, "{:?}", s.counters);
            let blocked = s
                .threads
                .iter()
                .filter(|t| matches!(&t.state, LabThreadState::Blocked(on) if on == "semaphore downloads"))
                .count();
            seen_full |= blocked > 0;
            s.finished
        });
        all_done(&status);
        let c = status.counters;
        assert_eq!(c.downloads, 6);
        assert_eq!(c.bytes, 6 * 262_144);
        assert_eq!(
            c.max_in_io, 2,
            "the limit is reached and never passed: {c:?}"
        );
        assert!(seen_full, "some download waited for the semaphore");
    }
    server.shutdown();
}

#[test]
fn an_event_and_a_barrier_release_their_waiters_together() {
    for kind in [ScenarioKind::Event, ScenarioKind::Barrier] {
        let mut run = spawn(kind, Mode::Gil, "");
        let status = poll_until(&mut run, kind.name(), |s| s.finished);
        all_done(&status);
        assert_eq!(status.counters.released, 4, "{kind:?}");
        // Woken by one change of the object: within a generous bound of
        // each other, far less than the work that staggered them.
        assert!(
            status.counters.release_spread_us < 500_000,
            "{kind:?}: {:?}",
            status.counters
        );
    }
}

#[test]
fn the_pool_runs_every_task_on_its_threads_and_completes_them_out_of_order() {
    let server = Server::start("127.0.0.1:0".parse().expect("addr")).expect("server");
    // Half a second per download: the 5 ms cpu tasks behind it finish first.
    let url = server.url("/bytes/524288?rate=1048576");
    let mut run = spawn(ScenarioKind::Pool, Mode::Gil, &url);
    let status = poll_until(&mut run, "pool", |s| s.finished);
    all_done(&status);
    assert_eq!(status.tasks.len(), 9);
    let mut ran_on = std::collections::HashSet::new();
    for task in &status.tasks {
        let thread = task.thread.as_deref().expect("a pool thread took it");
        assert!(["pool-1", "pool-2", "pool-3"].contains(&thread), "{task:?}");
        ran_on.insert(thread.to_string());
        assert!(task.result.is_some(), "{task:?}");
    }
    assert!(
        ran_on.len() >= 2,
        "others ran while one downloaded: {ran_on:?}"
    );
    let mut sorted = status.completed.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..9).collect::<Vec<u64>>());
    assert_ne!(
        status.completed, sorted,
        "completion order is not submission order"
    );
    let names: Vec<&str> = status.threads.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["main", "pool-1", "pool-2", "pool-3"]);
    server.shutdown();
}

mod ui {
    //! The reducer and the views, on a `TestBackend`.

    use std::time::Instant;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use threadlab::gil::{GilEvent, Mode, SwitchInterval, Transition};
    use threadlab::sync::scenario::PoolTask;
    use threadlab::sync::{LabCounters, LabThread, LabThreadState, ScenarioKind, ScenarioStatus};
    use threadlab::ui::app::{App, AppEvent, Command};
    use threadlab::ui::keys::Action;
    use threadlab::ui::panes::lab::LabUpdate;
    use threadlab::ui::view;

    fn render(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("backend");
        terminal
            .draw(|frame| view::draw(frame, app, Instant::now()))
            .expect("draw");
        terminal
    }

    fn lines(terminal: &Terminal<TestBackend>) -> Vec<String> {
        let buffer = terminal.backend().buffer();
        (0..buffer.area.height)
            .map(|y| {
                (0..buffer.area.width)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect()
            })
            .collect()
    }

    fn lane<'a>(lines: &'a [String], label: &str) -> &'a str {
        lines
            .iter()
            .find(|l| l.contains(&format!("│{label} ")))
            .unwrap_or_else(|| panic!("no lane {label}:\n{}", lines.join("\n")))
    }

    fn ev(at_us: u64, thread: u32, what: Transition) -> GilEvent {
        GilEvent {
            at_us,
            thread,
            what,
        }
    }

    /// Two lab threads on a GIL, 100 ms (the default span): race-1 holds
    /// and loses an update at 60 ms, AB-1 blocks on a lock at 30 ms.
    fn marked(lost: bool) -> App {
        let mut app = App::new(Mode::Gil, SwitchInterval::DEFAULT).with_cores(2);
        app.apply(AppEvent::LaneNames(vec![
            (1, "race-1".to_string()),
            (2, "AB-1".to_string()),
        ]));
        let mut events = vec![
            ev(0, 1, Transition::Wait),
            ev(0, 2, Transition::Hold),
            ev(30_000, 2, Transition::Io),
            ev(30_010, 2, Transition::Blocked),
            ev(30_020, 1, Transition::Hold),
        ];
        if lost {
            events.push(ev(60_000, 1, Transition::LostUpdate));
        }
        app.apply(AppEvent::Gil(events));
        app.apply(AppEvent::Clock(100_000));
        app
    }

    #[test]
    fn lab_waits_and_lost_updates_are_drawn_on_named_lanes() {
        let app = marked(true);
        let blocked = app.timeline().lanes()[&2].changes.back().copied();
        assert_eq!(
            blocked,
            Some((30_010, Transition::Blocked)),
            "a lab wait is a lane state"
        );
        let terminal = render(&app, 100, 30);
        let screen = lines(&terminal);
        let ab = lane(&screen, "AB-1");
        assert!(
            ab.contains("━━━━━━━━━━"),
            "blocked cells after 30 ms:\n{ab}"
        );
        assert!(!ab.contains('▏'), "a lab wait is not drawn as I/O:\n{ab}");
        let race = lane(&screen, "race-1");
        assert_eq!(
            race.matches('≠').count(),
            1,
            "one lost update, at the default zoom:\n{race}"
        );
        let text = screen.join("\n");
        assert!(
            text.contains("━ blocked") && text.contains("≠ lost update"),
            "{text}"
        );
        assert!(!text.contains("thread 1"), "{text}");
        insta::assert_snapshot!("lab_marks_100x30", terminal.backend());

        let unmarked = lines(&render(&marked(false), 100, 30));
        assert!(!lane(&unmarked, "race-1").contains('≠'));
    }

    fn deadlock_status(cycle: bool, finished: bool) -> ScenarioStatus {
        let thread = |tag, name: &str, on: &str| LabThread {
            tag,
            name: name.to_string(),
            state: if finished {
                LabThreadState::Cancelled
            } else {
                LabThreadState::Blocked(on.to_string())
            },
        };
        ScenarioStatus {
            threads: vec![thread(7, "AB-1", "lock B"), thread(8, "BA-2", "lock A")],
            cycle: cycle.then(|| {
                "AB-1 waits for lock B held by BA-2, which waits for lock A held by AB-1"
                    .to_string()
            }),
            detection_us: Some(150),
            counters: LabCounters::default(),
            finished,
            broken_in_ms: finished.then_some(0.4),
            tasks: Vec::new(),
            completed: Vec::new(),
        }
    }

    #[test]
    fn the_deadlock_key_alternates_x_or_esc_breaks_and_the_pane_says_so() {
        let mut app = App::new(Mode::Gil, SwitchInterval::DEFAULT);
        assert_eq!(
            app.apply(AppEvent::Action(Action::Deadlock)),
            Some(Command::RunScenario(ScenarioKind::Deadlock))
        );
        app.apply(AppEvent::Scenario(LabUpdate::Started(
            ScenarioKind::Deadlock,
        )));
        app.apply(AppEvent::Scenario(LabUpdate::Status(Box::new(
            deadlock_status(false, false),
        ))));
        // No cycle yet: x is the worker table's.
        assert_eq!(app.apply(AppEvent::Action(Action::Cancel)), None);
        app.apply(AppEvent::Scenario(LabUpdate::Status(Box::new(
            deadlock_status(true, false),
        ))));
        assert!(app.labs().deadlocked());
        let text = lines(&render(&app, 80, 24)).join("\n");
        assert!(
            text.contains(
                "AB-1 waits for lock B held by BA-2, which waits for lock A held by AB-1"
            ),
            "{text}"
        );
        assert!(text.contains("AB-1 ━ blocked on lock B"), "{text}");
        assert!(text.contains("x/Esc breaks it"), "{text}");
        insta::assert_snapshot!("lab_deadlock_80x24", render(&app, 80, 24).backend());
        assert_eq!(
            app.apply(AppEvent::Action(Action::Cancel)),
            Some(Command::CancelScenario)
        );
        assert!(!app.labs().deadlocked());
        app.apply(AppEvent::Scenario(LabUpdate::Status(Box::new(
            deadlock_status(false, true),
        ))));
        let text = lines(&render(&app, 80, 24)).join("\n");
        assert!(text.contains("deadlock broken"), "{text}");
        assert!(text.contains("AB-1 ■ cancelled"), "{text}");
        // The next press runs the fix; Esc on a finished pane closes it.
        assert_eq!(
            app.apply(AppEvent::Action(Action::Deadlock)),
            Some(Command::RunScenario(ScenarioKind::DeadlockOrdered))
        );
        assert_eq!(app.apply(AppEvent::Action(Action::CloseOverlay)), None);
        assert!(app.labs().pane().is_none());
        // Esc on a running one cancels it.
        app.apply(AppEvent::Scenario(LabUpdate::Started(
            ScenarioKind::Deadlock,
        )));
        assert_eq!(
            app.apply(AppEvent::Action(Action::CloseOverlay)),
            Some(Command::CancelScenario)
        );
    }

    #[test]
    fn the_toolbox_picker_runs_the_chosen_scenario_and_its_pane_shows_the_counters() {
        let mut app = App::new(Mode::Gil, SwitchInterval::DEFAULT);
        assert_eq!(app.apply(AppEvent::Action(Action::Toolbox)), None);
        assert_eq!(app.labs().picker(), Some(0));
        let text = lines(&render(&app, 100, 30)).join("\n");
        assert!(
            text.contains("producer/consumer") && text.contains("Semaphore(2)"),
            "{text}"
        );
        app.apply(AppEvent::Action(Action::Down));
        assert_eq!(
            app.apply(AppEvent::Action(Action::Confirm)),
            Some(Command::RunScenario(ScenarioKind::Semaphore))
        );
        assert_eq!(app.labs().picker(), None);
        app.apply(AppEvent::Scenario(LabUpdate::Started(
            ScenarioKind::ProducerConsumer,
        )));
        let status = ScenarioStatus {
            threads: vec![
                LabThread {
                    tag: 3,
                    name: "prod-1".to_string(),
                    state: LabThreadState::Blocked("queue jobs".to_string()),
                },
                LabThread {
                    tag: 4,
                    name: "cons-1".to_string(),
                    state: LabThreadState::Running,
                },
            ],
            cycle: None,
            detection_us: None,
            counters: LabCounters {
                produced: 20,
                consumed: 16,
                depth: 4,
                depth_max: 4,
                producer_blocks: 9,
                ..LabCounters::default()
            },
            finished: false,
            broken_in_ms: None,
            tasks: Vec::new(),
            completed: Vec::new(),
        };
        app.apply(AppEvent::Scenario(LabUpdate::Status(Box::new(status))));
        let terminal = render(&app, 80, 24);
        let text = lines(&terminal).join("\n");
        assert!(text.contains("queue jobs ████████ 4/4"), "{text}");
        assert!(text.contains("produced 20/48 · consumed 16/48"), "{text}");
        assert!(text.contains("prod-1 ━ blocked on queue jobs"), "{text}");
        insta::assert_snapshot!("lab_queue_80x24", terminal.backend());

        // The pool: the backlog, who runs what, completion beside submission.
        app.apply(AppEvent::Scenario(LabUpdate::Started(ScenarioKind::Pool)));
        let task = |id: u64, thread: Option<&str>, done: bool| PoolTask {
            id,
            work: "cpu 5 ms",
            thread: thread.map(str::to_string),
            result: done.then(|| "300000 steps".to_string()),
        };
        let status = ScenarioStatus {
            threads: vec![LabThread {
                tag: 9,
                name: "main".to_string(),
                state: LabThreadState::Blocked("event future 0".to_string()),
            }],
            cycle: None,
            detection_us: None,
            counters: LabCounters {
                depth: 4,
                ..LabCounters::default()
            },
            finished: false,
            broken_in_ms: None,
            tasks: vec![
                task(0, Some("pool-1"), false),
                task(1, Some("pool-2"), true),
                task(2, Some("pool-3"), false),
                task(3, Some("pool-2"), true),
                task(4, Some("pool-2"), false),
            ],
            completed: vec![1, 3],
        };
        app.apply(AppEvent::Scenario(LabUpdate::Status(Box::new(status))));
        let terminal = render(&app, 100, 30);
        let text = lines(&terminal).join("\n");
        assert!(
            text.contains("pool-1 runs 0 · pool-3 runs 2 · pool-2 runs 4"),
            "{text}"
        );
        assert!(
            text.contains("submitted 0 1 2 3 4 · completed 1 3"),
            "{text}"
        );
        assert!(text.contains("main ━ blocked on event future 0"), "{text}");
        assert!(
            text.contains("#1 300000 steps (pool-2) · #3 300000 steps (pool-2)"),
            "{text}"
        );
        insta::assert_snapshot!("lab_pool_100x30", terminal.backend());
    }
}
