//! The seed example, as the threading introduction writes it in Python:
//!
//! ```python
//! def print_numbers():
//!     for i in range(5):
//!         print(i); time.sleep(1)
//! t = threading.Thread(target=print_numbers); t.start()
//! for i in range(5, 10):
//!     print(i); time.sleep(1)
//! t.join()
//! ```
//!
//! This worker's own thread plays the main side (5..9) and spawns a real
//! second thread for `print_numbers` (0..4). Printing holds the GIL; sleeping
//! releases it, so the two sides interleave in every mode.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use super::{ConsoleSide, Reporter, WorkError, WorkerCtx};
use crate::cancel::CancelToken;
use crate::gil::GilThread;

fn print_with_sleeps(
    numbers: std::ops::Range<u64>,
    side: ConsoleSide,
    gil: &mut GilThread,
    cancel: &CancelToken,
    report: &mut Reporter,
    printed: &AtomicU64,
    pause: std::time::Duration,
) -> Result<(), WorkError> {
    for n in numbers {
        gil.check()?;
        report.console(side, n.to_string());
        let total = printed.fetch_add(1, Ordering::Relaxed) + 1;
        report.progress(total);
        gil.blocking(|| cancel.sleep(pause))??;
    }
    Ok(())
}

pub(super) fn run(ctx: &mut WorkerCtx) -> Result<(u64, String), WorkError> {
    let pause = ctx.settings.seed_sleep;
    let printed = Arc::new(AtomicU64::new(0));
    ctx.report.set_total(Some(10));

    // t = threading.Thread(target=print_numbers); t.start()
    let mut thread_gil = ctx.gil.gil().register(ctx.cancel.clone());
    ctx.report.lifecycle(super::WorkerEvent::Started {
        id: ctx.id,
        thread: thread_gil.tag(),
        at: std::time::Instant::now(),
    });
    let thread_cancel = ctx.cancel.clone();
    let mut thread_report = ctx.report.clone();
    let thread_printed = Arc::clone(&printed);
    let nice = ctx.settings.nice;
    let helper = thread::Builder::new()
        .name(format!("sleep-{}-t", ctx.id))
        .stack_size(ctx.settings.stack_size)
        .spawn(move || {
            thread_gil.lower_priority(nice);
            let result = thread_gil.enter().map_err(WorkError::from).and_then(|()| {
                print_with_sleeps(
                    0..5,
                    ConsoleSide::Thread,
                    &mut thread_gil,
                    &thread_cancel,
                    &mut thread_report,
                    &thread_printed,
                    pause,
                )
            });
            thread_gil.exit();
            result
        })
        .map_err(|e| WorkError::Failed(format!("cannot spawn the seed's thread: {e}")))?;

    let main_side = print_with_sleeps(
        5..10,
        ConsoleSide::Main,
        &mut ctx.gil,
        &ctx.cancel,
        &mut ctx.report,
        &printed,
        pause,
    );
    // t.join(), with the GIL released as CPython does while joining.
    let joined = ctx.gil.blocking(|| helper.join());
    main_side?;
    match joined? {
        Ok(result) => result?,
        Err(_) => return Err(WorkError::Failed("the seed's thread panicked".into())),
    }
    let count = printed.load(Ordering::Relaxed);
    Ok((count, format!("printed {count} numbers from two threads")))
}
