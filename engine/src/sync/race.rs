//! The race lab: N threads increment one shared counter, the loop body run
//! as emulated bytecode with the eval-breaker check points of a chosen
//! Python version, so the updates lost are real outcomes, not a formula.
//!
//! The counter really is shared and really is read and written in two
//! steps: `LOAD_GLOBAL counter` is an atomic load, `STORE_GLOBAL counter`
//! an atomic swap of the incremented value — a read-modify-write that is
//! not atomic as a whole. Under `gil`/`legacy` a thread runs ops only while
//! it holds the emulated GIL, and can lose it only where
//! [`EvalBreakerModel::checks_after`] says; under `free` the threads run in
//! parallel. The swap also returns what it overwrote: if that is not what
//! the thread loaded, its store wiped out other threads' updates, which is
//! counted and marked on the timeline ([`Transition::LostUpdate`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cancel::{CancelToken, Cancelled};
use crate::gil::model::{EvalBreakerModel, Op, PythonVersion};
use crate::gil::{Gil, GilEvent, GilThread, Mode, SwitchInterval, Transition};
use crate::work::cpu_step;

pub use super::body::Body;
use super::locks::Lock;
use super::world::{SyncError, World};

/// Keep racing past the increments until enough has happened to be sure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extend {
    /// GIL hand-overs between threads to see at least (ignored in `free`).
    pub min_switches: u64,
    /// Time to race at least.
    pub min_duration: Duration,
}

/// One race.
#[derive(Debug, Clone)]
pub struct RaceConfig {
    /// The loop body.
    pub(crate) body: Body,
    /// Threads racing.
    pub threads: u32,
    /// Increments per thread.
    pub increments: u64,
    /// The GIL mode (ignored when [`gil`](Self::gil) is given).
    pub mode: Mode,
    /// Whose eval-breaker model to use (`legacy` mode always uses 2.7's).
    pub python_version: PythonVersion,
    /// The switch interval (ignored when [`gil`](Self::gil) is given).
    pub interval: SwitchInterval,
    /// CPU steps of work per op: one is about one Python bytecode.
    pub(crate) op_cost: u32,
    /// Race on past the increments until this much happened.
    pub extend: Option<Extend>,
    /// Stop, whatever happened, after this long.
    pub timeout: Duration,
    /// Run under this GIL (the dashboard's) instead of a fresh one.
    pub gil: Option<Gil>,
    /// Cancels the race.
    pub cancel: CancelToken,
    /// Nice value the racing threads lower themselves to (0: as they are);
    /// the dashboard gives its workers' so that a race never starves the UI.
    pub nice: u8,
}

impl RaceConfig {
    /// `threads` × `increments` of `body` in `mode` with the default
    /// version, interval and pacing.
    pub fn new(body: Body, threads: u32, increments: u64, mode: Mode) -> Self {
        Self {
            body,
            threads,
            increments,
            mode,
            python_version: PythonVersion::DEFAULT,
            interval: SwitchInterval::DEFAULT,
            op_cost: 1,
            extend: None,
            timeout: Duration::from_secs(60),
            gil: None,
            cancel: CancelToken::new(),
            nice: 0,
        }
    }
}

/// What a race did: one row of `threadlab bench race`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RaceOutcome {
    /// The loop body.
    pub(crate) body: Body,
    /// Threads that raced.
    pub threads: u32,
    /// Increments each thread was asked for.
    pub increments: u64,
    /// Increments the threads completed (their stores).
    pub expected: u64,
    /// The counter at the end.
    pub counter: u64,
    /// Updates lost: `expected - counter`.
    pub lost: u64,
    /// Stores that overwrote another thread's update.
    pub clobbers: u64,
    /// The GIL mode.
    pub mode: Mode,
    /// Whose eval-breaker model ran.
    pub python_version: PythonVersion,
    /// GIL hand-overs between threads.
    pub switches: u64,
    /// Forced switches (drop requests honoured).
    pub(crate) forced_switches: u64,
    /// Wall time.
    pub wall_s: f64,
    /// Stopped by the timeout rather than by finishing.
    #[serde(default)]
    pub timed_out: bool,
}

/// The live numbers of a running race.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RaceProgress {
    /// Increments completed so far.
    pub expected: u64,
    /// The counter now.
    pub counter: u64,
    /// Stores so far that overwrote another thread's update.
    pub clobbers: u64,
}

impl RaceProgress {
    /// Updates lost so far (a store in flight may still change it).
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.counter)
    }
}

