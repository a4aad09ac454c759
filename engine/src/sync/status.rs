//! What a [`Scenario`](super::Scenario) reports when polled: each
//! thread's state, the lab's own counters, a named deadlock, the pool's
//! tasks. Plain data, cheap to compare (the dashboard skips a frame when
//! nothing changed).

use crate::gil::ThreadTag;

/// One task of the pool scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolTask {
    /// Its number, in submission order from 0.
    pub id: u64,
    /// What it does ("cpu 20 ms", "sleep 60 ms", "fetch").
    pub work: &'static str,
    /// The pool thread that took it, once one did.
    pub thread: Option<String>,
    /// What it answered, once done.
    pub result: Option<String>,
}

/// Where a scenario's thread is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabThreadState {
    /// Running (holding or waiting for the GIL, or in I/O).
    Running,
    /// Blocked on a lab object: "lock A", "queue jobs".
    Blocked(String),
    /// Finished its part.
    Done,
    /// Stopped by cancel.
    Cancelled,
    /// Stopped on an error.
    Failed(String),
}

/// One thread of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabThread {
    /// Its lane on the GIL timeline.
    pub tag: ThreadTag,
    /// Its name (also its lane's label).
    pub name: String,
    /// What it does now.
    pub state: LabThreadState,
}

/// The lab's own counters, as they stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LabCounters {
    /// Items put into the queue.
    pub produced: u64,
    /// Items taken out and processed.
    pub consumed: u64,
    /// Items in the queue now.
    pub depth: u64,
    /// The most items ever in the queue.
    pub depth_max: u64,
    /// Times a producer found the queue full and blocked.
    pub producer_blocks: u64,
    /// Downloads in I/O now.
    pub in_io: u64,
    /// The most downloads ever in I/O at once.
    pub max_in_io: u64,
    /// Downloads finished.
    pub downloads: u64,
    /// Bytes downloaded.
    pub bytes: u64,
    /// Threads through the event or the barrier.
    pub released: u64,
    /// From the first thread woken by the event or barrier to the last, µs
    /// (the world's stamps of the wakes, before each takes the GIL back).
    pub release_spread_us: u64,
    /// Rounds both locks were held (ordered deadlock variant).
    pub rounds: u64,
}

/// Everything the dashboard shows about a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioStatus {
    /// The threads, in start order.
    pub threads: Vec<LabThread>,
    /// The deadlock found, named with the threads' names.
    pub cycle: Option<String>,
    /// From the cycle closing (its last thread blocking) to its detection, µs.
    pub detection_us: Option<u64>,
    /// The counters.
    pub counters: LabCounters,
    /// Every thread has stopped.
    pub finished: bool,
    /// From [`Scenario::interrupt`](super::Scenario::interrupt) to the last thread stopping, ms.
    pub broken_in_ms: Option<f64>,
    /// The pool scenario's tasks, in submission order (empty otherwise).
    pub tasks: Vec<PoolTask>,
    /// Task numbers in the order they completed.
    pub completed: Vec<u64>,
}
