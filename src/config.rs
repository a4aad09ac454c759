//! The TOML configuration: defaults embedded from `assets/config.toml`
//! (which `threadlab config` prints), overlaid by the user's file, then
//! validated. Every error is one line naming the file, the line and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::gil::{Mode, SwitchInterval};
use crate::ui::keys::KeyMap;
use crate::ui::python_cost::PythonCost;
use crate::ui::theme::ThemeName;
use crate::work::FetchTarget;

/// The default configuration, documented.
pub const DEFAULT_TOML: &str = include_str!("../assets/config.toml");

/// A key or a list of keys in `[keys]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum KeyList {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGil {
    mode: Option<String>,
    interval_ms: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkers {
    fetch_urls: Option<Vec<String>>,
    file_mib: Option<u64>,
    cpu_steps: Option<u64>,
    seed_sleep_ms: Option<u64>,
    max_workers: Option<usize>,
    nice: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUi {
    fps: Option<u32>,
    theme: Option<String>,
    mouse: Option<bool>,
    python_ms: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    file: Option<String>,
    level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    gil: RawGil,
    #[serde(default)]
    workers: RawWorkers,
    #[serde(default)]
    ui: RawUi,
    #[serde(default)]
    keys: BTreeMap<String, KeyList>,
    #[serde(default)]
    log: RawLog,
}

/// The configuration in force.
#[derive(Debug, Clone)]
pub struct Config {
    /// GIL mode at start.
    pub mode: Mode,
    /// Switch interval at start.
    pub interval: SwitchInterval,
    /// Fetch targets, used in turn (empty: the embedded server).
    pub fetch_urls: Vec<FetchTarget>,
    /// File worker size, MiB.
    pub file_mib: u64,
    /// CPU steps per cpu worker.
    pub cpu_steps: u64,
    /// Pause between the seed demo's prints.
    pub seed_sleep: Duration,
    /// Most live workers.
    pub max_workers: usize,
    /// Niceness added to worker threads (0 to 19).
    pub nice: u8,
    /// Frame rate cap.
    pub fps: u32,
    /// Colour theme.
    pub theme: ThemeName,
    /// Mouse support.
    pub mouse: bool,
    /// Python work modelled per key while the UI is under the GIL.
    pub python_cost: PythonCost,
    /// The key map.
    pub keys: KeyMap,
    /// Log file, if any.
    pub log_file: Option<PathBuf>,
    /// Log level (env-filter syntax).
    pub log_level: String,
}

/// A configuration problem, as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config {file}{line}: {message}")]
pub struct ConfigError {
    /// The file (or `(built-in)`).
    pub file: String,
    /// `, line N` when known.
    pub line: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl Default for Config {
    fn default() -> Self {
        Self::from_toml(None, "").expect("the built-in configuration is valid")
    }
}

/// Where the config file is looked up when `--config` is not given.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "threadlab")
        .map(|dirs| dirs.config_dir().join("config.toml"))
}

/// The 1-based line of byte offset `at` in `text`.
fn line_at(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// The line where `key` is set inside `[section]`, if it is.
fn line_of(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            current = name.trim().to_string();
        } else if current == section
            && trimmed
                .split('=')
                .next()
                .is_some_and(|k| k.trim().trim_matches('"') == key)
            && trimmed.contains('=')
        {
            return Some(index + 1);
        }
    }
    None
}

