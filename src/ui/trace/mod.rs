//! The dashboard for `threadlab trace` / `attach`: a real program's threads
//! and GIL instead of emulated workers, run by the same
//! [`Runner`](super::runner::Runner) as the emulated dashboard.
//!
//! The tracer writes the same [`GilEvent`](crate::gil::GilEvent) timeline
//! the emulation writes and publishes its threads' rows; this screen reads
//! both through a [`LiveFeed`] (never locking the tracer's recorder) into
//! its own state and draws the lanes with the usual timeline pane, beside a
//! table of the program's threads and its output. When the program ends the
//! picture stays, frozen, until `q`. Keys that drive the emulation say in
//! one line that they do not apply; `?` opens the help overlay listing the
//! keys that work here and those that do not.
//!
//! Files: `state.rs` ([`TraceState`] and its reducer, fed [`TraceEvent`]s),
//! `screen.rs` ([`TraceDash`]: the [`Screen`](super::runner::Screen) the
//! runner drives, and [`TraceLink`], the live trace it acts on), `view.rs`
//! ([`TraceView`]: drawing), `panes.rs` (header, threads, output, footer).

mod panes;
mod python_panes;
mod screen;
mod state;
mod view;

use std::sync::Arc;

use crossbeam_channel::Receiver;

use super::runner::{Feeds, Runner};
use super::terminal::TerminalGuard;
use super::{UiError, UiOptions, spawn_input_thread};
use crate::trace::console::ConsoleLog;
use crate::trace::live::LiveFeed;
use crate::trace::{Trace, TraceEnd, TraceReport};

pub use screen::{TraceDash, TraceLink};
pub use state::{TraceCommand, TraceEvent, TraceState};
pub use view::TraceView;

/// Frames a second while the program runs (a frame every 33 ms).
const FPS: u32 = 30;

/// A trace to show.
pub struct TraceRun {
    /// The live trace.
    pub trace: Trace,
    /// The launched program's output, if launched with pipes.
    pub console: Option<Arc<ConsoleLog>>,
    /// Gets how the program ended, once it has.
    pub ended: Receiver<TraceEnd>,
    /// Attached (q detaches) rather than launched (q stops it).
    pub attached: bool,
}

/// How the dashboard closed.
pub enum TraceClosed {
    /// The program had ended; this is the summary.
    Finished(TraceReport),
    /// The user quit while it ran: the caller stops or detaches.
    Quit(Trace),
}

/// Shows `run` until the user quits; the terminal is restored on return.
/// `signals` is the command's one signal channel (see `src/signals.rs`).
pub fn run(
    run: TraceRun,
    options: &UiOptions,
    signals: Receiver<i32>,
) -> Result<TraceClosed, UiError> {
    let (guard, terminal) = TerminalGuard::enter(options.mouse)?;
    let python = run.trace.python();
    let mut state = TraceState::new(
        &python.version,
        run.trace.pid(),
        run.attached,
        options.theme,
        options.keys.clone(),
    );
    if python.gil_disabled {
        state = state.gil_disabled();
    }
    if run.trace.mode().is_sampled() {
        state = state.sampled(&run.trace.mode().label());
    } else if let Some(source) = python.symbols {
        state = state.symbols(source.name());
    }
    let feed: LiveFeed = run.trace.live_feed();
    let console = run.console.is_some();
    let mut link = TraceLink::new(feed, run.trace.epoch(), run.console, run.ended);
    link.trace = Some(run.trace);
    let feeds = Feeds::without_workers(spawn_input_thread()?, signals);
    let mut runner = Runner::with_screen(terminal, TraceDash::new(state, console), FPS);
    runner.run(&mut link, &feeds);
    drop(runner);
    drop(guard);
    Ok(link.closed())
}
