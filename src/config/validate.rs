//! Validation: the raw shapes of the TOML file (every key optional, with
//! its place in the file), the built-in configuration parsed once as the
//! source of every default, and [`Config::from_toml`], which overlays the
//! user's values on it and checks each, naming the file, the line and the
//! column of a bad one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{Config, ConfigError, DEFAULT_TOML};
use crate::gil::{Mode, SwitchInterval};
use crate::lab::python_cost::{CostOutOfRange, PythonCost};
use crate::ui::keys::KeyMap;
use crate::ui::theme::ThemeName;
use crate::work::FetchTarget;

/// A key or a list of keys in `[keys]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum KeyList {
    One(String),
    Many(Vec<String>),
}

/// `[ui] python_ms`: a preset's name or milliseconds per key.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum PythonMs {
    Millis(f64),
    Name(String),
}

/// A value with where it stands in the file (for error messages).
type At<T> = Option<Spanned<T>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGil {
    mode: At<String>,
    interval_ms: At<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkers {
    fetch_urls: At<Vec<String>>,
    file_mib: At<u64>,
    cpu_steps: At<u64>,
    seed_sleep_ms: At<u64>,
    max_workers: At<u64>,
    nice: At<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUi {
    fps: At<u64>,
    theme: At<String>,
    mouse: At<bool>,
    python_ms: At<PythonMs>,
    python_refresh_ms: At<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    file: At<String>,
    level: At<String>,
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
    keys: BTreeMap<String, Spanned<KeyList>>,
    #[serde(default)]
    log: RawLog,
}

/// The 1-based line and column (in characters) of byte offset `at` in `text`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Where a value came from: its span in the user's file, or `None` for a
/// built-in default.
type Span = Option<std::ops::Range<usize>>;

/// The user's value and its span, else the built-in one (no span).
fn pick<T: Clone>(user: &At<T>, default: &At<T>, key: &str) -> (T, Span) {
    match user {
        Some(value) => (value.get_ref().clone(), Some(value.span())),
        None => (
            default
                .as_ref()
                .unwrap_or_else(|| panic!("the built-in configuration sets {key}"))
                .get_ref()
                .clone(),
            None,
        ),
    }
}

/// The file being read, for errors that name it and the place of a value.
struct Source<'a> {
    name: String,
    text: &'a str,
}

impl Source<'_> {
    /// An error at the user's value (`at`), if the user set it.
    fn fail(&self, at: Span, message: String) -> ConfigError {
        ConfigError {
            file: self.name.clone(),
            line: at.map_or_else(String::new, |span| {
                let (line, column) = line_column(self.text, span.start);
                format!(", line {line}, column {column}")
            }),
            message,
        }
    }

    /// `value` if it is within `low..=high`, else an error naming `key`.
    fn in_range(
        &self,
        (value, at): (u64, Span),
        low: u64,
        high: u64,
        key: &str,
    ) -> Result<u64, ConfigError> {
        if (low..=high).contains(&value) {
            Ok(value)
        } else {
            Err(self.fail(
                at,
                format!("{key} = {value} is out of range: expected {low} to {high}"),
            ))
        }
    }

    /// `[ui] python_ms` and `python_refresh_ms`: the modelled Python UI. A
    /// preset's name sets both; a number is per key, with the `table`
    /// preset's refresh unless `python_refresh_ms` says otherwise (which
    /// also overrides a preset's).
    fn python_cost(&self, user: &RawUi, defaults: &RawUi) -> Result<PythonCost, ConfigError> {
        let (python_ms, at) = pick(&user.python_ms, &defaults.python_ms, "[ui] python_ms");
        let fail = |e: CostOutOfRange| self.fail(at.clone(), format!("[ui] python_ms: {e}"));
        let cost = match python_ms {
            PythonMs::Name(name) => name.parse::<PythonCost>().map_err(|_| {
                self.fail(
                    at.clone(),
                    format!("[ui] python_ms = {name:?} is not a preset: expected table, light or milliseconds per key from 0 to 1000"),
                )
            })?,
            PythonMs::Millis(ms) => PythonCost::from_millis(ms)
                .and_then(|cost| cost.refresh(PythonCost::DEFAULT_REFRESH_MS))
                .map_err(fail)?,
        };
        match &user.python_refresh_ms {
            None => Ok(cost),
            Some(refresh) => cost.refresh(*refresh.get_ref()).map_err(|e| {
                self.fail(Some(refresh.span()), format!("[ui] python_refresh_ms: {e}"))
            }),
        }
    }

    /// `[keys]`: the default key map with the user's rebindings, an error
    /// placed at the binding that caused it.
    fn keys(&self, user: BTreeMap<String, Spanned<KeyList>>) -> Result<KeyMap, ConfigError> {
        let spans: BTreeMap<String, std::ops::Range<usize>> = user
            .iter()
            .map(|(name, keys)| (name.clone(), keys.span()))
            .collect();
        let overrides: BTreeMap<String, Vec<String>> = user
            .into_iter()
            .map(|(name, keys)| {
                let keys = match keys.into_inner() {
                    KeyList::One(key) => vec![key],
                    KeyList::Many(keys) => keys,
                };
                (name, keys)
            })
            .collect();
        KeyMap::with_overrides(&overrides).map_err(|e| {
            let at = match &e {
                crate::ui::keys::KeyMapError::UnknownCommand(name, _) => spans.get(name),
                crate::ui::keys::KeyMapError::Conflict { second, .. } => spans.get(*second),
                crate::ui::keys::KeyMapError::BadKey(key) => spans
                    .iter()
                    .find(|(name, _)| overrides[*name].iter().any(|k| k == key))
                    .map(|(_, span)| span),
                _ => spans.values().next(),
            };
            self.fail(at.cloned(), format!("[keys] {e}"))
        })
    }
}

