//! The key map: which key does what, in one table that the input handling,
//! the footer and the help overlay all read, so what is shown is what works.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::work::WorkerKind;

/// Something a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Spawn a worker of this kind.
    Spawn(WorkerKind),
    /// Switch the GIL emulation on or off.
    ToggleGil,
    /// Switch which GIL `g` turns on: gil ⇄ legacy.
    CycleGilKind,
    /// Halve the switch interval.
    IntervalDown,
    /// Double the switch interval.
    IntervalUp,
    /// Select the previous worker.
    Up,
    /// Select the next worker.
    Down,
    /// Select the first worker.
    Top,
    /// Select the last worker.
    Bottom,
    /// Cancel the selected worker.
    Cancel,
    /// Cancel every worker.
    CancelAll,
    /// Open or close the help overlay.
    Help,
    /// Make the UI thread take the GIL like a Python UI (or stop).
    ToggleUiGil,
    /// Show a shorter stretch of the timeline.
    ZoomIn,
    /// Show a longer stretch of the timeline.
    ZoomOut,
    /// Close an overlay.
    CloseOverlay,
    /// Confirm (Enter): run the experiment chosen in the picker.
    Confirm,
    /// Open the experiment picker.
    Experiments,
    /// Quit.
    Quit,
    /// Quit (Ctrl-C).
    ForceQuit,
}

/// One row of the key map: the key's label, what it does, and the action.
pub struct Binding {
    /// How the key is written on screen.
    pub label: &'static str,
    /// What it does, for the help overlay.
    pub help: &'static str,
    /// Short text for the footer (empty: not in the footer).
    pub footer: &'static str,
    /// The action.
    pub action: Action,
}

/// Every binding, in the order the help overlay lists them.
pub const BINDINGS: &[Binding] = &[
    Binding {
        label: "f",
        help: "spawn a fetch worker (HTTP download)",
        footer: "fetch",
        action: Action::Spawn(WorkerKind::Fetch),
    },
    Binding {
        label: "d",
        help: "spawn a file worker (write, fsync, read back, verify)",
        footer: "file",
        action: Action::Spawn(WorkerKind::File),
    },
    Binding {
        label: "c",
        help: "spawn a cpu worker (integer work in small steps)",
        footer: "cpu",
        action: Action::Spawn(WorkerKind::Cpu),
    },
    Binding {
        label: "s",
        help: "seed demo: a thread prints 0..4 while main prints 5..9",
        footer: "seed demo",
        action: Action::Spawn(WorkerKind::Sleep),
    },
    Binding {
        label: "g",
        help: "switch the GIL emulation on / off",
        footer: "GIL",
        action: Action::ToggleGil,
    },
    Binding {
        label: "m",
        help: "which GIL: CPython 3 (gil) ⇄ Python 2 (legacy)",
        footer: "",
        action: Action::CycleGilKind,
    },
    Binding {
        label: "[ ]",
        help: "halve / double the switch interval (0.1–100 ms)",
        footer: "interval",
        action: Action::IntervalDown,
    },
    Binding {
        label: "e",
        help: "experiments: run one in free, gil and legacy, chart the result",
        footer: "experiment",
        action: Action::Experiments,
    },
    Binding {
        label: "u",
        help: "UI under the GIL: the UI must take the GIL to react, like Python",
        footer: "UI under GIL",
        action: Action::ToggleUiGil,
    },
    Binding {
        label: "+ -",
        help: "zoom the GIL timeline in / out (25 ms – 10 s)",
        footer: "",
        action: Action::ZoomIn,
    },
    Binding {
        label: "↑↓ j k",
        help: "select a worker (Home/End: first/last)",
        footer: "",
        action: Action::Up,
    },
    Binding {
        label: "x",
        help: "cancel the selected worker",
        footer: "cancel",
        action: Action::Cancel,
    },
    Binding {
        label: "X",
        help: "cancel all workers",
        footer: "cancel all",
        action: Action::CancelAll,
    },
    Binding {
        label: "?",
        help: "this help; Esc closes an overlay or the experiment pane",
        footer: "help",
        action: Action::Help,
    },
    Binding {
        label: "q",
        help: "quit (Ctrl-C too): cancels and joins every worker",
        footer: "quit",
        action: Action::Quit,
    },
];

/// Maps a key event to an action; `None` for keys that do nothing and for
/// release/repeat events (only presses count).
pub fn action_for(key: &KeyEvent) -> Option<Action> {
    if key.kind != KeyEventKind::Press {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return match key.code {
            KeyCode::Char('c') | KeyCode::Char('C') => Some(Action::ForceQuit),
            _ => None,
        };
    }
    Some(match key.code {
        KeyCode::Char('f') => Action::Spawn(WorkerKind::Fetch),
        KeyCode::Char('d') => Action::Spawn(WorkerKind::File),
        KeyCode::Char('c') => Action::Spawn(WorkerKind::Cpu),
        KeyCode::Char('s') => Action::Spawn(WorkerKind::Sleep),
        KeyCode::Char('g') => Action::ToggleGil,
        KeyCode::Char('m') => Action::CycleGilKind,
        KeyCode::Char('[') => Action::IntervalDown,
        KeyCode::Char(']') => Action::IntervalUp,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::Home => Action::Top,
        KeyCode::End => Action::Bottom,
        KeyCode::Char('x') => Action::Cancel,
        KeyCode::Char('X') => Action::CancelAll,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Char('u') => Action::ToggleUiGil,
        KeyCode::Char('+') | KeyCode::Char('=') => Action::ZoomIn,
        KeyCode::Char('-') => Action::ZoomOut,
        KeyCode::Esc => Action::CloseOverlay,
        KeyCode::Enter => Action::Confirm,
        KeyCode::Char('e') => Action::Experiments,
        KeyCode::Char('q') => Action::Quit,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presses_map_and_releases_do_not() {
        let press = KeyEvent::new(KeyCode::Char('f'), KeyModifiers::NONE);
        assert_eq!(action_for(&press), Some(Action::Spawn(WorkerKind::Fetch)));
        let mut release = press;
        release.kind = KeyEventKind::Release;
        assert_eq!(action_for(&release), None);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action_for(&ctrl_c), Some(Action::ForceQuit));
    }

    #[test]
    fn every_binding_label_maps_to_its_action() {
        for binding in BINDINGS {
            let first = binding.label.split_whitespace().next().unwrap_or_default();
            if let Some(ch) = first.chars().next().filter(|_| first.chars().count() == 1) {
                let key = KeyEvent::new(KeyCode::Char(ch), KeyModifiers::NONE);
                assert_eq!(action_for(&key), Some(binding.action), "{}", binding.label);
            }
        }
    }
}
