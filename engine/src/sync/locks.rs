//! The lab's locks: [`Lock`], [`RLock`] and [`Semaphore`], with the
//! contracts of Python's `threading` objects of the same names.
//!
//! A contended acquire releases the emulated GIL while it waits (CPython's
//! `acquire_timed` does the same after one non-blocking try), is recorded as
//! "blocked on lock A", and gives up when the world is cancelled. Locks
//! know their holder, so the wait-for graph ([`super::deadlock`]) can follow
//! "waits for A, held by 2".

use crate::gil::{GilThread, ThreadTag};

use super::world::{ObjectId, ObjectState, State, SyncError, World};

fn lock_holder(state: &mut State, id: ObjectId) -> &mut Option<ThreadTag> {
    match &mut state.objects[id].state {
        ObjectState::Lock { holder } => holder,
        other => unreachable!("object {id} is a {}, not a lock", other.kind()),
    }
}

fn rlock_parts(state: &mut State, id: ObjectId) -> (&mut Option<ThreadTag>, &mut u32) {
    match &mut state.objects[id].state {
        ObjectState::RLock { holder, depth } => (holder, depth),
        other => unreachable!("object {id} is a {}, not an rlock", other.kind()),
    }
}

fn semaphore_value(state: &mut State, id: ObjectId) -> &mut u64 {
    match &mut state.objects[id].state {
        ObjectState::Semaphore { value } => value,
        other => unreachable!("object {id} is a {}, not a semaphore", other.kind()),
    }
}

/// `threading.Lock`: held by at most one thread; any thread may release it.
#[derive(Debug, Clone)]
pub struct Lock {
    world: World,
    id: ObjectId,
}

impl Lock {
    /// A new, unlocked lock called `name` in `world`.
    pub fn new(world: &World, name: &str) -> Self {
        let id = world.add(name, ObjectState::Lock { holder: None });
        Self {
            world: world.clone(),
            id,
        }
    }

    /// Its id in the world.
    pub(crate) fn id(&self) -> ObjectId {
        self.id
    }

    /// Takes the lock, waiting with the GIL released while another holds it.
    pub fn acquire(&self, thread: &mut GilThread) -> Result<(), SyncError> {
        let id = self.id;
        self.world.wait_for(thread, id, |state, tag| {
            let holder = lock_holder(state, id);
            Ok(holder.is_none().then(|| *holder = Some(tag)))
        })
    }

    /// Releases the lock (any thread may, as with `threading.Lock`).
    pub fn release(&self) -> Result<(), SyncError> {
        self.world.change(|state| {
            let name = state.name(self.id);
            let holder = lock_holder(state, self.id);
            holder.take().map(|_| ()).ok_or(SyncError::NotLocked(name))
        })
    }

    /// The thread holding it, if any.
    pub fn holder(&self) -> Option<ThreadTag> {
        *lock_holder(&mut self.world.lock(), self.id)
    }
}

/// `threading.RLock`: the holder may take it again; only the holder may
/// release it, as often as it took it.
#[derive(Debug, Clone)]
pub struct RLock {
    world: World,
    id: ObjectId,
}

impl RLock {
    /// A new, unlocked re-entrant lock called `name` in `world`.
    pub fn new(world: &World, name: &str) -> Self {
        let id = world.add(
            name,
            ObjectState::RLock {
                holder: None,
                depth: 0,
            },
        );
        Self {
            world: world.clone(),
            id,
        }
    }

    /// Takes it (again, if this thread holds it already).
    pub fn acquire(&self, thread: &mut GilThread) -> Result<(), SyncError> {
        let id = self.id;
        self.world.wait_for(thread, id, |state, tag| {
            let (holder, depth) = rlock_parts(state, id);
            match *holder {
                None => {
                    *holder = Some(tag);
                    *depth = 1;
                    Ok(Some(()))
                }
                Some(owner) if owner == tag => {
                    *depth += 1;
                    Ok(Some(()))
                }
                Some(_) => Ok(None),
            }
        })
    }

    /// Releases one level; the lock is free once every level is released.
    pub fn release(&self, thread: &GilThread) -> Result<(), SyncError> {
        let tag = thread.tag();
        self.world.change(|state| {
            let name = state.name(self.id);
            let (holder, depth) = rlock_parts(state, self.id);
            match *holder {
                Some(owner) if owner == tag => {
                    *depth -= 1;
                    if *depth == 0 {
                        *holder = None;
                    }
                    Ok(())
                }
                _ => Err(SyncError::NotOwner(name)),
            }
        })
    }

    /// The holder and how many times it took the lock.
    pub fn holder(&self) -> Option<(ThreadTag, u32)> {
        let mut state = self.world.lock();
        let (holder, depth) = rlock_parts(&mut state, self.id);
        holder.map(|tag| (tag, *depth))
    }
}

/// `threading.Semaphore(value)`: at most `value` threads between an
/// acquire and a release.
#[derive(Debug, Clone)]
pub struct Semaphore {
    world: World,
    id: ObjectId,
}

impl Semaphore {
    /// A semaphore called `name` that admits `value` threads at once.
    pub fn new(world: &World, name: &str, value: u64) -> Self {
        let id = world.add(name, ObjectState::Semaphore { value });
        Self {
            world: world.clone(),
            id,
        }
    }

    /// Takes one unit, waiting with the GIL released while none is left.
    pub fn acquire(&self, thread: &mut GilThread) -> Result<(), SyncError> {
        let id = self.id;
        self.world.wait_for(thread, id, |state, _| {
            let value = semaphore_value(state, id);
            Ok((*value > 0).then(|| *value -= 1))
        })
    }

    /// Gives one unit back.
    pub fn release(&self) {
        self.world
            .change(|state| *semaphore_value(state, self.id) += 1);
    }

    /// Units left now.
    pub fn value(&self) -> u64 {
        *semaphore_value(&mut self.world.lock(), self.id)
    }
}
