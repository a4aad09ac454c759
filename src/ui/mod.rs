//! The terminal dashboard: run loop, state, keys, views, terminal guard.
//!
//! The UI thread blocks in one `select!` over input, worker events, signals
//! and a frame timer that is armed only while something changed or workers
//! are alive, so an idle dashboard sleeps. It drains everything pending,
//! then draws once; a key press is drawn at once, other changes at most at
//! the frame rate.

pub mod app;
pub mod keys;
pub mod lab_view;
pub mod terminal;
pub mod theme;
pub mod view;

use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, never, select};
use crossterm::event::Event;

use crate::cancel::CancelToken;
use crate::gil::{GilEvent, Mode};
use crate::lab::{BenchConfig, Suite, SuiteEvent};
use crate::session::Session;
use crate::work::WorkerEvent;

use app::{App, AppEvent, Command};

/// The longest a run of key frames may put off applying progress and GIL
/// events (so a held-down key never freezes the workers' display).
const CATCH_UP: Duration = Duration::from_millis(50);

/// The frame gap while workers live but nothing on screen has changed for
/// [`STILL_AFTER`] (sleeping or blocked workers: only clocks move, and the
/// time column has 0.1 s resolution).
const STILL_FRAME_GAP: Duration = Duration::from_millis(100);

/// How long after the last change the frame rate drops to [`STILL_FRAME_GAP`].
const STILL_AFTER: Duration = Duration::from_millis(250);

/// How long each measurement of an experiment started from the dashboard runs.
const EXPERIMENT_MEASUREMENT: Duration = Duration::from_millis(300);

/// Extra knobs for the dashboard.
#[derive(Debug, Clone)]
pub struct UiOptions {
    /// Frames per second at most (key presses are drawn at once regardless).
    pub fps: u32,
    /// Testing switch: `!` panics the UI thread (to prove the terminal is restored).
    pub fault_ui_panic: bool,
    /// The colour theme.
    pub theme: theme::Theme,
    /// Mouse support (click to select, wheel to scroll).
    pub mouse: bool,
    /// The key map.
    pub keys: keys::KeyMap,
}

impl Default for UiOptions {
    fn default() -> Self {
        Self {
            fps: 60,
            fault_ui_panic: false,
            theme: theme::Theme::default(),
            mouse: true,
            keys: keys::KeyMap::default(),
        }
    }
}

/// A terminal event stamped with the instant it was read.
struct Input {
    event: std::io::Result<Event>,
    read_at: Instant,
}

fn spawn_input_thread() -> std::io::Result<Receiver<Input>> {
    let (tx, rx) = crossbeam_channel::unbounded();
    thread::Builder::new().name("input".into()).spawn(move || {
        loop {
            let event = crossterm::event::read();
            let read_at = Instant::now();
            let failed = event.is_err();
            if tx.send(Input { event, read_at }).is_err() || failed {
                break;
            }
        }
    })?;
    Ok(rx)
}

fn spawn_signal_thread() -> std::io::Result<(Receiver<i32>, signal_hook::iterator::Handle)> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let handle = signals.handle();
    let (tx, rx) = crossbeam_channel::bounded(4);
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let _ = tx.try_send(signal);
            }
        })?;
    Ok((rx, handle))
}

/// Why the dashboard stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// The terminal could not be set up or written.
    #[error("terminal error: {0}")]
    Terminal(#[from] std::io::Error),
}

/// Runs the dashboard until the user quits; always restores the terminal,
/// then cancels and joins every worker and removes the temp work dir.
pub fn run(mut session: Session, options: &UiOptions) -> Result<(), UiError> {
    let (signals, signal_handle) = spawn_signal_thread()?;
    let mut guard = terminal::TerminalGuard::enter(options.mouse)?;
    let input = spawn_input_thread()?;
    let mut app = App::new(session.gil.mode(), session.gil.interval());
    app.keys = options.keys.clone();
    app.theme = options.theme;
    let result = event_loop(
        &mut guard,
        &mut app,
        &mut session,
        &input,
        &signals,
        options,
    );
    drop(guard);
    signal_handle.close();
    let left = session.shutdown(Duration::from_secs(1));
    if left > 0 {
        tracing::warn!(left, "workers still running after 1 s at exit");
    }
    result
}

/// What woke the UI thread.
enum Wake {
    Input(Input),
    Worker(WorkerEvent),
    Lab(SuiteEvent),
    /// The experiment's thread ended (its channel closed).
    LabDone,
    Quit,
    Timer,
}