/// Marks at most one lost update per thread per this many microseconds on
/// the timeline, so a free-mode race cannot flood the ring.
const MARK_SPACING_US: u64 = 200;

struct Shared {
    counter: AtomicU64,
    done: Vec<AtomicU64>,
    clobbers: AtomicU64,
    stop: AtomicBool,
    timed_out: AtomicBool,
    started: Instant,
}

/// A race running on its own threads.
pub struct Race {
    config: RaceConfig,
    gil: Gil,
    world: World,
    shared: Arc<Shared>,
    handles: Vec<std::thread::JoinHandle<Result<(), SyncError>>>,
    version: PythonVersion,
    lanes: Vec<(crate::gil::ThreadTag, String)>,
}

impl Race {
    /// Starts the racing threads (named `race-1` …).
    pub fn spawn(config: RaceConfig) -> std::io::Result<Self> {
        let gil = config
            .gil
            .clone()
            .unwrap_or_else(|| Gil::new(config.mode, config.interval));
        let mode = gil.mode();
        let version = config.python_version.for_mode(mode);
        if let Some(ticks) = version.model().ticks_per_release()
            && gil.legacy_ticks() == crate::gil::DEFAULT_LEGACY_TICKS
        {
            // The version's own ticks per release (2.7: 101, which legacy
            // mode now uses by default too: with 100 and a loop of five
            // check points the release would always land on the same
            // instruction and `counter += 1` could never lose an update).
            // A tick count set on purpose is left alone.
            gil.set_legacy_ticks(ticks);
        }
        if config.gil.is_none() {
            // Where in the loop body the release lands is the race's
            // subject: its own lock counts ticks alone, not Python 2's
            // time per tick (the ops are modelled one tick each).
            gil.set_legacy_tick_ns(0);
        }
        let world = World::new(gil.clone(), config.cancel.clone());
        let lock = Lock::new(&world, "lock");
        let shared = Arc::new(Shared {
            counter: AtomicU64::new(0),
            done: (0..config.threads).map(|_| AtomicU64::new(0)).collect(),
            clobbers: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            timed_out: AtomicBool::new(false),
            started: Instant::now(),
        });
        let mut handles = Vec::new();
        let mut lanes = Vec::new();
        for index in 0..config.threads as usize {
            let thread = gil.register(config.cancel.clone());
            lanes.push((thread.tag(), format!("race-{}", index + 1)));
            let racer = Racer {
                shared: Arc::clone(&shared),
                index,
                config: config.clone(),
                model: version.model(),
                lock: lock.clone(),
            };
            let spawned = std::thread::Builder::new()
                .name(format!("race-{}", index + 1))
                .spawn(move || {
                    let mut thread = thread;
                    thread.lower_priority(racer.config.nice);
                    racer.run(thread)
                });
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(error) => {
                    config.cancel.cancel();
                    world.cancel();
                    for handle in handles {
                        let _ = handle.join();
                    }
                    return Err(error);
                }
            }
        }
        Ok(Self {
            config,
            gil,
            world,
            shared,
            handles,
            version,
            lanes,
        })
    }

    /// Each racing thread's lane on the timeline and its name (`race-1` …).
    pub fn lanes(&self) -> &[(crate::gil::ThreadTag, String)] {
        &self.lanes
    }

    /// Whose eval-breaker model it runs.
    pub fn python_version(&self) -> PythonVersion {
        self.version
    }

    /// The numbers so far.
    pub fn progress(&self) -> RaceProgress {
        RaceProgress {
            expected: self
                .shared
                .done
                .iter()
                .map(|d| d.load(Ordering::Relaxed))
                .sum(),
            counter: self.shared.counter.load(Ordering::Relaxed),
            clobbers: self.shared.clobbers.load(Ordering::Relaxed),
        }
    }

    /// True once every racing thread has stopped.
    pub fn is_finished(&self) -> bool {
        self.handles.iter().all(|h| h.is_finished())
    }

    /// Waits for the threads and returns the outcome; `Err` if the race was
    /// cancelled or a thread failed.
    pub fn wait(mut self) -> Result<RaceOutcome, String> {
        let mut failure = None;
        for handle in self.handles.drain(..) {
            match handle.join() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => failure = Some(error.to_string()),
                Err(_) => failure = Some("a racing thread panicked".to_string()),
            }
        }
        if let Some(failure) = failure {
            return Err(failure);
        }
        let progress = self.progress();
        Ok(RaceOutcome {
            body: self.config.body,
            threads: self.config.threads,
            increments: self.config.increments,
            expected: progress.expected,
            counter: progress.counter,
            lost: progress.lost(),
            clobbers: progress.clobbers,
            mode: self.gil.mode(),
            python_version: self.version,
            switches: self.gil.switches(),
            forced_switches: self.gil.forced_switches(),
            wall_s: self.shared.started.elapsed().as_secs_f64(),
            timed_out: self.shared.timed_out.load(Ordering::Relaxed),
        })
    }

    /// Stops the threads at their next check and waits for them.
    pub fn cancel(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        // Through the world, so a thread waiting on the lock wakes at once.
        self.world.cancel();
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }

    /// Cancels the race and joins its threads until `deadline`, leaving
    /// any that have not ended by then (the dashboard's exit).
    pub(crate) fn cancel_by(mut self, deadline: std::time::Instant) -> usize {
        self.world.cancel();
        crate::cancel::join_by(std::mem::take(&mut self.handles), deadline)
    }
}

