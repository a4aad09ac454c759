//! Where a GIL holder can be made to let go: the eval-breaker model.
//!
//! CPython's eval loop does not look at its eval breaker (the drop request,
//! pending signals, …) before every instruction, and where it looks changed
//! over the versions. That decides whether `counter += 1` on a shared global
//! can lose updates under the GIL:
//!
//! | interpreter | where the holder looks | `counter += 1` |
//! |---|---|---|
//! | 2.x (`legacy`) | a tick at every instruction that was not fast-dispatched (as 3.2 – 3.9 look), counted: with the check interval of 100 it releases every 101 ticks | loses updates |
//! | 3.2 – 3.9 | at the top of every instruction that was dispatched the slow way (`DISPATCH()`); those ending in `FAST_DISPATCH()` — `LOAD_FAST`, `LOAD_CONST`, `STORE_FAST` — skip it | loses updates: it can switch between the load and the store |
//! | 3.10 + | only at backward jumps, calls and function entry (`RESUME`) | loses none: nothing between the load and the store looks |
//!
//! The race lab ([`crate::sync::race`]) runs its loop bodies as sequences
//! of [`Op`]s and calls [`GilThread::check`](super::GilThread::check) after
//! each op for which [`EvalBreakerModel::checks_after`] says so.

use std::fmt;
use std::str::FromStr;

use super::Mode;

/// One emulated bytecode instruction, named after CPython's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    /// `FOR_ITER`: the loop's next step (the run may stop here).
    ForIter,
    /// `STORE_FAST`: the loop variable.
    StoreFast,
    /// `LOAD_FAST`: a local (a function's argument).
    LoadFast,
    /// `LOAD_CONST`: the constant `1`.
    LoadConst,
    /// `LOAD_GLOBAL` of something else than the counter (the function `inc`).
    LoadGlobal,
    /// `LOAD_GLOBAL counter`: reads the shared counter.
    LoadCounter,
    /// `BINARY_OP +` / `INPLACE_ADD`: adds one to the loaded value.
    Add,
    /// `STORE_GLOBAL counter`: writes the shared counter.
    StoreCounter,
    /// `CALL`: calls `inc`.
    Call,
    /// `RESUME`: the entry of the called function.
    Resume,
    /// `RETURN_VALUE`: leaves `inc`.
    Return,
    /// `JUMP_BACKWARD` / `JUMP_ABSOLUTE`: back to the top of the loop.
    JumpBackward,
    /// `with lock:` entry — a call of `lock.__enter__`, which may block.
    Acquire,
    /// `with lock:` exit — a call of `lock.__exit__`.
    Release,
}

impl Op {
    /// True for instructions CPython 2.7 – 3.9 end with `FAST_DISPATCH()`
    /// (2.7: `goto fast_next_opcode`), which goes on to the next
    /// instruction without looking at the eval breaker (or counting a tick).
    pub(crate) fn is_fast_dispatch(self) -> bool {
        matches!(self, Op::LoadFast | Op::LoadConst | Op::StoreFast)
    }

    /// True for instructions that call a function.
    pub(crate) fn is_call(self) -> bool {
        matches!(self, Op::Call | Op::Acquire | Op::Release)
    }
}

/// Where an interpreter looks at its eval breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EvalBreakerModel {
    /// Python 2: a tick where 2.7's eval loop passes `--_Py_Ticker`, i.e.
    /// after every instruction not fast-dispatched, except that a call
    /// ticks once its callee has returned (`CALL_FUNCTION` ends with
    /// `continue`; the callee's `RETURN_VALUE` leaves its frame without a
    /// tick, and its frame's first instruction has one). The holder
    /// releases and re-takes the lock every `ticks + 1` ticks
    /// (`sys.setcheckinterval`, 100 by default). The tick counting itself
    /// lives in [`GilThread::check`](super::GilThread::check) (legacy mode).
    ///
    /// Counted on CPython 2.7.18 here by reading `_Py_Ticker` (ctypes)
    /// around a loop: `counter += 1` 5 ticks an iteration, `counter =
    /// inc(counter)` 8. `FOR_ITER` ticks: 2.7 built with computed gotos
    /// (gcc, 2.7.11+, as pyenv's) compiles `PREDICT()` to nothing, so its
    /// jump past the ticker to `STORE_FAST` is never taken (a 2.7 built
    /// without them, e.g. 2.7.8's switch loop, predicts it: 4 and 7).
    Ticks(u32),
    /// CPython 3.2 – 3.9: after every instruction not fast-dispatched.
    EveryInstruction,
    /// CPython 3.10+: only at backward jumps, calls and function entry.
    JumpsAndCalls,
}

impl EvalBreakerModel {
    /// True if the interpreter looks at the eval breaker right after `op`
    /// (before the next instruction runs): only there can it drop the GIL.
    pub(crate) fn checks_after(self, op: Op) -> bool {
        match self {
            // The call's tick comes after the callee returned: modelled at
            // `Return`, where the callee's own return has none.
            EvalBreakerModel::Ticks(_) => !op.is_fast_dispatch() && op != Op::Call,
            EvalBreakerModel::EveryInstruction => !op.is_fast_dispatch(),
            EvalBreakerModel::JumpsAndCalls => {
                op.is_call() || matches!(op, Op::JumpBackward | Op::Resume)
            }
        }
    }

    /// Python 2 only: how many ticks one hold of the lock lasts. CPython 2.7
    /// releases when `--_Py_Ticker < 0`, so a check interval of 100 means a
    /// release every 101 ticks — which is why, over many holds, the release
    /// point walks through every position of a short loop body instead of
    /// always landing on the same instruction.
    pub(crate) fn ticks_per_release(self) -> Option<u32> {
        match self {
            EvalBreakerModel::Ticks(n) => Some(n + 1),
            _ => None,
        }
    }

