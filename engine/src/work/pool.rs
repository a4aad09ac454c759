//! The pool: spawns one named OS thread per worker, cancels and joins them.
//!
//! Each worker runs inside `catch_unwind`, so a panic becomes a `Failed`
//! event with the panic's message and the rest of the app lives on. A live
//! counter with a condvar lets [`Pool::shutdown`] wait for every thread to
//! finish, without polling, up to a deadline.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::{Reporter, WorkError, WorkSettings, WorkerCtx, WorkerEvent, WorkerId, WorkerKind};
use crate::cancel::CancelToken;
use crate::gil::Gil;

/// Capacity of the bounded progress channel.
const PROGRESS_CAPACITY: usize = 4096;

/// Why a worker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The OS refused a new thread.
    #[error("cannot start a thread: {0}")]
    Thread(#[from] std::io::Error),
    /// The HTTP client could not be built.
    #[error("{0}")]
    Http(String),
    /// `max_workers` are alive already.
    #[error(
        "{0} workers are alive, the most allowed (max_workers in the config): cancel some first"
    )]
    TooMany(usize),
}

/// The UI's (or a test's) ends of the worker channels.
#[derive(Debug, Clone)]
pub struct PoolReceivers {
    /// Progress: bounded, may drop (absolute values, nothing lost).
    pub progress: Receiver<WorkerEvent>,
    /// Lifecycle and console lines: never dropped.
    pub lifecycle: Receiver<WorkerEvent>,
}

struct Running {
    cancel: CancelToken,
    handle: JoinHandle<()>,
}

#[derive(Default)]
struct LiveCount {
    count: Mutex<usize>,
    zero: Condvar,
}

/// Decrements the live count when a worker thread ends, however it ends.
struct LiveGuard(Arc<LiveCount>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        let mut count = self.0.count.lock().unwrap_or_else(PoisonError::into_inner);
        *count = count.saturating_sub(1);
        if *count == 0 {
            self.0.zero.notify_all();
        }
    }
}

/// Spawns, cancels and joins workers.
pub struct Pool {
    settings: Arc<WorkSettings>,
    gil: Gil,
    progress_tx: Sender<WorkerEvent>,
    lifecycle_tx: Sender<WorkerEvent>,
    running: HashMap<WorkerId, Running>,
    /// Threads whose worker has reported its end but which had not returned
    /// yet when reaped: joined once finished, never waited for by `reap`.
    exiting: Vec<(WorkerId, JoinHandle<()>)>,
    live: Arc<LiveCount>,
    next_id: WorkerId,
    /// Built on a background thread at start-up (TLS setup takes tens of
    /// ms), so neither the first frame nor the first `f` press waits for it.
    http: Arc<OnceLock<Result<super::HttpClient, String>>>,
}

impl Pool {
    /// A pool with `settings` sharing `gil`, and the receivers for its events.
    pub fn new(settings: WorkSettings, gil: Gil) -> (Self, PoolReceivers) {
        let (progress_tx, progress) = crossbeam_channel::bounded(PROGRESS_CAPACITY);
        let (lifecycle_tx, lifecycle) = crossbeam_channel::unbounded();
        let settings = Arc::new(settings);
        let http: Arc<OnceLock<Result<super::HttpClient, String>>> = Arc::default();
        let warm = Arc::clone(&http);
        let warm_settings = Arc::clone(&settings);
        let warm_gil = gil.clone();
        let _ = thread::Builder::new()
            .name("http-init".into())
            .spawn(move || {
                warm.get_or_init(|| build_client(&warm_settings, &warm_gil));
            });
        let pool = Self {
            settings,
            gil,
            progress_tx,
            lifecycle_tx,
            running: HashMap::new(),
            exiting: Vec::new(),
            live: Arc::default(),
            next_id: 1,
            http,
        };
        (
            pool,
            PoolReceivers {
                progress,
                lifecycle,
            },
        )
    }

    /// The GIL the workers share.
    pub fn gil(&self) -> &Gil {
        &self.gil
    }

    /// Workers whose threads have not been reaped yet.
    pub fn live(&self) -> usize {
        self.running.len()
    }

    fn client(&self) -> Result<super::HttpClient, SpawnError> {
        self.http
            .get_or_init(|| build_client(&self.settings, &self.gil))
            .clone()
            .map_err(SpawnError::Http)
    }