/// Blocks until something happens: the UI thread's only wait. Progress is
/// not waited on: it is drained every loop, and the frame timer runs while
/// any worker is alive, so waking per progress message would only cost
/// context switches (and contend with senders for the channel's lock).
fn next_wake(
    input: &Receiver<Input>,
    lifecycle: &Receiver<WorkerEvent>,
    signals: &Receiver<i32>,
    timer: &Receiver<Instant>,
    lab: &Receiver<SuiteEvent>,
) -> Wake {
    select! {
        recv(lab) -> msg => msg.map_or(Wake::LabDone, Wake::Lab),
        recv(input) -> msg => msg.map_or(Wake::Quit, Wake::Input),
        recv(lifecycle) -> msg => msg.map_or(Wake::Timer, Wake::Worker),
        recv(signals) -> _ => Wake::Quit,
        recv(timer) -> _ => Wake::Timer,
    }
}

fn event_loop(
    guard: &mut terminal::TerminalGuard,
    app: &mut App,
    session: &mut Session,
    input: &Receiver<Input>,
    signals: &Receiver<i32>,
    options: &UiOptions,
) -> Result<(), UiError> {
    let frame_gap = Duration::from_secs(1) / options.fps.max(1);
    let progress = session.receivers.progress.clone();
    let lifecycle = session.receivers.lifecycle.clone();
    let mut next_frame = Instant::now();
    let mut gil_seq = 0u64;
    let mut gil_events: Vec<GilEvent> = Vec::new();
    let mut keys_waiting: Vec<Instant> = Vec::new();
    let mut log_seq = 0u64;
    let mut log_lines: Vec<String> = Vec::new();
    let mut last_catch_up = Instant::now();
    let mut last_change = Instant::now();
    // The UI thread's own membership in the GIL, used only while "UI under
    // the GIL" is on: then it must hold the GIL to handle events and draw,
    // and releases it only while it waits, as a Python UI would.
    let mut ui_gil = session.gil.register(CancelToken::new());
    app.ui_thread = Some(ui_gil.tag());
    loop {
        let timer = if app.dirty || app.live() > 0 {
            crossbeam_channel::after(next_frame.saturating_duration_since(Instant::now()))
        } else {
            never()
        };
        let lab = session
            .suite
            .as_ref()
            .map_or_else(never, |suite| suite.events.clone());
        let wait = || next_wake(input, &lifecycle, signals, &timer, &lab);
        let wake = if app.ui_under_gil {
            // Py_BEGIN_ALLOW_THREADS around the wait; re-taking the GIL after it
            // is where a Python UI loses its time behind CPU-bound threads.
            ui_gil.blocking(wait).unwrap_or(Wake::Quit)
        } else {
            wait()
        };
        match wake {
            Wake::Input(msg) => on_input(app, session, msg, &mut keys_waiting, options)?,
            Wake::Worker(event) => on_worker(app, session, event),
            Wake::Lab(event) => {
                app.apply(AppEvent::Lab(event));
            }
            Wake::LabDone => session.suite = None, // joins the finished thread
            Wake::Quit => app.quit = true,
            Wake::Timer => {}
        }
        // Drain what else is pending before drawing once.
        for msg in input.try_iter().take(1024) {
            on_input(app, session, msg, &mut keys_waiting, options)?;
        }
        // A key's frame goes out first: background updates (progress, the
        // GIL timeline) wait for the next frame, a frame gap later, unless
        // keys have kept them waiting for longer than `CATCH_UP`.
        let catch_up = keys_waiting.is_empty() || Instant::now() >= last_catch_up + CATCH_UP;
        for event in lifecycle.try_iter().take(65_536) {
            on_worker(app, session, event);
        }
        if catch_up {
            for event in progress.try_iter().take(65_536) {
                on_worker(app, session, event);
            }
        }
        for event in lab.try_iter() {
            app.apply(AppEvent::Lab(event));
        }
        if app.quit {
            ui_gil.exit();
            return Ok(());
        }
        if !app.ui_under_gil && ui_gil.is_holding() {
            ui_gil.exit();
        }
        let now = Instant::now();
        let animate = app.live() > 0;
        if !keys_waiting.is_empty() || ((app.dirty || animate) && now >= next_frame) {
            if app.dirty || !keys_waiting.is_empty() {
                last_change = now;
            }
            if catch_up {
                last_catch_up = now;
                gil_events.clear();
                if let Some(next) = session
                    .gil
                    .timeline()
                    .try_read_since(gil_seq, &mut gil_events)
                {
                    gil_seq = next;
                }
                if !gil_events.is_empty() {
                    last_change = now;
                    app.apply(AppEvent::Gil(std::mem::take(&mut gil_events)));
                }
            }
            app.set_gil_now(session.gil.now_us());
            log_lines.clear();
            log_seq = crate::logs::ring().read_since(log_seq, &mut log_lines);
            if !log_lines.is_empty() {
                app.apply(AppEvent::Logs(std::mem::take(&mut log_lines)));
            }
            let drawn = (|| {
                if std::mem::take(&mut app.needs_clear) {
                    // resize() clears the screen and forgets the last frame
                    // without querying the cursor (clear() would).
                    guard.terminal.resize(terminal_size())?;
                }
                guard.terminal.draw(|frame| view::draw(frame, app, now))?;
                std::io::Result::Ok(())
            })();
            if let Err(error) = drawn {
                // The terminal is gone (closed window, hang-up): quit and
                // clean up like any other quit.
                tracing::info!(%error, "cannot write to the terminal; quitting");
                ui_gil.exit();
                return Ok(());
            }
            let drawn = Instant::now();
            app.apply(AppEvent::FrameDrawn {
                draw_time: drawn.duration_since(now),
                at: drawn,
            });
            for read_at in keys_waiting.drain(..) {
                app.apply(AppEvent::KeyShown {
                    latency: drawn.duration_since(read_at),
                });
            }
            // Full rate while anything moves; a few frames a second while
            // the workers only wait (the clocks still tick).
            next_frame = drawn
                + if drawn.duration_since(last_change) < STILL_AFTER {
                    frame_gap
                } else {
                    STILL_FRAME_GAP.max(frame_gap)
                };
        }
    }
}

