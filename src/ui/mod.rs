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
pub mod frame_out;
pub mod helper_gil;
pub mod keys;
pub mod lab_runs;
pub mod layout;
pub mod panes;
pub mod runner;
pub mod terminal;
pub mod theme;
pub mod trace;
pub mod view;

use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::session::Session;

use app::App;
use runner::{Feeds, Input, Quitter, Runner};

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
    pub python_cost: crate::lab::python_cost::PythonCost,
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
            python_cost: crate::lab::python_cost::PythonCost::default(),
            python_version: crate::gil::model::PythonVersion::DEFAULT,
            export: None,
        }
    }
}

/// Reads the terminal.
fn spawn_input_thread() -> std::io::Result<Receiver<Input>> {
    read_input(|_| {}, None)
}

/// Reads the terminal; a quit key (or a terminal gone) also ends the UI
/// thread's wait for the GIL at once, in case it waits there. While the UI
/// is under the GIL, it takes the GIL for each event, as a Python TUI's
/// input thread does (`gil`, see [`helper_gil`]).
fn spawn_quitting_input_thread(
    keys: keys::KeyMap,
    quitter: Quitter,
    gil: helper_gil::HelperGil,
) -> std::io::Result<Receiver<Input>> {
    read_input(
        move |input| {
            if input.quits(&keys) {
                quitter.quit();
            }
        },
        Some(gil),
    )
}

/// The input thread: each terminal event, stamped, is shown to `seen`, then
/// sent; with `gil`, the read and `seen` run with the GIL released and the
/// send waits for it while the UI is under it.
fn read_input(
    seen: impl Fn(&Input) + Send + 'static,
    mut gil: Option<helper_gil::HelperGil>,
) -> std::io::Result<Receiver<Input>> {
    let (tx, rx) = crossbeam_channel::unbounded();
    thread::Builder::new().name("input".into()).spawn(move || {
        loop {
            let read = || {
                let input = Input {
                    event: crossterm::event::read(),
                    read_at: Instant::now(),
                };
                seen(&input);
                input
            };
            let input = match gil.as_mut() {
                Some(gil) => gil.around(read),
                None => read(),
            };
            let failed = input.event.is_err();
            if tx.send(input).is_err() || failed {
                break;
            }
        }
    })?;
    Ok(rx)
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
    let caught = crate::stop_signals::catch()?;
    let (guard, terminal) = terminal::TerminalGuard::enter(options.mouse)?;
    let app = App::new(session.gil.mode(), session.gil.interval())
        .with_keys(options.keys.clone())
        .with_theme(options.theme)
        .with_python_cost(options.python_cost)
        .with_python_version(options.python_version)
        .with_export_path(options.export.clone());
    let mut runner = Runner::new(terminal, app, &session, options.fps, options.fault_ui_panic);
    // Frames go through an output thread that takes the GIL while the UI
    // is under it, as a Python TUI's writer thread does (`frame_out`).
    let output_gil = runner.helper_gil("output");
    let output = frame_out::spawn_output_thread(output_gil, terminal::is_active)?;
    let signal_feed = crate::stop_signals::forward(caught, {
        let quitter = runner.quitter();
        move |_| quitter.quit()
    })?;
    let feeds = Feeds {
        input: spawn_quitting_input_thread(
            options.keys.clone(),
            runner.quitter(),
            runner.helper_gil("input"),
        )?,
        // Each signal ends the UI thread's wait for the GIL first.
        signals: signal_feed.receiver(),
        progress: session.receivers.progress.clone(),
        lifecycle: session.receivers.lifecycle.clone(),
    };
    runner.run(&mut session, &feeds);
    output.stop();
    drop(runner);
    tracing::info!("dashboard loop ended");
    drop(guard);
    tracing::info!("terminal restored");
    signal_feed.close();
    let left = session.shutdown(Duration::from_secs(1));
    if left > 0 {
        tracing::warn!(left, "threads still running after 1 s at exit");
    }
    Ok(())
}