impl Drop for Race {
    fn drop(&mut self) {
        if !self.handles.is_empty() {
            self.stop();
        }
    }
}

/// Runs a race to the end on the calling thread's behalf.
pub fn run_race(config: RaceConfig) -> Result<RaceOutcome, String> {
    Race::spawn(config)
        .map_err(|e| format!("cannot start the racing threads: {e}"))?
        .wait()
}

/// One racing thread.
struct Racer {
    shared: Arc<Shared>,
    index: usize,
    config: RaceConfig,
    model: EvalBreakerModel,
    lock: Lock,
}

impl Racer {
    fn run(self, mut thread: GilThread) -> Result<(), SyncError> {
        let outcome = self.race(&mut thread);
        thread.exit();
        outcome
    }

    /// Whether the loop ends at this `FOR_ITER`.
    fn finished(&self, done: u64, gil: &Gil) -> bool {
        if done < self.config.increments {
            return false;
        }
        let shared = &self.shared;
        if shared.stop.load(Ordering::Relaxed) {
            return true;
        }
        let Some(extend) = self.config.extend else {
            return true;
        };
        let elapsed = shared.started.elapsed();
        if elapsed >= self.config.timeout {
            shared.timed_out.store(true, Ordering::Relaxed);
            shared.stop.store(true, Ordering::Relaxed);
            return true;
        }
        let switched = gil.mode() == Mode::Free || gil.switches() >= extend.min_switches;
        if switched && elapsed >= extend.min_duration {
            shared.stop.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }

    fn race(&self, thread: &mut GilThread) -> Result<(), SyncError> {
        let program = self.config.body.program();
        let checks: Vec<bool> = program
            .iter()
            .map(|op| self.model.checks_after(*op))
            .collect();
        let shared = &*self.shared;
        let gil = thread.gil().clone();
        let mut work = 0x9E37_79B9_7F4A_7C15 ^ self.index as u64;
        let mut done = 0u64;
        let mut value = 0u64;
        let mut loaded = 0u64;
        let mut last_mark_us = 0u64;
        thread.enter()?;
        loop {
            for (op, &check) in program.iter().zip(&checks) {
                match op {
                    Op::ForIter => {
                        if self.finished(done, &gil) {
                            return Ok(());
                        }
                    }
                    Op::LoadCounter => {
                        loaded = shared.counter.load(Ordering::Relaxed);
                        value = loaded;
                    }
                    Op::Add => value += 1,
                    Op::StoreCounter => {
                        let overwrote = shared.counter.swap(value, Ordering::Relaxed);
                        done += 1;
                        shared.done[self.index].store(done, Ordering::Relaxed);
                        if overwrote != loaded {
                            shared.clobbers.fetch_add(1, Ordering::Relaxed);
                            let now = gil.now_us();
                            if now >= last_mark_us + MARK_SPACING_US {
                                last_mark_us = now;
                                gil.timeline().push(GilEvent {
                                    at_us: now,
                                    thread: thread.tag(),
                                    what: Transition::LostUpdate,
                                });
                            }
                        }
                    }
                    Op::Acquire => self.lock.acquire(thread)?,
                    Op::Release => self.lock.release()?,
                    Op::StoreFast
                    | Op::LoadFast
                    | Op::LoadConst
                    | Op::LoadGlobal
                    | Op::Call
                    | Op::Resume
                    | Op::Return
                    | Op::JumpBackward => {}
                }
                for _ in 0..self.config.op_cost {
                    work = cpu_step(work);
                }
                if check {
                    thread.check().map_err(|Cancelled| SyncError::Cancelled)?;
                }
            }
        }
    }
}
