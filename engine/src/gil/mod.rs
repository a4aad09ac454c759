//! The emulated Global Interpreter Lock.
//!
//! Three [`Mode`]s, switchable at run time:
//!
//! * `free` — no lock at all: Rust threads as they are, or CPython's
//!   free-threaded build.
//! * `gil` — CPython 3.2+'s "new GIL" as written in `Python/ceval_gil.c`: a
//!   waiter sleeps one switch interval on a condvar; if that wait times out
//!   and no switch happened meanwhile it sets `drop_request` (the eval
//!   breaker). The holder sees the flag at its next check, drops the GIL,
//!   waits until another thread has taken it (forced switching) and then
//!   queues up again like everyone else. No fairness queue: a newcomer may
//!   barge in, and the OS picks which waiter wakes. Whoever takes the GIL
//!   clears a pending drop request, so a thread that barged in is not asked
//!   to drop it at once; a waiter that gives up withdraws its own request.
//!   This follows `take_gil`/`drop_gil` of CPython 3.12 (one request flag
//!   per interpreter, reset by each new holder); 3.13+ keeps the request as
//!   a bit on the holder's thread state instead, which a new holder clears
//!   for itself — the same behaviour for the threads emulated here.
//! * `legacy` — Python 2's GIL: a plain lock that the holder releases and
//!   re-takes every 101 "ticks" (2.7's check interval of 100, see
//!   [`DEFAULT_LEGACY_TICKS`]), with no timeout and no forced hand-over.
//!
//! A thread takes part through its own [`GilThread`]: [`GilThread::check`] is
//! the eval-breaker check a worker calls between its small steps, and
//! [`GilThread::blocking`] runs a blocking call with the GIL released, like
//! `Py_BEGIN_ALLOW_THREADS`. Every lane change is stamped into the
//! [`Timeline`] and summed into [`ThreadStats`].
//!
//! This file holds the shared [`Gil`] and [`GilThread`]'s public face and
//! lanes. `take_gil`, `drop_gil` and the eval breaker's forced switch are
//! one state machine over one mutex and two condvars, read side by side
//! with `ceval_gil.c`, so they sit together in `handover.rs`, where the
//! hand-over protocol can be checked against CPython's in one reading.
//! Everything around it (modes, Python 2's lock, distributions, the
//! timeline, the eval-breaker model) lives in files of its own.

mod dist;
mod handover;
mod legacy;
mod mode;
pub mod model;
mod priority;
mod pthread;
mod timeline;

pub use dist::micros_histogram;
pub(crate) use dist::{LaneDist, percentile_ms, record_micros};
pub use legacy::PY27_TICK_NS;
pub(crate) use legacy::{CHECK_INTERVAL, DEFAULT_LEGACY_TICKS};
pub use mode::{IntervalOutOfRange, Mode, SwitchInterval, UnknownMode};
pub use priority::nice_of;
pub(crate) use timeline::ThreadStats;
pub use timeline::{GilEvent, ThreadTag, Timeline, Transition};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cancel::{CancelToken, Cancelled};
use handover::{Core, Release};
use legacy::LegacyLock;
use pthread::{PthreadCond, PthreadGuard, PthreadMutex};

#[derive(Debug)]
struct Shared {
    mode: AtomicU8,
    interval_ns: AtomicU64,
    drop_request: AtomicBool,
    /// CPython's `gil->mutex`, a glibc mutex as CPython's (see `pthread.rs`).
    core: PthreadMutex<Core>,
    /// Waiters for the GIL sleep here (CPython's `gil->cond`).
    cond: PthreadCond,
    /// A forced dropper sleeps here until someone else took it (`gil->switch_cond`).
    switch_cond: PthreadCond,
    /// Python 2's lock for `legacy` mode (a POSIX-semaphore-like futex word).
    legacy: LegacyLock,
    /// Hand-overs between threads, in any mode.
    switches: AtomicU64,
    /// Ticks between releases in `legacy` mode.
    legacy_ticks: AtomicU32,
    /// The time one of those ticks takes in Python 2 (ns): a hold lasts at
    /// least `legacy_ticks` of them. 0: ticks alone count.
    legacy_tick_ns: AtomicU64,
    /// Times a holder was made to drop it.
    forced_switches: AtomicU64,
    next_tag: AtomicU32,
    timeline: Timeline,
    epoch: Instant,
    /// The OS priority of the threads that take this GIL (see `priority.rs`).
    priorities: priority::Priorities,
}

