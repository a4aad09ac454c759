//! The shared state behind every coordination-lab object of one run.
//!
//! All objects of a [`World`] — locks, semaphores, events, conditions,
//! barriers, queues — live under one mutex with one condvar, like a monitor.
//! That keeps each object's code a few lines of state change, lets a
//! blocked thread be woken by any change (cancel included), and gives the
//! wait-for graph a consistent picture: who holds which lock and who waits
//! on what are read under the same lock.
//!
//! A blocking wait first tries with the GIL held (CPython's locks try a
//! non-blocking acquire first); if it must wait it releases the emulated
//! GIL through [`GilThread::blocking`] — as CPython does around every
//! blocking call — records that the thread is blocked on the object (a
//! [`SyncEvent`] and a [`Transition::Blocked`] mark on its timeline lane),
//! and sleeps until the object lets it through or the run is cancelled.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::cancel::{CancelToken, Cancelled};
use crate::gil::{Gil, GilEvent, GilThread, ThreadTag, Transition};

/// How long a blocked thread sleeps before it looks at its cancel token on
/// its own. [`World::cancel`] wakes every waiter at once; this bound only
/// matters when the token is cancelled from elsewhere.
const CANCEL_SLICE: Duration = Duration::from_millis(20);

/// Events kept in a world's ring.
pub(crate) const EVENT_CAPACITY: usize = 4096;

/// The index of one object in its [`World`].
pub(crate) type ObjectId = usize;

/// What went wrong with a coordination-lab call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The run was cancelled while the thread waited.
    #[error("cancelled")]
    Cancelled,
    /// A release by a thread that does not hold the object.
    #[error("{0} is not held by this thread")]
    NotOwner(String),
    /// A release of an object nobody holds.
    #[error("release of unlocked {0}")]
    NotLocked(String),
    /// A barrier that was broken (cancelled) before every party arrived.
    #[error("{0} is broken")]
    Broken(String),
    /// A bounded semaphore released more often than acquired.
    #[error("{0} released too many times")]
    Overflow(String),
    /// Work a lab thread does failed (a download's HTTP error).
    #[error("{0}")]
    Failed(String),
}

impl From<Cancelled> for SyncError {
    fn from(_: Cancelled) -> Self {
        SyncError::Cancelled
    }
}

/// What an object is, with its state.
#[derive(Debug)]
pub(crate) enum ObjectState {
    Lock {
        holder: Option<ThreadTag>,
    },
    RLock {
        holder: Option<ThreadTag>,
        depth: u32,
    },
    Semaphore {
        value: u64,
    },
    Event {
        set: bool,
    },
    Condition {
        /// Tickets of waiting threads, oldest first.
        waiting: VecDeque<u64>,
        /// Tickets notified but not yet woken.
        notified: HashSet<u64>,
        next_ticket: u64,
    },
    Barrier {
        parties: u32,
        arrived: u32,
        generation: u64,
        broken: bool,
    },
    Queue {
        items: VecDeque<u64>,
        max: usize,
    },
}

impl ObjectState {
    /// The kind's word as shown ("lock", "semaphore" …).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ObjectState::Lock { .. } => "lock",
            ObjectState::RLock { .. } => "rlock",
            ObjectState::Semaphore { .. } => "semaphore",
            ObjectState::Event { .. } => "event",
            ObjectState::Condition { .. } => "condition",
            ObjectState::Barrier { .. } => "barrier",
            ObjectState::Queue { .. } => "queue",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Object {
    pub(crate) name: String,
    pub(crate) state: ObjectState,
}

/// Everything under the world's lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) objects: Vec<Object>,
    /// Threads blocked right now, and on what.
    pub(crate) blocked: HashMap<ThreadTag, ObjectId>,
    /// Threads (and detectors) sleeping on the condvar.
    sleepers: usize,
}

impl State {
    /// The object `id`'s name.
    pub(crate) fn name(&self, id: ObjectId) -> String {
        self.objects[id].name.clone()
    }
}

