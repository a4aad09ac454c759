//! The key map: which key does what. One table ([`COMMANDS`]) names every
//! remappable action with its help text; a [`KeyMap`] binds keys to them
//! (defaults here, overrides from the config's `[keys]`), and the input
//! handling, the footer and the help overlay all read the same map, so what
//! is shown is what works.

use std::collections::BTreeMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::work::WorkerKind;

mod commands;

pub use commands::COMMANDS;
pub use commands::CommandInfo;

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
    /// Open or close the log pane.
    ToggleLogs,
    /// Let the focused pane fill the screen, or put it back.
    FocusPane,
    /// Move the focus to the next pane.
    NextPane,
    /// Close an overlay.
    CloseOverlay,
    /// Confirm (Enter): run the experiment chosen in the picker.
    Confirm,
    /// Open the experiment picker.
    Experiments,
    /// Write the GIL timeline as Chrome trace JSON (Perfetto).
    Export,
    /// Order the GIL-by-function pane by hold or by wait (trace screen).
    SortFunctions,
    /// Move the timeline cursor to an earlier moment (trace screen).
    CursorLeft,
    /// Move the timeline cursor to a later moment, off past now (trace screen).
    CursorRight,
    /// Start a race (the coordination lab): threads increment one counter.
    Race,
    /// Run the two-locks deadlock (opposite orders, then the fix in turn).
    Deadlock,
    /// Open the toolbox picker (queue, semaphore, event, barrier).
    Toolbox,
    /// Quit.
    Quit,
    /// Quit (Ctrl-C; not remappable).
    ForceQuit,
}

impl Action {
    /// True for the commands only the trace screen has (the emulated
    /// dashboard's help leaves them out).
    pub fn trace_only(self) -> bool {
        matches!(
            self,
            Action::SortFunctions | Action::CursorLeft | Action::CursorRight
        )
    }

    /// True for the actions that end the dashboard whatever is open (help,
    /// a picker, a pane): `q` and Ctrl-C. The run loop asks before it takes
    /// the GIL back for a key, so that quitting never waits for the GIL.
    pub fn quits(self) -> bool {
        matches!(self, Action::Quit | Action::ForceQuit)
    }
}

/// A key as written in the config: `f`, `X`, `?`, `enter`, `f5`, `ctrl-x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct KeySpec {
    code: KeyCodeKey,
    ctrl: bool,
    alt: bool,
}

/// The part of a key code that matters here (orderable, unlike `KeyCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum KeyCodeKey {
    Char(char),
    F(u8),
    Named(u8),
}

const NAMED: &[(&str, KeyCode)] = &[
    ("enter", KeyCode::Enter),
    ("esc", KeyCode::Esc),
    ("up", KeyCode::Up),
    ("down", KeyCode::Down),
    ("left", KeyCode::Left),
    ("right", KeyCode::Right),
    ("home", KeyCode::Home),
    ("end", KeyCode::End),
    ("pageup", KeyCode::PageUp),
    ("pagedown", KeyCode::PageDown),
    ("tab", KeyCode::Tab),
    ("backspace", KeyCode::Backspace),
    ("delete", KeyCode::Delete),
    ("insert", KeyCode::Insert),
];

/// The error for a key the config cannot bind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum KeyMapError {
    /// Not a key this program understands.
    #[error(
        "'{0}' is not a key: use one character (f, X, ?), space, enter, esc, up, down, left, right, home, end, pageup, pagedown, tab, backspace, delete, insert, f1–f12, optionally with ctrl- or alt-"
    )]
    BadKey(String),
    /// No such command.
    #[error("unknown command '{0}' in [keys]: expected one of {1}")]
    UnknownCommand(String, String),
    /// Two commands on one key.
    #[error("key '{key}' is bound to both '{first}' and '{second}'")]
    Conflict {
        /// The key.
        key: String,
        /// One command.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
    /// Ctrl-C is reserved for quitting.
    #[error("ctrl-c is reserved: it always quits")]
    Reserved,
}

