//! A thread pool in the manner of `concurrent.futures.ThreadPoolExecutor`:
//! a fixed set of worker threads take jobs from a lab [`Queue`]; `submit`
//! returns a [`PoolFuture`] whose `result` waits — GIL released, recorded as
//! "blocked on future N" — until its job ran.
//!
//! Jobs run "Python": they get the worker's [`GilThread`] and hold the
//! emulated GIL between their checks, so CPU-bound jobs take turns under
//! `gil` while jobs that block (on lab objects or through
//! [`GilThread::blocking`]) overlap — the pool shows the same truths as the
//! workers of the dashboard.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crate::gil::GilThread;

use super::signals::{Event, Queue};
use super::world::{SyncError, World};

/// What a job is: "Python" run on a pool worker, answering a number.
pub(crate) type Job = Box<dyn FnOnce(&mut GilThread) -> Result<u64, SyncError> + Send>;

/// The job id that tells a worker to stop.
const STOP: u64 = u64::MAX;

/// Jobs queued at most before `submit` waits (ThreadPoolExecutor's queue
/// is unbounded; this one is just large).
const QUEUE_LIMIT: usize = 1 << 16;

type Slot = Arc<Mutex<Option<Result<u64, SyncError>>>>;

#[derive(Default)]
struct Table {
    jobs: HashMap<u64, (Job, Slot, Event)>,
}

/// The pending result of a submitted job.
#[derive(Debug, Clone)]
pub struct PoolFuture {
    done: Event,
    slot: Slot,
}

impl PoolFuture {
    /// Waits (GIL released) until the job ran and returns what it answered.
    pub fn result(&self, thread: &mut GilThread) -> Result<u64, SyncError> {
        self.done.wait(thread)?;
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .expect("a job's result is stored before its event is set")
    }
}

/// A fixed set of worker threads running submitted jobs.
pub struct Pool {
    world: World,
    queue: Queue,
    table: Arc<Mutex<Table>>,
    next: AtomicU64,
    handles: Vec<JoinHandle<()>>,
    lanes: Vec<(crate::gil::ThreadTag, String)>,
}

impl Pool {
    /// Starts `workers` threads (named `<name>-1` …) in `world`, each
    /// lowered to `nice` first (0: as they are; the dashboard gives its
    /// workers' nice so that the pool never takes the CPU from the UI).
    pub fn new(world: &World, name: &str, workers: u32, nice: u8) -> std::io::Result<Self> {
        let queue = Queue::new(world, &format!("{name} jobs"), QUEUE_LIMIT);
        let table: Arc<Mutex<Table>> = Arc::default();
        let mut pool = Self {
            world: world.clone(),
            queue,
            table,
            next: AtomicU64::new(0),
            handles: Vec::new(),
            lanes: Vec::new(),
        };
        for index in 0..workers.max(1) {
            let mut thread = world.gil().register(world.cancel_token().clone());
            pool.lanes
                .push((thread.tag(), format!("{name}-{}", index + 1)));
            let queue = pool.queue.clone();
            let table = Arc::clone(&pool.table);
            let handle = std::thread::Builder::new()
                .name(format!("{name}-{}", index + 1))
                .spawn(move || {
                    thread.lower_priority(nice);
                    let _ = work(&mut thread, &queue, &table);
                    thread.exit();
                })?;
            pool.handles.push(handle);
        }
        Ok(pool)
    }

    /// Each worker's lane on the timeline and its name (`pool-1` …).
    pub(crate) fn lanes(&self) -> &[(crate::gil::ThreadTag, String)] {
        &self.lanes
    }

    /// The queue its jobs wait in (its length is the backlog).
    pub(crate) fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Queues `job`; its future answers once a worker ran it.
    pub fn submit(
        &self,
        thread: &mut GilThread,
        job: impl FnOnce(&mut GilThread) -> Result<u64, SyncError> + Send + 'static,
    ) -> Result<PoolFuture, SyncError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let done = Event::new(&self.world, &format!("future {id}"));
        let slot: Slot = Arc::default();
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .jobs
            .insert(id, (Box::new(job), Arc::clone(&slot), done.clone()));
        self.queue.put(thread, id)?;
        Ok(PoolFuture { done, slot })
    }

    /// Lets the queued jobs finish, stops the workers and waits for them
    /// with the GIL released (`executor.shutdown(wait=True)`).
    pub fn shutdown(mut self, thread: &mut GilThread) -> Result<(), SyncError> {
        for _ in 0..self.handles.len() {
            self.queue.put(thread, STOP)?;
        }
        let handles = std::mem::take(&mut self.handles);
        thread.blocking(|| {
            for handle in handles {
                let _ = handle.join();
            }
        })?;
        Ok(())
    }
}

impl Drop for Pool {
    /// A pool dropped without [`shutdown`](Pool::shutdown) cancels its
    /// world, so every worker stops at its next check or wait, and joins
    /// them (cancelled workers never wait for the GIL again).
    fn drop(&mut self) {
        if self.handles.is_empty() {
            return;
        }
        self.world.cancel();
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

/// One worker's loop.
fn work(thread: &mut GilThread, queue: &Queue, table: &Mutex<Table>) -> Result<(), SyncError> {
    thread.enter()?;
    loop {
        let id = queue.get(thread)?;
        if id == STOP {
            return Ok(());
        }
        let entry = table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .jobs
            .remove(&id);
        let Some((job, slot, done)) = entry else {
            continue;
        };
        let outcome = job(thread);
        let cancelled = outcome == Err(SyncError::Cancelled);
        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
        done.set();
        if cancelled {
            return Err(SyncError::Cancelled);
        }
    }
}
