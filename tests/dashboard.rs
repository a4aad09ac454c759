//! The dashboard without a terminal: the reducer driven by scripted events,
//! and the views drawn into a fixed-size `TestBackend` and snapshotted.

use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use threadlab::gil::{GilEvent, Mode, SwitchInterval, Transition};
use threadlab::ui::app::{App, AppEvent, Command, Life};
use threadlab::ui::keys::Action;
use threadlab::ui::view;
use threadlab::work::{ConsoleSide, WorkerEvent, WorkerKind};

fn spawned(app: &mut App, id: u64, kind: WorkerKind, at: Instant) {
    app.apply(AppEvent::Spawned { id, kind, at });
}

fn worker(app: &mut App, event: WorkerEvent) {
    app.apply(AppEvent::Worker(event));
}

/// A fixed scene: a finished cpu worker, a fetch in I/O, a cpu worker
/// waiting for the GIL, a failed fetch, a cancelled file worker, the seed
/// demo's console, and GIL history for the timeline.
fn scene() -> (App, Instant) {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut app = App::new(Mode::Gil, SwitchInterval::DEFAULT).with_cores(2);
    spawned(&mut app, 1, WorkerKind::Cpu, at(0));
    spawned(&mut app, 2, WorkerKind::Fetch, at(10));
    spawned(&mut app, 3, WorkerKind::Cpu, at(20));
    spawned(&mut app, 4, WorkerKind::Fetch, at(30));
    spawned(&mut app, 5, WorkerKind::File, at(40));
    spawned(&mut app, 6, WorkerKind::Sleep, at(50));
    for (id, thread) in [(1, 1), (2, 2), (3, 3), (6, 6)] {
        worker(
            &mut app,
            WorkerEvent::Started {
                id,
                thread,
                at: at(60),
            },
        );
    }
    worker(
        &mut app,
        WorkerEvent::Progress {
            id: 2,
            done: 5 << 20,
            total: Some(8 << 20),
            at: at(1010),
        },
    );
    worker(
        &mut app,
        WorkerEvent::Progress {
            id: 3,
            done: 31_000_000,
            total: Some(100_000_000),
            at: at(1020),
        },
    );
    worker(
        &mut app,
        WorkerEvent::Finished {
            id: 1,
            done: 40_000_000,
            summary: "40000000 steps".into(),
            at: at(500),
        },
    );
    worker(
        &mut app,
        WorkerEvent::Failed {
            id: 4,
            message: "HTTP 500 Internal Server Error".into(),
            at: at(200),
        },
    );
    worker(&mut app, WorkerEvent::Cancelled { id: 5, at: at(300) });
    for (side, text) in [
        (ConsoleSide::Main, "5"),
        (ConsoleSide::Thread, "0"),
        (ConsoleSide::Thread, "1"),
        (ConsoleSide::Main, "6"),
    ] {
        worker(
            &mut app,
            WorkerEvent::Console {
                id: 6,
                side,
                text: text.into(),
            },
        );
    }
    // 400 ms of history: cpu-3 alternates with a thread that exited, fetch-2 in I/O.
    let mut events = Vec::new();
    for slice in 0..80u64 {
        let at_us = 700_000 + slice * 5_000;
        let (a, b) = if slice % 2 == 0 {
            (Transition::Hold, Transition::Wait)
        } else {
            (Transition::Wait, Transition::Hold)
        };
        events.push(GilEvent {
            at_us,
            thread: 3,
            what: a,
        });
        events.push(GilEvent {
            at_us,
            thread: 6,
            what: b,
        });
        events.push(GilEvent {
            at_us,
            thread: 2,
            what: Transition::Io,
        });
    }
    events.push(GilEvent {
        at_us: 1_099_000,
        thread: 3,
        what: Transition::Wait,
    });
    app.apply(AppEvent::Gil(events));
    app.apply(AppEvent::Clock(1_100_000));
    (app, at(1100))
}