impl KeySpec {
    /// Parses a key as written in the config.
    pub fn parse(text: &str) -> Result<Self, KeyMapError> {
        let bad = || KeyMapError::BadKey(text.to_string());
        let mut rest = text;
        let (mut ctrl, mut alt) = (false, false);
        loop {
            let lower = rest.to_ascii_lowercase();
            if lower.starts_with("ctrl-") && rest.len() > 5 {
                ctrl = true;
                rest = &rest[5..];
            } else if lower.starts_with("alt-") && rest.len() > 4 {
                alt = true;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCodeKey::Char(if ctrl { c.to_ascii_lowercase() } else { c }),
            _ => {
                let lower = rest.to_ascii_lowercase();
                if lower == "space" {
                    KeyCodeKey::Char(' ')
                } else if let Some(index) = NAMED.iter().position(|(name, _)| *name == lower) {
                    KeyCodeKey::Named(index as u8)
                } else if let Some(n) = lower
                    .strip_prefix('f')
                    .and_then(|n| n.parse::<u8>().ok())
                    .filter(|n| (1..=12).contains(n))
                {
                    KeyCodeKey::F(n)
                } else {
                    return Err(bad());
                }
            }
        };
        let spec = Self { code, ctrl, alt };
        if spec.ctrl && spec.code == KeyCodeKey::Char('c') {
            return Err(KeyMapError::Reserved);
        }
        Ok(spec)
    }

    fn from_event(key: &KeyEvent) -> Option<Self> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let code = match key.code {
            KeyCode::Char(c) => KeyCodeKey::Char(if ctrl { c.to_ascii_lowercase() } else { c }),
            KeyCode::F(n) => KeyCodeKey::F(n),
            other => KeyCodeKey::Named(NAMED.iter().position(|(_, code)| *code == other)? as u8),
        };
        Some(Self { code, ctrl, alt })
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("Ctrl-")?;
        }
        if self.alt {
            f.write_str("Alt-")?;
        }
        match self.code {
            KeyCodeKey::Char(' ') => f.write_str("Space"),
            KeyCodeKey::Char(c) => write!(f, "{c}"),
            KeyCodeKey::F(n) => write!(f, "F{n}"),
            KeyCodeKey::Named(i) => {
                let name = NAMED.get(i as usize).map_or("?", |(name, _)| name);
                match name {
                    "up" => f.write_str("↑"),
                    "down" => f.write_str("↓"),
                    "left" => f.write_str("←"),
                    "right" => f.write_str("→"),
                    _ => {
                        let mut chars = name.chars();
                        let first = chars.next().map(|c| c.to_ascii_uppercase());
                        write!(f, "{}{}", first.unwrap_or(' '), chars.as_str())
                    }
                }
            }
        }
    }
}

/// Which keys do what, in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMap {
    keys: BTreeMap<KeySpec, Action>,
    /// Bindings in the order they were given, for showing them.
    order: Vec<(Action, KeySpec)>,
}

impl Default for KeyMap {
    fn default() -> Self {
        Self::with_overrides(&BTreeMap::new()).expect("the default key map is valid")
    }
}

impl KeyMap {
    /// The defaults with some commands rebound: `overrides` maps a command
    /// name to the keys it should have instead of its defaults.
    pub(crate) fn with_overrides(
        overrides: &BTreeMap<String, Vec<String>>,
    ) -> Result<Self, KeyMapError> {
        let names = || {
            COMMANDS
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(", ")
        };
        for name in overrides.keys() {
            if !COMMANDS.iter().any(|c| c.name == name) {
                return Err(KeyMapError::UnknownCommand(name.clone(), names()));
            }
        }
        let mut keys = BTreeMap::new();
        let mut order = Vec::new();
        let mut owner: BTreeMap<KeySpec, &'static str> = BTreeMap::new();
        for command in COMMANDS {
            let texts: Vec<String> = match overrides.get(command.name) {
                Some(texts) => texts.clone(),
                None => command.default_keys.iter().map(|k| k.to_string()).collect(),
            };
            for text in texts {
                let spec = KeySpec::parse(&text)?;
                if let Some(first) = owner.insert(spec, command.name) {
                    return Err(KeyMapError::Conflict {
                        key: text,
                        first,
                        second: command.name,
                    });
                }
                keys.insert(spec, command.action);
                order.push((command.action, spec));
            }
        }
        Ok(Self { keys, order })
    }

