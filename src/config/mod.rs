//! The TOML configuration: defaults embedded from `assets/config.toml`
//! (which `threadlab config` prints), overlaid by the user's file, then
//! validated. Every error is one line naming the file, the line and the key.
//!
//! Here: the [`Config`] in force and how it is loaded. `file.rs`: where the
//! file is ([`path_in_effect`], `THREADLAB_CONFIG`) and reading it with a
//! size cap. `validate.rs`: the file's raw shapes, the built-in defaults
//! and [`Config::from_toml`], which checks every value.

mod file;
mod validate;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::gil::{Mode, SwitchInterval};
use crate::lab::python_cost::PythonCost;
use crate::ui::keys::KeyMap;
use crate::ui::theme::ThemeName;
use crate::work::FetchTarget;

pub use file::path_in_effect;
pub(crate) use file::{default_path, given_path};

/// The default configuration, documented.
pub const DEFAULT_TOML: &str = include_str!("../../assets/config.toml");

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
    /// Python work modelled per key and per refresh while the UI is under the GIL.
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

impl Config {
    /// Loads `path` (--config) or THREADLAB_CONFIG if given (it must
    /// exist), else the default path if a file is there, else the built-in
    /// defaults.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let chosen = match given_path(path) {
            Some(path) => Some(path),
            None => default_path().filter(|p| p.is_file()),
        };
        match chosen {
            Some(path) => {
                let text = file::read_capped(&path)?;
                Self::from_toml(Some(&path), &text)
            }
            None => Self::from_toml(None, ""),
        }
    }
}
