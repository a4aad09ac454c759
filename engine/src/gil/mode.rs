//! The emulation's settings: which lock ([`Mode`]) and how long a waiter
//! lets the holder run before asking for the GIL ([`SwitchInterval`]), both
//! parsed from what a user types with a clear error otherwise.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Which lock, if any, threads must hold to run "Python".
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No lock: threads run in parallel.
    #[default]
    Free,
    /// CPython 3.2+'s GIL with a switch interval and forced switching.
    Gil,
    /// Python 2's GIL: release and re-take every N ticks.
    Legacy,
}

impl Mode {
    /// Every mode, in the order they are shown.
    pub const ALL: [Mode; 3] = [Mode::Free, Mode::Gil, Mode::Legacy];

    /// The mode's name as typed on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Free => "free",
            Mode::Gil => "gil",
            Mode::Legacy => "legacy",
        }
    }

    pub(super) fn to_u8(self) -> u8 {
        match self {
            Mode::Free => 0,
            Mode::Gil => 1,
            Mode::Legacy => 2,
        }
    }

    pub(super) fn from_u8(v: u8) -> Mode {
        match v {
            1 => Mode::Gil,
            2 => Mode::Legacy,
            _ => Mode::Free,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for a mode name that is not one of `free`, `gil`, `legacy`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown GIL mode '{0}': expected one of free, gil, legacy")]
pub struct UnknownMode(pub String);

impl FromStr for Mode {
    type Err = UnknownMode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownMode(s.to_string()))
    }
}

/// CPython's switch interval (`sys.setswitchinterval`), kept within 0.1–100 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SwitchInterval(pub(super) Duration);

/// The error for a switch interval outside 0.1–100 ms.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "switch interval {0} ms is out of range: expected a number of milliseconds from 0.1 to 100"
)]
pub struct IntervalOutOfRange(pub String);

impl SwitchInterval {
    /// The shortest interval allowed: 0.1 ms.
    pub const MIN: SwitchInterval = SwitchInterval(Duration::from_micros(100));
    /// The longest interval allowed: 100 ms.
    pub const MAX: SwitchInterval = SwitchInterval(Duration::from_millis(100));
    /// CPython's default: 5 ms.
    pub const DEFAULT: SwitchInterval = SwitchInterval(Duration::from_millis(5));

    /// An interval of `ms` milliseconds, if within range.
    pub fn from_millis_f64(ms: f64) -> Result<Self, IntervalOutOfRange> {
        let min = Self::MIN.as_millis_f64();
        let max = Self::MAX.as_millis_f64();
        if !ms.is_finite() || ms < min - 1e-9 || ms > max + 1e-9 {
            return Err(IntervalOutOfRange(format!("{ms}")));
        }
        Ok(Self(Duration::from_secs_f64(ms / 1000.0)))
    }

    /// The interval as a `Duration`.
    pub fn duration(self) -> Duration {
        self.0
    }

    /// The interval in milliseconds.
    pub fn as_millis_f64(self) -> f64 {
        self.0.as_secs_f64() * 1000.0
    }

    /// Half as long, not below [`MIN`](Self::MIN).
    pub fn halved(self) -> Self {
        Self((self.0 / 2).max(Self::MIN.0))
    }

    /// Twice as long, not above [`MAX`](Self::MAX).
    pub fn doubled(self) -> Self {
        Self((self.0 * 2).min(Self::MAX.0))
    }
}

impl Default for SwitchInterval {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl FromStr for SwitchInterval {
    type Err = IntervalOutOfRange;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ms: f64 = s
            .trim()
            .parse()
            .map_err(|_| IntervalOutOfRange(s.to_string()))?;
        Self::from_millis_f64(ms)
    }
}
