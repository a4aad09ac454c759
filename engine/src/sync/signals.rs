//! The lab's signalling objects: [`Event`], [`Condition`], [`Barrier`] and
//! a bounded [`Queue`], with the contracts of Python's `threading.Event`,
//! `threading.Condition`, `threading.Barrier` and `queue.Queue(maxsize)`.
//!
//! Every wait releases the emulated GIL while it sleeps, is recorded as
//! `blocked on <name>` and ends with [`SyncError::Cancelled`] when the
//! world is cancelled.

use std::collections::{HashSet, VecDeque};

use crate::gil::GilThread;

use super::locks::Lock;
use super::world::{ObjectId, ObjectState, State, SyncError, World};

fn event_flag(state: &mut State, id: ObjectId) -> &mut bool {
    match &mut state.objects[id].state {
        ObjectState::Event { set } => set,
        other => unreachable!("object {id} is a {}, not an event", other.kind()),
    }
}

/// `threading.Event`: a flag threads wait for.
#[derive(Debug, Clone)]
pub struct Event {
    world: World,
    id: ObjectId,
}

impl Event {
    /// A new, clear event called `name`.
    pub fn new(world: &World, name: &str) -> Self {
        let id = world.add(name, ObjectState::Event { set: false });
        Self {
            world: world.clone(),
            id,
        }
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        self.world
            .change(|state| *event_flag(state, self.id) = true);
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.world
            .change(|state| *event_flag(state, self.id) = false);
    }

    /// True while set.
    pub fn is_set(&self) -> bool {
        *event_flag(&mut self.world.lock(), self.id)
    }

    /// Waits until the flag is set.
    pub fn wait(&self, thread: &mut GilThread) -> Result<(), SyncError> {
        let id = self.id;
        self.world.wait_for(thread, id, |state, _| {
            Ok(event_flag(state, id).then_some(()))
        })
    }
}

/// `threading.Condition` over a [`Lock`]: `wait` releases the lock, sleeps
/// until notified and takes the lock again.
#[derive(Debug, Clone)]
pub struct Condition {
    world: World,
    id: ObjectId,
    lock: Lock,
}

fn condition_parts(
    state: &mut State,
    id: ObjectId,
) -> (&mut VecDeque<u64>, &mut HashSet<u64>, &mut u64) {
    match &mut state.objects[id].state {
        ObjectState::Condition {
            waiting,
            notified,
            next_ticket,
            ..
        } => (waiting, notified, next_ticket),
        other => unreachable!("object {id} is a {}, not a condition", other.kind()),
    }
}

impl Condition {
    /// A condition called `name` over `lock`.
    pub fn new(world: &World, name: &str, lock: &Lock) -> Self {
        let id = world.add(
            name,
            ObjectState::Condition {
                waiting: VecDeque::new(),
                notified: HashSet::new(),
                next_ticket: 0,
            },
        );
        Self {
            world: world.clone(),
            id,
            lock: lock.clone(),
        }
    }

    /// The lock it is used with.
    pub fn lock(&self) -> &Lock {
        &self.lock
    }

    /// Releases the lock (which this thread must hold), waits for a
    /// notify, then takes the lock again.
    pub fn wait(&self, thread: &mut GilThread) -> Result<(), SyncError> {
        let tag = thread.tag();
        let id = self.id;
        let lock_id = self.lock.id();
        // Releasing the lock and queueing up happen at once, so a notify
        // between the two cannot be missed.
        let ticket = self.world.change(|state| {
            let name = state.name(id);
            let holder = match &mut state.objects[lock_id].state {
                ObjectState::Lock { holder } => holder,
                other => unreachable!("a condition's lock is a {}", other.kind()),
            };
            if *holder != Some(tag) {
                return Err(SyncError::NotOwner(format!("the lock of {name}")));
            }
            *holder = None;
            let (waiting, _, next) = condition_parts(state, id);
            let ticket = *next;
            *next += 1;
            waiting.push_back(ticket);
            Ok(ticket)
        })?;
        let woke = self.world.wait_for(thread, id, |state, _| {
            let (_, notified, _) = condition_parts(state, id);
            Ok(notified.remove(&ticket).then_some(()))
        });
        if woke.is_err() {
            // Leave the queue so a later notify is not spent on a thread
            // that has gone.
            self.world.change(|state| {
                let (waiting, notified, _) = condition_parts(state, id);
                waiting.retain(|t| *t != ticket);
                notified.remove(&ticket);
            });
        }
        woke?;
        self.lock.acquire(thread)
    }