/// The emulated interpreter lock; cheap to clone, shared by every thread.
#[derive(Debug, Clone)]
pub struct Gil {
    shared: Arc<Shared>,
}

impl Default for Gil {
    fn default() -> Self {
        Self::new(Mode::Free, SwitchInterval::DEFAULT)
    }
}

impl Gil {
    /// A GIL in `mode` with switch interval `interval`.
    pub fn new(mode: Mode, interval: SwitchInterval) -> Self {
        Self {
            shared: Arc::new(Shared {
                mode: AtomicU8::new(mode.to_u8()),
                interval_ns: AtomicU64::new(interval.duration().as_nanos() as u64),
                drop_request: AtomicBool::new(false),
                core: PthreadMutex::new(Core::default()),
                cond: PthreadCond::new(),
                switch_cond: PthreadCond::new(),
                legacy: LegacyLock::default(),
                switches: AtomicU64::new(0),
                legacy_ticks: AtomicU32::new(DEFAULT_LEGACY_TICKS),
                legacy_tick_ns: AtomicU64::new(PY27_TICK_NS),
                forced_switches: AtomicU64::new(0),
                next_tag: AtomicU32::new(1),
                timeline: Timeline::default(),
                epoch: Instant::now(),
                priorities: priority::Priorities::default(),
            }),
        }
    }

    /// The mode in force.
    pub fn mode(&self) -> Mode {
        Mode::from_u8(self.shared.mode.load(Ordering::Acquire))
    }

    /// Switches the mode; safe at any time. Waiters wake and re-decide:
    /// with the lock off they carry on; holders let go at their next check.
    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.store(mode.to_u8(), Ordering::Release);
        if mode == Mode::Free {
            self.shared.drop_request.store(false, Ordering::Relaxed);
        }
        self.wake_all();
    }

    /// The switch interval in force.
    pub fn interval(&self) -> SwitchInterval {
        SwitchInterval(Duration::from_nanos(
            self.shared.interval_ns.load(Ordering::Relaxed),
        ))
    }

    /// Sets the switch interval (takes effect at each waiter's next wait).
    pub fn set_interval(&self, interval: SwitchInterval) {
        self.shared
            .interval_ns
            .store(interval.duration().as_nanos() as u64, Ordering::Relaxed);
    }

    /// Ticks between releases in `legacy` mode ([`DEFAULT_LEGACY_TICKS`]
    /// unless set; the race lab sets 2.7's own count).
    pub(crate) fn legacy_ticks(&self) -> u32 {
        self.shared.legacy_ticks.load(Ordering::Relaxed)
    }

    /// Sets the ticks between releases in `legacy` mode (at least 1).
    pub(crate) fn set_legacy_ticks(&self, ticks: u32) {
        self.shared
            .legacy_ticks
            .store(ticks.max(1), Ordering::Relaxed);
    }

    /// Sets how long one `legacy` tick lasts in Python 2 (ns): a hold of
    /// the lock lasts its ticks and at least that many of these in time
    /// ([`PY27_TICK_NS`] unless set; 0 makes the tick count alone decide,
    /// as the race lab needs).
    pub(crate) fn set_legacy_tick_ns(&self, ns: u64) {
        self.shared.legacy_tick_ns.store(ns, Ordering::Relaxed);
    }

    /// Times a holder was made to drop it (forced switches), over all threads.
    pub(crate) fn forced_switches(&self) -> u64 {
        self.shared.forced_switches.load(Ordering::Relaxed)
    }

    /// Wakes every thread waiting on the GIL so it re-checks mode and cancel.
    pub fn wake_all(&self) {
        {
            let _core = self.lock_core();
            self.shared.cond.notify_all();
            self.shared.switch_cond.notify_all();
        }
        self.shared.legacy.interrupt();
    }

    /// Registers the calling thread under `name`. The returned handle is the
    /// thread's way in; it holds nothing until [`GilThread::enter`] or the
    /// first [`GilThread::check`].
    pub fn register(&self, cancel: CancelToken) -> GilThread {
        let tag = self.shared.next_tag.fetch_add(1, Ordering::Relaxed);
        GilThread {
            gil: self.clone(),
            tag,
            cancel,
            holding: false,
            holding_legacy: false,
            ticks: 0,
            legacy_since: Instant::now(),
            lane: None,
            since: Instant::now(),
            stats: Arc::new(ThreadStats::default()),
            dist: None,
            priority: Priority::Apart,
        }
    }

    /// Runs the calling thread `nice` steps below the process's main thread
    /// (clamped at 19) as a helper of this GIL's Python threads: a thread
    /// that does their I/O without ever taking the GIL (the HTTP runtime
    /// that drives a fetch worker's sockets). While the UI thread shares
    /// its priority ([`GilThread::share_priority`]) it runs at the shared
    /// level, as the thread doing that I/O does in one Python process, and
    /// at `nice` below otherwise, as the workers it serves. Call
    /// [`leave_priorities`](Self::leave_priorities) on it before it ends.
    pub(crate) fn join_priorities(&self, nice: u8) {
        self.shared
            .priorities
            .join(priority::current_tid(), priority::apart(nice));
    }

    /// The calling thread leaves [`join_priorities`](Self::join_priorities).
    pub(crate) fn leave_priorities(&self) {
        self.shared.priorities.leave(priority::current_tid());
    }

    /// The nice value the UI thread shares with this GIL's Python threads
    /// while it is under the GIL ([`GilThread::share_priority`]), if it does.
    pub fn shared_nice(&self) -> Option<i32> {
        self.shared.priorities.shared_level()
    }

    /// The ring of stamped transitions.
    pub fn timeline(&self) -> &Timeline {
        &self.shared.timeline
    }

    /// Microseconds since this GIL was created, the timeline's clock.
    pub fn now_us(&self) -> u64 {
        self.shared.epoch.elapsed().as_micros() as u64
    }

    /// Times the GIL passed from one thread to another (any mode).
    pub(crate) fn switches(&self) -> u64 {
        self.shared.switches.load(Ordering::Relaxed)
    }

    fn lock_core(&self) -> PthreadGuard<'_, Core> {
        self.shared.core.lock()
    }
}