    /// The action for a key event; `None` for unbound keys and for
    /// release/repeat events (only presses count). Ctrl-C always quits.
    pub(crate) fn action_for(&self, key: &KeyEvent) -> Option<Action> {
        if key.kind != KeyEventKind::Press {
            return None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL)
            && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('C'))
        {
            return Some(Action::ForceQuit);
        }
        self.keys.get(&KeySpec::from_event(key)?).copied()
    }

    /// The keys bound to `action`, as shown on screen (`↑ k`).
    pub fn label(&self, action: Action) -> String {
        let keys: Vec<String> = self
            .order
            .iter()
            .filter(|(a, _)| *a == action)
            .map(|(_, spec)| spec.to_string())
            .collect();
        if keys.is_empty() {
            "–".to_string()
        } else {
            keys.join(" ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    /// The shipped config lists every remappable command with its default
    /// keys, so a user reading it sees every key they can rebind (it once
    /// missed eight, `export` and `toolbox` among them).
    #[test]
    fn the_shipped_config_lists_every_command_with_its_defaults() {
        let config: toml::Table =
            toml::from_str(include_str!("../../../assets/config.toml")).unwrap();
        let keys = config["keys"].as_table().unwrap();
        for command in commands::COMMANDS {
            let listed: Vec<&str> = match keys.get(command.name) {
                Some(toml::Value::String(key)) => vec![key.as_str()],
                Some(toml::Value::Array(list)) => {
                    list.iter().map(|k| k.as_str().unwrap()).collect()
                }
                other => panic!("{} in assets/config.toml: {other:?}", command.name),
            };
            assert_eq!(listed, command.default_keys, "{}", command.name);
        }
        assert_eq!(keys.len(), commands::COMMANDS.len(), "no stale names");
    }

    #[test]
    fn presses_map_and_releases_do_not() {
        let map = KeyMap::default();
        assert_eq!(
            map.action_for(&press(KeyCode::Char('f'))),
            Some(Action::Spawn(WorkerKind::Fetch))
        );
        let mut release = press(KeyCode::Char('f'));
        release.kind = KeyEventKind::Release;
        assert_eq!(map.action_for(&release), None);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(map.action_for(&ctrl_c), Some(Action::ForceQuit));
        let shift_x = KeyEvent::new(KeyCode::Char('X'), KeyModifiers::SHIFT);
        assert_eq!(map.action_for(&shift_x), Some(Action::CancelAll));
        assert_eq!(map.action_for(&press(KeyCode::Up)), Some(Action::Up));
        assert_eq!(map.label(Action::Up), "↑ k");
    }

    #[test]
    fn every_default_key_reaches_its_command() {
        let map = KeyMap::default();
        for command in COMMANDS {
            for key in command.default_keys {
                let spec = KeySpec::parse(key).unwrap();
                assert_eq!(map.keys.get(&spec), Some(&command.action), "{key}");
            }
        }
    }

    #[test]
    fn overrides_rebind_and_errors_name_the_problem() {
        let mut overrides = BTreeMap::new();
        overrides.insert(
            "fetch".to_string(),
            vec!["F5".to_string(), "ctrl-f".to_string()],
        );
        let map = KeyMap::with_overrides(&overrides).unwrap();
        assert_eq!(map.action_for(&press(KeyCode::Char('f'))), None);
        assert_eq!(
            map.action_for(&press(KeyCode::F(5))),
            Some(Action::Spawn(WorkerKind::Fetch))
        );
        let ctrl_f = KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL);
        assert_eq!(
            map.action_for(&ctrl_f),
            Some(Action::Spawn(WorkerKind::Fetch))
        );
        assert_eq!(map.label(Action::Spawn(WorkerKind::Fetch)), "F5 Ctrl-f");

        // Taking another command's default key is a conflict unless that one moves too.
        let mut clash = BTreeMap::new();
        clash.insert("fetch".to_string(), vec!["c".to_string()]);
        let err = KeyMap::with_overrides(&clash).unwrap_err().to_string();
        assert!(
            err.contains("'c'") && err.contains("cpu") && err.contains("fetch"),
            "{err}"
        );
        clash.insert("cpu".to_string(), vec!["f".to_string()]);
        let swapped = KeyMap::with_overrides(&clash).unwrap();
        assert_eq!(
            swapped.action_for(&press(KeyCode::Char('c'))),
            Some(Action::Spawn(WorkerKind::Fetch))
        );

        let mut unknown = BTreeMap::new();
        unknown.insert("explode".to_string(), vec!["z".to_string()]);
        let err = KeyMap::with_overrides(&unknown).unwrap_err().to_string();
        assert!(err.contains("explode") && err.contains("fetch"), "{err}");
        assert!(KeySpec::parse("hyper-z").is_err());
        assert_eq!(KeySpec::parse("ctrl-c"), Err(KeyMapError::Reserved));
    }
}
