//! The experiment pane's side-by-side view without a terminal: the picker
//! starts it, a result (scripted here; `tests/compare_trace.rs` runs the
//! real one) draws the emulated and the real lanes on one time scale with
//! their distributions, ↑↓ change the thread count and `+`/`-` zoom both.

use std::time::Instant;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use threadlab::gil::{GilEvent, Mode, SwitchInterval, Transition};
use threadlab::lab::side_by_side::{Measured, Side, SideBySide};
use threadlab::lab::{BenchRow, Experiment, SuiteEvent};
use threadlab::ui::app::{App, AppEvent, Command};
use threadlab::ui::keys::Action;
use threadlab::ui::view;

/// `n` threads taking turns holding the GIL for `hold_us` each, for 200 ms.
fn turns(n: u32, hold_us: u64, hold_p50: f64) -> Measured {
    let mut events = Vec::new();
    let tags: Vec<u32> = (10..10 + n).collect();
    for (i, tag) in tags.iter().enumerate() {
        events.push(GilEvent {
            at_us: i as u64,
            thread: *tag,
            what: Transition::Wait,
        });
    }
    let mut at = 100;
    let mut turn = 0;
    while at < 200_000 {
        let holder = tags[turn % tags.len()];
        events.push(GilEvent {
            at_us: at,
            thread: holder,
            what: Transition::Hold,
        });
        at += hold_us;
        if n > 1 {
            events.push(GilEvent {
                at_us: at,
                thread: holder,
                what: Transition::Wait,
            });
        }
        turn += 1;
    }
    for tag in &tags {
        events.push(GilEvent {
            at_us: at,
            thread: *tag,
            what: Transition::Exit,
        });
    }
    Measured {
        threads: n,
        row: BenchRow {
            threads: Some(n),
            speedup: Some(1.0),
            hold_ms_p50: Some(hold_p50),
            hold_ms_p99: Some(hold_p50 * 1.5),
            wait_ms_p50: (n > 1).then_some(hold_p50),
            wait_ms_p99: (n > 1).then_some(hold_p50 * 2.0),
            ..BenchRow::default()
        },
        names: tags
            .iter()
            .enumerate()
            .map(|(i, t)| (*t, format!("cpu-{}", i + 1)))
            .collect(),
        events,
        end_us: at,
    }
}

fn result(real: Result<Side, String>) -> Box<SideBySide> {
    Box::new(SideBySide {
        experiment: Experiment::Throughput,
        interval_ms: 5.0,
        emulated: Side {
            label: "emulated gil (5.0 ms interval)".into(),
            measured: vec![turns(1, 200_000, 200.0), turns(2, 5_000, 5.0)],
        },
        real,
    })
}

fn real_side() -> Side {
    Side {
        label: "real py3.12 (traced)".into(),
        measured: vec![turns(1, 200_000, 199.0), turns(2, 6_000, 6.07)],
    }
}

/// The app with the side-by-side of `throughput` started from the picker.
fn started() -> App {
    let mut app = App::new(Mode::Gil, SwitchInterval::DEFAULT).with_cores(2);
    app.apply(AppEvent::Action(Action::Experiments));
    for _ in 0..4 {
        app.apply(AppEvent::Action(Action::Down));
    }
    let command = app.apply(AppEvent::Action(Action::Confirm));
    assert_eq!(
        command,
        Some(Command::RunSideBySide(Experiment::Throughput)),
        "the fifth picker entry is throughput's side-by-side"
    );
    app
}

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| view::draw(frame, app, Instant::now()))
        .unwrap();
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            out.push_str(buffer[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// The line holding `label`'s lane, the `nth` time it appears (0: emulated).
fn lane(text: &str, label: &str, nth: usize) -> String {
    text.lines()
        .filter(|l| l.contains(&format!("{label} ")))
        .nth(nth)
        .unwrap_or_else(|| panic!("no lane {label} #{nth} in\n{text}"))
        .to_string()
}

#[test]
fn both_timelines_show_their_lanes_and_distributions_at_two_threads_first() {
    let mut app = started();
    let waiting = screen(&app, 100, 30);
    assert!(
        waiting.contains("Emulated beside real: throughput"),
        "{waiting}"
    );
    assert!(
        waiting.contains("real-GIL tracer"),
        "says what runs: {waiting}"
    );
    app.apply(AppEvent::Lab(SuiteEvent::SideBySide(result(Ok(
        real_side(),
    )))));
    app.apply(AppEvent::Lab(SuiteEvent::Finished));
    let text = screen(&app, 100, 30);
    assert!(
        text.contains("2 threads"),
        "two threads shown first: {text}"
    );
    assert!(text.contains("emulated gil (5.0 ms interval)"), "{text}");
    assert!(text.contains("real py3.12 (traced)"), "{text}");
    assert!(text.contains("hold p50/p99 5.00/7.50 ms"), "{text}");
    assert!(text.contains("hold p50/p99 6.07/9.11 ms"), "{text}");
    for nth in 0..2 {
        for label in ["cpu-1", "cpu-2"] {
            let line = lane(&text, label, nth);
            assert!(
                line.contains('█') && line.contains('░'),
                "{label} #{nth} takes turns: {line}"
            );
        }
    }
    insta::assert_snapshot!(text);
}

#[test]
fn arrows_change_the_thread_count_and_zoom_moves_both_timelines() {
    let mut app = started();
    app.apply(AppEvent::Lab(SuiteEvent::SideBySide(result(Ok(
        real_side(),
    )))));
    let side = |app: &App| {
        let pane = app.experiments().pane().expect("pane");
        let view = pane.side.as_ref().expect("side view");
        (
            view.threads(),
            view.emulated().map(|t| t.span_ms()),
            view.real().map(|t| t.span_ms()),
        )
    };
    assert_eq!(side(&app), (Some(2), Some(100), Some(100)));
    app.apply(AppEvent::Action(Action::ZoomOut));
    assert_eq!(
        side(&app),
        (Some(2), Some(200), Some(200)),
        "one time scale"
    );
    app.apply(AppEvent::Action(Action::Up));
    assert_eq!(side(&app), (Some(1), Some(200), Some(200)), "zoom kept");
    let text = screen(&app, 100, 30);
    assert!(text.contains("1 thread ·"), "{text}");
    assert!(
        !text.contains("cpu-2 "),
        "one thread's measurement has one lane: {text}"
    );
    app.apply(AppEvent::Action(Action::Up));
    assert_eq!(side(&app).0, Some(1), "stops at the smallest");
    app.apply(AppEvent::Action(Action::Down));
    app.apply(AppEvent::Action(Action::Down));
    assert_eq!(side(&app).0, Some(2), "stops at the largest");
    assert_eq!(
        app.apply(AppEvent::Action(Action::CloseOverlay)),
        Some(Command::CancelExperiment),
        "Esc while it runs cancels it"
    );
    assert!(app.experiments().pane().is_none());
}

#[test]
fn without_the_tracer_the_real_side_says_why() {
    let mut app = started();
    let why = "not permitted to trace — the real GIL needs the tracer: run `sudo threadlab` to see it here";
    app.apply(AppEvent::Lab(SuiteEvent::SideBySide(result(Err(
        why.into()
    )))));
    let text = screen(&app, 100, 30);
    assert!(text.contains("real interpreter: not traced"), "{text}");
    assert!(text.contains("sudo threadlab"), "{text}");
    assert!(
        text.contains("hold p50/p99 5.00/7.50 ms"),
        "emulated still shown: {text}"
    );
}
