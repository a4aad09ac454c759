//! Parsers for argument values that both clap definitions use: the main
//! command line (`cli`) and the coordination lab's (`lab_cli`). They live
//! below both so neither imports the other for them.

use crate::gil::model::{PythonVersion, UnknownPythonVersion};
use crate::gil::{IntervalOutOfRange, Mode, SwitchInterval, UnknownMode};

/// A GIL mode: `free`, `gil` or `legacy`.
pub(crate) fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse().map_err(|e: UnknownMode| e.to_string())
}

/// A switch interval in milliseconds, 0.1 to 100.
pub(crate) fn parse_interval(s: &str) -> Result<SwitchInterval, String> {
    s.parse().map_err(|e: IntervalOutOfRange| e.to_string())
}

/// A modelled Python version, `X.Y`.
pub(crate) fn parse_python_version(s: &str) -> Result<PythonVersion, String> {
    s.parse().map_err(|e: UnknownPythonVersion| e.to_string())
}