#[test]
fn reducer_follows_a_scripted_sequence_of_worker_events() {
    let (mut app, _) = scene();
    assert_eq!(app.workers().rows().len(), 6);
    assert_eq!(app.counts(), (3, 1, 1, 1));
    assert_eq!(app.live(), 3);
    let row = |app: &App, id: u64| {
        app.workers()
            .rows()
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(row(&app, 1).life, Life::Done);
    assert_eq!(row(&app, 1).ratio(), Some(1.0));
    assert_eq!(row(&app, 2).done, 5 << 20);
    assert_eq!(
        row(&app, 2).lane,
        Transition::Io,
        "lane comes from the GIL timeline"
    );
    assert_eq!(row(&app, 3).lane, Transition::Wait);
    assert_eq!(
        row(&app, 4).message.as_deref(),
        Some("HTTP 500 Internal Server Error")
    );
    assert_eq!(row(&app, 5).life, Life::Cancelled);
    let console: Vec<&str> = app
        .console()
        .lines()
        .iter()
        .map(|(_, t)| t.as_str())
        .collect();
    assert_eq!(console, ["5", "0", "1", "6"]);

    // Late progress after the end changes nothing.
    worker(
        &mut app,
        WorkerEvent::Progress {
            id: 1,
            done: 1,
            total: Some(2),
            at: Instant::now(),
        },
    );
    assert_eq!(row(&app, 1).done, 40_000_000);

    // Keys become commands; selection moves; cancel targets the selection.
    assert_eq!(app.workers().selected(), 5, "a new worker is selected");
    app.apply(AppEvent::Action(Action::Up));
    app.apply(AppEvent::Action(Action::Up));
    app.apply(AppEvent::Action(Action::Up));
    assert_eq!(
        app.apply(AppEvent::Action(Action::Cancel)),
        Some(Command::Cancel(3))
    );
    app.apply(AppEvent::Action(Action::Top));
    assert_eq!(
        app.apply(AppEvent::Action(Action::Cancel)),
        None,
        "worker 1 already done"
    );
    assert_eq!(
        app.apply(AppEvent::Action(Action::Spawn(WorkerKind::Fetch))),
        Some(Command::Spawn(WorkerKind::Fetch))
    );
    assert_eq!(
        app.apply(AppEvent::Action(Action::ToggleGil)),
        Some(Command::SetMode(Mode::Free))
    );
    assert_eq!(
        app.apply(AppEvent::Action(Action::ToggleGil)),
        Some(Command::SetMode(Mode::Gil))
    );
    assert_eq!(
        app.apply(AppEvent::Action(Action::CycleGilKind)),
        Some(Command::SetMode(Mode::Legacy))
    );
    let halved = app.apply(AppEvent::Action(Action::IntervalDown));
    assert_eq!(
        halved,
        Some(Command::SetInterval(
            SwitchInterval::from_millis_f64(2.5).unwrap()
        ))
    );
    assert_eq!(
        app.apply(AppEvent::Action(Action::CancelAll)),
        Some(Command::CancelAll)
    );
    assert_eq!(
        app.apply(AppEvent::Action(Action::Quit)),
        Some(Command::Quit)
    );
    assert!(app.quit());
}

/// The actions the run loop treats as a quit before the reducer sees them
/// (so that it need not take the GIL back for them) quit from every state —
/// plain, help open, either picker open — and no other action quits.
#[test]
fn the_actions_that_quit_quit_from_every_state() {
    use threadlab::ui::keys::COMMANDS;
    let states: [(&str, Option<Action>); 4] = [
        ("plain", None),
        ("help", Some(Action::Help)),
        ("experiment picker", Some(Action::Experiments)),
        ("toolbox picker", Some(Action::Toolbox)),
    ];
    let actions = COMMANDS.iter().map(|c| c.action).chain([Action::ForceQuit]);
    for action in actions {
        for (name, opener) in states {
            let mut app = App::new(Mode::Free, SwitchInterval::DEFAULT);
            if let Some(opener) = opener {
                app.apply(AppEvent::Action(opener));
            }
            let command = app.apply(AppEvent::Action(action));
            assert_eq!(app.quit(), action.quits(), "{action:?} in the {name} state");
            if action.quits() {
                assert_eq!(
                    command,
                    Some(Command::Quit),
                    "{action:?} in the {name} state"
                );
            }
        }
    }
}

#[test]
fn help_overlay_opens_and_any_key_closes_it() {
    let mut app = App::new(Mode::Free, SwitchInterval::DEFAULT);
    app.apply(AppEvent::Action(Action::Help));
    assert!(app.help_open());
    assert_eq!(app.apply(AppEvent::Action(Action::CloseOverlay)), None);
    assert!(!app.help_open());
}

fn render(app: &App, now: Instant, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| view::draw(frame, app, now)).unwrap();
    terminal
}