    /// Starts a worker of `kind` on a new thread named `KIND-ID`.
    pub fn spawn(&mut self, kind: WorkerKind) -> Result<WorkerId, SpawnError> {
        if self.running.len() >= self.settings.max_workers {
            return Err(SpawnError::TooMany(self.settings.max_workers));
        }
        let id = self.next_id;
        let http = match kind {
            WorkerKind::Fetch => Some(self.client()?),
            _ => None,
        };
        let cancel = CancelToken::new();
        let report = Reporter::new(id, self.progress_tx.clone(), self.lifecycle_tx.clone());
        let gil = self.gil.register(cancel.clone());
        let mut ctx = WorkerCtx {
            id,
            cancel: cancel.clone(),
            gil,
            report,
            settings: Arc::clone(&self.settings),
            http,
        };
        *self
            .live
            .count
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += 1;
        let live = LiveGuard(Arc::clone(&self.live));
        let spawned = thread::Builder::new()
            .name(format!("{}-{id}", kind.name()))
            .stack_size(self.settings.stack_size)
            .spawn(move || {
                let _live = live;
                ctx.gil.lower_priority(ctx.settings.nice);
                ctx.report.lifecycle(WorkerEvent::Started {
                    id,
                    thread: ctx.gil.tag(),
                    at: Instant::now(),
                });
                let outcome = catch_unwind(AssertUnwindSafe(|| super::run_kind(kind, &mut ctx)));
                ctx.gil.exit();
                let at = Instant::now();
                let event = match outcome {
                    Ok(Ok((done, summary))) => WorkerEvent::Finished {
                        id,
                        done,
                        summary,
                        at,
                    },
                    Ok(Err(WorkError::Cancelled)) => WorkerEvent::Cancelled { id, at },
                    Ok(Err(WorkError::Failed(message))) => WorkerEvent::Failed { id, message, at },
                    Err(panic) => WorkerEvent::Failed {
                        id,
                        message: format!("panicked: {}", panic_message(panic.as_ref())),
                        at,
                    },
                };
                tracing::debug!(?event, "worker ended");
                ctx.report.lifecycle(event);
            });
        match spawned {
            Ok(handle) => {
                self.next_id += 1;
                self.running.insert(id, Running { cancel, handle });
                Ok(id)
            }
            Err(error) => {
                // The closure (and its live guard) was dropped: the count is already back.
                Err(SpawnError::Thread(error))
            }
        }
    }

    /// Cancels one worker; it stops at its next check (within 100 ms).
    pub fn cancel(&self, id: WorkerId) -> bool {
        match self.running.get(&id) {
            Some(running) => {
                running.cancel.cancel();
                self.gil.wake_all();
                true
            }
            None => false,
        }
    }

    /// Cancels every live worker.
    pub fn cancel_all(&self) -> usize {
        for running in self.running.values() {
            running.cancel.cancel();
        }
        self.gil.wake_all();
        self.running.len()
    }

    /// Forgets a worker whose terminal event was received, and frees its
    /// thread: joined at once if it has returned, else later. Never waits:
    /// the UI thread calls this, and the ending thread (at the workers' lower
    /// priority, among busy workers) may need a while to get a core for its
    /// last few instructions.
    pub fn reap(&mut self, id: WorkerId) {
        if let Some(running) = self.running.remove(&id) {
            self.exiting.push((id, running.handle));
        }
        let (finished, pending) = std::mem::take(&mut self.exiting)
            .into_iter()
            .partition(|(_, handle)| handle.is_finished());
        self.exiting = pending;
        for (id, handle) in finished {
            join_logged(id, handle);
        }
    }

    /// Cancels everything and waits up to `timeout` for every worker thread to
    /// end. Returns how many were still running at the deadline.
    pub fn shutdown(&mut self, timeout: Duration) -> usize {
        self.cancel_all();
        let deadline = Instant::now() + timeout;
        let mut count = self
            .live
            .count
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *count > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            count = self
                .live
                .zero
                .wait_timeout(count, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let left = *count;
        drop(count);
        let running = self
            .running
            .drain()
            .map(|(id, running)| (id, running.handle));
        for (id, handle) in running.chain(self.exiting.drain(..)) {
            // With the live count at zero every thread is past its work and
            // only returning: joining is immediate. Otherwise join only the
            // finished ones and leave the stuck to end on their own.
            if left == 0 || handle.is_finished() {
                join_logged(id, handle);
            } else {
                tracing::warn!(id, "worker still running at shutdown; detached");
            }
        }
        left
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if !self.running.is_empty() || !self.exiting.is_empty() {
            self.shutdown(Duration::from_secs(1));
        }
    }
}

/// The HTTP client fetch workers share, built from the pool's settings;
/// its I/O thread shares the priority of `gil`'s Python threads.
fn build_client(settings: &WorkSettings, gil: &Gil) -> Result<super::HttpClient, String> {
    super::HttpClient::with_nice(
        settings.connect_timeout,
        settings.read_timeout,
        settings.nice,
        Some(gil.clone()),
    )
}

/// Joins a worker's thread, logging a panic that escaped `catch_unwind`.
fn join_logged(id: WorkerId, handle: JoinHandle<()>) {
    if handle.join().is_err() {
        tracing::warn!(id, "worker thread panicked outside catch_unwind");
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic".to_string()
    }
}