fn on_input(
    app: &mut App,
    session: &mut Session,
    input: Input,
    keys_waiting: &mut Vec<Instant>,
    options: &UiOptions,
) -> Result<(), UiError> {
    let event = match input.event {
        Ok(event) => event,
        Err(error) => {
            // The terminal is gone (hang-up): that is a quit, not a failure.
            tracing::info!(%error, "terminal input closed; quitting");
            app.quit = true;
            return Ok(());
        }
    };
    match event {
        Event::Key(key) => {
            if options.fault_ui_panic && key.code == crossterm::event::KeyCode::Char('!') {
                panic!("fault injection: UI thread panic requested with --fault ui-panic");
            }
            if let Some(action) = app.keys.action_for(&key) {
                keys_waiting.push(input.read_at);
                if let Some(command) = app.apply(AppEvent::Action(action)) {
                    execute(app, session, command);
                }
            }
        }
        Event::Resize(_, _) => {
            // The terminal may have reflowed what it showed; the next frame
            // repaints everything (ratatui alone would not when a quick
            // shrink-and-back ends at the old size).
            app.needs_clear = true;
            app.apply(AppEvent::Resized);
        }
        Event::Mouse(mouse) => {
            if let Some(event) = view::mouse_event(app, terminal_size(), &mouse) {
                keys_waiting.push(input.read_at);
                if let Some(command) = app.apply(event) {
                    execute(app, session, command);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn terminal_size() -> ratatui::layout::Rect {
    let (width, height) = crossterm::terminal::size().unwrap_or((80, 24));
    ratatui::layout::Rect::new(0, 0, width, height)
}

fn on_worker(app: &mut App, session: &mut Session, event: WorkerEvent) {
    if event.is_terminal() {
        session.pool.reap(event.id());
    }
    app.apply(AppEvent::Worker(event));
}

/// Carries out a command from the reducer on the pool and the GIL.
pub fn execute(app: &mut App, session: &mut Session, command: Command) {
    match command {
        Command::Spawn(kind) => match session.pool.spawn(kind) {
            Ok(id) => {
                app.apply(AppEvent::Spawned {
                    id,
                    kind,
                    at: Instant::now(),
                });
            }
            Err(error) => {
                app.apply(AppEvent::SpawnFailed(format!(
                    "cannot spawn {kind}: {error}"
                )));
            }
        },
        Command::Cancel(id) => {
            session.pool.cancel(id);
        }
        Command::CancelAll => {
            session.pool.cancel_all();
        }
        Command::SetMode(mode) => session.gil.set_mode(mode),
        Command::SetInterval(interval) => session.gil.set_interval(interval),
        Command::SetUiUnderGil(_) => {} // the run loop reads app.ui_under_gil
        Command::RunExperiment(experiment) => {
            if let Some(old) = session.suite.take() {
                old.cancel();
            }
            let config = BenchConfig::new(vec![1, 2, 4], app.interval, EXPERIMENT_MEASUREMENT);
            match Suite::spawn(experiment, Mode::ALL.to_vec(), config, true) {
                Ok(suite) => session.suite = Some(suite),
                Err(error) => {
                    app.apply(AppEvent::Lab(SuiteEvent::Failed(format!(
                        "cannot start the experiment: {error}"
                    ))));
                }
            }
        }
        Command::CancelExperiment => {
            if let Some(suite) = session.suite.take() {
                suite.cancel();
            }
        }
        Command::Quit => app.quit = true,
    }
}
