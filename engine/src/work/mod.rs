//! What a worker does, and how it tells the world.
//!
//! Four kinds of real work — an HTTP download, a file written, synced, read
//! back and verified, a fixed amount of integer work, and the seed example of
//! two threads printing with sleeps — each run on its own named OS thread by
//! the [`Pool`]. Workers report over two crossbeam channels: progress on a
//! bounded one with `try_send` (absolute values, coalesced, so a dropped
//! message loses nothing), lifecycle and console lines on an unbounded one
//! (never dropped, a handful per worker). A worker never blocks on its reader.

mod cpu;
mod fetch;
mod file;
mod pool;
mod report;
mod seed;

pub use cpu::{cpu_step, xorshift64};
pub use fetch::FetchTarget;
pub(crate) use fetch::{BadUrl, HttpClient};
pub use pool::{Pool, PoolReceivers, SpawnError};
pub(crate) use report::Reporter;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cancel::{CancelToken, Cancelled};
use crate::gil::{GilThread, ThreadTag};

/// A worker's number, unique within one [`Pool`], starting at 1.
pub type WorkerId = u64;

/// The kinds of work a worker can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerKind {
    /// An HTTP GET, body streamed in chunks.
    Fetch,
    /// Write a file, fsync, read it back, verify SHA-256, delete it.
    File,
    /// A fixed amount of integer work in small steps.
    Cpu,
    /// The seed example: a thread prints 0..4, the main side 5..9, 1 s apart.
    Sleep,
}

impl WorkerKind {
    /// Every kind, in key order.
    pub const ALL: [WorkerKind; 4] = [
        WorkerKind::Fetch,
        WorkerKind::File,
        WorkerKind::Cpu,
        WorkerKind::Sleep,
    ];

    /// Short lowercase name, also the thread-name prefix.
    pub fn name(self) -> &'static str {
        match self {
            WorkerKind::Fetch => "fetch",
            WorkerKind::File => "file",
            WorkerKind::Cpu => "cpu",
            WorkerKind::Sleep => "sleep",
        }
    }

    /// What one unit of this kind's progress counts.
    pub fn unit(self) -> Unit {
        match self {
            WorkerKind::Fetch | WorkerKind::File => Unit::Bytes,
            WorkerKind::Cpu => Unit::Steps,
            WorkerKind::Sleep => Unit::Lines,
        }
    }
}

impl fmt::Display for WorkerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a progress count measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes moved.
    Bytes,
    /// CPU steps ("bytecodes").
    Steps,
    /// Lines printed.
    Lines,
}

/// A message from a worker thread.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerEvent {
    /// The thread is up and registered with the GIL as `thread`.
    Started {
        /// Which worker.
        id: WorkerId,
        /// Its lane on the GIL timeline.
        thread: ThreadTag,
        /// When.
        at: Instant,
    },
    /// Absolute progress: `done` of `total` units (total unknown: `None`).
    Progress {
        /// Which worker.
        id: WorkerId,
        /// Units done so far.
        done: u64,
        /// Units in all, when known.
        total: Option<u64>,
        /// When measured.
        at: Instant,
    },
    /// A line the worker printed (the seed example's console).
    Console {
        /// Which worker.
        id: WorkerId,
        /// Which side printed it.
        side: ConsoleSide,
        /// What it printed.
        text: String,
    },
    /// Finished its work.
    Finished {
        /// Which worker.
        id: WorkerId,
        /// Units done in all.
        done: u64,
        /// A one-line summary of the result.
        summary: String,
        /// When.
        at: Instant,
    },
    /// Stopped on an error (or a panic), with a readable message.
    Failed {
        /// Which worker.
        id: WorkerId,
        /// What went wrong.
        message: String,
        /// When.
        at: Instant,
    },
    /// Stopped because it was cancelled.
    Cancelled {
        /// Which worker.
        id: WorkerId,
        /// When.
        at: Instant,
    },
}

