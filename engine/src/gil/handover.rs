//! The new GIL's hand-over protocol: CPython's `take_gil` and `drop_gil`
//! (`Python/ceval_gil.c`) and the eval breaker's forced switch, plus the
//! dispatch that takes or releases whichever lock the mode in force uses.
//!
//! These are one state machine over one mutex ([`Core`]) and two condvars,
//! read side by side with `ceval_gil.c`, so they stay together in this one
//! file; [`GilThread`]'s public face (`enter`, `check`, `blocking`, `exit`)
//! and its lanes are in `mod.rs`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::pthread::PthreadGuard;
use super::{GilThread, Mode, Shared, ThreadTag, Transition};
use crate::cancel::Cancelled;

/// The new GIL's state, behind `Shared::core` (CPython's `gil->mutex`):
/// whether it is locked, by whom last, how many switches so far, and who
/// waits for it or for a switch.
#[derive(Debug, Default)]
pub(super) struct Core {
    locked: bool,
    last_holder: ThreadTag,
    switch_number: u64,
    waiters: u32,
    switch_waiters: u32,
}

/// How a thread lets go of the GIL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Release {
    /// To run without it for a while (I/O, a mode change).
    Ordinary,
    /// Because another thread asked: the thread goes on waiting to re-take it.
    Forced,
    /// For good: the thread ends.
    Final,
}

/// What one attempt of [`GilThread::take_gil`] ended with.
enum Taken {
    Yes,
    RunFree,
    ModeChanged,
}

impl GilThread {
    /// The eval breaker's forced switch: the GIL is dropped for the waiter
    /// that asked (waiting until it took it), then queued for again. As
    /// CPython's eval breaker goes straight to `drop_gil`, nothing comes
    /// before the release: it is counted and marked once the waiter has
    /// been signalled ([`drop_new_gil`](Self::drop_new_gil)).
    pub(super) fn forced_switch(&mut self) -> Result<(), Cancelled> {
        // No longer holding: waiting to run again, even if it gets the GIL
        // straight back (then the wait lasts microseconds).
        self.release(Release::Forced, Some(Transition::Wait));
        self.take()
    }

    /// Takes the lock of the mode in force (none in `free` mode).
    pub(super) fn take(&mut self) -> Result<(), Cancelled> {
        if self.holding {
            return Ok(());
        }
        loop {
            let taken = match self.gil.mode() {
                Mode::Free => self.take_gil(),
                Mode::Gil => self.take_gil(),
                Mode::Legacy => self.take_legacy(),
            }?;
            if taken {
                return Ok(());
            }
        }
    }

    /// Python 2's `PyThread_acquire_lock(interpreter_lock, 1)`. Returns
    /// false if the mode changed while waiting (the caller re-dispatches).
    fn take_legacy(&mut self) -> Result<bool, Cancelled> {
        let shared = Arc::clone(&self.gil.shared);
        let lock = &shared.legacy;
        let mut waited = false;
        loop {
            let seen = match lock.try_acquire() {
                Ok(()) => break,
                Err(seen) => seen,
            };
            if self.cancel.is_cancelled() {
                return Err(Cancelled);
            }
            if shared.mode.load(Ordering::Acquire) != Mode::Legacy.to_u8() {
                return Ok(false);
            }
            if !waited {
                waited = true;
                self.start_waiting();
            }
            lock.sleep(seen);
        }
        if lock.last_holder.swap(self.tag, Ordering::Relaxed) != self.tag {
            shared.switches.fetch_add(1, Ordering::Relaxed);
            self.stats.count_switch();
        }
        self.holding = true;
        self.holding_legacy = true;
        self.legacy_since = std::time::Instant::now();
        self.set_lane(Transition::Hold);
        Ok(true)
    }

    /// CPython's `take_gil`. Returns false if the mode changed to `legacy`
    /// while waiting; in `free` mode it returns true holding nothing.
    fn take_gil(&mut self) -> Result<bool, Cancelled> {
        let shared = Arc::clone(&self.gil.shared);
        let core = shared.core.lock();
        let (outcome, core) = self.wait_for_gil(&shared, core);
        match outcome {
            Ok(Taken::Yes) => {
                self.hold_new_gil(&shared, core);
                Ok(true)
            }
            Ok(Taken::RunFree) => {
                drop(core);
                self.set_lane(Transition::Run);
                Ok(true)
            }
            Ok(Taken::ModeChanged) => Ok(false),
            Err(cancelled) => Err(cancelled),
        }
    }