/// The checked `[workers]` values.
struct Workers {
    fetch_urls: Vec<FetchTarget>,
    file_mib: u64,
    cpu_steps: u64,
    seed_sleep_ms: u64,
    max_workers: u64,
    nice: u64,
}

/// The checked `[ui]` values.
struct Ui {
    fps: u64,
    theme: ThemeName,
    mouse: bool,
    python_cost: PythonCost,
}

impl Source<'_> {
    /// `[gil]`: the mode and the switch interval.
    fn gil(&self, user: &RawGil, defaults: &RawGil) -> Result<(Mode, SwitchInterval), ConfigError> {
        let (mode_text, at) = pick(&user.mode, &defaults.mode, "[gil] mode");
        let mode: Mode = mode_text
            .parse()
            .map_err(|e: crate::gil::UnknownMode| self.fail(at, format!("[gil] mode: {e}")))?;
        let (interval_ms, at) = pick(
            &user.interval_ms,
            &defaults.interval_ms,
            "[gil] interval_ms",
        );
        let interval = SwitchInterval::from_millis_f64(interval_ms)
            .map_err(|e| self.fail(at, format!("[gil] interval_ms: {e}")))?;
        Ok((mode, interval))
    }

    /// `[workers]`: the fetch URLs and each number within its range.
    fn workers(&self, user: &RawWorkers, defaults: &RawWorkers) -> Result<Workers, ConfigError> {
        let (urls, at) = pick(
            &user.fetch_urls,
            &defaults.fetch_urls,
            "[workers] fetch_urls",
        );
        let fetch_urls = urls
            .iter()
            .map(|url| FetchTarget::parse(url))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.fail(at.clone(), format!("[workers] fetch_urls: {e}")))?;
        let (u, d) = (user, defaults);
        Ok(Workers {
            fetch_urls,
            file_mib: self.in_range(
                pick(&u.file_mib, &d.file_mib, "file_mib"),
                1,
                4096,
                "[workers] file_mib",
            )?,
            cpu_steps: self.in_range(
                pick(&u.cpu_steps, &d.cpu_steps, "cpu_steps"),
                1,
                100_000_000_000,
                "[workers] cpu_steps",
            )?,
            seed_sleep_ms: self.in_range(
                pick(&u.seed_sleep_ms, &d.seed_sleep_ms, "seed_sleep_ms"),
                0,
                60_000,
                "[workers] seed_sleep_ms",
            )?,
            max_workers: self.in_range(
                pick(&u.max_workers, &d.max_workers, "max_workers"),
                1,
                100_000,
                "[workers] max_workers",
            )?,
            nice: self.in_range(pick(&u.nice, &d.nice, "nice"), 0, 19, "[workers] nice")?,
        })
    }

    /// `[ui]`: frame rate, theme, mouse and the modelled Python cost.
    fn ui(&self, user: &RawUi, defaults: &RawUi) -> Result<Ui, ConfigError> {
        let fps = self.in_range(pick(&user.fps, &defaults.fps, "fps"), 1, 240, "[ui] fps")?;
        let (theme_text, at) = pick(&user.theme, &defaults.theme, "[ui] theme");
        let theme: ThemeName = theme_text
            .parse()
            .map_err(|e: String| self.fail(at, format!("[ui] theme: {e}")))?;
        let (mouse, _) = pick(&user.mouse, &defaults.mouse, "[ui] mouse");
        let python_cost = self.python_cost(user, defaults)?;
        Ok(Ui {
            fps,
            theme,
            mouse,
            python_cost,
        })
    }
}

