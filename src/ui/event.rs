//! What the reducer takes ([`AppEvent`]) and what it asks the run loop
//! to do ([`Command`]).

use std::time::{Duration, Instant};

use crate::gil::{GilEvent, Mode, SwitchInterval, ThreadTag};
use crate::lab::{Experiment, SuiteEvent};
use crate::work::{WorkerEvent, WorkerId, WorkerKind};

use super::keys::Action;
use super::panes::PaneId;

/// Something that happened, for the reducer.
#[derive(Debug, Clone)]
pub enum AppEvent {
    /// A key (already mapped) was pressed.
    Action(Action),
    /// The run loop started worker `id`.
    Spawned {
        /// Its id.
        id: WorkerId,
        /// Its kind.
        kind: WorkerKind,
        /// When.
        at: Instant,
    },
    /// The run loop could not start a worker.
    SpawnFailed(String),
    /// A message from a worker.
    Worker(WorkerEvent),
    /// New GIL transitions, in order.
    Gil(Vec<GilEvent>),
    /// The timeline clock read `now_us` (it moves when nothing happens).
    Clock(u64),
    /// The UI thread's own lane on the timeline.
    UiLane(ThreadTag),
    /// A frame showing a key's effect finished, `latency` after the key was read.
    KeyShown {
        /// Read-to-screen time.
        latency: Duration,
    },
    /// The terminal was resized: the next frame repaints everything.
    Resized,
    /// A click on a pane gives it the focus.
    Focus(PaneId),
    /// The terminal's input ended (hang-up) or a signal asked to stop.
    InputClosed,
    /// News from the experiment running in the background.
    Lab(SuiteEvent),
    /// News from the race running in the background.
    Race(super::panes::race::RaceUpdate),
    /// News from the lab scenario running in the background.
    Scenario(super::panes::lab::LabUpdate),
    /// Names for lanes of threads that are no worker's (`race-1`, `AB-1`).
    LaneNames(Vec<(ThreadTag, String)>),
    /// An export of the GIL timeline ended: what it wrote, or why not.
    Exported(String),
    /// New lines for the log pane.
    Logs(Vec<String>),
    /// A mouse click on the worker table's row `index` (0 = first worker).
    ClickRow(usize),
    /// The mouse wheel over the worker table (`down` = towards newer rows).
    ScrollTable {
        /// Direction.
        down: bool,
    },
    /// The mouse wheel over the timeline (`down` = towards older lanes).
    ScrollTimeline {
        /// Direction.
        down: bool,
    },
    /// A frame was drawn in `draw_time`.
    FrameDrawn {
        /// Time to build and flush the frame.
        draw_time: Duration,
        /// When it finished.
        at: Instant,
    },
}

/// An effect the run loop must carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Spawn a worker.
    Spawn(WorkerKind),
    /// Cancel one worker.
    Cancel(WorkerId),
    /// Cancel every live worker.
    CancelAll,
    /// Switch the GIL mode.
    SetMode(Mode),
    /// Set the switch interval.
    SetInterval(SwitchInterval),
    /// Make the UI thread take the GIL to handle events and draw (or stop).
    SetUiUnderGil(bool),
    /// Run an experiment in every mode, in the background.
    RunExperiment(Experiment),
    /// Run an experiment emulated and in a real traced python3, keeping
    /// each measurement's timeline for the side-by-side view.
    RunSideBySide(Experiment),
    /// Write the GIL timeline to the app's `export_target()` (the runner
    /// copies the lanes and writes on a thread of its own).
    ExportTimeline,
    /// Stop the running experiment.
    CancelExperiment,
    /// Start a race with this loop body.
    RunRace(crate::sync::Body),
    /// Stop the running race.
    CancelRace,
    /// Start a lab scenario (stopping one that runs).
    RunScenario(crate::sync::ScenarioKind),
    /// Cancel the running scenario's waits (breaks a deadlock).
    CancelScenario,
    /// Leave.
    Quit,
}
