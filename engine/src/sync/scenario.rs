//! Dashboard-sized runs of the coordination lab: the two-locks deadlock (in
//! opposite orders, or the fix, one order) and the `threading` toolbox —
//! producer/consumer over a bounded [`Queue`](super::Queue), a
//! [`Semaphore`](super::Semaphore) limiting real downloads, workers
//! released together by an [`Event`](super::Event) and by a
//! [`Barrier`](super::Barrier), and a [`Pool`](super::Pool).
//!
//! A [`Scenario`] runs its threads under a GIL it is given (the
//! dashboard's), so they get lanes on its timeline and every blocking wait
//! is stamped there. The caller polls [`Scenario::status`] for what each
//! thread does ("blocked on queue jobs"), the lab's own counters (queue
//! depth, downloads in I/O and the most ever at once) and a deadlock
//! found in the wait-for graph, named with the threads' names. Cancelling
//! breaks every wait at once. The thread bodies are in `scenario_bodies`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::cancel::CancelToken;
use crate::gil::{Gil, GilThread, ThreadTag};
use crate::work::HttpClient;

pub use super::status::{LabCounters, LabThread, LabThreadState, PoolTask, ScenarioStatus};

use super::scenario_bodies as bodies;
use super::world::{SyncAction, SyncError, World};

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

/// How a scenario is set up.
#[derive(Debug, Clone)]
pub struct ScenarioConfig {
    /// Which one.
    pub kind: ScenarioKind,
    /// The GIL its threads run under (the dashboard's).
    pub gil: Gil,
    /// What the semaphore scenario downloads (the embedded server's URL).
    pub fetch_url: String,
    /// Nice value its threads lower themselves to (0: as they are); the
    /// dashboard gives its workers' so that a scenario never starves the UI.
    pub nice: u8,
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

const RUNNING: u8 = 0;
const DONE: u8 = 1;
const CANCELLED: u8 = 2;
const FAILED: u8 = 3;

/// Counters and flags the threads share.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) produced: AtomicU64,
    pub(crate) consumed: AtomicU64,
    pub(crate) depth_max: AtomicU64,
    pub(crate) in_io: AtomicU64,
    pub(crate) max_in_io: AtomicU64,
    pub(crate) downloads: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) rounds: AtomicU64,
    pub(crate) released: AtomicU64,
    pub(crate) http: OnceLock<Result<HttpClient, String>>,
    pub(crate) tasks: std::sync::Mutex<Vec<PoolTask>>,
    pub(crate) completed: std::sync::Mutex<Vec<u64>>,
}

struct Spawned {
    tag: ThreadTag,
    name: String,
    state: Arc<AtomicU8>,
    error: Arc<OnceLock<String>>,
    ended: Arc<OnceLock<Instant>>,
    handle: JoinHandle<()>,
}

/// A scenario running on its own threads.
pub struct Scenario {
    kind: ScenarioKind,
    world: World,
    shared: Arc<Shared>,
    threads: Vec<Spawned>,
    /// Threads it did not start itself (the pool's), with their names.
    extra: Vec<(ThreadTag, String)>,
    queue: Option<super::Queue>,
    event_seq: u64,
    producer_blocks: u64,
    wakes: Vec<u64>,
    detection_us: Option<u64>,
    interrupted: OnceLock<Instant>,
    nice: u8,
}

/// What a thread body gets.
pub(crate) type Body = Box<dyn FnOnce(&mut GilThread) -> Result<(), SyncError> + Send>;

