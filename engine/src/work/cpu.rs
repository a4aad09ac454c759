//! The cpu worker: a fixed amount of integer work in small steps.
//!
//! One step stands for one Python bytecode: a few rounds of xorshift mixing,
//! tens of nanoseconds. Between steps the worker makes the eval-breaker check
//! (drop request, mode switch, cancel), exactly where CPython would.

use std::hint::black_box;

use super::{WorkError, WorkerCtx};

/// Steps between two progress reports (and two clock reads).
pub(crate) const STEPS_PER_REPORT: u64 = 4096;

/// One round of Marsaglia's xorshift64 (shifts 13, 7, 17): the engine's only
/// copy, used for CPU work here and for the file worker's bytes.
#[inline]
pub fn xorshift64(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// One "bytecode" of CPU work: six rounds of [`xorshift64`], pure integer
/// mixing the optimiser cannot skip (the Python script does the same).
#[inline]
pub fn cpu_step(state: u64) -> u64 {
    let mut x = state;
    for _ in 0..6 {
        x = xorshift64(x);
    }
    black_box(x)
}

pub(super) fn run(ctx: &mut WorkerCtx) -> Result<(u64, String), WorkError> {
    let total = ctx.settings.cpu_steps;
    ctx.report.set_total(Some(total));
    let mut state = 0x9E37_79B9_7F4A_7C15 ^ ctx.id;
    let mut done = 0;
    while done < total {
        let batch = STEPS_PER_REPORT.min(total - done);
        for _ in 0..batch {
            ctx.gil.check()?;
            state = cpu_step(state);
        }
        done += batch;
        ctx.report.progress(done);
        if ctx.gil.gil().mode() == crate::gil::Mode::Free {
            // Free-running CPU threads would otherwise keep the UI and input
            // threads waiting a whole timeslice for a core (BENCHMARKS.md).
            std::thread::yield_now();
        }
        if ctx.settings.cpu_panic_fault && done >= total / 2 {
            panic!(
                "fault injection: cpu worker {} panicked halfway (--fault worker-panic)",
                ctx.id
            );
        }
    }
    Ok((done, format!("{done} steps, checksum {:016x}", state)))
}