impl WorkerEvent {
    /// The worker the event is about.
    pub fn id(&self) -> WorkerId {
        match self {
            WorkerEvent::Started { id, .. }
            | WorkerEvent::Progress { id, .. }
            | WorkerEvent::Console { id, .. }
            | WorkerEvent::Finished { id, .. }
            | WorkerEvent::Failed { id, .. }
            | WorkerEvent::Cancelled { id, .. } => *id,
        }
    }

    /// True for events that end a worker.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            WorkerEvent::Finished { .. }
                | WorkerEvent::Failed { .. }
                | WorkerEvent::Cancelled { .. }
        )
    }
}

/// Who printed a console line in the seed example.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleSide {
    /// The spawned thread (prints 0..4).
    Thread,
    /// The main side (prints 5..9).
    Main,
}

/// How a worker's run ended, short of success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WorkError {
    /// Its cancel token was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The work failed; the message is for a person.
    #[error("{0}")]
    Failed(String),
}

impl From<Cancelled> for WorkError {
    fn from(_: Cancelled) -> Self {
        WorkError::Cancelled
    }
}

/// The defaults of the configurable worker settings. `assets/config.toml`
/// documents the same values (the config loader reads its defaults from
/// that file), and a test in the config loader checks that they agree.
pub mod defaults {
    /// The most workers alive at once.
    pub const MAX_WORKERS: usize = 2000;
    /// Size of each file worker's file, in MiB.
    pub const FILE_MIB: u64 = 32;
    /// CPU steps per cpu worker (about 3 s on one core).
    pub const CPU_STEPS: u64 = 300_000_000;
    /// The pause between the seed example's prints, in milliseconds.
    pub const SEED_SLEEP_MS: u64 = 1000;
    /// The niceness the dashboard adds to workers. [`super::WorkSettings::new`]
    /// leaves workers at the caller's priority (0): lowering it is the
    /// application's choice, not the library's.
    pub const NICE: u8 = 19;
}

/// Everything the workers need to know, fixed for a pool's life.
#[derive(Debug, Clone)]
pub struct WorkSettings {
    /// Where fetch workers download from.
    pub fetch: FetchTarget,
    /// More targets: when not empty, fetch workers use these in turn instead.
    pub fetch_targets: Vec<FetchTarget>,
    /// The most workers alive at once; further spawns are refused.
    pub max_workers: usize,
    /// Connect timeout for fetches.
    pub connect_timeout: Duration,
    /// Per-read timeout for fetches (a stalled server fails the worker).
    pub read_timeout: Duration,
    /// The largest body a fetch accepts before failing.
    pub max_body: u64,
    /// The directory file workers write in (and nowhere else).
    pub workdir: PathBuf,
    /// Size of each file worker's file.
    pub file_bytes: u64,
    /// CPU steps per cpu worker.
    pub cpu_steps: u64,
    /// The pause between the seed example's prints.
    pub seed_sleep: Duration,
    /// Stack size of each worker thread.
    pub(crate) stack_size: usize,
    /// Niceness each worker thread adds to its own (0: none), so the UI
    /// thread wins the CPU when workers outnumber the cores.
    pub nice: u8,
    /// Testing switch: cpu workers panic halfway (to prove panics are contained).
    pub cpu_panic_fault: bool,
}

impl WorkSettings {
    /// Defaults for a given fetch target and work directory.
    pub fn new(fetch: FetchTarget, workdir: PathBuf) -> Self {
        Self {
            fetch,
            fetch_targets: Vec::new(),
            max_workers: defaults::MAX_WORKERS,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(10),
            max_body: 1 << 30,
            workdir,
            file_bytes: defaults::FILE_MIB << 20,
            cpu_steps: defaults::CPU_STEPS,
            seed_sleep: Duration::from_millis(defaults::SEED_SLEEP_MS),
            stack_size: 256 << 10,
            nice: 0,
            cpu_panic_fault: false,
        }
    }
}

