//! Where the configuration file is ([`path_in_effect`]: `--config`, else
//! `THREADLAB_CONFIG`, else the platform's config directory) and reading
//! it as text, refusing a file far larger than any configuration.

use std::path::{Path, PathBuf};

use super::ConfigError;

/// Where the config file is looked up when `--config` is not given.
pub(crate) fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "threadlab")
        .map(|dirs| dirs.config_dir().join("config.toml"))
}

/// The largest config file read (the defaults, documented, are ~4 KiB).
pub(crate) const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads `path` as UTF-8, refusing more than [`MAX_CONFIG_BYTES`] (so
/// `--config /dev/zero` is an error, not a process eating memory).
pub(super) fn read_capped(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read as _;
    let fail = |message: String| ConfigError {
        file: path.display().to_string(),
        line: String::new(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read it: {e}")))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(fail(format!(
            "larger than {} KiB; a config file is a few lines of TOML (threadlab config prints one)",
            MAX_CONFIG_BYTES >> 10
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        fail(format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// The environment variable naming the config file when --config is not
/// given (empty counts as unset).
pub(crate) const CONFIG_ENV: &str = "THREADLAB_CONFIG";

/// The config file asked for: `flag` (--config), else a non-empty
/// THREADLAB_CONFIG.
pub(crate) fn given_path(flag: Option<&Path>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf).or_else(|| {
        std::env::var_os(CONFIG_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// The config file a command reads: the one asked for ([`given_path`]),
/// else the default path (which may not exist).
pub fn path_in_effect(flag: Option<&Path>) -> Option<PathBuf> {
    given_path(flag).or_else(default_path)
}