    /// Wakes up to `n` waiters, oldest first. The caller must hold the lock.
    pub(crate) fn notify(&self, thread: &GilThread, n: usize) -> Result<(), SyncError> {
        let tag = thread.tag();
        let id = self.id;
        if self.lock.holder() != Some(tag) {
            return Err(SyncError::NotOwner(format!(
                "the lock of {}",
                self.world.name(id)
            )));
        }
        self.world.change(|state| {
            let (waiting, notified, _) = condition_parts(state, id);
            for _ in 0..n {
                match waiting.pop_front() {
                    Some(ticket) => notified.insert(ticket),
                    None => break,
                };
            }
        });
        Ok(())
    }

    /// Wakes every waiter. The caller must hold the lock.
    pub fn notify_all(&self, thread: &GilThread) -> Result<(), SyncError> {
        self.notify(thread, usize::MAX)
    }
}

fn barrier_parts(state: &mut State, id: ObjectId) -> (u32, &mut u32, &mut u64, &mut bool) {
    match &mut state.objects[id].state {
        ObjectState::Barrier {
            parties,
            arrived,
            generation,
            broken,
        } => (*parties, arrived, generation, broken),
        other => unreachable!("object {id} is a {}, not a barrier", other.kind()),
    }
}

/// `threading.Barrier(parties)`: nobody passes until `parties` threads
/// wait; then all pass at once, and it can be used again.
#[derive(Debug, Clone)]
pub struct Barrier {
    world: World,
    id: ObjectId,
}

impl Barrier {
    /// A barrier called `name` for `parties` threads (at least 1).
    pub fn new(world: &World, name: &str, parties: u32) -> Self {
        let id = world.add(
            name,
            ObjectState::Barrier {
                parties: parties.max(1),
                arrived: 0,
                generation: 0,
                broken: false,
            },
        );
        Self {
            world: world.clone(),
            id,
        }
    }

    /// Waits until every party arrived; returns this thread's arrival
    /// index (0 for the first). A cancelled wait breaks the barrier, and
    /// every other waiter then fails with [`SyncError::Broken`].
    pub fn wait(&self, thread: &mut GilThread) -> Result<u32, SyncError> {
        let id = self.id;
        let (index, generation, last) = self.world.change(|state| {
            let name = state.name(id);
            let (parties, arrived, generation, broken) = barrier_parts(state, id);
            if *broken {
                return Err(SyncError::Broken(name));
            }
            let index = *arrived;
            *arrived += 1;
            let seen = *generation;
            let last = *arrived == parties;
            if last {
                *arrived = 0;
                *generation += 1;
            }
            Ok((index, seen, last))
        })?;
        if last {
            return Ok(index);
        }
        let passed = self.world.wait_for(thread, id, |state, _| {
            let name = state.name(id);
            let (_, _, now, broken) = barrier_parts(state, id);
            if *now != generation {
                Ok(Some(()))
            } else if *broken {
                Err(SyncError::Broken(name))
            } else {
                Ok(None)
            }
        });
        if passed.is_err() {
            self.world
                .change(|state| *barrier_parts(state, id).3 = true);
        }
        passed.map(|()| index)
    }
}

fn queue_parts(state: &mut State, id: ObjectId) -> (&mut VecDeque<u64>, usize) {
    match &mut state.objects[id].state {
        ObjectState::Queue { items, max } => (items, *max),
        other => unreachable!("object {id} is a {}, not a queue", other.kind()),
    }
}

/// `queue.Queue(maxsize)` of numbers: `put` waits while it is full, `get`
/// while it is empty; first in, first out.
#[derive(Debug, Clone)]
pub struct Queue {
    world: World,
    id: ObjectId,
}

impl Queue {
    /// A queue called `name` holding at most `max` items (at least 1).
    pub fn new(world: &World, name: &str, max: usize) -> Self {
        let id = world.add(
            name,
            ObjectState::Queue {
                items: VecDeque::new(),
                max: max.max(1),
            },
        );
        Self {
            world: world.clone(),
            id,
        }
    }

    /// Adds `item`, waiting with the GIL released while the queue is full.
    pub fn put(&self, thread: &mut GilThread, item: u64) -> Result<(), SyncError> {
        let id = self.id;
        self.world.wait_for(thread, id, |state, _| {
            let (items, max) = queue_parts(state, id);
            Ok((items.len() < max).then(|| items.push_back(item)))
        })
    }

    /// Takes the oldest item, waiting with the GIL released while empty.
    pub fn get(&self, thread: &mut GilThread) -> Result<u64, SyncError> {
        let id = self.id;
        self.world.wait_for(thread, id, |state, _| {
            Ok(queue_parts(state, id).0.pop_front())
        })
    }

    /// Items in it now.
    pub fn len(&self) -> usize {
        queue_parts(&mut self.world.lock(), self.id).0.len()
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most it holds.
    pub fn max(&self) -> usize {
        queue_parts(&mut self.world.lock(), self.id).1
    }
}
