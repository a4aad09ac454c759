//! Cooperative cancellation shared by every worker.
//!
//! A [`CancelToken`] is a flag that a worker checks between chunks and steps
//! (one relaxed atomic load, cheap enough for a hot loop) plus a condvar so a
//! worker that sleeps wakes up the moment it is cancelled instead of finishing
//! its nap — the same shape as bottom's `CancellationToken`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Returned by operations that stopped because their token was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

#[derive(Debug, Default)]
struct Shared {
    flag: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

/// A cloneable cancel flag that also wakes sleepers early.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    shared: Arc<Shared>,
}

impl CancelToken {
    /// A fresh, not-cancelled token.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels the token and wakes every thread sleeping on it.
    pub fn cancel(&self) {
        self.shared.flag.store(true, Ordering::Release);
        // Take the lock so a sleeper between its check and its wait cannot miss the wake-up.
        let _guard = self
            .shared
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.shared.wake.notify_all();
    }

    /// True once [`cancel`](Self::cancel) has been called.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.shared.flag.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once cancelled, for `?` in worker loops.
    #[inline]
    pub(crate) fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    /// Sleeps for `duration`, returning early with `Err(Cancelled)` on cancel.
    pub(crate) fn sleep(&self, duration: Duration) -> Result<(), Cancelled> {
        let deadline = Instant::now() + duration;
        let mut guard = self
            .shared
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if self.is_cancelled() {
                return Err(Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            guard = self
                .shared
                .wake
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Joins the threads that end by `deadline` and leaves the others to end
/// on their own (a thread at a low priority on a saturated machine may not
/// run for seconds; an exiting program must not wait for it). Returns how
/// many were left.
pub(crate) fn join_by<T>(handles: Vec<std::thread::JoinHandle<T>>, deadline: Instant) -> usize {
    let mut waiting = handles;
    loop {
        let (done, rest): (Vec<_>, Vec<_>) = waiting.into_iter().partition(|h| h.is_finished());
        for handle in done {
            let _ = handle.join();
        }
        waiting = rest;
        if waiting.is_empty() || Instant::now() >= deadline {
            return waiting.len();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_wakes_early_on_cancel() {
        let token = CancelToken::new();
        let sleeper = token.clone();
        let handle = std::thread::spawn(move || {
            let start = Instant::now();
            let result = sleeper.sleep(Duration::from_secs(30));
            (result, start.elapsed())
        });
        token.cancel();
        let (result, took) = handle.join().expect("sleeper thread");
        assert_eq!(result, Err(Cancelled));
        assert!(took < Duration::from_secs(5), "took {took:?}");
    }

    #[test]
    fn sleep_completes_when_not_cancelled() {
        let token = CancelToken::new();
        assert_eq!(token.sleep(Duration::from_millis(1)), Ok(()));
        assert!(token.check().is_ok());
    }

    #[test]
    fn join_by_joins_the_finished_and_leaves_a_stuck_thread_at_the_deadline() {
        let (release, held) = crossbeam_channel::bounded::<()>(0);
        let stuck = std::thread::spawn(move || {
            let _ = held.recv();
        });
        let quick = std::thread::spawn(|| ());
        let started = Instant::now();
        let left = join_by(vec![stuck, quick], started + Duration::from_millis(50));
        assert_eq!(left, 1, "the stuck thread is left, the quick one joined");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "returned at the deadline, not when the thread ended"
        );
        let _ = release.send(());
    }
}