impl Config {
    /// The built-in defaults overlaid with `text` (the contents of `file`).
    /// Every error names the file, and the line and column of the value (or
    /// the syntax error) as the TOML parser's spans place them.
    pub fn from_toml(file: Option<&Path>, text: &str) -> Result<Self, ConfigError> {
        let user = parse(file, text)?;
        let defaults = builtin();
        let source = Source {
            name: file.map_or_else(|| "(built-in)".to_string(), |p| p.display().to_string()),
            text,
        };
        let (mode, interval) = source.gil(&user.gil, &defaults.gil)?;
        let workers = source.workers(&user.workers, &defaults.workers)?;
        let ui = source.ui(&user.ui, &defaults.ui)?;
        let (log_file, _) = pick(&user.log.file, &defaults.log.file, "[log] file");
        let log_file = Some(log_file).filter(|f| !f.is_empty()).map(PathBuf::from);
        let (log_level, _) = pick(&user.log.level, &defaults.log.level, "[log] level");
        let keys = source.keys(user.keys)?;
        // The ranges checked above make these conversions lossless.
        Ok(Self {
            mode,
            interval,
            fetch_urls: workers.fetch_urls,
            file_mib: workers.file_mib,
            cpu_steps: workers.cpu_steps,
            seed_sleep: Duration::from_millis(workers.seed_sleep_ms),
            max_workers: usize::try_from(workers.max_workers).expect("at most 100000"),
            nice: u8::try_from(workers.nice).expect("at most 19"),
            fps: u32::try_from(ui.fps).expect("at most 240"),
            theme: ui.theme,
            mouse: ui.mouse,
            python_cost: ui.python_cost,
            keys,
            log_file,
            log_level,
        })
    }
}

/// Parses `text` (the contents of `file`) with the parser's own error
/// position.
fn parse(file: Option<&Path>, text: &str) -> Result<RawConfig, ConfigError> {
    toml::from_str::<RawConfig>(text).map_err(|e| ConfigError {
        file: file.map_or_else(|| "(built-in)".to_string(), |p| p.display().to_string()),
        line: e.span().map_or_else(String::new, |span| {
            let (line, column) = line_column(text, span.start);
            format!(", line {line}, column {column}")
        }),
        message: e.message().trim().replace('\n', " "),
    })
}

