//! What the UI thread listens to and what wakes it: the [`Feeds`] (input,
//! signals, worker progress and lifecycle; a screen without workers gets
//! `never()` for those, see [`Feeds::without_workers`]), the [`Wake`] a wait returns,
//! the [`Flow`] a turn answers, and the [`Quitter`] with which the input
//! and signal threads end the UI thread's waits for the GIL.

use std::time::Instant;

use crossbeam_channel::Receiver;
use crossterm::event::Event;

use crate::cancel::CancelToken;
use crate::gil::Gil;
use crate::lab::SuiteEvent;
use crate::ui::keys::KeyMap;
use crate::work::WorkerEvent;

/// A terminal event stamped with the instant it was read.
#[derive(Debug)]
pub struct Input {
    /// What the terminal said (an error: the terminal is gone).
    pub event: std::io::Result<Event>,
    /// When the input thread read it.
    pub read_at: Instant,
}

impl Input {
    /// True if this input ends the dashboard: a key bound to a quitting
    /// action ([`Action::quits`](crate::ui::keys::Action::quits)) or a terminal
    /// that is gone.
    pub fn quits(&self, keys: &KeyMap) -> bool {
        match &self.event {
            Ok(Event::Key(key)) => keys.action_for(key).is_some_and(|a| a.quits()),
            Ok(_) => false,
            Err(_) => true,
        }
    }
}

/// Lets other threads (input, signals) end the UI thread's waits for the
/// emulated GIL: once a quit is decided, the UI thread never waits for the
/// GIL again and its next turn quits.
#[derive(Debug, Clone)]
pub struct Quitter {
    token: CancelToken,
    gil: Gil,
}

impl Quitter {
    /// A quitter for the thread registered with `token` in `gil`.
    pub(super) fn new(token: CancelToken, gil: Gil) -> Self {
        Self { token, gil }
    }

    /// Cancels the UI thread's GIL membership and wakes it if it waits.
    pub fn quit(&self) {
        tracing::info!("quit requested");
        self.token.cancel();
        self.gil.wake_all();
    }
}

/// The channels the UI thread listens to.
#[derive(Debug, Clone)]
pub struct Feeds {
    /// Terminal events from the input thread.
    pub input: Receiver<Input>,
    /// SIGINT, SIGTERM, SIGHUP.
    pub signals: Receiver<i32>,
    /// Worker progress (drained each turn, never waited on).
    pub progress: Receiver<WorkerEvent>,
    /// Worker lifecycle and console lines.
    pub lifecycle: Receiver<WorkerEvent>,
}

impl Feeds {
    /// Feeds for a screen without workers (the trace dashboard): input and
    /// signals only.
    pub fn without_workers(input: Receiver<Input>, signals: Receiver<i32>) -> Self {
        Self {
            input,
            signals,
            progress: crossbeam_channel::never(),
            lifecycle: crossbeam_channel::never(),
        }
    }
}

/// What woke the UI thread.
#[derive(Debug)]
pub enum Wake {
    /// A terminal event.
    Input(Input),
    /// A worker's lifecycle event.
    Worker(WorkerEvent),
    /// News from the experiment.
    Lab(SuiteEvent),
    /// The experiment's thread ended (its channel closed).
    LabDone,
    /// The timeline export ended: what it wrote, or why not.
    Exported(String),
    /// The traced program ended this way (`None`: its watcher stopped
    /// without telling).
    Program(Option<crate::trace::TraceEnd>),
    /// A signal, or the input channel closed.
    Quit,
    /// The frame timer (or a closed lifecycle channel).
    Timer,
}

impl Wake {
    /// True if this wake ends the dashboard (see [`Input::quits`]).
    pub(super) fn quits(&self, keys: &KeyMap) -> bool {
        match self {
            Wake::Quit => true,
            Wake::Input(input) => input.quits(keys),
            _ => false,
        }
    }
}

/// Whether the loop goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// The user quit or the terminal is gone.
    Quit,
}
