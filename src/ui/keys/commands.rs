//! The table of remappable commands: config name, action, default keys,
//! help text and footer text. The key map, the footer, the help overlay and
//! the README's key list all follow this one table.

use super::Action;
use crate::work::WorkerKind;

/// One remappable command: its config name, action, default keys, help
/// text, and short footer text (empty: not in the footer).
pub struct CommandInfo {
    /// The name used in the config's `[keys]` table.
    pub name: &'static str,
    /// The action.
    pub action: Action,
    /// Keys bound by default.
    pub default_keys: &'static [&'static str],
    /// What it does, for the help overlay.
    pub help: &'static str,
    /// Short text for the footer (empty: not in the footer).
    pub footer: &'static str,
}

/// Every remappable command, in the order the help overlay lists them.
pub const COMMANDS: &[CommandInfo] = &[
    CommandInfo {
        name: "fetch",
        action: Action::Spawn(WorkerKind::Fetch),
        default_keys: &["f"],
        help: "spawn a fetch worker (HTTP download)",
        footer: "fetch",
    },
    CommandInfo {
        name: "file",
        action: Action::Spawn(WorkerKind::File),
        default_keys: &["d"],
        help: "spawn a file worker (write, fsync, read back, verify)",
        footer: "file",
    },
    CommandInfo {
        name: "cpu",
        action: Action::Spawn(WorkerKind::Cpu),
        default_keys: &["c"],
        help: "spawn a cpu worker (integer work in small steps)",
        footer: "cpu",
    },
    CommandInfo {
        name: "seed",
        action: Action::Spawn(WorkerKind::Sleep),
        default_keys: &["s"],
        help: "seed demo: a thread prints 0..4 while main prints 5..9",
        footer: "seed demo",
    },
    CommandInfo {
        name: "toggle_gil",
        action: Action::ToggleGil,
        default_keys: &["g"],
        help: "switch the GIL emulation on / off",
        footer: "GIL",
    },
    CommandInfo {
        name: "gil_kind",
        action: Action::CycleGilKind,
        default_keys: &["m"],
        help: "which GIL: CPython 3 (gil) ⇄ Python 2 (legacy)",
        footer: "",
    },
    CommandInfo {
        name: "interval_down",
        action: Action::IntervalDown,
        default_keys: &["["],
        help: "halve the switch interval (down to 0.1 ms)",
        footer: "",
    },
    CommandInfo {
        name: "interval_up",
        action: Action::IntervalUp,
        default_keys: &["]"],
        help: "double the switch interval (up to 100 ms)",
        footer: "",
    },
    CommandInfo {
        name: "experiments",
        action: Action::Experiments,
        default_keys: &["e"],
        help: "experiments, emulated beside real",
        footer: "experiment",
    },
    CommandInfo {
        name: "export",
        action: Action::Export,
        default_keys: &["w"],
        help: "write the GIL timeline (Perfetto)",
        footer: "",
    },
    CommandInfo {
        name: "sort_functions",
        action: Action::SortFunctions,
        default_keys: &["o"],
        help: "trace: order GIL by function by hold ⇄ by wait",
        footer: "",
    },
    CommandInfo {
        name: "cursor_left",
        action: Action::CursorLeft,
        default_keys: &["left"],
        help: "trace: move the timeline cursor back (which function held or waited then)",
        footer: "",
    },
    CommandInfo {
        name: "cursor_right",
        action: Action::CursorRight,
        default_keys: &["right"],
        help: "trace: move the timeline cursor on (past now: off)",
        footer: "",
    },
    CommandInfo {
        name: "race",
        action: Action::Race,
        default_keys: &["r"],
        help: "race: lost updates on a shared counter",
        footer: "",
    },
    CommandInfo {
        name: "deadlock",
        action: Action::Deadlock,
        default_keys: &["D"],
        help: "deadlock: two locks in opposite orders (x/Esc breaks it), then the fix",
        footer: "",
    },
    CommandInfo {
        name: "toolbox",
        action: Action::Toolbox,
        default_keys: &["t"],
        help: "toolbox: producer/consumer, semaphore, event, barrier on the timeline",
        footer: "",
    },
    CommandInfo {
        name: "ui_under_gil",
        action: Action::ToggleUiGil,
        default_keys: &["u"],
        help: "UI under the GIL: the UI must take the GIL to react, like Python",
        footer: "UI under GIL",
    },
    CommandInfo {
        name: "zoom_in",
        action: Action::ZoomIn,
        default_keys: &["+", "="],
        help: "zoom the GIL timeline in (down to 25 ms)",
        footer: "",
    },
    CommandInfo {
        name: "zoom_out",
        action: Action::ZoomOut,
        default_keys: &["-"],
        help: "zoom the GIL timeline out (up to 10 s)",
        footer: "",
    },
    CommandInfo {
        name: "up",
        action: Action::Up,
        default_keys: &["up", "k"],
        help: "select the previous worker",
        footer: "",
    },
    CommandInfo {
        name: "down",
        action: Action::Down,
        default_keys: &["down", "j"],
        help: "select the next worker",
        footer: "",
    },
    CommandInfo {
        name: "top",
        action: Action::Top,
        default_keys: &["home"],
        help: "select the first worker",
        footer: "",
    },
    CommandInfo {
        name: "bottom",
        action: Action::Bottom,
        default_keys: &["end"],
        help: "select the last worker",
        footer: "",
    },
    CommandInfo {
        name: "cancel",
        action: Action::Cancel,
        default_keys: &["x"],
        help: "cancel the selected worker",
        footer: "cancel",
    },
    CommandInfo {
        name: "cancel_all",
        action: Action::CancelAll,
        default_keys: &["X"],
        help: "cancel all workers",
        footer: "cancel all",
    },
    CommandInfo {
        name: "logs",
        action: Action::ToggleLogs,
        default_keys: &["l"],
        help: "show / hide the log pane",
        footer: "logs",
    },
    CommandInfo {
        name: "focus",
        action: Action::FocusPane,
        default_keys: &["z"],
        help: "the focused pane fills the screen, or goes back",
        footer: "fill",
    },
    CommandInfo {
        name: "next_pane",
        action: Action::NextPane,
        default_keys: &["tab"],
        help: "focus the next pane (timeline focused: ↑↓ scroll lanes)",
        footer: "",
    },
    CommandInfo {
        name: "help",
        action: Action::Help,
        default_keys: &["?"],
        help: "this help",
        footer: "help",
    },
    CommandInfo {
        name: "close",
        action: Action::CloseOverlay,
        default_keys: &["esc"],
        help: "close an overlay or a pane (a running lab is stopped first)",
        footer: "",
    },
    CommandInfo {
        name: "confirm",
        action: Action::Confirm,
        default_keys: &["enter"],
        help: "run the experiment chosen in the picker",
        footer: "",
    },
    CommandInfo {
        name: "quit",
        action: Action::Quit,
        default_keys: &["q"],
        help: "quit (Ctrl-C too): cancels and joins every worker",
        footer: "quit",
    },
];