/// One thread's membership in the GIL: call [`check`](Self::check) between
/// steps and wrap blocking calls in [`blocking`](Self::blocking).
///
/// Dropping it releases the GIL if held and stamps the thread's exit.
#[derive(Debug)]
pub struct GilThread {
    gil: Gil,
    tag: ThreadTag,
    cancel: CancelToken,
    holding: bool,
    /// Which lock `holding` refers to: CPython 3's (false) or Python 2's (true).
    holding_legacy: bool,
    ticks: u32,
    /// When this thread last took Python 2's lock (`legacy` mode).
    legacy_since: Instant,
    lane: Option<Transition>,
    since: Instant,
    stats: Arc<ThreadStats>,
    /// Hold and wait times, kept only when asked for (see [`LaneDist`]).
    dist: Option<Box<LaneDist>>,
    /// Its part in the GIL's one priority (see `priority.rs`).
    priority: Priority,
}

/// A [`GilThread`]'s part in its GIL's priority registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Priority {
    /// Not in it: its thread's nice is its own business.
    Apart,
    /// A Python thread (the thread id): runs at the UI's nice while shared.
    Member(i32),
    /// The UI thread (the thread id), sharing its nice with the members.
    Leader(i32),
}

impl GilThread {
    /// This thread's tag on the timeline.
    pub fn tag(&self) -> ThreadTag {
        self.tag
    }

    /// This thread's running totals (shareable with other threads).
    pub fn stats(&self) -> Arc<ThreadStats> {
        Arc::clone(&self.stats)
    }

    /// The GIL this thread belongs to.
    pub fn gil(&self) -> &Gil {
        &self.gil
    }

    /// From now on, keeps the distribution of this thread's hold and wait
    /// times (two histograms, some 280 kB), read with
    /// [`distributions`](Self::distributions).
    pub(crate) fn record_distributions(&mut self) {
        if self.dist.is_none() {
            self.dist = Some(Box::default());
        }
    }

    /// This thread's hold and wait times so far (finished stays only), if
    /// [`record_distributions`](Self::record_distributions) was called.
    pub(crate) fn distributions(&self) -> Option<&LaneDist> {
        self.dist.as_deref()
    }

    /// True while this thread holds the GIL.
    pub fn is_holding(&self) -> bool {
        self.holding
    }

