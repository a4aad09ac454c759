//! The reducer's key actions: what each [`Action`] does to the state —
//! pickers and overlays first, then the GIL keys, moves, cancels and the
//! lab — and which [`Command`] it hands the run loop.

use super::{App, Command, Life};
use crate::gil::Mode;
use crate::ui::keys::Action;
use crate::ui::panes::PaneId;
use crate::ui::panes::experiment::PickerOutcome;
use crate::ui::panes::lab::ToolboxOutcome;

impl App {
    /// A key action: what it changes, and the command it asks for.
    pub(super) fn on_action(&mut self, action: Action) -> Option<Command> {
        if let Some(handled) = self.on_overlay_key(action) {
            return handled;
        }
        if self.help && !(action.quits() || action == Action::Help) {
            // Any other key closes the overlay first.
            self.help = false;
            if action == Action::CloseOverlay {
                return None;
            }
        }
        match action {
            Action::Spawn(kind) => Some(Command::Spawn(kind)),
            Action::ToggleGil | Action::CycleGilKind => self.on_gil_key(action),
            Action::IntervalDown | Action::IntervalUp => {
                Some(self.on_interval_key(action == Action::IntervalDown))
            }
            Action::Up
            | Action::Down
            | Action::Top
            | Action::Bottom
            | Action::FocusPane
            | Action::NextPane => {
                self.on_move(action);
                None
            }
            Action::Cancel if self.labs.deadlocked() => {
                // `x` on a deadlock breaks it, whichever worker is selected.
                self.labs.breaking();
                Some(Command::CancelScenario)
            }
            Action::Cancel => self.on_cancel(),
            Action::CancelAll => {
                self.notice = Some(format!("cancelling {} workers", self.live()));
                Some(Command::CancelAll)
            }
            Action::Help => {
                self.help = !self.help;
                None
            }
            Action::ToggleLogs => {
                self.logs.toggle();
                None
            }
            Action::ToggleUiGil => self.on_ui_gil_key(),
            Action::ZoomIn | Action::ZoomOut => {
                self.timeline.zoom(action == Action::ZoomIn);
                None
            }
            Action::CloseOverlay | Action::Confirm => None,
            Action::SortFunctions | Action::CursorLeft | Action::CursorRight => {
                self.notice =
                    Some("a trace's key: GIL by function and its cursor (threadlab trace)".into());
                None
            }
            Action::Experiments => {
                self.experiments.open_picker();
                None
            }
            Action::Export => self.on_export(),
            Action::Race => self.on_race_key(),
            Action::Deadlock => Some(Command::RunScenario(self.labs.take_next_deadlock())),
            Action::Toolbox => {
                self.labs.open_picker();
                None
            }
            Action::Quit | Action::ForceQuit => {
                self.quit = true;
                Some(Command::Quit)
            }
        }
    }

    /// `[`/`]`: halve or double the switch interval.
    fn on_interval_key(&mut self, halve: bool) -> Command {
        self.interval = if halve {
            self.interval.halved()
        } else {
            self.interval.doubled()
        };
        self.notice = Some(format!(
            "switch interval {:.1} ms",
            self.interval.as_millis_f64()
        ));
        Command::SetInterval(self.interval)
    }

    /// `r`: start the next race, unless one is running.
    fn on_race_key(&mut self) -> Option<Command> {
        if self.races.running() {
            self.notice = Some("a race is running: Esc stops it".to_string());
            None
        } else {
            Some(Command::RunRace(self.races.take_next_body()))
        }
    }

    /// `w`: where the timeline goes (`--export`, else a time-stamped file
    /// here); the run loop writes it.
    fn on_export(&mut self) -> Option<Command> {
        let path = self
            .export_path
            .clone()
            .unwrap_or_else(crate::ui::export::default_path);
        self.notice = Some(format!("writing the GIL timeline to {}…", path.display()));
        self.export_target = Some(path);
        Some(Command::ExportTimeline)
    }