impl Config {
    /// Loads `path` if given (it must exist), else the default path if a
    /// file is there, else the built-in defaults.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let chosen = match path {
            Some(path) => Some(path.to_path_buf()),
            None => default_path().filter(|p| p.is_file()),
        };
        match chosen {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
                    file: path.display().to_string(),
                    line: String::new(),
                    message: format!("cannot read it: {e}"),
                })?;
                Self::from_toml(Some(&path), &text)
            }
            None => Self::from_toml(None, ""),
        }
    }

    /// The built-in defaults overlaid with `text` (the contents of `file`).
    pub fn from_toml(file: Option<&Path>, text: &str) -> Result<Self, ConfigError> {
        let name = file.map_or_else(|| "(built-in)".to_string(), |p| p.display().to_string());
        let fail = |line: Option<usize>, message: String| ConfigError {
            file: name.clone(),
            line: line.map(|l| format!(", line {l}")).unwrap_or_default(),
            message,
        };
        let parse = |text: &str| -> Result<RawConfig, ConfigError> {
            toml::from_str::<RawConfig>(text).map_err(|e| {
                let line = e.span().map(|span| line_at(text, span.start));
                fail(line, e.message().trim().replace('\n', " "))
            })
        };
        let defaults = parse(DEFAULT_TOML)?;
        let user = parse(text)?;
        let pick = |section: &str, key: &str| line_of(text, section, key);

        let mode_text = user.gil.mode.or(defaults.gil.mode).unwrap_or_default();
        let mode: Mode = mode_text.parse().map_err(|e: crate::gil::UnknownMode| {
            fail(pick("gil", "mode"), format!("[gil] mode: {e}"))
        })?;
        let interval_ms = user
            .gil
            .interval_ms
            .or(defaults.gil.interval_ms)
            .unwrap_or(5.0);
        let interval = SwitchInterval::from_millis_f64(interval_ms).map_err(|e| {
            fail(
                pick("gil", "interval_ms"),
                format!("[gil] interval_ms: {e}"),
            )
        })?;

        let urls = user
            .workers
            .fetch_urls
            .or(defaults.workers.fetch_urls)
            .unwrap_or_default();
        let fetch_urls = urls
            .iter()
            .map(|url| FetchTarget::parse(url))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                fail(
                    pick("workers", "fetch_urls"),
                    format!("[workers] fetch_urls: {e}"),
                )
            })?;
        let in_range = |value: u64, low: u64, high: u64, section: &str, key: &str| {
            if (low..=high).contains(&value) {
                Ok(value)
            } else {
                Err(fail(
                    pick(section, key),
                    format!(
                        "[{section}] {key} = {value} is out of range: expected {low} to {high}"
                    ),
                ))
            }
        };
        let file_mib = in_range(
            user.workers
                .file_mib
                .or(defaults.workers.file_mib)
                .unwrap_or(32),
            1,
            4096,
            "workers",
            "file_mib",
        )?;
        let cpu_steps = in_range(
            user.workers
                .cpu_steps
                .or(defaults.workers.cpu_steps)
                .unwrap_or(1),
            1,
            100_000_000_000,
            "workers",
            "cpu_steps",
        )?;
        let seed_sleep_ms = in_range(
            user.workers
                .seed_sleep_ms
                .or(defaults.workers.seed_sleep_ms)
                .unwrap_or(1000),
            0,
            60_000,
            "workers",
            "seed_sleep_ms",
        )?;
        let max_workers = in_range(
            user.workers
                .max_workers
                .or(defaults.workers.max_workers)
                .unwrap_or(2000) as u64,
            1,
            100_000,
            "workers",
            "max_workers",
        )? as usize;
        let nice = in_range(
            user.workers.nice.or(defaults.workers.nice).unwrap_or(19),
            0,
            19,
            "workers",
            "nice",
        )? as u8;
        let fps = in_range(
            u64::from(user.ui.fps.or(defaults.ui.fps).unwrap_or(60)),
            1,
            240,
            "ui",
            "fps",
        )? as u32;
        let theme_text = user.ui.theme.or(defaults.ui.theme).unwrap_or_default();
        let theme: ThemeName = theme_text
            .parse()
            .map_err(|e: String| fail(pick("ui", "theme"), format!("[ui] theme: {e}")))?;
        let mouse = user.ui.mouse.or(defaults.ui.mouse).unwrap_or(true);
        let python_cost = PythonCost::from_millis(
            user.ui
                .python_ms
                .or(defaults.ui.python_ms)
                .unwrap_or(PythonCost::DEFAULT_MS),
        )
        .map_err(|e| fail(pick("ui", "python_ms"), format!("[ui] python_ms: {e}")))?;

        let overrides: BTreeMap<String, Vec<String>> = user
            .keys
            .into_iter()
            .map(|(name, keys)| {
                let keys = match keys {
                    KeyList::One(key) => vec![key],
                    KeyList::Many(keys) => keys,
                };
                (name, keys)
            })
            .collect();
        let keys = KeyMap::with_overrides(&overrides).map_err(|e| {
            let line = match &e {
                crate::ui::keys::KeyMapError::UnknownCommand(name, _) => pick("keys", name),
                crate::ui::keys::KeyMapError::Conflict { second, .. } => pick("keys", second),
                _ => overrides.keys().find_map(|k| pick("keys", k)),
            };
            fail(line, format!("[keys] {e}"))
        })?;

        let log_file = user
            .log
            .file
            .or(defaults.log.file)
            .filter(|f| !f.is_empty())
            .map(PathBuf::from);
        let log_level = user
            .log
            .level
            .or(defaults.log.level)
            .unwrap_or_else(|| "info".into());
        Ok(Self {
            mode,
            interval,
            fetch_urls,
            file_mib,
            cpu_steps,
            seed_sleep: Duration::from_millis(seed_sleep_ms),
            max_workers,
            nice,
            fps,
            theme,
            mouse,
            python_cost,
            keys,
            log_file,
            log_level,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_defaults_are_the_defaults() {
        let config = Config::default();
        assert_eq!(config.mode, Mode::Free);
        assert_eq!(config.interval, SwitchInterval::DEFAULT);
        assert_eq!(config.file_mib, 32);
        assert_eq!(config.fps, 60);
        // Workers yield the CPU to the UI thread as far as nice goes: at 10,
        // 256 busy download threads (plus their server threads) outweighed
        // the UI thread and keys waited for it (BENCHMARKS.md, `flood`).
        assert_eq!(config.nice, 19);
        assert_eq!(config.keys, KeyMap::default());
        assert!(config.mouse);
        assert!(config.log_file.is_none());
        // The printed default is itself a valid user file.
        Config::from_toml(Some(Path::new("default.toml")), DEFAULT_TOML).unwrap();
    }

    #[test]
    fn a_user_file_overrides_only_what_it_sets() {
        let text = "[gil]\nmode = \"gil\"\n\n[keys]\nfetch = \"F5\"\n";
        let config = Config::from_toml(Some(Path::new("c.toml")), text).unwrap();
        assert_eq!(config.mode, Mode::Gil);
        assert_eq!(config.interval, SwitchInterval::DEFAULT);
        assert_eq!(
            config.keys.label(crate::ui::keys::Action::Spawn(
                crate::work::WorkerKind::Fetch
            )),
            "F5"
        );
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        let path = Some(Path::new("my.toml"));
        let syntax = Config::from_toml(path, "[gil]\nmode = \"gil\"\ninterval_ms = = 3\n")
            .unwrap_err()
            .to_string();
        assert!(syntax.starts_with("config my.toml, line 3:"), "{syntax}");
        let unknown = Config::from_toml(path, "[ui]\nfps = 30\ncolour = \"red\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            unknown.contains("line 3") && unknown.contains("colour"),
            "{unknown}"
        );
        let unknown_section = Config::from_toml(path, "[gui]\nx = 1\n")
            .unwrap_err()
            .to_string();
        assert!(unknown_section.contains("gui"), "{unknown_section}");
        let range = Config::from_toml(path, "[gil]\n\ninterval_ms = 500\n")
            .unwrap_err()
            .to_string();
        assert!(
            range.contains("line 3") && range.contains("0.1 to 100"),
            "{range}"
        );
        let nice = Config::from_toml(path, "[workers]\nnice = 25\n")
            .unwrap_err()
            .to_string();
        assert!(
            nice.contains("line 2") && nice.contains("nice") && nice.contains("0 to 19"),
            "{nice}"
        );
        let mode = Config::from_toml(path, "[gil]\nmode = \"turbo\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            mode.contains("line 2") && mode.contains("free, gil, legacy"),
            "{mode}"
        );
        let key = Config::from_toml(path, "[keys]\ncpu = \"f\"\n")
            .unwrap_err()
            .to_string();
        assert!(key.contains("line 2") && key.contains("fetch"), "{key}");
        let url = Config::from_toml(path, "[workers]\nfetch_urls = [\"ftp://x\"]\n")
            .unwrap_err()
            .to_string();
        assert!(url.contains("line 2") && url.contains("http"), "{url}");
        let theme = Config::from_toml(path, "[ui]\ntheme = \"neon\"\n")
            .unwrap_err()
            .to_string();
        assert!(theme.contains("dark, light or mono"), "{theme}");
    }

    #[test]
    fn the_python_cost_per_key_is_a_ui_key_with_a_range() {
        assert_eq!(Config::default().python_cost, PythonCost::default());
        let set = Config::from_toml(None, "[ui]\npython_ms = 3.5\n").unwrap();
        assert_eq!(set.python_cost, PythonCost::from_millis(3.5).unwrap());
        let bad = Config::from_toml(Some(Path::new("c.toml")), "[ui]\npython_ms = -2\n")
            .unwrap_err()
            .to_string();
        assert!(
            bad.starts_with("config c.toml, line 2: [ui] python_ms") && bad.contains("0 to 1000"),
            "{bad}"
        );
    }
}