/// What happened to a thread in a world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncAction {
    /// It started waiting on the object, with the GIL released.
    Blocked,
    /// The object let it through.
    Woke,
    /// It stopped waiting because the run was cancelled.
    Cancelled,
}

/// One stamped event of a world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncEvent {
    /// Microseconds on the GIL's clock ([`Gil::now_us`]).
    pub at_us: u64,
    /// The thread.
    pub thread: ThreadTag,
    /// The object ([`World::name`] names it).
    pub(crate) object: ObjectId,
    /// What happened.
    pub what: SyncAction,
}

#[derive(Debug)]
struct Inner {
    gil: Gil,
    cancel: CancelToken,
    state: Mutex<State>,
    changed: Condvar,
    events: Mutex<(VecDeque<SyncEvent>, u64)>,
}

/// One run's coordination objects; cheap to clone, shared by its threads.
#[derive(Debug, Clone)]
pub struct World {
    inner: Arc<Inner>,
}

impl World {
    /// A world whose blocking waits release `gil` and give up on `cancel`.
    pub fn new(gil: Gil, cancel: CancelToken) -> Self {
        Self {
            inner: Arc::new(Inner {
                gil,
                cancel,
                state: Mutex::new(State::default()),
                changed: Condvar::new(),
                events: Mutex::new((VecDeque::new(), 0)),
            }),
        }
    }

    /// The GIL its threads run under.
    pub fn gil(&self) -> &Gil {
        &self.inner.gil
    }

    /// The token that cancels every wait.
    pub fn cancel_token(&self) -> &CancelToken {
        &self.inner.cancel
    }

    /// Cancels the run: every thread blocked in this world wakes at once
    /// with [`SyncError::Cancelled`], and later waits fail the same way. A
    /// thread waiting for the GIL wakes too: whoever cancels may hold the
    /// GIL itself (the dashboard's UI thread, under the GIL with `u`, when
    /// it stops a scenario and joins its threads), and a waiter left asleep
    /// on Python 2's lock would never see the cancel.
    pub fn cancel(&self) {
        self.inner.cancel.cancel();
        {
            let _state = self.lock();
            self.inner.changed.notify_all();
        }
        self.inner.gil.wake_all();
    }

    /// The name of object `id`.
    pub(crate) fn name(&self, id: ObjectId) -> String {
        self.lock().name(id)
    }

    /// What thread `tag` is blocked on right now ("lock A"), if anything.
    pub fn blocked_on(&self, tag: ThreadTag) -> Option<String> {
        let state = self.lock();
        state.blocked.get(&tag).map(|&id| {
            let object = &state.objects[id];
            format!("{} {}", object.state.kind(), object.name)
        })
    }

    /// Every thread blocked right now, with what it is blocked on
    /// ("lock A"), read under one lock.
    pub(crate) fn blocked_names(&self) -> HashMap<ThreadTag, String> {
        let state = self.lock();
        state
            .blocked
            .iter()
            .map(|(&tag, &id)| {
                let object = &state.objects[id];
                (tag, format!("{} {}", object.state.kind(), object.name))
            })
            .collect()
    }

    /// Sleeps until at least `count` threads are blocked in this world at
    /// once (true) or `timeout` passes or the world is cancelled (false).
    /// Woken by every change, so it returns as soon as the last one blocks.
    pub fn wait_until_blocked(&self, count: usize, timeout: Duration) -> bool {
        self.watch(Instant::now() + timeout, |state| {
            (state.blocked.len() >= count).then_some(())
        })
        .is_some()
    }

    /// Every event with a sequence number `>= seq` still in the ring, into
    /// `out`; returns the number to ask for next time.
    pub fn read_events_since(&self, seq: u64, out: &mut Vec<SyncEvent>) -> u64 {
        let ring = self
            .inner
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (events, next) = &*ring;
        let oldest = next - events.len() as u64;
        let skip = seq.saturating_sub(oldest) as usize;
        out.extend(events.iter().skip(skip).copied());
        *next
    }