    /// A key while a picker is open (it takes every key), or Esc closing a
    /// pane (the experiment, the lab, the race: a running one is cancelled).
    /// `None`: no overlay took the key.
    fn on_overlay_key(&mut self, action: Action) -> Option<Option<Command>> {
        if let Some(selected) = self.experiments.picker() {
            return Some(match self.experiments.picker_key(selected, action) {
                PickerOutcome::Nothing => None,
                PickerOutcome::Run(experiment) => Some(Command::RunExperiment(experiment)),
                PickerOutcome::RunSideBySide(experiment) => {
                    Some(Command::RunSideBySide(experiment))
                }
                PickerOutcome::Quit => {
                    self.quit = true;
                    Some(Command::Quit)
                }
            });
        }
        if let Some(selected) = self.labs.picker() {
            return Some(match self.labs.picker_key(selected, action) {
                ToolboxOutcome::Nothing => None,
                ToolboxOutcome::Run(kind) => Some(Command::RunScenario(kind)),
                ToolboxOutcome::Quit => {
                    self.quit = true;
                    Some(Command::Quit)
                }
            });
        }
        if !self.help && self.experiments.side_key(action) {
            return Some(None);
        }
        if action == Action::CloseOverlay && !self.help {
            if let Some(running) = self.experiments.close_pane() {
                return Some(running.then_some(Command::CancelExperiment));
            }
            if let Some(command) = self.on_lab_close() {
                return Some(command);
            }
            let running = self.races.close().unwrap_or(false);
            return Some(running.then_some(Command::CancelRace));
        }
        None
    }

    /// Esc with the lab pane up: a running scenario is cancelled (a
    /// deadlock broken) and stays to show how it ended; a finished one
    /// closes. `None`: no lab pane, Esc goes on to the race pane.
    fn on_lab_close(&mut self) -> Option<Option<Command>> {
        if self.labs.running() {
            self.labs.breaking();
            return Some(Some(Command::CancelScenario));
        }
        self.labs.close().map(|_| None)
    }

    /// Keys that move the selection, the lanes or the focus.
    fn on_move(&mut self, action: Action) {
        match action {
            Action::Up | Action::Down if self.focus == PaneId::Timeline => {
                // Up shows older lanes (above), down the newer ones again.
                self.timeline.scroll_by_one(action == Action::Up);
            }
            Action::Up | Action::Down => {
                self.workers.step(action == Action::Down);
            }
            Action::FocusPane => {
                self.zoomed = !self.zoomed;
            }
            Action::NextPane => {
                self.focus = self.focus.next();
            }
            Action::Top => {
                self.workers.select(0);
            }
            Action::Bottom => {
                self.workers.select(usize::MAX);
            }
            _ => {}
        }
    }

    fn on_gil_key(&mut self, action: Action) -> Option<Command> {
        if action == Action::ToggleGil {
            self.mode = if self.mode == Mode::Free {
                self.on_mode
            } else {
                Mode::Free
            };
            self.notice = Some(format!("GIL emulation: {}", self.mode_label()));
            return Some(Command::SetMode(self.mode));
        }
        self.on_mode = if self.on_mode == Mode::Gil {
            Mode::Legacy
        } else {
            Mode::Gil
        };
        if self.mode != Mode::Free {
            self.mode = self.on_mode;
        }
        self.notice = Some(format!(
            "GIL kind: {} ({})",
            self.on_mode,
            if self.mode == Mode::Free {
                "press g to switch it on"
            } else {
                "in force"
            }
        ));
        (self.mode != Mode::Free).then_some(Command::SetMode(self.mode))
    }

    fn on_cancel(&mut self) -> Option<Command> {
        match self.workers.selected_row() {
            Some(row) if row.life == Life::Live => Some(Command::Cancel(row.id)),
            Some(row) => {
                self.notice = Some(format!("worker {} is not running", row.id));
                None
            }
            None => {
                self.notice = Some("no worker selected".into());
                None
            }
        }
    }

    fn on_ui_gil_key(&mut self) -> Option<Command> {
        self.ui_under_gil = !self.ui_under_gil;
        self.notice = Some(if !self.ui_under_gil {
            "UI under the GIL: off — the Rust UI runs free".to_string()
        } else if self.mode == Mode::Free {
            "UI under the GIL: on — press g to switch the GIL on and feel it".to_string()
        } else {
            "UI under the GIL: on — every key now waits for the GIL like a Python UI".to_string()
        });
        Some(Command::SetUiUnderGil(self.ui_under_gil))
    }
}
