//! The terminal dashboard: the run loop ([`runner`]), state and reducer
//! ([`app`], fed [`event`]s), one module per pane ([`panes`]), where panes
//! go ([`layout`]) and drawing them ([`view`]), keys, themes and the
//! terminal guard.
//!
//! The UI thread blocks in one `select!` over input, worker events, signals
//! and a frame timer that is armed only while something changed or workers
//! are alive, so an idle dashboard sleeps. It drains everything pending,
//! then draws once; a key press is drawn at once, other changes at most at
//! the frame rate.

pub mod app;
pub mod event;
pub mod export;
pub mod keys;
pub mod layout;
pub mod panes;
pub mod python_cost;
pub mod runner;
pub mod terminal;
pub mod theme;
pub mod trace_dash;
pub mod trace_panes;
pub mod trace_screen;
pub mod view;

use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::session::Session;

use app::App;
use runner::{Feeds, Input, Runner};

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
    /// Python work modelled per key and frame while the UI is under the GIL.
    pub python_cost: python_cost::PythonCost,
    /// Whose eval-breaker model the race runs (`--python-version`).
    pub python_version: crate::gil::model::PythonVersion,
    /// Where `w` writes the GIL timeline (`--export`; default: a
    /// time-stamped file in the current directory).
    pub export: Option<std::path::PathBuf>,
}

impl Default for UiOptions {
    fn default() -> Self {
        Self {
            fps: 60,
            fault_ui_panic: false,
            theme: theme::Theme::default(),
            mouse: true,
            keys: keys::KeyMap::default(),
            python_cost: python_cost::PythonCost::default(),
            python_version: crate::gil::model::PythonVersion::DEFAULT,
            export: None,
        }
    }
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
    let (guard, terminal) = terminal::TerminalGuard::enter(options.mouse)?;
    let input = spawn_input_thread()?;
    let app = App::new(session.gil.mode(), session.gil.interval())
        .with_keys(options.keys.clone())
        .with_theme(options.theme)
        .with_python_cost(options.python_cost)
        .with_python_version(options.python_version)
        .with_export_path(options.export.clone());
    let feeds = Feeds {
        input,
        signals,
        progress: session.receivers.progress.clone(),
        lifecycle: session.receivers.lifecycle.clone(),
    };
    let mut runner = Runner::new(terminal, app, &session, options.fps, options.fault_ui_panic);
    runner.run(&mut session, &feeds);
    drop(runner);
    drop(guard);
    signal_handle.close();
    let left = session.shutdown(Duration::from_secs(1));
    if left > 0 {
        tracing::warn!(left, "workers still running after 1 s at exit");
    }
    Ok(())
}