/// Runs the calling thread `nice` steps below the process's main (UI)
/// thread, as `nice(1)` would for a process, clamped at 19 (0: no change).
///
/// On Linux the nice value belongs to each thread, and
/// `setpriority(PRIO_PROCESS, 0, …)` sets the calling thread's. Threads
/// that do not take the GIL (the server's connection threads, the HTTP
/// runtime's) call this; the GIL's threads call
/// [`GilThread::lower_priority`](crate::gil::GilThread::lower_priority),
/// which does the same and lets them share the UI's priority while the UI
/// is under the GIL. Either way, with more runnable workers than cores the UI and input
/// threads still get the CPU at once: a wakeup of a nice-0 thread preempts
/// a nice-10 one, where among equals it would wait for a time slice to end.
/// The level is counted from the main thread, not from the caller, so a
/// thread started by a worker (the seed demo's second thread, the HTTP
/// runtime's helpers) lands at the same level, not lower still. Lowering a
/// priority needs no privilege; a failure is logged and ignored.
pub(crate) fn lower_priority(nice: u8) {
    use rustix::process::{getpid, getpriority_process, setpriority_process};
    if nice == 0 {
        return;
    }
    let base = getpriority_process(Some(getpid())).unwrap_or(0);
    let target = (base + i32::from(nice)).min(19);
    if getpriority_process(None).is_ok_and(|current| current >= target) {
        return;
    }
    if let Err(error) = setpriority_process(None, target) {
        tracing::debug!(%error, target, "cannot lower a thread's priority");
    }
}

/// What a worker thread gets: who it is, how to stop, the GIL, and where to report.
pub(crate) struct WorkerCtx {
    /// The worker's id.
    pub id: WorkerId,
    /// Checked between chunks and steps.
    pub cancel: CancelToken,
    /// This thread's membership in the GIL.
    pub gil: GilThread,
    /// Progress and console output.
    pub(crate) report: Reporter,
    /// The pool's settings.
    pub(crate) settings: std::sync::Arc<WorkSettings>,
    /// The shared HTTP client (one connection pool and runtime for all fetches).
    pub(crate) http: Option<HttpClient>,
}

/// Runs one worker's work to completion on the calling thread, returning the
/// units done and a one-line summary.
pub(crate) fn run_kind(kind: WorkerKind, ctx: &mut WorkerCtx) -> Result<(u64, String), WorkError> {
    ctx.gil.enter()?;
    match kind {
        WorkerKind::Fetch => fetch::run(ctx),
        WorkerKind::File => file::run(ctx),
        WorkerKind::Cpu => cpu::run(ctx),
        WorkerKind::Sleep => seed::run(ctx),
    }
}

/// Formats a byte count for people: `512 B`, `1.5 KiB`, `32.0 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The first four bytes of a digest in hex, enough to tell two apart by eye.
pub(crate) fn short_hex(digest: &[u8]) -> String {
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::lower_priority;
    use rustix::process::{getpid, getpriority_process};

    #[test]
    fn workers_and_their_helpers_run_the_same_steps_below_the_main_thread() {
        let base = getpriority_process(Some(getpid())).expect("main thread's nice");
        let (worker, helper) = std::thread::spawn(|| {
            lower_priority(3);
            let worker = getpriority_process(None).expect("worker's nice");
            let helper = std::thread::spawn(|| {
                // Inherits the worker's level; must not drop 3 more.
                lower_priority(3);
                getpriority_process(None).expect("helper's nice")
            })
            .join()
            .expect("helper thread");
            (worker, helper)
        })
        .join()
        .expect("worker thread");
        let want = (base + 3).min(19);
        assert_eq!(worker, want);
        assert_eq!(helper, want);
        // The calling thread is untouched.
        assert_eq!(getpriority_process(None).expect("own nice"), base);
    }
}