    /// Starts running "Python": takes the GIL if the mode asks for one.
    pub fn enter(&mut self) -> Result<(), Cancelled> {
        self.cancel.check()?;
        if self.gil.mode() == Mode::Free {
            self.set_lane(Transition::Run);
            Ok(())
        } else {
            self.take()
        }
    }

    /// The eval-breaker check, called between small steps of work: honours
    /// cancellation, a drop request, a mode switch, and legacy tick counting.
    #[inline]
    pub fn check(&mut self) -> Result<(), Cancelled> {
        self.cancel.check()?;
        let mode = Mode::from_u8(self.gil.shared.mode.load(Ordering::Relaxed));
        match mode {
            Mode::Free => {
                if self.holding {
                    self.drop_gil(Some(Transition::Run));
                }
                self.set_lane(Transition::Run);
                Ok(())
            }
            Mode::Gil => {
                if self.holding && self.holding_legacy {
                    // Switched from legacy: trade Python 2's lock for the new GIL.
                    self.drop_gil(Some(Transition::Wait));
                }
                if !self.holding {
                    self.take()
                } else if self.gil.shared.drop_request.load(Ordering::Relaxed) {
                    self.forced_switch()
                } else {
                    Ok(())
                }
            }
            Mode::Legacy => {
                if self.holding && !self.holding_legacy {
                    self.drop_gil(Some(Transition::Wait));
                }
                if !self.holding {
                    return self.take();
                }
                self.ticks += 1;
                if self.legacy_hold_done() {
                    self.ticks = 0;
                    // Python 2: release and immediately try to re-take
                    // (the lane shows a wait only if it has to wait).
                    self.drop_gil(None);
                    self.take()
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Python 2's ticker, for a holder of its lock: true once this hold has
    /// run its ticks (101 by default) and lasted as long as that many of
    /// Python 2's ticks take ([`PY27_TICK_NS`]). Past the count, the clock
    /// is read every [`legacy::CLOCK_EVERY_TICKS`] ticks only.
    fn legacy_hold_done(&self) -> bool {
        let shared = &self.gil.shared;
        let ticks = shared.legacy_ticks.load(Ordering::Relaxed);
        if self.ticks < ticks {
            return false;
        }
        let tick_ns = shared.legacy_tick_ns.load(Ordering::Relaxed);
        if tick_ns == 0 {
            return true;
        }
        if !(self.ticks - ticks).is_multiple_of(legacy::CLOCK_EVERY_TICKS) {
            return false;
        }
        let held = self.legacy_since.elapsed().as_nanos() as u64;
        held >= tick_ns.saturating_mul(u64::from(ticks))
    }

    /// Runs a blocking call with the GIL released (`Py_BEGIN_ALLOW_THREADS`),
    /// then takes it back. The call itself always runs to completion; the
    /// re-take gives up with `Err(Cancelled)` if the token is cancelled.
    pub fn blocking<T>(&mut self, call: impl FnOnce() -> T) -> Result<T, Cancelled> {
        let (out, retaken) = self.released(call);
        retaken.map(|()| out)
    }

    /// [`blocking`](Self::blocking) that hands the call's result back even
    /// when the re-take is cancelled (an input thread's last key).
    pub fn released<T>(&mut self, call: impl FnOnce() -> T) -> (T, Result<(), Cancelled>) {
        if self.holding {
            self.drop_gil(Some(Transition::Io));
        }
        self.set_lane(Transition::Io);
        let out = call();
        if let Err(cancelled) = self.cancel.check() {
            return (out, Err(cancelled));
        }
        if self.gil.mode() == Mode::Free {
            self.set_lane(Transition::Run);
            (out, Ok(()))
        } else {
            let retaken = self.take();
            (out, retaken)
        }
    }

    /// Runs the calling thread `nice` steps below the process's main (UI)
    /// thread, clamped at 19 (as `work::lower_priority`), and makes it one
    /// of this GIL's Python threads: while the UI thread shares its
    /// priority ([`share_priority`](Self::share_priority)) it runs at the
    /// UI's nice instead. Call it on the thread this handle belongs to,
    /// before it starts; it leaves when the handle is dropped.
    pub(crate) fn lower_priority(&mut self, nice: u8) {
        let tid = priority::current_tid();
        self.gil.shared.priorities.join(tid, priority::apart(nice));
        self.priority = Priority::Member(tid);
    }

    /// For the UI thread, on its own thread: `on` while it is under the GIL.
    /// Then every Python thread of this GIL ([`lower_priority`]) runs at
    /// this thread's nice, as every thread of one Python process does, and
    /// the kernel treats a GIL waiter woken by the UI's release as its
    /// equal; off, they go back to their own nice, below the UI. Without
    /// the privilege to raise them, this thread goes down to theirs instead
    /// (and stays there after: see `priority.rs`).
    ///
    /// [`lower_priority`]: Self::lower_priority
    pub fn share_priority(&mut self, on: bool) {
        let tid = priority::current_tid();
        match (self.priority, on) {
            (Priority::Leader(_), true) | (Priority::Apart | Priority::Member(_), false) => {}
            (Priority::Leader(leader), false) => {
                self.gil.shared.priorities.share(leader, false);
                self.priority = Priority::Apart;
            }
            (Priority::Member(member), true) => {
                self.gil.shared.priorities.leave(member);
                self.gil.shared.priorities.share(tid, true);
                self.priority = Priority::Leader(tid);
            }
            (Priority::Apart, true) => {
                self.gil.shared.priorities.share(tid, true);
                self.priority = Priority::Leader(tid);
            }
        }
    }

    /// Releases the GIL (if held) and marks the thread gone from the timeline.
    ///
    /// This is the thread's last release, as when a CPython thread ends: it
    /// does not wait for another thread to take the GIL and leaves a pending
    /// drop request for the next holder to clear.
    pub fn exit(&mut self) {
        if self.holding {
            self.release(Release::Final, Some(Transition::Exit));
        }
        if self.lane.is_some() && self.lane != Some(Transition::Exit) {
            self.set_lane(Transition::Exit);
        }
    }

    /// The moment CPython's `take_gil` starts to wait: a wait (on the
    /// timeline and in the distributions) runs from here to the take, as
    /// the tracer's `take_gil` entry and return probes measure it. A
    /// thread that dropped the GIL on request already shows waiting (it
    /// wants to run again) while it waits for the switch inside
    /// `drop_gil`; that part ends here and is not counted as a GIL wait.
    fn start_waiting(&mut self) {
        if self.lane == Some(Transition::Wait) {
            self.lane = None;
            let stayed = self.since.elapsed();
            self.stats
                .add_time(Transition::Wait, stayed.as_nanos() as u64);
        }
        self.set_lane(Transition::Wait);
    }

    fn set_lane(&mut self, lane: Transition) {
        if self.lane != Some(lane) {
            self.set_lane_at(lane, Instant::now());
        }
    }

    /// [`set_lane`](Self::set_lane) as of `now` (a moment just passed).
    fn set_lane_at(&mut self, lane: Transition, now: Instant) {
        if self.lane == Some(lane) {
            return;
        }
        if let Some(previous) = self.lane {
            let stayed = now.duration_since(self.since);
            self.stats.add_time(previous, stayed.as_nanos() as u64);
            if let Some(dist) = self.dist.as_deref_mut() {
                match previous {
                    Transition::Hold => record_micros(&mut dist.hold, stayed),
                    Transition::Wait => record_micros(&mut dist.wait, stayed),
                    _ => {}
                }
            }
        }
        self.lane = Some(lane);
        self.since = now;
        self.push(now, lane);
    }

    fn mark(&self, what: Transition) {
        self.mark_at(what, Instant::now());
    }

    fn mark_at(&self, what: Transition, at: Instant) {
        self.push(at, what);
    }

    fn push(&self, at: Instant, what: Transition) {
        let shared = &self.gil.shared;
        shared.timeline.push(GilEvent {
            at_us: at.duration_since(shared.epoch).as_micros() as u64,
            thread: self.tag,
            what,
        });
    }
}

impl Drop for GilThread {
    fn drop(&mut self) {
        self.exit();
        match std::mem::replace(&mut self.priority, Priority::Apart) {
            Priority::Apart => {}
            Priority::Member(tid) => self.gil.shared.priorities.leave(tid),
            Priority::Leader(tid) => self.gil.shared.priorities.share(tid, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_and_interval_parse_with_clear_errors() {
        assert_eq!("GIL".parse::<Mode>(), Ok(Mode::Gil));
        assert_eq!("legacy".parse::<Mode>(), Ok(Mode::Legacy));
        let err = "fast".parse::<Mode>().unwrap_err().to_string();
        assert!(err.contains("free, gil, legacy"), "{err}");
        assert!("0.05".parse::<SwitchInterval>().is_err());
        assert!("-1".parse::<SwitchInterval>().is_err());
        assert!("101".parse::<SwitchInterval>().is_err());
        assert!("abc".parse::<SwitchInterval>().is_err());
        let five: SwitchInterval = "5".parse().unwrap();
        assert_eq!(five, SwitchInterval::DEFAULT);
        assert_eq!(SwitchInterval::MAX.doubled(), SwitchInterval::MAX);
        assert_eq!(SwitchInterval::MIN.halved(), SwitchInterval::MIN);
        assert_eq!(five.halved().as_millis_f64(), 2.5);
    }

    #[test]
    fn uncontended_take_and_release_in_gil_mode() {
        let gil = Gil::new(Mode::Gil, SwitchInterval::DEFAULT);
        let mut thread = gil.register(CancelToken::new());
        thread.enter().unwrap();
        assert!(thread.is_holding());
        let value = thread.blocking(|| 42).unwrap();
        assert_eq!(value, 42);
        assert!(thread.is_holding());
        thread.exit();
        assert!(!thread.is_holding());
        let mut events = Vec::new();
        gil.timeline().read_since(0, &mut events);
        let lanes: Vec<_> = events.iter().map(|e| e.what).collect();
        assert_eq!(
            lanes,
            vec![
                Transition::Hold,
                Transition::Io,
                Transition::Hold,
                Transition::Exit
            ]
        );
    }

    #[test]
    fn free_mode_never_holds() {
        let gil = Gil::new(Mode::Free, SwitchInterval::DEFAULT);
        let mut thread = gil.register(CancelToken::new());
        thread.enter().unwrap();
        for _ in 0..1000 {
            thread.check().unwrap();
        }
        assert!(!thread.is_holding());
    }

    #[test]
    fn legacy_mode_releases_after_101_ticks_as_python_27() {
        let gil = Gil::new(Mode::Legacy, SwitchInterval::DEFAULT);
        // Ticks alone, as the race lab counts them.
        gil.set_legacy_tick_ns(0);
        let mut thread = gil.register(CancelToken::new());
        thread.enter().unwrap();
        for _ in 0..100 {
            thread.check().unwrap();
        }
        assert_eq!(thread.ticks, 100, "100 ticks run without a release");
        thread.check().unwrap();
        assert_eq!(thread.ticks, 0, "the 101st tick releases and re-takes");
        assert!(thread.is_holding());
        thread.exit();
    }

    /// A hold of Python 2's lock lasts as long as 101 of 2.7's ticks take
    /// (~1.7 µs), not as long as 101 bare emulated checks (~0.1 µs): more
    /// ticks run before the release, never fewer.
    #[test]
    fn legacy_mode_holds_as_long_as_101_python_27_ticks() {
        let gil = Gil::new(Mode::Legacy, SwitchInterval::DEFAULT);
        let mut thread = gil.register(CancelToken::new());
        thread.enter().unwrap();
        // Each hold is timed from the re-take that began it (the first,
        // from `enter`, began before this loop's clock).
        loop {
            thread.check().unwrap();
            if thread.ticks == 0 {
                break;
            }
        }
        for _ in 0..3 {
            let began = Instant::now();
            let mut ticks = 0u64;
            loop {
                thread.check().unwrap();
                ticks += 1;
                if thread.ticks == 0 {
                    break;
                }
            }
            let held = began.elapsed();
            assert!(ticks >= 101, "released after {ticks} ticks");
            assert!(
                held >= Duration::from_nanos(101 * PY27_TICK_NS),
                "released after {held:?} ({ticks} ticks)"
            );
        }
        thread.exit();
    }

    #[test]
    fn cancelled_thread_stops_at_check() {
        let gil = Gil::new(Mode::Gil, SwitchInterval::DEFAULT);
        let token = CancelToken::new();
        let mut thread = gil.register(token.clone());
        thread.enter().unwrap();
        token.cancel();
        assert_eq!(thread.check(), Err(Cancelled));
    }
}
