//! What a Python UI would spend in Python: with "UI under the GIL" on, the
//! UI thread runs a modelled amount of interpreted work for each key it
//! handles and each frame it draws, so forced switches interrupt it as they
//! interrupt a Python TUI's handlers and rendering.
//!
//! The work is the engine's CPU step (one "bytecode", the cpu workers' own
//! [`cpu_step`]) with the eval-breaker check ([`GilThread::check`]) between
//! steps. Milliseconds become steps with this machine's step rate, measured
//! once per process ([`steps_per_ms`]), so "12 ms" is 12 ms of work here.
//!
//! The default is calibrated from a real Textual dashboard
//! (`benches/ui_gil.rs`, BENCHMARKS.md): [`PythonCost::DEFAULT_MS`] per key,
//! of which [`FRAME_SHARE`] is the frame that shows it; every frame the UI
//! draws, with or without a key, costs that frame share.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Instant;

use crate::cancel::CancelToken;
use crate::gil::{Gil, GilThread, Mode, SwitchInterval};
use crate::work::cpu_step;

/// The share of a key's cost that is the frame showing it (and what any
/// other frame costs).
pub const FRAME_SHARE: f64 = 0.25;

/// The most Python per key that can be configured, in ms.
pub const MAX_MS: f64 = 1000.0;

/// Modelled Python time per key (its handler plus its frame), in ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PythonCost(f64);

/// A cost outside 0 to [`MAX_MS`] ms, or not a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Python cost per key {0:?} is not a number of milliseconds from 0 to 1000")]
pub struct CostOutOfRange(pub String);

impl PythonCost {
    /// The calibrated default, ms per key (BENCHMARKS.md, "UI under the GIL, calibrated").
    pub const DEFAULT_MS: f64 = 12.0;

    /// No modelled cost: the Rust UI's own microseconds only.
    pub const NONE: Self = Self(0.0);

    /// `ms` of Python per key, 0 to [`MAX_MS`].
    pub fn from_millis(ms: f64) -> Result<Self, CostOutOfRange> {
        if ms.is_finite() && (0.0..=MAX_MS).contains(&ms) {
            Ok(Self(ms))
        } else {
            Err(CostOutOfRange(ms.to_string()))
        }
    }

    /// Per key, handler and frame together, in ms.
    pub fn per_key_ms(self) -> f64 {
        self.0
    }

    /// Per frame drawn, in ms.
    pub fn per_frame_ms(self) -> f64 {
        self.0 * FRAME_SHARE
    }

    /// The key handler's part, in ms.
    pub fn handler_ms(self) -> f64 {
        self.0 - self.per_frame_ms()
    }
}

impl Default for PythonCost {
    fn default() -> Self {
        Self(Self::DEFAULT_MS)
    }
}

impl fmt::Display for PythonCost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // "12", "2.5", "0.25": no trailing zeros.
        let text = format!("{:.2}", self.0);
        let text = text.trim_end_matches('0').trim_end_matches('.');
        write!(f, "{text} ms")
    }
}

impl FromStr for PythonCost {
    type Err = CostOutOfRange;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let ms = text.strip_suffix("ms").unwrap_or(text).trim();
        ms.parse::<f64>()
            .map_err(|_| CostOutOfRange(s.to_string()))
            .and_then(Self::from_millis)
    }
}

/// Emulated steps per millisecond on this machine: the fastest of a few
/// short timed runs of the same loop the UI runs (a step and a check, here
/// on a private GIL in `free` mode), measured once per process.
pub fn steps_per_ms() -> u64 {
    static RATE: OnceLock<u64> = OnceLock::new();
    *RATE.get_or_init(|| {
        const STEPS: u64 = 20_000;
        let mut thread = Gil::new(Mode::Free, SwitchInterval::DEFAULT).register(CancelToken::new());
        let mut state = 0x2545_F491_4F6C_DD1D;
        let mut best = f64::MAX;
        for _ in 0..7 {
            let started = Instant::now();
            for _ in 0..STEPS {
                if thread.check().is_err() {
                    break;
                }
                state = cpu_step(state);
            }
            best = best.min(started.elapsed().as_secs_f64());
        }
        thread.exit();
        std::hint::black_box(state);
        ((STEPS as f64 / (best * 1000.0)) as u64).max(1)
    })
}

/// The modelled work in steps, and what has been executed.
#[derive(Debug, Clone)]
pub struct PythonWork {
    key_steps: u64,
    frame_steps: u64,
    executed: u64,
    state: u64,
}

impl PythonWork {
    /// `cost` in steps at `rate` steps per ms.
    pub fn new(cost: PythonCost, rate: u64) -> Self {
        let steps = |ms: f64| (ms * rate as f64).round() as u64;
        Self {
            key_steps: steps(cost.handler_ms()),
            frame_steps: steps(cost.per_frame_ms()),
            executed: 0,
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Steps run for each key handled.
    pub fn key_steps(&self) -> u64 {
        self.key_steps
    }

    /// Steps run for each frame drawn.
    pub fn frame_steps(&self) -> u64 {
        self.frame_steps
    }

    /// Steps executed so far.
    pub fn executed(&self) -> u64 {
        self.executed
    }

    /// A key's handler, run by `thread` (which takes the GIL if it must).
    pub fn key(&mut self, thread: &mut GilThread) {
        self.run(thread, self.key_steps);
    }

    /// A frame's rendering, run by `thread`.
    pub fn frame(&mut self, thread: &mut GilThread) {
        self.run(thread, self.frame_steps);
    }

    /// `steps` steps with the eval-breaker check before each, as the cpu
    /// workers run them. The UI's token is never cancelled, but a
    /// cancelled check would end the work early rather than hang.
    fn run(&mut self, thread: &mut GilThread, steps: u64) {
        let mut state = self.state;
        for _ in 0..steps {
            if thread.check().is_err() {
                break;
            }
            state = cpu_step(state);
            self.executed += 1;
        }
        self.state = state;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_bounds_the_cost() {
        assert_eq!("12".parse::<PythonCost>(), PythonCost::from_millis(12.0));
        assert_eq!("2.5 ms".parse::<PythonCost>(), PythonCost::from_millis(2.5));
        assert!("-1".parse::<PythonCost>().is_err());
        assert!("1001".parse::<PythonCost>().is_err());
        assert!("NaN".parse::<PythonCost>().is_err());
        assert!("twelve".parse::<PythonCost>().is_err());
        assert_eq!(PythonCost::default().to_string(), "12 ms");
        assert_eq!(
            PythonCost::from_millis(2.5).map(|c| c.to_string()),
            Ok("2.5 ms".into())
        );
    }

    #[test]
    fn the_split_adds_up_to_the_key_cost() {
        let cost = PythonCost::from_millis(8.0).expect("in range");
        assert_eq!(cost.per_frame_ms(), 2.0);
        assert_eq!(cost.handler_ms() + cost.per_frame_ms(), 8.0);
        let work = PythonWork::new(cost, 1000);
        assert_eq!((work.key_steps(), work.frame_steps()), (6000, 2000));
    }

    #[test]
    fn runs_exactly_its_steps_under_a_held_gil() {
        let gil = Gil::new(Mode::Gil, SwitchInterval::DEFAULT);
        let mut thread = gil.register(CancelToken::new());
        let mut work = PythonWork::new(PythonCost::from_millis(4.0).expect("in range"), 100);
        work.key(&mut thread);
        assert!(thread.is_holding(), "the work takes the GIL");
        work.frame(&mut thread);
        assert_eq!(work.executed(), 300 + 100);
        assert!(steps_per_ms() > 0);
        thread.exit();
    }
}