    /// One line saying where the holder looks.
    pub fn describe(self) -> String {
        match self {
            EvalBreakerModel::Ticks(n) => {
                format!(
                    "every {} ticks (Python 2: a tick per instruction not fast-dispatched)",
                    n + 1
                )
            }
            EvalBreakerModel::EveryInstruction => {
                "at the top of almost every instruction (3.2 – 3.9)".to_string()
            }
            EvalBreakerModel::JumpsAndCalls => {
                "only at backward jumps, calls and function entry (3.10+)".to_string()
            }
        }
    }
}

/// A CPython version `X.Y` whose eval-breaker model to emulate: 2.7 or 3.2
/// to 3.14.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PythonVersion {
    major: u8,
    minor: u8,
}

/// The error for a version that is not `2.7` or `3.2` … `3.14`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown Python version '{0}': expected X.Y, one of 2.7 or 3.2 to 3.14")]
pub struct UnknownPythonVersion(pub String);

impl PythonVersion {
    /// The version used when none is given: 3.12.
    pub const DEFAULT: PythonVersion = PythonVersion {
        major: 3,
        minor: 12,
    };
    /// Python 2.7, the model of `legacy` mode.
    pub const PY27: PythonVersion = PythonVersion { major: 2, minor: 7 };

    /// `major.minor`, if it is one the emulation models.
    pub fn new(major: u8, minor: u8) -> Result<Self, UnknownPythonVersion> {
        match (major, minor) {
            (2, 7) | (3, 2..=14) => Ok(Self { major, minor }),
            _ => Err(UnknownPythonVersion(format!("{major}.{minor}"))),
        }
    }

    /// The major version (2 or 3).
    pub fn major(self) -> u8 {
        self.major
    }

    /// Where this version looks at its eval breaker.
    pub fn model(self) -> EvalBreakerModel {
        match (self.major, self.minor) {
            (2, _) => EvalBreakerModel::Ticks(super::CHECK_INTERVAL),
            (3, m) if m <= 9 => EvalBreakerModel::EveryInstruction,
            _ => EvalBreakerModel::JumpsAndCalls,
        }
    }

    /// The version whose model `mode` runs: `legacy` is always Python 2.7;
    /// `gil` and `free` keep this one.
    pub(crate) fn for_mode(self, mode: Mode) -> Self {
        if mode == Mode::Legacy {
            Self::PY27
        } else {
            self
        }
    }
}

impl Default for PythonVersion {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for PythonVersion {
    type Err = UnknownPythonVersion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || UnknownPythonVersion(s.to_string());
        let (major, minor) = s.trim().split_once('.').ok_or_else(bad)?;
        let major: u8 = major.parse().map_err(|_| bad())?;
        let minor: u8 = minor.parse().map_err(|_| bad())?;
        Self::new(major, minor).map_err(|_| bad())
    }
}

impl serde::Serialize for PythonVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PythonVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_with_a_clear_error() {
        assert_eq!("3.12".parse::<PythonVersion>(), Ok(PythonVersion::DEFAULT));
        assert_eq!(" 2.7 ".parse::<PythonVersion>(), Ok(PythonVersion::PY27));
        assert_eq!("3.2".parse::<PythonVersion>().map(|v| v.minor), Ok(2));
        assert_eq!("3.14".parse::<PythonVersion>().map(|v| v.minor), Ok(14));
        for bad in ["3.1", "3.15", "2.6", "4.0", "3", "3.x", "", "3.12.1"] {
            let err = bad.parse::<PythonVersion>().expect_err(bad).to_string();
            assert!(err.contains("2.7 or 3.2 to 3.14"), "{bad}: {err}");
        }
        assert_eq!(PythonVersion::default().to_string(), "3.12");
    }

    #[test]
    fn each_version_gets_its_model() {
        let model = |s: &str| s.parse::<PythonVersion>().expect("version").model();
        assert_eq!(model("2.7"), EvalBreakerModel::Ticks(100));
        assert_eq!(model("3.2"), EvalBreakerModel::EveryInstruction);
        assert_eq!(model("3.9"), EvalBreakerModel::EveryInstruction);
        assert_eq!(model("3.10"), EvalBreakerModel::JumpsAndCalls);
        assert_eq!(model("3.14"), EvalBreakerModel::JumpsAndCalls);
        assert_eq!(
            PythonVersion::DEFAULT.for_mode(Mode::Legacy),
            PythonVersion::PY27
        );
        assert_eq!(
            PythonVersion::DEFAULT.for_mode(Mode::Gil),
            PythonVersion::DEFAULT
        );
    }

    #[test]
    fn only_old_models_look_between_load_and_store() {
        // The ops strictly between LOAD_GLOBAL counter and STORE_GLOBAL
        // counter in `counter += 1`.
        let between = [Op::LoadCounter, Op::LoadConst, Op::Add];
        let looks = |m: EvalBreakerModel| between.iter().any(|op| m.checks_after(*op));
        assert!(looks(EvalBreakerModel::Ticks(100)));
        assert!(looks(EvalBreakerModel::EveryInstruction));
        assert!(!looks(EvalBreakerModel::JumpsAndCalls));
        let new = EvalBreakerModel::JumpsAndCalls;
        assert!(new.checks_after(Op::Call) && new.checks_after(Op::Resume));
        assert!(new.checks_after(Op::JumpBackward));
    }
}
