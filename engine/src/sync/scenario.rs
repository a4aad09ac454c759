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
use crate::gil::{Gil, ThreadTag};

pub use super::status::{LabCounters, LabThread, LabThreadState, PoolTask, ScenarioStatus};

use super::scenario_bodies as bodies;
use super::scenario_kind::{Body, Shared};
pub use super::scenario_kind::{
    DOWNLOADS, ITEMS_PER_PRODUCER, ORDERED_ROUNDS, PARTIES, QUEUE_MAX, SEMAPHORE_LIMIT,
    ScenarioKind,
};
use super::world::{SyncAction, SyncError, World};

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

const RUNNING: u8 = 0;
const DONE: u8 = 1;
const CANCELLED: u8 = 2;
const FAILED: u8 = 3;

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
                thread.lower_priority(nice);
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
        let threads = self.thread_states(&blocked, finished);
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
        ScenarioStatus {
            threads,
            cycle: cycle.map(|c| c.named(name)),
            detection_us: self.detection_us,
            counters: self.counters(),
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

    /// Each thread's state, the scenario's own in start order, then the
    /// extra ones (the pool's): how it ended, else what it is blocked on
    /// (`blocked`, by tag), else running.
    fn thread_states(
        &self,
        blocked: &HashMap<ThreadTag, String>,
        finished: bool,
    ) -> Vec<LabThread> {
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
        self.threads
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
            .collect()
    }

    /// The scenario's counters as they stand (the threads' shared ones, the
    /// queue's depth, blocks and wakes counted from the events).
    fn counters(&self) -> LabCounters {
        let s = &self.shared;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let depth = self.queue.as_ref().map_or(0, |q| q.len() as u64);
        let spread = match (self.wakes.iter().min(), self.wakes.iter().max()) {
            (Some(first), Some(last)) => last - first,
            _ => 0,
        };
        LabCounters {
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