    pub(crate) fn add(&self, name: &str, state: ObjectState) -> ObjectId {
        let mut world = self.lock();
        world.objects.push(Object {
            name: name.to_string(),
            state,
        });
        world.objects.len() - 1
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies a change that never waits (a release, a set, a put that fits)
    /// and wakes whoever may now go on.
    pub(crate) fn change<R>(&self, apply: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self.lock();
        let out = apply(&mut state);
        if state.sleepers > 0 {
            self.inner.changed.notify_all();
        }
        out
    }

    /// Waits until `attempt` succeeds on object `id`. `attempt` runs under
    /// the world's lock, changes the state when it can go on and returns
    /// `Some`, or returns `None` to keep waiting (`Err` ends the wait). The
    /// first attempt is made with the GIL held; the wait itself releases it.
    pub(crate) fn wait_for<R>(
        &self,
        thread: &mut GilThread,
        id: ObjectId,
        mut attempt: impl FnMut(&mut State, ThreadTag) -> Result<Option<R>, SyncError>,
    ) -> Result<R, SyncError> {
        let tag = thread.tag();
        self.inner.cancel.check()?;
        {
            let mut state = self.lock();
            if let Some(out) = attempt(&mut state, tag)? {
                if state.sleepers > 0 {
                    self.inner.changed.notify_all();
                }
                return Ok(out);
            }
        }
        thread.blocking(|| self.block(tag, id, &mut attempt))?
    }

    /// The blocked part of [`wait_for`](Self::wait_for), GIL released.
    fn block<R>(
        &self,
        tag: ThreadTag,
        id: ObjectId,
        attempt: &mut impl FnMut(&mut State, ThreadTag) -> Result<Option<R>, SyncError>,
    ) -> Result<R, SyncError> {
        let mut state = self.lock();
        state.blocked.insert(tag, id);
        self.record(tag, id, SyncAction::Blocked);
        // Someone (a deadlock detector) may be watching who waits on what.
        self.inner.changed.notify_all();
        let outcome = loop {
            if self.inner.cancel.is_cancelled() {
                break Err(SyncError::Cancelled);
            }
            match attempt(&mut state, tag) {
                Ok(Some(out)) => break Ok(out),
                Ok(None) => {}
                Err(error) => break Err(error),
            }
            state.sleepers += 1;
            state = self
                .inner
                .changed
                .wait_timeout(state, CANCEL_SLICE)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            state.sleepers -= 1;
        };
        state.blocked.remove(&tag);
        let what = match outcome {
            Err(SyncError::Cancelled) => SyncAction::Cancelled,
            _ => SyncAction::Woke,
        };
        self.record(tag, id, what);
        if state.sleepers > 0 {
            self.inner.changed.notify_all();
        }
        outcome
    }

    /// Sleeps until `check` on the state returns `Some`, `deadline` passes
    /// (`None`) or the run is cancelled (`None`). Woken by every change.
    pub(crate) fn watch<R>(
        &self,
        deadline: Instant,
        mut check: impl FnMut(&State) -> Option<R>,
    ) -> Option<R> {
        let mut state = self.lock();
        loop {
            if let Some(out) = check(&state) {
                return Some(out);
            }
            let now = Instant::now();
            if now >= deadline || self.inner.cancel.is_cancelled() {
                return None;
            }
            state.sleepers += 1;
            state = self
                .inner
                .changed
                .wait_timeout(state, (deadline - now).min(CANCEL_SLICE))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            state.sleepers -= 1;
        }
    }

    fn record(&self, thread: ThreadTag, object: ObjectId, what: SyncAction) {
        let at_us = self.inner.gil.now_us();
        if what == SyncAction::Blocked {
            self.inner.gil.timeline().push(GilEvent {
                at_us,
                thread,
                what: Transition::Blocked,
            });
        }
        let mut ring = self
            .inner
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if ring.0.len() == EVENT_CAPACITY {
            ring.0.pop_front();
        }
        ring.0.push_back(SyncEvent {
            at_us,
            thread,
            object,
            what,
        });
        ring.1 += 1;
    }
}
