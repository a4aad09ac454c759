//! The race's loop bodies — `counter += 1`, `counter = inc(counter)` and
//! `with lock: counter += 1` — as the bytecode one iteration runs, named
//! after CPython's instructions ([`Op`]).

use std::fmt;
use std::str::FromStr;

use crate::gil::model::{EvalBreakerModel, Op};

/// The loop body each thread runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Body {
    /// `counter += 1`
    Plain,
    /// `counter = inc(counter)`: a call between the load and the store.
    Call,
    /// `with lock: counter += 1`
    Locked,
}

impl Body {
    /// Every body, in the order shown.
    pub const ALL: [Body; 3] = [Body::Plain, Body::Call, Body::Locked];

    /// The name as typed.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Body::Plain => "plain",
            Body::Call => "call",
            Body::Locked => "locked",
        }
    }

    /// The Python source of the body.
    pub fn source(self) -> &'static str {
        match self {
            Body::Plain => "counter += 1",
            Body::Call => "counter = inc(counter)",
            Body::Locked => "with lock: counter += 1",
        }
    }

    /// How many times one iteration looks at the eval breaker under
    /// `model`: for Python 2 ([`EvalBreakerModel::Ticks`]), its ticks.
    pub fn checks_per_iteration(self, model: EvalBreakerModel) -> usize {
        self.program()
            .iter()
            .filter(|op| model.checks_after(**op))
            .count()
    }

    /// One loop iteration as bytecode, from `FOR_ITER` to the jump back.
    pub(crate) fn program(self) -> &'static [Op] {
        use Op::*;
        match self {
            Body::Plain => &[
                ForIter,
                StoreFast,
                LoadCounter,
                LoadConst,
                Add,
                StoreCounter,
                JumpBackward,
            ],
            Body::Call => &[
                ForIter,
                StoreFast,
                LoadGlobal,
                LoadCounter,
                Call,
                Resume,
                LoadFast,
                LoadConst,
                Add,
                Return,
                StoreCounter,
                JumpBackward,
            ],
            Body::Locked => &[
                ForIter,
                StoreFast,
                Acquire,
                LoadCounter,
                LoadConst,
                Add,
                StoreCounter,
                Release,
                JumpBackward,
            ],
        }
    }
}

impl fmt::Display for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Body {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Body::ALL
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown loop body '{s}': expected one of plain, call, locked"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gil::model::PythonVersion;

    /// Python 2's ticks per iteration, as CPython 2.7.18 here counts them
    /// on `_Py_Ticker` (tests/python2_ticks.rs reads them from the real
    /// interpreter): 5 for `counter += 1`, 8 for `counter = inc(counter)`.
    #[test]
    fn python_2_ticks_per_iteration_are_2_7_18s() {
        let model = PythonVersion::PY27.model();
        assert_eq!(Body::Plain.checks_per_iteration(model), 5);
        assert_eq!(Body::Call.checks_per_iteration(model), 8);
        // 3.2 – 3.9 still look after the call and at the callee's return.
        let old = EvalBreakerModel::EveryInstruction;
        assert_eq!(Body::Call.checks_per_iteration(old), 9);
    }
}