impl Scenario {
    /// Starts the scenario's threads.
    pub fn spawn(config: ScenarioConfig) -> std::io::Result<Self> {
        let world = World::new(config.gil.clone(), CancelToken::new());
        let shared = Arc::new(Shared::default());
        let mut scenario = Self {
            kind: config.kind,
            world: world.clone(),
            shared: Arc::clone(&shared),
            threads: Vec::new(),
            extra: Vec::new(),
            queue: None,
            event_seq: 0,
            producer_blocks: 0,
            wakes: Vec::new(),
            detection_us: None,
            interrupted: OnceLock::new(),
            nice: config.nice,
        };
        let plan = bodies::plan(config.kind, &world, &shared, &config.fetch_url, config.nice)?;
        scenario.queue = plan.queue;
        scenario.extra = plan.extra;
        for (name, body) in plan.threads {
            if let Err(error) = scenario.start(name, body) {
                scenario.stop();
                return Err(error);
            }
        }
        Ok(scenario)
    }

    fn start(&mut self, name: String, body: Body) -> std::io::Result<()> {
        let mut thread = self.world.gil().register(self.world.cancel_token().clone());
        let tag = thread.tag();
        let state = Arc::new(AtomicU8::new(RUNNING));
        let error: Arc<OnceLock<String>> = Arc::default();
        let ended: Arc<OnceLock<Instant>> = Arc::default();
        let (flag, message, end_at) = (Arc::clone(&state), Arc::clone(&error), Arc::clone(&ended));
        let world = self.world.clone();
        let nice = self.nice;
        let handle = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                crate::work::lower_priority(nice);
                let outcome = thread
                    .enter()
                    .map_err(SyncError::from)
                    .and_then(|()| body(&mut thread));
                thread.exit();
                let end = match outcome {
                    Ok(()) => DONE,
                    Err(SyncError::Cancelled) => CANCELLED,
                    Err(other) => {
                        let _ = message.set(other.to_string());
                        FAILED
                    }
                };
                let _ = end_at.set(Instant::now());
                flag.store(end, Ordering::SeqCst);
                // Whoever watches the world (a deadlock detector) looks again.
                world.change(|_| ());
            })?;
        self.threads.push(Spawned {
            tag,
            name,
            state,
            error,
            ended,
            handle,
        });
        Ok(())
    }

    /// Each thread's lane and name, in start order.
    pub fn lanes(&self) -> Vec<(ThreadTag, String)> {
        self.threads
            .iter()
            .map(|t| (t.tag, t.name.clone()))
            .chain(self.extra.iter().cloned())
            .collect()
    }

    /// True once every thread has stopped.
    pub(crate) fn is_finished(&self) -> bool {
        self.threads.iter().all(|t| t.handle.is_finished())
    }

    /// What every thread does now, the counters, and a deadlock if one
    /// formed. Cheap: one look at the world and the events since the last.
    pub fn status(&mut self) -> ScenarioStatus {
        let names: HashMap<ThreadTag, String> = self.lanes().into_iter().collect();
        self.read_events();
        let blocked = self.world.blocked_names();
        let finished = self.is_finished();
        let extra = self.extra.iter().map(|(tag, name)| LabThread {
            tag: *tag,
            name: name.clone(),
            // Once the run is over (its own threads joined the pool's), an
            // extra thread still listed as blocked is a wait it was woken
            // from as it ended: done.
            state: match blocked.get(tag) {
                _ if finished => LabThreadState::Done,
                Some(on) => LabThreadState::Blocked(on.clone()),
                None => LabThreadState::Running,
            },
        });
        let threads = self
            .threads
            .iter()
            .map(|t| {
                let state = match t.state.load(Ordering::SeqCst) {
                    DONE => LabThreadState::Done,
                    CANCELLED => LabThreadState::Cancelled,
                    FAILED => LabThreadState::Failed(t.error.get().cloned().unwrap_or_default()),
                    _ => blocked.get(&t.tag).map_or(LabThreadState::Running, |on| {
                        LabThreadState::Blocked(on.clone())
                    }),
                };
                LabThread {
                    tag: t.tag,
                    name: t.name.clone(),
                    state,
                }
            })
            .chain(extra)
            .collect();
        let broken_in_ms = self.interrupted.get().filter(|_| finished).map(|at| {
            let last = self.threads.iter().filter_map(|t| t.ended.get()).max();
            last.map_or(0.0, |last| {
                last.saturating_duration_since(*at).as_secs_f64() * 1000.0
            })
        });
        let cycle = self.world.find_deadlock();
        if let Some(cycle) = &cycle
            && self.detection_us.is_none()
        {
            let now = self.world.gil().now_us();
            let closed = self.last_block_of(&cycle.threads()).unwrap_or(now);
            self.detection_us = Some(now.saturating_sub(closed));
        }
        let name = |tag: ThreadTag| names.get(&tag).cloned().unwrap_or(format!("thread {tag}"));
        let s = &self.shared;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let depth = self.queue.as_ref().map_or(0, |q| q.len() as u64);
        let spread = match (self.wakes.iter().min(), self.wakes.iter().max()) {
            (Some(first), Some(last)) => last - first,
            _ => 0,
        };
        ScenarioStatus {
            threads,
            cycle: cycle.map(|c| c.named(name)),
            detection_us: self.detection_us,
            counters: LabCounters {
                produced: load(&s.produced),
                consumed: load(&s.consumed),
                depth,
                depth_max: load(&s.depth_max).max(depth),
                producer_blocks: self.producer_blocks,
                in_io: load(&s.in_io),
                max_in_io: load(&s.max_in_io),
                downloads: load(&s.downloads),
                bytes: load(&s.bytes),
                released: load(&s.released),
                release_spread_us: spread,
                rounds: load(&s.rounds),
            },
            finished,
            broken_in_ms,
            tasks: s
                .tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            completed: s
                .completed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }

    /// Counts blocks and wakes from the world's events since the last look.
    fn read_events(&mut self) {
        let mut events = Vec::new();
        self.event_seq = self.world.read_events_since(self.event_seq, &mut events);
        let producers: Vec<ThreadTag> = self
            .threads
            .iter()
            .filter(|t| t.name.starts_with("prod"))
            .map(|t| t.tag)
            .collect();
        for event in events {
            let object = self.world.name(event.object);
            match (self.kind, event.what) {
                (ScenarioKind::ProducerConsumer, SyncAction::Blocked)
                    if producers.contains(&event.thread) =>
                {
                    self.producer_blocks += 1;
                }
                (ScenarioKind::Event, SyncAction::Woke) if object == "go" => {
                    self.wakes.push(event.at_us);
                }
                (ScenarioKind::Barrier, SyncAction::Woke) if object == "meet" => {
                    self.wakes.push(event.at_us);
                }
                _ => {}
            }
        }
    }

    fn last_block_of(&self, threads: &[ThreadTag]) -> Option<u64> {
        let mut events = Vec::new();
        self.world.read_events_since(0, &mut events);
        events
            .iter()
            .filter(|e| e.what == SyncAction::Blocked && threads.contains(&e.thread))
            .map(|e| e.at_us)
            .max()
    }

    /// Cancels every wait and waits for the threads (breaks a deadlock).
    pub fn cancel(mut self) {
        self.stop();
    }

    /// Cancels the run without waiting for its threads: they stop at their
    /// next check or wait; [`Scenario::is_finished`] says when.
    pub fn interrupt(&self) {
        let _ = self.interrupted.set(Instant::now());
        self.world.cancel();
    }

    fn stop(&mut self) {
        self.world.cancel();
        for thread in self.threads.drain(..) {
            let _ = thread.handle.join();
        }
    }

    /// Cancels the run and joins its threads until `deadline`, leaving any
    /// that have not ended by then (the dashboard's exit).
    pub(crate) fn cancel_by(mut self, deadline: Instant) -> usize {
        self.world.cancel();
        let handles = self.threads.drain(..).map(|t| t.handle).collect();
        crate::cancel::join_by(handles, deadline)
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop();
        }
    }
}

/// `value` into `max` if larger.
pub(crate) fn raise(max: &AtomicU64, value: u64) {
    max.fetch_max(value, Ordering::Relaxed);
}