#[test]
fn dashboard_snapshot() {
    let (app, now) = scene();
    let terminal = render(&app, now, 140, 30);
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn help_overlay_snapshot() {
    let (mut app, now) = scene();
    app.apply(AppEvent::Action(Action::Help));
    let terminal = render(&app, now, 100, 30);
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn any_size_draws_without_panicking_and_tiny_ones_say_so() {
    let (app, now) = scene();
    for width in [1u16, 2, 10, 40, 59, 60, 61, 80, 200] {
        for height in [1u16, 2, 5, 15, 16, 17, 24, 60] {
            let terminal = render(&app, now, width, height);
            if width >= 30 && height >= 3 && (width < view::MIN_WIDTH || height < view::MIN_HEIGHT)
            {
                let text = format!("{:?}", terminal.backend());
                assert!(text.contains("too small"), "{width}×{height}");
            }
        }
    }
}

#[test]
fn ui_under_the_gil_and_timeline_zoom_are_reducer_state() {
    let mut app = App::new(Mode::Gil, SwitchInterval::DEFAULT);
    assert_eq!(
        app.apply(AppEvent::Action(Action::ToggleUiGil)),
        Some(Command::SetUiUnderGil(true))
    );
    assert!(app.ui_under_gil());
    app.apply(AppEvent::UiLane(42));
    assert_eq!(app.lane_label(42), "ui");
    let span = app.timeline().span_ms();
    app.apply(AppEvent::Action(Action::ZoomOut));
    assert_eq!(app.timeline().span_ms(), span * 2);
    for _ in 0..20 {
        app.apply(AppEvent::Action(Action::ZoomIn));
    }
    assert_eq!(
        app.timeline().span_ms(),
        threadlab::ui::app::SPAN_RANGE_MS.0
    );
    app.apply(AppEvent::KeyShown {
        latency: Duration::from_millis(3),
    });
    assert_eq!(app.meter().recent_latency().back(), Some(&3000));
    assert!((app.meter().key_latency_ms(50.0).unwrap() - 3.0).abs() < 0.01);
}

fn experiment_scene() -> (App, Instant) {
    use threadlab::lab::{BenchRow, Report, SuiteEvent};
    let (mut app, now) = scene();
    app.apply(AppEvent::Action(Action::Experiments));
    assert_eq!(app.experiments().picker(), Some(0));
    app.apply(AppEvent::Action(Action::Down));
    app.apply(AppEvent::Action(Action::Up));
    let command = app.apply(AppEvent::Action(Action::Confirm));
    assert_eq!(
        command,
        Some(Command::RunExperiment(
            threadlab::lab::Experiment::Throughput
        ))
    );
    assert_eq!(app.experiments().picker(), None);
    app.apply(AppEvent::Lab(SuiteEvent::Progress { done: 2, total: 6 }));
    for (mode, speedups) in [(Mode::Free, [1.0, 1.98]), (Mode::Gil, [1.0, 0.99])] {
        let rows = [1u32, 2]
            .iter()
            .zip(speedups)
            .map(|(&threads, speedup)| BenchRow {
                threads: Some(threads),
                speedup: Some(speedup),
                iterations_per_s: Some(1e8 * speedup),
                wall_s: 0.3,
                ..BenchRow::default()
            })
            .collect();
        app.apply(AppEvent::Lab(SuiteEvent::Report(Report {
            experiment: "throughput".into(),
            mode,
            interval_ms: 5.0,
            rows,
            interpreter: None,
        })));
    }
    (app, now)
}

#[test]
fn experiment_pane_collects_progress_and_reports_and_esc_cancels_it() {
    let (mut app, _) = experiment_scene();
    let pane = app.experiments().pane().expect("pane open");
    assert_eq!((pane.done, pane.total), (2, 6));
    assert_eq!(pane.reports.len(), 2);
    assert_eq!(
        app.apply(AppEvent::Action(Action::CloseOverlay)),
        Some(Command::CancelExperiment),
        "closing a running experiment cancels it"
    );
    assert!(app.experiments().pane().is_none());
}

#[test]
fn experiment_pane_snapshot() {
    let (app, now) = experiment_scene();
    let terminal = render(&app, now, 120, 30);
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn mouse_clicks_select_rows_and_the_wheel_scrolls() {
    use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
    use ratatui::layout::Rect;
    let (mut app, _) = scene();
    let screen = Rect::new(0, 0, 140, 30);
    let mouse = |kind, column, row| MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    };
    // Row 3 of the screen is the table's second worker row (header line,
    // border, column titles, then rows).
    let click = view::mouse_event(
        &app,
        screen,
        &mouse(MouseEventKind::Down(MouseButton::Left), 5, 4),
    );
    assert!(matches!(click, Some(AppEvent::ClickRow(1))), "{click:?}");
    app.apply(click.unwrap());
    assert_eq!(app.workers().selected(), 1);
    let wheel = view::mouse_event(&app, screen, &mouse(MouseEventKind::ScrollDown, 5, 5)).unwrap();
    app.apply(wheel);
    assert_eq!(app.workers().selected(), 2);
    let over_timeline =
        view::mouse_event(&app, screen, &mouse(MouseEventKind::ScrollDown, 120, 10));
    assert!(matches!(
        over_timeline,
        Some(AppEvent::ScrollTimeline { down: true })
    ));
    // A click on another pane gives it the focus.
    let click = view::mouse_event(
        &app,
        screen,
        &mouse(MouseEventKind::Down(MouseButton::Left), 120, 12),
    );
    assert!(
        matches!(
            click,
            Some(AppEvent::Focus(threadlab::ui::layout::PaneId::Timeline))
        ),
        "{click:?}"
    );
    app.apply(click.unwrap());
    assert_eq!(app.focus(), threadlab::ui::layout::PaneId::Timeline);
    // Clicks on borders or outside the table do nothing.
    assert!(
        view::mouse_event(
            &app,
            screen,
            &mouse(MouseEventKind::Down(MouseButton::Left), 5, 1)
        )
        .is_none()
    );
    assert!(
        view::mouse_event(
            &app,
            Rect::new(0, 0, 10, 5),
            &mouse(MouseEventKind::ScrollDown, 1, 1)
        )
        .is_none()
    );
}

/// The load in the timeline's title: the share of the visible span in which
/// any thread held the GIL, wherever those threads' lanes are shown.
fn timeline_title(app: &App, now: Instant) -> String {
    let text = format!("{:?}", render(app, now, 140, 30).backend());
    let at = text.find("GIL timeline").expect("timeline pane");
    text[at..].chars().take(40).collect()
}

#[test]
fn timeline_load_counts_every_holder_and_nothing_in_free_mode() {
    let t0 = Instant::now();
    // Threads take turns holding for 20 ms, the GIL free 10 ms between
    // them. The visible 100 ms, [1.1 s, 1.2 s), hold the takes at 1.11,
    // 1.14 and 1.17 s: 60 ms held.
    let mut app = App::new(Mode::Gil, SwitchInterval::DEFAULT);
    let mut events = Vec::new();
    for slice in 0..40u64 {
        let start = slice * 30_000;
        let thread = 10 + (slice % 40) as u32; // forty lanes: most do not fit the pane
        events.push(GilEvent {
            at_us: start,
            thread,
            what: Transition::Hold,
        });
        events.push(GilEvent {
            at_us: start + 20_000,
            thread,
            what: Transition::Io,
        });
    }
    app.apply(AppEvent::Gil(events));
    app.apply(AppEvent::Clock(1_200_000));
    let title = timeline_title(&app, t0);
    assert!(title.contains("load 60 %"), "{title}");

    // Free mode: threads run, nobody holds anything.
    let mut free = App::new(Mode::Free, SwitchInterval::DEFAULT);
    let events = (0..40u64)
        .map(|n| GilEvent {
            at_us: n * 1000,
            thread: 10 + n as u32,
            what: Transition::Run,
        })
        .collect();
    free.apply(AppEvent::Gil(events));
    free.apply(AppEvent::Clock(1_200_000));
    let title = timeline_title(&free, t0);
    assert!(title.contains("load 0 %"), "{title}");
}

/// The picture at every size: two CPU workers taking turns under `gil`
/// (with drop requests and forced drops), a fetch in I/O that takes the GIL
/// briefly, and the seed demo's two threads sleeping and printing.
fn gil_scene() -> (App, Instant) {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut app = App::new(Mode::Gil, SwitchInterval::DEFAULT).with_cores(2);
    for (id, kind) in [
        (1, WorkerKind::Cpu),
        (2, WorkerKind::Cpu),
        (3, WorkerKind::Fetch),
        (4, WorkerKind::Sleep),
    ] {
        spawned(&mut app, id, kind, at(id * 10));
    }
    for (id, thread) in [(1, 1), (2, 2), (3, 3), (4, 4), (4, 5)] {
        worker(
            &mut app,
            WorkerEvent::Started {
                id,
                thread,
                at: at(60),
            },
        );
    }
    for (id, done, total) in [
        (1, 31_000_000, 100_000_000),
        (2, 29_000_000, 100_000_000),
        (3, 5 << 20, 8 << 20),
    ] {
        let total = Some(total);
        let at = at(1090);
        worker(
            &mut app,
            WorkerEvent::Progress {
                id,
                done,
                total,
                at,
            },
        );
    }
    for (side, text) in [
        (ConsoleSide::Main, "5"),
        (ConsoleSide::Thread, "0"),
        (ConsoleSide::Thread, "1"),
        (ConsoleSide::Main, "6"),
    ] {
        let text = text.into();
        worker(&mut app, WorkerEvent::Console { id: 4, side, text });
    }
    app.apply(AppEvent::Gil(gil_scene_events()));
    app.apply(AppEvent::Clock(1_100_000));
    (app, at(1100))
}

fn gil_scene_events() -> Vec<GilEvent> {
    let ev = |at_us, thread, what| GilEvent {
        at_us,
        thread,
        what,
    };
    let base = 600_000u64;
    let mut events = Vec::new();
    for slice in 0..100u64 {
        let start = base + slice * 5_000;
        let (holder, waiter) = if slice % 2 == 0 { (1, 2) } else { (2, 1) };
        events.push(ev(start, holder, Transition::Hold));
        events.push(ev(start, waiter, Transition::Wait));
        events.push(ev(start + 4_900, waiter, Transition::DropRequest));
        events.push(ev(start + 4_950, holder, Transition::ForcedDrop));
    }
    for k in 0..25u64 {
        let start = base + k * 20_000;
        events.push(ev(start, 3, Transition::Hold));
        events.push(ev(start + 300, 3, Transition::Io));
    }
    for k in 0..5u64 {
        for (thread, offset) in [(4, 0), (5, 50_000)] {
            let start = base + k * 100_000 + offset;
            events.push(ev(start, thread, Transition::Hold));
            events.push(ev(start + 200, thread, Transition::Io));
        }
    }
    events.sort_by_key(|e| e.at_us);
    events
}

fn screen_text(terminal: &Terminal<TestBackend>) -> Vec<String> {
    let buffer = terminal.backend().buffer();
    let area = buffer.area;
    (0..area.height)
        .map(|y| (0..area.width).map(|x| buffer[(x, y)].symbol()).collect())
        .collect()
}

/// The longest run of timeline glyphs on the line of lane `label`.
fn lane_cells(lines: &[String], label: &str) -> (usize, String) {
    let line = lines
        .iter()
        .find(|l| l.contains(&format!("│{label} ")))
        .unwrap_or_else(|| panic!("no lane {label}:\n{}", lines.join("\n")));
    let glyph = |c: char| "█░▏▒▌▐×!".contains(c);
    let mut best = (0, String::new());
    let mut run = String::new();
    for c in line.chars().chain(std::iter::once('|')) {
        if glyph(c) {
            run.push(c);
        } else {
            if run.chars().count() > best.0 {
                best = (run.chars().count(), run.clone());
            }
            run.clear();
        }
    }
    best
}

#[test]
fn gil_scene_snapshots_at_every_size() {
    let (app, now) = gil_scene();
    for (width, height) in [(80, 24), (100, 30), (120, 36), (160, 48)] {
        let terminal = render(&app, now, width, height);
        insta::assert_snapshot!(format!("gil_scene_{width}x{height}"), terminal.backend());
    }
}

#[test]
fn lanes_get_the_width_at_every_size() {
    let (app, now) = gil_scene();
    for (width, height, least) in [
        (80, 24, 40),
        (100, 30, 55),
        (120, 36, 70),
        (160, 48, 100),
        (240, 67, 100),
    ] {
        let lines = screen_text(&render(&app, now, width, height));
        for label in ["cpu-1", "cpu-2", "fetch-3", "sleep-4", "sleep-4+"] {
            let (cells, _) = lane_cells(&lines, label);
            assert!(
                cells >= least,
                "{width}×{height}: {label} has {cells} cells\n{}",
                lines.join("\n")
            );
        }
    }
}

#[test]
fn a_cpu_lane_under_the_gil_shows_held_and_waiting_cells_at_80x24() {
    let (app, now) = gil_scene();
    let lines = screen_text(&render(&app, now, 80, 24));
    for label in ["cpu-1", "cpu-2"] {
        let (_, cells) = lane_cells(&lines, label);
        assert!(
            cells.contains('█') && cells.contains('░'),
            "{label}: {cells}"
        );
    }
    // Half a cell: at 100 ms over 44 cells a hand-over mid-cell shows as ▌ or ▐.
    let (_, cells) = lane_cells(&lines, "cpu-1");
    assert!(cells.contains('▌') || cells.contains('▐'), "{cells}");
}

#[test]
fn the_focused_pane_fills_the_screen_until_z_again() {
    let (mut app, now) = gil_scene();
    assert_eq!(app.apply(AppEvent::Action(Action::NextPane)), None);
    assert_eq!(app.focus(), threadlab::ui::layout::PaneId::Timeline);
    app.apply(AppEvent::Action(Action::FocusPane));
    assert!(app.zoomed());
    let terminal = render(&app, now, 80, 24);
    let lines = screen_text(&terminal);
    assert!(
        lines[23].contains("timeline fills the screen · z back"),
        "{}",
        lines[23]
    );
    assert!(
        !lines.iter().any(|l| l.contains("Workers (")),
        "the table is hidden"
    );
    let (cells, _) = lane_cells(&lines, "cpu-1");
    assert!(cells >= 40);
    insta::assert_snapshot!("gil_scene_timeline_focused_80x24", terminal.backend());
    // ↑ scrolls the focused timeline's lanes, not the worker selection.
    let selected = app.workers().selected();
    app.apply(AppEvent::Action(Action::Up));
    assert_eq!(app.workers().selected(), selected);
    assert_eq!(app.timeline().scroll(), 1);
    app.apply(AppEvent::Action(Action::FocusPane));
    assert!(!app.zoomed());
    let lines = screen_text(&render(&app, now, 80, 24));
    assert!(lines.iter().any(|l| l.contains("Workers (4)")));
}

#[test]
fn nothing_is_cut_mid_word_on_narrow_screens() {
    let (mut app, now) = gil_scene();
    app.apply(AppEvent::Action(Action::ToggleUiGil));
    for width in [60u16, 70, 80, 100, 120] {
        let lines = screen_text(&render(&app, now, width, 24));
        let header = &lines[0];
        assert!(
            header.contains("GIL: on · gil · 5.0 ms"),
            "{width}: {header}"
        );
        let footer = &lines[23];
        assert!(
            footer.contains(" help ") && footer.contains(" quit "),
            "{width}: {footer}"
        );
        // Whole legend items only.
        let legend = lines.iter().find(|l| l.contains("holds")).expect("legend");
        for item in ["waits", "I/O", "free", "asks", "forced", "zoom"] {
            let start = &item[..2];
            assert!(
                legend.contains(item) || !legend.contains(&format!(" {start}")),
                "{width}: {legend}"
            );
        }
        // Titles end with a space before the border runs on.
        for line in &lines {
            for title in ["Console", "Responsiveness", "GIL timeline"] {
                if let Some(at) = line.find(title) {
                    let rest: String = line[at..]
                        .chars()
                        .take_while(|c| *c != '─' && *c != '┐')
                        .collect();
                    assert!(rest.ends_with(' '), "{width}: title cut: {rest:?}");
                }
            }
        }
    }
}

#[test]
fn help_fits_a_short_screen_in_two_columns() {
    let (mut app, now) = gil_scene();
    app.apply(AppEvent::Action(Action::Help));
    let lines = screen_text(&render(&app, now, 100, 24));
    let text = lines.join("\n");
    for needle in [
        "Help · keys",
        "spawn a fetch worker",
        "Ctrl-C  quit",
        "this help",
    ] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }
    insta::assert_snapshot!("help_overlay_100x24", text);
}

/// The Responsiveness pane's lines at `width`, UI under the GIL or not.
fn meter_text(width: u16, ui_under_gil: bool, cost: f64) -> Vec<String> {
    let cost = threadlab::lab::python_cost::PythonCost::with_refresh(
        cost,
        if cost > 0.0 { 33.0 } else { 0.0 },
    )
    .expect("a cost in range");
    meter_text_with(width, ui_under_gil, cost)
}

/// The Responsiveness pane's lines at `width` assuming `python_cost`.
fn meter_text_with(
    width: u16,
    ui_under_gil: bool,
    python_cost: threadlab::lab::python_cost::PythonCost,
) -> Vec<String> {
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;
    use ratatui::widgets::Widget;
    use threadlab::ui::keys::KeyMap;
    use threadlab::ui::panes::meter::{Meter, MeterPane};
    use threadlab::ui::theme::Theme;
    let meter = Meter::default();
    let keys = KeyMap::default();
    let theme = Theme::default();
    let area = Rect::new(0, 0, width, 6);
    let mut buf = Buffer::empty(area);
    MeterPane {
        meter: &meter,
        ui_under_gil,
        python_cost,
        keys: &keys,
        theme: &theme,
        focused: false,
    }
    .render(area, &mut buf);
    (0..area.height)
        .map(|y| (0..width).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect()
}

#[test]
fn the_meter_says_what_python_cost_the_ui_under_the_gil_assumes() {
    let wide = meter_text(120, true, 12.0).join("\n");
    assert!(
        wide.contains("assumes Python: 12 ms/key + 33 ms/refresh every 100 ms"),
        "{wide}"
    );
    let mid = meter_text(60, true, 12.0).join("\n");
    assert!(mid.contains("Python 12 ms/key + 33 ms/refresh"), "{mid}");
    let none = meter_text(100, true, 0.0).join("\n");
    assert!(none.contains("assumes no Python work"), "{none}");
    let off = meter_text(100, false, 12.0).join("\n");
    assert!(!off.contains("ms/key"), "{off}");
    for width in 12..=100 {
        for line in meter_text(width, true, 2.5) {
            // Whole words only: a choice either fits inside the border or is left out.
            let inner = line.trim_end_matches('│').trim_end();
            assert!(
                !inner.contains("Pytho") || inner.contains("Python"),
                "{width}: {line}"
            );
        }
    }
}

/// The pane names the preset in force, at every width that has room for
/// it: "UI under GIL: light (2.5+2.5 ms)", or the full sentence when wide.
#[test]
fn the_meter_names_the_preset_in_force() {
    use threadlab::lab::python_cost::Preset;
    for preset in Preset::ALL {
        let name = preset.name();
        let wide = meter_text_with(140, true, preset.cost()).join("\n");
        assert!(
            wide.contains(&format!("assumes Python: {name} (")),
            "{wide}"
        );
        let narrow = meter_text_with(44, true, preset.cost()).join("\n");
        assert!(
            narrow.contains(&format!("UI under GIL: {name} (")),
            "{narrow}"
        );
        let off = meter_text_with(140, false, preset.cost()).join("\n");
        assert!(!off.contains(name), "{off}");
    }
}