    /// `take_gil`'s wait loop: sleeps on the GIL's condvar one switch
    /// interval at a time, asking the holder to drop it when a wait times
    /// out with no switch meanwhile, until the GIL is free, the mode no
    /// longer wants it, or the thread is cancelled. Returns with the core
    /// still locked, so a free GIL is taken before anyone else can.
    fn wait_for_gil<'a>(
        &mut self,
        shared: &'a Shared,
        mut core: PthreadGuard<'a, Core>,
    ) -> (Result<Taken, Cancelled>, PthreadGuard<'a, Core>) {
        let mut waiting = false;
        // Whether this thread set the drop request while waiting. As in
        // CPython, it matters only when the thread leaves without the GIL
        // (gh-96387): a new holder clears any request anyway.
        let mut drop_requested = false;
        let outcome = loop {
            if self.cancel.is_cancelled() {
                // CPython's thread-exit path (gh-96387): a waiter that gives
                // up takes back its request, or the holder would drop the
                // GIL for nobody. Another waiter's request goes too; that
                // waiter asks again after its next timeout.
                if drop_requested {
                    shared.drop_request.store(false, Ordering::Relaxed);
                }
                break Err(Cancelled);
            }
            let mode = Mode::from_u8(shared.mode.load(Ordering::Acquire));
            if mode == Mode::Free {
                break Ok(Taken::RunFree);
            }
            if mode == Mode::Legacy {
                break Ok(Taken::ModeChanged);
            }
            if !core.locked {
                break Ok(Taken::Yes);
            }
            if !waiting {
                waiting = true;
                core.waiters += 1;
                self.start_waiting();
            }
            let saved_switch = core.switch_number;
            let interval = Duration::from_nanos(shared.interval_ns.load(Ordering::Relaxed));
            let (guard, timed_out) = shared.cond.wait_timeout(core, interval);
            core = guard;
            // Timed out, still locked, and nobody switched meanwhile:
            // ask the holder to drop it.
            if timed_out
                && core.locked
                && core.switch_number == saved_switch
                && shared.mode.load(Ordering::Relaxed) == Mode::Gil.to_u8()
            {
                drop_requested = true;
                // Marked before it is asked, so that from the request on
                // this thread goes straight back to sleep, as CPython's does.
                if !shared.drop_request.load(Ordering::Acquire) {
                    self.stats.count_drop_request();
                    self.mark(Transition::DropRequest);
                }
                shared.drop_request.store(true, Ordering::Release);
            }
        };
        if waiting {
            core.waiters -= 1;
        }
        (outcome, core)
    }

    /// The end of `take_gil` once the GIL is free: this thread locks it,
    /// counts a switch if it was not the last holder, wakes a forced dropper
    /// waiting for the switch, clears any drop request and turns its lane to
    /// `Hold`, all before the core's lock is let go.
    fn hold_new_gil(&mut self, shared: &Shared, mut core: PthreadGuard<'_, Core>) {
        core.locked = true;
        if core.last_holder != self.tag {
            core.last_holder = self.tag;
            core.switch_number += 1;
            shared.switches.fetch_add(1, Ordering::Relaxed);
            self.stats.count_switch();
        }
        if core.switch_waiters > 0 {
            shared.switch_cond.notify_all();
        }
        // Whoever asked, the new holder is not asked to drop at once:
        // CPython 3.2-3.12 `take_gil` runs RESET_GIL_DROP_REQUEST
        // after its wait loop whenever the request is set, and 3.13+
        // keeps the request as a bit on the holder's thread state,
        // which a new holder clears for itself. A thread that barged
        // in keeps the GIL for an interval; a waiter that lost the
        // race asks again after its next timeout.
        shared.drop_request.store(false, Ordering::Relaxed);
        // Stamped while the GIL's lock is held, as the release is:
        // no other thread can take or drop in between.
        self.holding = true;
        self.holding_legacy = false;
        self.set_lane(Transition::Hold);
        drop(core);
    }

    /// Releases whichever lock this thread holds; its lane turns `next`.
    pub(super) fn drop_gil(&mut self, next: Option<Transition>) {
        self.release(Release::Ordinary, next);
    }

    /// Releases whichever lock this thread holds, as `release` says. The
    /// lane turns `next` (if any) at the moment the release began, so the
    /// hold ends where CPython's `drop_gil` probe would stamp it and its
    /// time never includes a preemption during the release.
    pub(super) fn release(&mut self, release: Release, next: Option<Transition>) {
        if self.holding_legacy {
            if let Some(next) = next {
                self.set_lane(next);
            }
            self.holding = false;
            self.holding_legacy = false;
            self.gil.shared.legacy.release();
        } else {
            self.drop_new_gil(release, next);
        }
    }

    /// CPython's `drop_gil`, with forced switching (3.12 and 3.13 alike).
    ///
    /// Between taking `gil->mutex` and signalling a waiter nothing is done
    /// that CPython does not do, and the bookkeeping (lane, counts, marks,
    /// stamped with the moment the release began, where the tracer's probe
    /// on `drop_gil`'s entry stamps CPython's) stays out of the two races a
    /// release starts, each a matter of a microsecond or less:
    ///
    /// * when a waiter has just asked for the drop, it is on its way to
    ///   sleep on the condvar, and if the signal comes first it takes it.
    ///   So a release with a request pending is stamped after the signal
    ///   (still under the lock, so nobody can take the GIL and stamp a
    ///   hold before it). Stamped before, the asker was always asleep by
    ///   the signal, and a thread back from I/O beside two CPU threads won
    ///   far more often than in CPython (BENCHMARKS.md, "A thread back from
    ///   I/O beside two CPU threads").
    /// * otherwise the releaser may take the GIL straight back (an event
    ///   loop's `select`) before the woken waiter runs; stamped after the
    ///   signal, the waiter had that time to wake, and the releaser lost
    ///   far more often. So an ordinary release is stamped before the lock.
    fn drop_new_gil(&mut self, release: Release, next: Option<Transition>) {
        let shared = Arc::clone(&self.gil.shared);
        let began = Instant::now();
        let asked = release == Release::Forced || shared.drop_request.load(Ordering::Relaxed);
        if !asked && let Some(next) = next {
            self.set_lane_at(next, began);
        }
        let mut core = shared.core.lock();
        core.last_holder = self.tag;
        core.locked = false;
        self.holding = false;
        if core.waiters > 0 {
            shared.cond.notify_one();
        }
        if release == Release::Forced {
            self.stats.count_forced_drop();
            shared.forced_switches.fetch_add(1, Ordering::Relaxed);
            self.mark_at(Transition::ForcedDrop, began);
        }
        if asked && let Some(next) = next {
            self.set_lane_at(next, began);
        }
        // CPython unlocks `gil->mutex` here and only then looks at the drop
        // request under `switch_mutex`: in that gap the woken waiter may
        // already have taken the GIL (and cleared the request).
        drop(core);
        // A thread's last release (`final_release` in 3.13, a NULL thread
        // state in 3.12) neither waits for the switch nor clears a request:
        // the next holder does.
        if release == Release::Final {
            return;
        }
        // A release while a drop request is pending: wait until another
        // thread has actually taken the GIL, so this one cannot grab it
        // straight back.
        let requested = shared.drop_request.load(Ordering::Relaxed);
        if requested && shared.mode.load(Ordering::Relaxed) == Mode::Gil.to_u8() {
            let mut core = shared.core.lock();
            if core.last_holder == self.tag {
                shared.drop_request.store(false, Ordering::Relaxed);
                // The lane stays what the release made it: a forced drop
                // waits to run again, a release for I/O is released (the
                // real tracer, too, sees this wait inside `drop_gil`).
                core.switch_waiters += 1;
                while core.last_holder == self.tag
                    && core.waiters > 0
                    && shared.mode.load(Ordering::Relaxed) == Mode::Gil.to_u8()
                    && !self.cancel.is_cancelled()
                {
                    let interval = Duration::from_nanos(shared.interval_ns.load(Ordering::Relaxed));
                    core = shared.switch_cond.wait_timeout(core, interval).0;
                }
                core.switch_waiters -= 1;
                drop(core);
            }
        }
    }
}
