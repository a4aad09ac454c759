//! The lock primitives CPython's GIL is built from on Linux: a glibc
//! `pthread_mutex_t` and a `pthread_cond_t` on `CLOCK_MONOTONIC`
//! (`Python/condvar.h`, `Python/thread_pthread.h`), wrapped for the
//! emulation's `take_gil`/`drop_gil` (`handover.rs`).
//!
//! Why not Rust's own `Mutex`/`Condvar`: who gets the GIL when several
//! threads wait is decided inside these primitives, and Rust's differ from
//! glibc's. Rust's futex condvar wakes its waiters in the order they went
//! to sleep, and its mutex spins before sleeping. glibc's condvar hands a
//! signal to a *group* of waiters (its G1/G2 scheme), and a waiter that is
//! still on its way to sleep when the signal lands takes it, while the
//! thread the futex woke goes back to sleep. Beside two CPU-bound threads
//! that matters: the thread whose timeout asked for the drop re-queues just
//! before the holder signals, and in CPython it wins that signal nearly
//! every time, so a thread back from I/O waits through many switches
//! (CPython 3.9-3.13 here, a thread back from a 5-25 ms sleep beside two
//! CPU threads: p50 28-41 ms, p90 100-140 ms; the emulation on Rust's
//! primitives: p50 5-11 ms, p90 19-25; BENCHMARKS.md, "A thread back from
//! I/O beside two CPU threads"). Using glibc's own primitives, as CPython
//! does, makes that race the same one.
//!
//! Both objects live in a `Box` so they never move after `pthread_*_init`
//! (POSIX forbids moving them), and are only used through the guard API
//! below: a [`PthreadGuard`] proves the mutex is held by this thread, and a
//! wait hands the guard to `pthread_cond_timedwait` and gets it back.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// A glibc mutex guarding a `T` (CPython's `gil->mutex`).
pub(super) struct PthreadMutex<T> {
    raw: Box<UnsafeCell<libc::pthread_mutex_t>>,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only reached through a guard, which exists only while
// this thread holds the pthread mutex; the mutex itself is made for sharing
// between threads and never moves (boxed).
unsafe impl<T: Send> Send for PthreadMutex<T> {}
// SAFETY: as above: `&PthreadMutex` gives access to `T` only under the lock.
unsafe impl<T: Send> Sync for PthreadMutex<T> {}

impl<T> PthreadMutex<T> {
    /// A default (normal, non-recursive) mutex around `data`, as CPython's
    /// `PyMUTEX_INIT` makes it.
    pub(super) fn new(data: T) -> Self {
        let raw = Box::new(UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER));
        // SAFETY: a fresh, boxed mutex object that nobody else sees yet.
        let status = unsafe { libc::pthread_mutex_init(raw.get(), std::ptr::null()) };
        assert_eq!(status, 0, "pthread_mutex_init failed: {status}");
        Self {
            raw,
            data: UnsafeCell::new(data),
        }
    }

    /// Locks it (`pthread_mutex_lock`), blocking until it is free.
    pub(super) fn lock(&self) -> PthreadGuard<'_, T> {
        // SAFETY: an initialised mutex that lives as long as `self`; a
        // normal mutex relocked by its holder would deadlock, which the
        // guard's borrow makes impossible from safe code in this module.
        let status = unsafe { libc::pthread_mutex_lock(self.raw.get()) };
        assert_eq!(status, 0, "pthread_mutex_lock failed: {status}");
        PthreadGuard { mutex: self }
    }
}

impl<T> Drop for PthreadMutex<T> {
    fn drop(&mut self) {
        // SAFETY: no guard can outlive `self`, so the mutex is unlocked and
        // nobody waits on it.
        unsafe { libc::pthread_mutex_destroy(self.raw.get()) };
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for PthreadMutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PthreadMutex { .. }")
    }
}

/// Proof that this thread holds a [`PthreadMutex`]; unlocks it when dropped.
pub(super) struct PthreadGuard<'a, T> {
    mutex: &'a PthreadMutex<T>,
}

impl<T> Deref for PthreadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the mutex.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T> DerefMut for PthreadGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this access unique.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T> Drop for PthreadGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this thread locked it when it made the guard.
        unsafe { libc::pthread_mutex_unlock(self.mutex.raw.get()) };
    }
}

/// A glibc condition variable on `CLOCK_MONOTONIC` (CPython's `gil->cond`
/// and `gil->switch_cond`, made by `_PyThread_cond_init`).
pub(super) struct PthreadCond {
    raw: Box<UnsafeCell<libc::pthread_cond_t>>,
}

