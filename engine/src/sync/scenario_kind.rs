//! What a coordination-lab scenario is, below both the runner
//! (`scenario.rs`) and the threads' bodies (`scenario_bodies.rs`): the
//! [`ScenarioKind`]s, their sizes, the counters their threads share and
//! the shape of a thread body. Both import from here; neither imports the
//! other's internals (the runner calls `scenario_bodies::plan`).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::gil::GilThread;
use crate::work::HttpClient;

use super::status::PoolTask;
use super::world::SyncError;

/// Which scenario to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScenarioKind {
    /// Two threads take locks A and B in opposite orders: a deadlock.
    Deadlock,
    /// The fix: both take A, then B; they run to the end.
    DeadlockOrdered,
    /// Producers fill a bounded queue faster than a consumer empties it.
    ProducerConsumer,
    /// A `Semaphore(K)` lets at most K threads download at once.
    Semaphore,
    /// Waiters released together when one thread sets an `Event`.
    Event,
    /// Threads arriving at different times pass a `Barrier` together.
    Barrier,
    /// A `ThreadPoolExecutor` of 3 threads runs 9 mixed tasks.
    Pool,
}

impl ScenarioKind {
    /// The toolbox scenarios, in picker order.
    pub const TOOLBOX: [ScenarioKind; 5] = [
        ScenarioKind::ProducerConsumer,
        ScenarioKind::Semaphore,
        ScenarioKind::Event,
        ScenarioKind::Barrier,
        ScenarioKind::Pool,
    ];

    /// A short name ("producer/consumer").
    pub fn name(self) -> &'static str {
        match self {
            ScenarioKind::Deadlock => "deadlock: opposite order",
            ScenarioKind::DeadlockOrdered => "deadlock fixed: same order",
            ScenarioKind::ProducerConsumer => "producer/consumer",
            ScenarioKind::Semaphore => "semaphore",
            ScenarioKind::Event => "event",
            ScenarioKind::Barrier => "barrier",
            ScenarioKind::Pool => "thread pool",
        }
    }

    /// One line on what it shows.
    pub fn describe(self) -> &'static str {
        match self {
            ScenarioKind::Deadlock => "AB-1 takes A then B, BA-2 takes B then A",
            ScenarioKind::DeadlockOrdered => "both take A then B: no cycle can close",
            ScenarioKind::ProducerConsumer => {
                "2 producers, 1 slow consumer, Queue(4): producers block when full"
            }
            ScenarioKind::Semaphore => "6 downloads, Semaphore(2): never more than 2 in I/O",
            ScenarioKind::Event => "4 threads wait until a fifth sets an Event",
            ScenarioKind::Barrier => "4 threads arrive at different times, pass together",
            ScenarioKind::Pool => {
                "3 pool threads, 9 cpu/sleep/fetch tasks: who ran what, in which order"
            }
        }
    }
}

/// Downloads in the semaphore scenario.
pub const DOWNLOADS: usize = 6;
/// Downloads the semaphore lets run at once.
pub const SEMAPHORE_LIMIT: u64 = 2;
/// The bounded queue's size in the producer/consumer scenario.
pub const QUEUE_MAX: usize = 4;
/// Items each of the two producers puts.
pub const ITEMS_PER_PRODUCER: u64 = 24;
/// Rounds the two threads of the ordered deadlock variant hold both locks, together.
pub const ORDERED_ROUNDS: u64 = 80;
/// Parties of the event and barrier scenarios (waiters, not the setter).
pub const PARTIES: usize = 4;

/// Threads of the pool scenario's executor.
pub(crate) const POOL_THREADS: u32 = 3;

/// Counters and flags the threads share.
#[derive(Default)]
pub(crate) struct Shared {
    /// Items the producers put.
    pub(crate) produced: AtomicU64,
    /// Items the consumer took.
    pub(crate) consumed: AtomicU64,
    /// The deepest the queue got.
    pub(crate) depth_max: AtomicU64,
    /// Downloads under way now.
    pub(crate) in_io: AtomicU64,
    /// The most downloads under way at once.
    pub(crate) max_in_io: AtomicU64,
    /// Downloads finished.
    pub(crate) downloads: AtomicU64,
    /// Bytes downloaded.
    pub(crate) bytes: AtomicU64,
    /// Rounds the ordered deadlock variant completed.
    pub(crate) rounds: AtomicU64,
    /// Waiters released (event, barrier).
    pub(crate) released: AtomicU64,
    /// The HTTP client, built by the first download that needs it.
    pub(crate) http: OnceLock<Result<HttpClient, String>>,
    /// The pool scenario's tasks in submission order, each with the thread
    /// that ran it and its result once done.
    pub(crate) tasks: std::sync::Mutex<Vec<PoolTask>>,
    /// Pool tasks in the order they completed.
    pub(crate) completed: std::sync::Mutex<Vec<u64>>,
}

/// What a thread body gets.
pub(crate) type Body = Box<dyn FnOnce(&mut GilThread) -> Result<(), SyncError> + Send>;

/// `value` into `max` if larger.
pub(crate) fn raise(max: &AtomicU64, value: u64) {
    max.fetch_max(value, Ordering::Relaxed);
}
