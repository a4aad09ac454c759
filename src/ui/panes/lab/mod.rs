//! The lab pane's state: the coordination-lab scenario shown (the deadlock
//! started with its key, or a toolbox scenario chosen in the picker), its
//! last status from the engine, and the picker. The widgets are in `view`.
//!
//! The deadlock key alternates the variants: opposite lock orders (a
//! cycle, named as soon as it closes; `x` or Esc breaks it by cancelling
//! the waits), then the fix, one order for both (runs to the end).

mod view;

pub(crate) use view::{LabView, ToolboxPicker};

use crate::sync::{ScenarioKind, ScenarioStatus};
use crate::ui::keys::Action;

/// What the run loop reports about the scenario.
#[derive(Debug, Clone, PartialEq)]
pub enum LabUpdate {
    /// It started.
    Started(ScenarioKind),
    /// Its status now (final once `finished`).
    Status(Box<ScenarioStatus>),
    /// It could not start.
    Failed(String),
    /// It was stopped for a race: the pane goes.
    Closed,
}

/// The scenario shown in the pane.
#[derive(Debug, Clone, PartialEq)]
pub struct LabPane {
    /// Which scenario.
    pub kind: ScenarioKind,
    /// Its latest status (none before the first poll).
    pub status: Option<ScenarioStatus>,
    /// A cancel was asked for (`x`, Esc): a deadlock is being broken.
    pub breaking: bool,
    /// Why it could not start.
    pub error: Option<String>,
}

impl LabPane {
    /// True until every thread has stopped.
    pub fn running(&self) -> bool {
        self.error.is_none() && !self.status.as_ref().is_some_and(|s| s.finished)
    }

    /// True while a deadlock is on screen and not being broken.
    pub fn deadlocked(&self) -> bool {
        !self.breaking && self.running() && self.status.as_ref().is_some_and(|s| s.cycle.is_some())
    }
}

/// What a key did in the open picker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToolboxOutcome {
    /// Nothing to run (moved, or closed).
    Nothing,
    /// Run this scenario.
    Run(ScenarioKind),
    /// Quit the dashboard.
    Quit,
}

/// The lab pane's and the toolbox picker's state.
#[derive(Debug, Default)]
pub struct Labs {
    pane: Option<LabPane>,
    picker: Option<usize>,
    deadlocks: usize,
}

impl Labs {
    /// The scenario shown, if any.
    pub fn pane(&self) -> Option<&LabPane> {
        self.pane.as_ref()
    }

    /// The picker's selection, while it is open.
    pub fn picker(&self) -> Option<usize> {
        self.picker
    }

    /// True while a scenario's threads run.
    pub fn running(&self) -> bool {
        self.pane.as_ref().is_some_and(LabPane::running)
    }

    /// True while a deadlock is shown and not yet being broken.
    pub fn deadlocked(&self) -> bool {
        self.pane.as_ref().is_some_and(LabPane::deadlocked)
    }

    /// The variant the deadlock key runs next: opposite orders, then the fix.
    pub(in crate::ui) fn take_next_deadlock(&mut self) -> ScenarioKind {
        let kind = if self.deadlocks.is_multiple_of(2) {
            ScenarioKind::Deadlock
        } else {
            ScenarioKind::DeadlockOrdered
        };
        self.deadlocks += 1;
        kind
    }

    pub(in crate::ui) fn open_picker(&mut self) {
        self.picker = Some(0);
    }

    /// A key while the picker is open.
    pub(in crate::ui) fn picker_key(&mut self, selected: usize, action: Action) -> ToolboxOutcome {
        let count = ScenarioKind::TOOLBOX.len();
        match action {
            Action::Up => self.picker = Some(selected.saturating_sub(1)),
            Action::Down => self.picker = Some((selected + 1).min(count - 1)),
            Action::Confirm => {
                self.picker = None;
                return ToolboxOutcome::Run(ScenarioKind::TOOLBOX[selected]);
            }
            Action::Quit | Action::ForceQuit => return ToolboxOutcome::Quit,
            _ => self.picker = None,
        }
        ToolboxOutcome::Nothing
    }

    /// A cancel was sent: the pane says the run is being broken.
    pub(in crate::ui) fn breaking(&mut self) {
        if let Some(pane) = self.pane.as_mut() {
            pane.breaking = true;
        }
    }

    /// Closes the pane; `Some(true)` if its threads still ran.
    pub(in crate::ui) fn close(&mut self) -> Option<bool> {
        let pane = self.pane.take()?;
        Some(pane.running())
    }

    pub(in crate::ui) fn apply(&mut self, update: LabUpdate) {
        match update {
            LabUpdate::Started(kind) => {
                self.pane = Some(LabPane {
                    kind,
                    status: None,
                    breaking: false,
                    error: None,
                });
            }
            LabUpdate::Status(status) => {
                if let Some(pane) = self.pane.as_mut() {
                    pane.status = Some(*status);
                }
            }
            LabUpdate::Failed(error) => {
                if let Some(pane) = self.pane.as_mut() {
                    pane.error = Some(error);
                }
            }
            LabUpdate::Closed => self.pane = None,
        }
    }
}