// SAFETY: a pthread condvar is made for use from many threads; boxed, it
// never moves.
unsafe impl Send for PthreadCond {}
// SAFETY: as above.
unsafe impl Sync for PthreadCond {}

impl std::fmt::Debug for PthreadCond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PthreadCond { .. }")
    }
}

impl PthreadCond {
    /// A condvar whose timed waits count on the monotonic clock.
    pub(super) fn new() -> Self {
        let raw = Box::new(UnsafeCell::new(libc::PTHREAD_COND_INITIALIZER));
        // SAFETY: attr is initialised before use and destroyed after; the
        // condvar is fresh, boxed and unseen by other threads.
        unsafe {
            let mut attr = std::mem::MaybeUninit::<libc::pthread_condattr_t>::uninit();
            assert_eq!(libc::pthread_condattr_init(attr.as_mut_ptr()), 0);
            let mut attr = attr.assume_init();
            assert_eq!(
                libc::pthread_condattr_setclock(&mut attr, libc::CLOCK_MONOTONIC),
                0
            );
            let status = libc::pthread_cond_init(raw.get(), &attr);
            libc::pthread_condattr_destroy(&mut attr);
            assert_eq!(status, 0, "pthread_cond_init failed: {status}");
        }
        Self { raw }
    }

    /// `pthread_cond_timedwait` for up to `timeout` (CPython's
    /// `COND_TIMED_WAIT`): gives the mutex up while asleep and holds it
    /// again on return. True if it timed out.
    pub(super) fn wait_timeout<'a, T>(
        &self,
        guard: PthreadGuard<'a, T>,
        timeout: Duration,
    ) -> (PthreadGuard<'a, T>, bool) {
        let deadline = deadline_after(timeout);
        // SAFETY: the guard proves this thread holds the mutex, as
        // pthread_cond_timedwait requires; it holds it again on return.
        let status = unsafe {
            libc::pthread_cond_timedwait(self.raw.get(), guard.mutex.raw.get(), &deadline)
        };
        (guard, status == libc::ETIMEDOUT)
    }

    /// Wakes one waiter (`pthread_cond_signal`).
    pub(super) fn notify_one(&self) {
        // SAFETY: an initialised condvar.
        unsafe { libc::pthread_cond_signal(self.raw.get()) };
    }

    /// Wakes every waiter (`pthread_cond_broadcast`).
    pub(super) fn notify_all(&self) {
        // SAFETY: an initialised condvar.
        unsafe { libc::pthread_cond_broadcast(self.raw.get()) };
    }
}

impl Drop for PthreadCond {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: nobody waits on it any more.
        unsafe { libc::pthread_cond_destroy(self.raw.get()) };
    }
}

/// Now on the monotonic clock plus `timeout`, as CPython's
/// `_PyThread_cond_after` computes a timed wait's deadline.
fn deadline_after(timeout: Duration) -> libc::timespec {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let nanos = now.tv_nsec as u64 + u64::from(timeout.subsec_nanos());
    libc::timespec {
        tv_sec: (now.tv_sec as u64)
            .saturating_add(timeout.as_secs())
            .saturating_add(nanos / 1_000_000_000) as libc::time_t,
        tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_timed_wait_times_out_and_gives_the_lock_back() {
        let mutex = PthreadMutex::new(5u32);
        let cond = PthreadCond::new();
        let began = Instant::now();
        let (mut guard, timed_out) = cond.wait_timeout(mutex.lock(), Duration::from_millis(2));
        assert!(timed_out);
        assert!(began.elapsed() >= Duration::from_millis(2));
        *guard += 1;
        drop(guard);
        assert_eq!(*mutex.lock(), 6);
    }

    #[test]
    fn a_signal_wakes_a_waiter_that_sees_the_change() {
        let shared = Arc::new((PthreadMutex::new(false), PthreadCond::new()));
        let waiter = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let (mutex, cond) = &*shared;
                let mut guard = mutex.lock();
                let deadline = Instant::now() + Duration::from_secs(30);
                while !*guard && Instant::now() < deadline {
                    guard = cond.wait_timeout(guard, Duration::from_millis(100)).0;
                }
                *guard
            })
        };
        let (mutex, cond) = &*shared;
        *mutex.lock() = true;
        cond.notify_one();
        assert!(waiter.join().expect("the waiter ends"));
    }
}