/// The built-in configuration, parsed once: the one source of every default.
fn builtin() -> &'static RawConfig {
    static BUILTIN: std::sync::OnceLock<RawConfig> = std::sync::OnceLock::new();
    BUILTIN.get_or_init(|| parse(None, DEFAULT_TOML).expect("the built-in configuration parses"))
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
    fn the_engine_and_the_documented_file_agree_on_every_default() {
        use crate::work::defaults;
        let config = Config::default();
        assert_eq!(config.max_workers, defaults::MAX_WORKERS);
        assert_eq!(config.file_mib, defaults::FILE_MIB);
        assert_eq!(config.cpu_steps, defaults::CPU_STEPS);
        assert_eq!(
            config.seed_sleep,
            Duration::from_millis(defaults::SEED_SLEEP_MS)
        );
        assert_eq!(config.nice, defaults::NICE);
        assert_eq!(config.mode, Mode::default());
        assert_eq!(config.interval, SwitchInterval::DEFAULT);
        // The engine's own settings start from the same values.
        let settings = crate::work::WorkSettings::new(
            FetchTarget::parse("http://127.0.0.1/").expect("a URL"),
            PathBuf::from("/tmp"),
        );
        assert_eq!(settings.max_workers, config.max_workers);
        assert_eq!(settings.file_bytes, config.file_mib << 20);
        assert_eq!(settings.cpu_steps, config.cpu_steps);
        assert_eq!(settings.seed_sleep, config.seed_sleep);
        // Every key has a built-in value (the loader relies on it).
        let empty = Config::from_toml(Some(Path::new("empty.toml")), "").expect("empty file");
        assert_eq!(format!("{empty:?}"), format!("{config:?}"));
    }

    #[test]
    fn errors_point_at_the_value_with_line_and_column() {
        let path = Some(Path::new("c.toml"));
        let fps = Config::from_toml(path, "[ui]\n  fps   =   0\n")
            .unwrap_err()
            .to_string();
        assert!(fps.contains("line 2, column 13"), "{fps}");
        // A conflict points at the second command's value.
        let key = Config::from_toml(path, "[keys]\n\"quit\" = \"q\"\ncpu = \"q\"\n")
            .unwrap_err()
            .to_string();
        assert!(key.contains("line 2, column 10"), "{key}");
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
        // The parser's own position: line 3, at the second '='.
        assert!(
            syntax.starts_with("config my.toml, line 3, column 15:"),
            "{syntax}"
        );
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
    fn the_python_cost_is_a_preset_or_numbers() {
        use crate::lab::python_cost::Preset;
        assert_eq!(Config::default().python_cost.preset(), Some(Preset::Table));
        let light = Config::from_toml(None, "[ui]\npython_ms = \"light\"\n").unwrap();
        assert_eq!(light.python_cost, Preset::Light.cost());
        let table = Config::from_toml(None, "[ui]\npython_ms = \"table\"\n").unwrap();
        assert_eq!(table.python_cost, Preset::Table.cost());
        let bad = Config::from_toml(Some(Path::new("c.toml")), "[ui]\npython_ms = \"heavy\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            bad.starts_with("config c.toml, line 2, column 13: [ui] python_ms = \"heavy\"")
                && bad.contains("table, light")
                && !bad.contains('\n'),
            "{bad}"
        );
    }

    #[test]
    fn the_python_cost_per_key_is_a_ui_key_with_a_range() {
        assert_eq!(Config::default().python_cost, PythonCost::default());
        let set = Config::from_toml(None, "[ui]\npython_ms = 3.5\n").unwrap();
        let refresh = PythonCost::DEFAULT_REFRESH_MS;
        assert_eq!(
            set.python_cost,
            PythonCost::with_refresh(3.5, refresh).unwrap()
        );
        let set = Config::from_toml(None, "[ui]\npython_refresh_ms = 0\n").unwrap();
        let key = PythonCost::DEFAULT_KEY_MS;
        assert_eq!(set.python_cost, PythonCost::from_millis(key).unwrap());
        let bad = Config::from_toml(None, "[ui]\npython_refresh_ms = 1e9\n").unwrap_err();
        assert!(bad.to_string().contains("[ui] python_refresh_ms"), "{bad}");
        let bad = Config::from_toml(Some(Path::new("c.toml")), "[ui]\npython_ms = -2\n")
            .unwrap_err()
            .to_string();
        assert!(
            bad.starts_with("config c.toml, line 2, column 13: [ui] python_ms")
                && bad.contains("0 to 1000"),
            "{bad}"
        );
    }
}
