//! The trace dashboard without a pty, without root and without sleeping:
//! its [`TraceDash`] screen in the same [`Runner`] as the emulated
//! dashboard, on ratatui's `TestBackend`, fed synthetic tracer events
//! through the same channels the tracer's reader thread uses (a
//! [`Recorder`] writing the GIL timeline, rows published on a
//! [`LivePublisher`]), stepped at instants the test picks.

use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, bounded, unbounded};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use threadlab::config::Config;
use threadlab::gil::Timeline as GilTimeline;
use threadlab::trace::console::ConsoleLog;
use threadlab::trace::live::{LivePublisher, live_channel};
use threadlab::trace::recorder::{Happening, Recorder, SchedState, Stamped};
use threadlab::trace::sampled::Observed;
use threadlab::trace::sampler::StackRound;
use threadlab::trace::stacks::{PyFrame, ThreadStack};
use threadlab::trace::{SampledWhy, TraceEnd, TraceMode};
use threadlab::ui::keys::KeyMap;
use threadlab::ui::runner::{Feeds, Flow, Input, Runner, Wake};
use threadlab::ui::theme::Theme;
use threadlab::ui::trace::{TraceDash, TraceLink, TraceState};

const PID: u32 = 100;

/// The tracer's side (the recorder and where it publishes), the test's ends
/// of the screen's channels, and the screen's world.
struct Traced {
    recorder: Recorder,
    publisher: LivePublisher,
    console: Arc<ConsoleLog>,
    end: Sender<TraceEnd>,
    input: Sender<Input>,
    signals: Sender<i32>,
    feeds: Feeds,
    link: TraceLink,
    t0: Instant,
}

impl Traced {
    /// Applies `(ms, tid, what)` as the reader would, then publishes rows
    /// at `now_ms`.
    fn feed(&mut self, inputs: &[(u64, u32, Happening)], now_ms: u64) {
        for &(ms, tid, what) in inputs {
            self.recorder.apply(Stamped {
                time_ns: ms * 1_000_000,
                tid,
                what,
            });
        }
        // Fresh: the test publishes faster than the tracer's 100 ms
        // cadence for the Python part.
        self.publisher
            .publish_fresh(&self.recorder, now_ms * 1_000_000, 0);
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn key(&self, code: KeyCode, ms: u64) -> Wake {
        Wake::Input(Input {
            event: Ok(Event::Key(KeyEvent::new(code, KeyModifiers::NONE))),
            read_at: self.at(ms),
        })
    }
}

fn start(keys: KeyMap, gil_disabled: bool) -> (Runner<TestBackend, TraceDash>, Traced) {
    traced_on(TestBackend::new(100, 30), keys, gil_disabled)
}

fn traced_on(
    backend: TestBackend,
    keys: KeyMap,
    gil_disabled: bool,
) -> (Runner<TestBackend, TraceDash>, Traced) {
    traced_with(backend, keys, gil_disabled, None)
}

/// [`traced_on`], for a sampled trace when `sampled` gives its header label.
fn traced_with(
    backend: TestBackend,
    keys: KeyMap,
    gil_disabled: bool,
    sampled: Option<&str>,
) -> (Runner<TestBackend, TraceDash>, Traced) {
    let timeline = Arc::new(GilTimeline::default());
    let mut recorder = Recorder::new(0, Arc::clone(&timeline), |tid| format!("py-{tid}"));
    if gil_disabled {
        recorder = recorder.states_only();
    }
    let (publisher, feed) = live_channel(timeline);
    let console = Arc::new(ConsoleLog::default());
    let (end, ended) = bounded(1);
    let (input, input_rx) = unbounded();
    let (signals, signals_rx) = unbounded();
    let feeds = Feeds::without_workers(input_rx, signals_rx);
    let mut state = TraceState::new("3.11.7", PID, false, Theme::default(), keys);
    if gil_disabled {
        state = state.gil_disabled();
    }
    if let Some(label) = sampled {
        state = state.sampled(label);
    }
    let terminal = Terminal::new(backend).expect("a test terminal");
    let runner = Runner::with_screen(terminal, TraceDash::new(state, true), 30);
    let t0 = Instant::now();
    let link = TraceLink::new(feed, t0, Some(Arc::clone(&console)), ended);
    let traced = Traced {
        recorder,
        publisher,
        console,
        end,
        input,
        signals,
        feeds,
        link,
        t0,
    };
    (runner, traced)
}

fn screen(runner: &Runner<TestBackend, TraceDash>) -> String {
    let buffer = runner.terminal().backend().buffer();
    let width = buffer.area.width as usize;
    let cells: Vec<&str> = buffer.content().iter().map(|c| c.symbol()).collect();
    cells
        .chunks(width)
        .map(|row| row.concat())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Two threads taking turns, then a third waiting.
const TURNS: &[(u64, u32, Happening)] = &[
    (0, PID, Happening::TakeEntry),
    (1, PID, Happening::TakeReturn),
    (2, 101, Happening::TakeEntry),
    (6, PID, Happening::Drop),
    (6, PID, Happening::DropReturn),
    (6, 101, Happening::TakeReturn),
    (7, 102, Happening::TakeEntry),
];

/// Steps a frame at `ms` (a timer wake) and returns what is on screen.
fn frame(runner: &mut Runner<TestBackend, TraceDash>, traced: &mut Traced, ms: u64) -> String {
    let at = traced.at(ms);
    let flow = runner.step(Wake::Timer, &mut traced.link, &traced.feeds, at);
    assert_eq!(flow, Flow::Continue);
    screen(runner)
}

fn step(
    runner: &mut Runner<TestBackend, TraceDash>,
    traced: &mut Traced,
    wake: Wake,
    ms: u64,
) -> Flow {
    let at = traced.at(ms);
    runner.step(wake, &mut traced.link, &traced.feeds, at)
}

#[test]
fn tracer_events_become_rows_and_lanes_and_the_program_output_shows() {
    let (mut runner, mut traced) = start(KeyMap::default(), false);
    let first = frame(&mut runner, &mut traced, 0);
    assert!(
        first.contains("TRACE python 3.11.7 · pid 100 · real GIL"),
        "{first}"
    );
    assert!(first.contains("Threads · 0"), "{first}");
    traced.feed(TURNS, 50);
    traced.console.push("hello from python".into());
    let text = frame(&mut runner, &mut traced, 60);
    for needle in [
        "· running",
        "Threads · 3",
        "py-101",
        "py-102",
        "▶ holds GIL",
        "… waits",
        "main",
        "█",
        "hello from python",
        "q stop the program and quit",
        "? help",
    ] {
        assert!(text.contains(needle), "{needle:?} missing\n{text}");
    }
    assert_eq!(runner.screen().state().rows().len(), 3);
    assert_eq!(runner.screen().state().timeline().lanes().len(), 3);
    // While the program runs the picture keeps moving: a timer stays armed.
    assert!(runner.deadline().is_some());
}

#[test]
fn help_opens_over_the_trace_and_esc_leaves_the_picture_as_it_was() {
    let (mut runner, mut traced) = start(KeyMap::default(), false);
    traced.feed(TURNS, 50);
    let before = frame(&mut runner, &mut traced, 60);
    assert!(!before.contains("Help · keys"));
    // The same instant: only the overlay changes what is drawn.
    let wake = traced.key(KeyCode::Char('?'), 60);
    assert_eq!(step(&mut runner, &mut traced, wake, 60), Flow::Continue);
    let open = screen(&runner);
    for needle in [
        "Help · keys · tracing a real program · Esc closes",
        "+ =  zoom the GIL timeline in (down to 25 ms)",
        "-  zoom the GIL timeline out (up to 10 s)",
        "↑ k  scroll the lanes to older threads",
        "?  this help",
        "Esc  close this help",
        "q  stop the program (SIGINT, then SIGTERM, then SIGKILL) and quit",
        "Ctrl-C  quit (always)",
        "Not while tracing (emulation keys: they say so instead of acting):",
        "f d c s g m [ ] e r D t u x X Home End l z Enter",
    ] {
        assert!(open.contains(needle), "{needle:?} missing\n{open}");
    }
    // Emulation commands are not offered as if they worked.
    assert!(!open.contains("spawn a cpu worker"), "{open}");
    let wake = traced.key(KeyCode::Esc, 60);
    step(&mut runner, &mut traced, wake, 60);
    assert!(!runner.screen().state().help_open());
    assert_eq!(screen(&runner), before, "Esc leaves the picture as it was");
}

#[test]
fn zoom_and_scroll_change_what_is_drawn_and_emulation_keys_say_so() {
    let (mut runner, mut traced) = traced_on(TestBackend::new(100, 24), KeyMap::default(), false);
    // More threads than the timeline has rows for.
    let many: Vec<_> = (0..12)
        .map(|i| (i, 200 + i as u32, Happening::TakeEntry))
        .collect();
    traced.feed(&many, 50);
    let start = frame(&mut runner, &mut traced, 60);
    let span = runner.screen().state().timeline().span_ms();
    let wake = traced.key(KeyCode::Char('-'), 61);
    step(&mut runner, &mut traced, wake, 61);
    assert_eq!(runner.screen().state().timeline().span_ms(), span * 2);
    let zoomed_out = screen(&runner);
    assert_ne!(zoomed_out, start, "zooming out redraws the lanes");
    let wake = traced.key(KeyCode::Char('+'), 62);
    step(&mut runner, &mut traced, wake, 62);
    assert_eq!(runner.screen().state().timeline().span_ms(), span);
    // Up shows older lanes: the first thread comes into view.
    let lane_of = |text: &str, tid: &str| {
        text.lines()
            .any(|l| l.starts_with(&format!("│{tid} ")) && l.contains('%'))
    };
    assert!(
        !lane_of(&screen(&runner), "200"),
        "the oldest lane is scrolled off"
    );
    assert!(lane_of(&screen(&runner), "211"), "the newest lane shows");
    let before = screen(&runner);
    let wake = traced.key(KeyCode::Up, 63);
    step(&mut runner, &mut traced, wake, 63);
    assert_eq!(runner.screen().state().timeline().scroll(), 1);
    assert_ne!(screen(&runner), before, "scrolling redraws the lanes");
    assert!(
        !lane_of(&screen(&runner), "211"),
        "the newest lane scrolled off"
    );
    let wake = traced.key(KeyCode::Down, 64);
    step(&mut runner, &mut traced, wake, 64);
    assert_eq!(runner.screen().state().timeline().scroll(), 0);
    // The wheel scrolls the lanes too, but only over the timeline.
    let wheel = |kind, row| {
        Wake::Input(Input {
            event: Ok(Event::Mouse(MouseEvent {
                kind,
                column: 50,
                row,
                modifiers: KeyModifiers::NONE,
            })),
            read_at: Instant::now(),
        })
    };
    step(
        &mut runner,
        &mut traced,
        wheel(MouseEventKind::ScrollUp, 0),
        65,
    );
    assert_eq!(
        runner.screen().state().timeline().scroll(),
        0,
        "over the header"
    );
    step(
        &mut runner,
        &mut traced,
        wheel(MouseEventKind::ScrollUp, 12),
        66,
    );
    assert_eq!(
        runner.screen().state().timeline().scroll(),
        1,
        "over the lanes"
    );
    let wake = traced.key(KeyCode::Char('f'), 67);
    step(&mut runner, &mut traced, wake, 67);
    assert!(
        screen(&runner).contains("f: an emulation key; it does not apply"),
        "{}",
        screen(&runner)
    );
}

#[test]
fn the_programs_exit_shows_its_code_and_the_picture_stays_until_q() {
    let (mut runner, mut traced) = start(KeyMap::default(), false);
    traced.feed(TURNS, 50);
    frame(&mut runner, &mut traced, 60);
    traced
        .end
        .send(TraceEnd::Exited(ExitStatus::from_raw(3 << 8)))
        .expect("the screen listens");
    // The runner's wait picks the program's end from the screen's sources.
    let wake = runner.wait(&traced.link, &traced.feeds);
    assert!(matches!(wake, Wake::Program(Some(_))), "{wake:?}");
    step(&mut runner, &mut traced, wake, 70);
    assert_eq!(runner.screen().state().ended(), Some("exited with code 3"));
    // The end is drawn with the next frame.
    let ended = frame(&mut runner, &mut traced, 200);
    assert!(ended.contains("exited with code 3"), "{ended}");
    assert!(!ended.contains("· running"), "{ended}");
    assert!(
        ended.contains("Threads · 3") && ended.contains("py-101"),
        "{ended}"
    );
    assert!(traced.link.has_ended());
    assert!(ended.contains("q quit"), "q only quits now\n{ended}");
    // Frozen: nothing moves, no timer is armed, and later frames are the same.
    assert_eq!(runner.deadline(), None);
    assert_eq!(frame(&mut runner, &mut traced, 5_000), ended);
    let wake = traced.key(KeyCode::Char('q'), 5_001);
    assert_eq!(step(&mut runner, &mut traced, wake, 5_001), Flow::Quit);
}

#[test]
fn a_key_rebound_in_the_config_works_and_the_footer_and_help_show_it() {
    let config =
        Config::from_toml(None, "[keys]\nzoom_in = \"i\"\nquit = \"Q\"\n").expect("a valid config");
    let (mut runner, mut traced) = start(config.keys, false);
    traced.feed(TURNS, 50);
    let text = frame(&mut runner, &mut traced, 60);
    assert!(
        text.contains("Q stop the program and quit · i/- zoom"),
        "{text}"
    );
    let span = runner.screen().state().timeline().span_ms();
    let wake = traced.key(KeyCode::Char('+'), 61);
    step(&mut runner, &mut traced, wake, 61);
    assert_eq!(
        runner.screen().state().timeline().span_ms(),
        span,
        "+ is unbound"
    );
    let wake = traced.key(KeyCode::Char('i'), 62);
    step(&mut runner, &mut traced, wake, 62);
    assert_eq!(runner.screen().state().timeline().span_ms(), span / 2);
    let wake = traced.key(KeyCode::Char('?'), 63);
    step(&mut runner, &mut traced, wake, 63);
    assert!(
        screen(&runner).contains("i  zoom the GIL timeline in"),
        "{}",
        screen(&runner)
    );
    let wake = traced.key(KeyCode::Char('q'), 64);
    assert_eq!(
        step(&mut runner, &mut traced, wake, 64),
        Flow::Continue,
        "q is unbound"
    );
    let wake = traced.key(KeyCode::Char('Q'), 65);
    assert_eq!(step(&mut runner, &mut traced, wake, 65), Flow::Quit);
}

#[test]
fn q_quits_a_running_trace_and_so_do_a_signal_and_a_gone_terminal() {
    let (mut runner, mut traced) = start(KeyMap::default(), false);
    traced.feed(TURNS, 50);
    frame(&mut runner, &mut traced, 60);
    let wake = traced.key(KeyCode::Char('q'), 61);
    assert_eq!(step(&mut runner, &mut traced, wake, 61), Flow::Quit);
    assert!(!traced.link.has_ended(), "the caller stops the program");

    let (mut runner, mut traced) = start(KeyMap::default(), false);
    traced.signals.send(15).expect("the screen listens");
    let wake = runner.wait(&traced.link, &traced.feeds);
    assert!(matches!(wake, Wake::Quit), "{wake:?}");
    assert_eq!(step(&mut runner, &mut traced, wake, 1), Flow::Quit);

    let (mut runner, mut traced) = start(KeyMap::default(), false);
    let gone = Input {
        event: Err(std::io::Error::other("hang-up")),
        read_at: Instant::now(),
    };
    traced.input.send(gone).expect("the screen listens");
    assert_eq!(step(&mut runner, &mut traced, Wake::Timer, 1), Flow::Quit);
}

/// A free-threaded build's trace: the timeline's figures are each thread's
/// running and blocked shares, and the thread table has no GIL columns.
#[test]
fn a_gil_less_trace_shows_running_and_blocked_shares_per_lane() {
    let (mut runner, mut traced) = traced_on(TestBackend::new(120, 36), KeyMap::default(), true);
    let samples: Vec<_> = (0..=1000)
        .flat_map(|ms| {
            [
                (ms, PID, Happening::Sampled(SchedState::Running)),
                (ms, 101, Happening::Sampled(SchedState::Blocked)),
            ]
        })
        .collect();
    traced.feed(&samples, 1000);
    // The picture ends at 1 s (plus the tracer's lag).
    let text = frame(&mut runner, &mut traced, 1006);
    assert!(
        text.contains("GIL disabled (free-threaded): thread states only"),
        "{text}"
    );
    assert!(text.contains("run  blk"), "no state figures:\n{text}");
    assert!(!text.contains("hold wait"), "GIL figures:\n{text}");
    assert!(
        !text.contains("hold %"),
        "GIL columns in the table:\n{text}"
    );
    let lane = |name: &str| {
        text.lines()
            .find(|l| l.contains(name) && l.contains('%'))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no {name} lane:\n{text}"))
    };
    assert!(lane("main").contains("100%   0%"), "{}", lane("main"));
    assert!(lane("│101 ").contains("  0% 100%"), "{}", lane("│101 "));
}

#[test]
fn a_sampled_trace_says_so_in_its_header_and_holds_last_from_sample_to_sample() {
    let label = TraceMode::Sampled(SampledWhy::NotPermitted).label();
    assert_eq!(label, "sampled GIL · run with sudo for exact");
    let (mut runner, mut traced) = traced_with(
        TestBackend::new(120, 36),
        KeyMap::default(),
        false,
        Some(&label),
    );
    // Samples every 10 ms: PID holds for the first half second, 101 waits
    // on the GIL; then they swap.
    let samples: Vec<_> = (0..=100)
        .flat_map(|n| {
            let (a, b) = if n < 50 {
                (Observed::Holds, Observed::WaitsForGil)
            } else {
                (Observed::WaitsForGil, Observed::Holds)
            };
            [
                (n * 10, PID, Happening::Observed(a)),
                (n * 10, 101, Happening::Observed(b)),
            ]
        })
        .collect();
    traced.feed(&samples, 1000);
    let text = frame(&mut runner, &mut traced, 1006);
    assert!(
        text.contains("python 3.11.7 · pid 100 · sampled GIL · run with sudo for exact"),
        "{text}"
    );
    assert!(!text.contains("real GIL"), "{text}");
    let row = |name: &str| {
        text.lines()
            .find(|l| l.contains(name))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no {name} row:\n{text}"))
    };
    // Each held from the sample that saw it holding to the next that did
    // not: half the second each, and waited the other half.
    assert!(
        row("py-100").contains("… waits       50.0    50.0"),
        "{}",
        row("py-100")
    );
    assert!(
        row("py-101").contains("▶ holds GIL   50.0    50.0"),
        "{}",
        row("py-101")
    );
}

/// A round of Python stacks read at `ms`: thread 101 ("worker") in
/// `three_units` under `work`, the main thread in `main`.
fn stacks_at(ms: u64) -> StackRound {
    let frame = |function: &str, line| PyFrame {
        function: function.into(),
        file: "/srv/app/jobs.py".into(),
        line,
    };
    StackRound {
        time_ns: ms * 1_000_000,
        period_ns: 10_000_000,
        stacks: vec![
            ThreadStack {
                tid: Some(PID),
                name: Some("MainThread".into()),
                owns_gil: false,
                frames: vec![frame("main", 3)],
            },
            ThreadStack {
                tid: Some(101),
                name: Some("worker".into()),
                owns_gil: true,
                frames: vec![frame("three_units", 30), frame("work", 40)],
            },
        ],
        gil: None,
    }
}

#[test]
fn gil_by_function_and_the_stack_show_at_80x24_tab_selects_and_o_reorders() {
    let (mut runner, mut traced) = traced_on(TestBackend::new(80, 24), KeyMap::default(), false);
    traced
        .publisher
        .sampler_status()
        .lock()
        .expect("status")
        .rate_hz = 100;
    traced.feed(TURNS, 7);
    // Thread 101 holds from 6 ms on: samples at 8, 18, 28 ms find it there.
    for ms in [8, 18, 28] {
        traced.recorder.apply_stacks(&stacks_at(ms));
    }
    traced.feed(&[], 30);
    let text = frame(&mut runner, &mut traced, 40);
    for needle in [
        "GIL by function · all threads · by hold",
        "three_units jobs.py:30",
        "Stack · worker",
        "▶ holds GIL",
        "work  app/jobs.py:40",
        "Tab thread · o by hold/wait",
        "worker",
        "MainThread",
    ] {
        assert!(text.contains(needle), "{needle:?} missing\n{text}");
    }
    // The worker held in three_units for all three samples: 100 % of its hold.
    let row = text
        .lines()
        .find(|l| l.contains("three_units jobs.py:30"))
        .expect("row");
    assert!(row.contains("100%"), "{row}");
    // Tab: the table and the stack follow the first thread, then the next.
    let wake = traced.key(KeyCode::Tab, 41);
    step(&mut runner, &mut traced, wake, 41);
    assert_eq!(runner.screen().state().selected(), Some(PID));
    let text = screen(&runner);
    assert!(text.contains("GIL by function · MainThread"), "{text}");
    assert!(text.contains("Stack · MainThread"), "{text}");
    let wake = traced.key(KeyCode::Tab, 42);
    step(&mut runner, &mut traced, wake, 42);
    assert_eq!(runner.screen().state().selected(), Some(101));
    let wake = traced.key(KeyCode::Char('o'), 43);
    step(&mut runner, &mut traced, wake, 43);
    let text = screen(&runner);
    assert!(
        text.contains("GIL by function · worker · by wait"),
        "{text}"
    );
    // Past the last thread, Tab is back at all threads.
    for ms in [44, 45] {
        let wake = traced.key(KeyCode::Tab, ms);
        step(&mut runner, &mut traced, wake, ms);
    }
    assert_eq!(runner.screen().state().selected(), None);
    // The help overlay lists the two keys.
    let wake = traced.key(KeyCode::Char('?'), 46);
    step(&mut runner, &mut traced, wake, 46);
    let help = screen(&runner);
    assert!(help.contains("Tab  select the next thread"), "{help}");
    assert!(help.contains("o  order GIL by function"), "{help}");
}

#[test]
fn without_stack_samples_there_is_no_function_pane() {
    let (mut runner, mut traced) = traced_on(TestBackend::new(80, 24), KeyMap::default(), false);
    traced.feed(TURNS, 7);
    let text = frame(&mut runner, &mut traced, 10);
    assert!(!text.contains("GIL by function"), "{text}");
    assert!(!text.contains("Tab thread"), "{text}");
}

#[test]
fn the_timeline_cursor_says_which_function_held_and_which_waited_then() {
    let (mut runner, mut traced) = traced_on(TestBackend::new(100, 30), KeyMap::default(), false);
    traced
        .publisher
        .sampler_status()
        .lock()
        .expect("status")
        .rate_hz = 100;
    // 101 takes the GIL at 6 ms and holds it; 102 waits from 7 ms on.
    traced.feed(TURNS, 7);
    for ms in (30..=100).step_by(10) {
        let mut round = stacks_at(ms);
        round.stacks.push(ThreadStack {
            tid: Some(102),
            name: Some("rival".into()),
            owns_gil: false,
            frames: vec![PyFrame {
                function: "spin".into(),
                file: "/srv/app/jobs.py".into(),
                line: 9,
            }],
        });
        traced.recorder.apply_stacks(&round);
    }
    traced.feed(&[], 100);
    let text = frame(&mut runner, &mut traced, 100);
    assert!(
        text.contains("█ holds"),
        "the legend, no cursor yet\n{text}"
    );
    // ← shows a cursor half a span back (50 ms of 100): 101 held in
    // three_units then, 102 waited in spin.
    let wake = traced.key(KeyCode::Left, 101);
    step(&mut runner, &mut traced, wake, 101);
    let text = screen(&runner);
    for needle in [
        "◆ −50 ms",
        "worker holds in three_units",
        "rival waits in spin",
    ] {
        assert!(text.contains(needle), "{needle:?} missing\n{text}");
    }
    // Far back, before any sample: it says so. (The same instant for each
    // press: the picture's clock follows the frames' instants.)
    for _ in 0..40 {
        let wake = traced.key(KeyCode::Left, 101);
        step(&mut runner, &mut traced, wake, 101);
    }
    let text = screen(&runner);
    assert!(text.contains("ms · no stack sample here"), "{text}");
    // Esc hides it; the legend is back.
    let wake = traced.key(KeyCode::Esc, 101);
    step(&mut runner, &mut traced, wake, 101);
    let text = screen(&runner);
    assert!(!text.contains('◆') && text.contains("█ holds"), "{text}");
}
