//! A session: everything the dashboard (or a headless run) needs, started in
//! the right order and torn down in the right order — the embedded server,
//! the work directory, the GIL and the worker pool.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::gil::{Gil, Mode, SwitchInterval};
use crate::server::{Limits, Server, ServerError};
use crate::work::{FetchTarget, Pool, PoolReceivers, WorkSettings};

/// The default download: 8 MiB at 4 MiB/s, two visible seconds.
pub(crate) const DEFAULT_FETCH_PATH: &str = "/bytes/8388608?rate=4194304";

/// How a session is set up.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// GIL mode at start.
    pub mode: Mode,
    /// Switch interval at start.
    pub interval: SwitchInterval,
    /// Fetch this URL instead of the embedded server.
    pub url: Option<FetchTarget>,
    /// Fetch this path from the embedded server instead of
    /// [`DEFAULT_FETCH_PATH`] (ignored when `url` is set).
    pub serve_path: Option<String>,
    /// Write files here instead of a fresh temp dir.
    pub workdir: Option<PathBuf>,
    /// File worker size in bytes (default 32 MiB).
    pub file_bytes: Option<u64>,
    /// CPU steps per cpu worker.
    pub cpu_steps: Option<u64>,
    /// Pause between the seed demo's prints.
    pub seed_sleep: Option<Duration>,
    /// Testing switch: every cpu worker panics halfway (`--fault worker-panic`).
    pub cpu_panic_fault: bool,
    /// More fetch targets, used in turn (from the config).
    pub fetch_targets: Vec<FetchTarget>,
    /// The most workers alive at once.
    pub max_workers: Option<usize>,
    /// Niceness added to worker threads and the embedded server's
    /// connection threads (0: none).
    pub nice: u8,
}

/// Why a session could not start.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The embedded server could not start.
    #[error("cannot start the embedded server: {0}")]
    Server(#[from] ServerError),
    /// The work directory is unusable.
    #[error("--workdir {path}: {reason}")]
    Workdir {
        /// The directory given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The path for the embedded server does not make a valid URL.
    #[error("--serve-path: {0}")]
    ServePath(crate::work::BadUrl),
    /// No temp directory could be made.
    #[error("cannot create a temporary work directory: {0}")]
    TempDir(std::io::Error),
}

/// Where file workers write: a temp dir removed on drop, or one the user chose.
#[derive(Debug)]
pub enum Workdir {
    /// A fresh temp dir, removed with everything in it when dropped.
    Temp(tempfile::TempDir),
    /// A directory the user gave; only our own files in it are ever touched.
    Given(PathBuf),
}

impl Workdir {
    /// The directory's path.
    pub fn path(&self) -> &Path {
        match self {
            Workdir::Temp(dir) => dir.path(),
            Workdir::Given(path) => path,
        }
    }

    /// A fresh temp dir.
    pub(crate) fn temp() -> Result<Self, SessionError> {
        tempfile::Builder::new()
            .prefix("threadlab-")
            .tempdir()
            .map(Workdir::Temp)
            .map_err(SessionError::TempDir)
    }

    /// A user-chosen directory: it must exist, be a directory and be writable.
    pub(crate) fn given(path: &Path) -> Result<Self, SessionError> {
        let fail = |reason: String| SessionError::Workdir {
            path: path.to_path_buf(),
            reason,
        };
        let meta = fs::metadata(path).map_err(|e| fail(format!("cannot use it: {e}")))?;
        if !meta.is_dir() {
            return Err(fail("is not a directory".into()));
        }
        // Prove it is writable with a probe file that is removed at once.
        let probe = tempfile::Builder::new()
            .prefix(".threadlab-probe-")
            .tempfile_in(path)
            .map_err(|e| fail(format!("is not writable: {e}")))?;
        drop(probe);
        Ok(Workdir::Given(path.to_path_buf()))
    }
}

/// A running session. Drop order matters: the pool (workers) goes first,
/// then the server, then the work directory.
pub struct Session {
    /// The worker pool.
    pub pool: Pool,
    /// The pool's event receivers.
    pub receivers: PoolReceivers,
    /// The shared GIL.
    pub gil: Gil,
    /// The embedded server (always running: fetches may point elsewhere).
    pub server: Server,
    /// Where file workers write.
    pub workdir: Workdir,
    /// The experiment running in the background, if any.
    pub suite: Option<crate::lab::Suite>,
    /// The race (coordination lab) running in the background, if any.
    pub race: Option<crate::sync::Race>,
    /// The lab scenario (deadlock, toolbox) running, if any.
    pub lab: Option<crate::sync::Scenario>,
    /// How far below the dashboard worker threads run (`[workers] nice`):
    /// the lab's and the race's threads run there too.
    pub worker_nice: u8,
}

impl Session {
    /// Starts the server, prepares the work dir, and builds the GIL and pool.
    pub fn start(options: &SessionOptions) -> Result<Self, SessionError> {
        let workdir = match &options.workdir {
            Some(path) => Workdir::given(path)?,
            None => Workdir::temp()?,
        };
        let server = Server::start_with(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            Limits {
                connection_nice: options.nice,
                ..Limits::default()
            },
        )?;
        let fetch = match &options.url {
            Some(target) => target.clone(),
            None => {
                let path = options.serve_path.as_deref().unwrap_or(DEFAULT_FETCH_PATH);
                FetchTarget::parse(&server.url(path)).map_err(SessionError::ServePath)?
            }
        };
        let mut settings = WorkSettings::new(fetch, workdir.path().to_path_buf());
        if let Some(bytes) = options.file_bytes {
            settings.file_bytes = bytes;
        }
        if let Some(steps) = options.cpu_steps {
            settings.cpu_steps = steps;
        }
        if let Some(pause) = options.seed_sleep {
            settings.seed_sleep = pause;
        }
        settings.cpu_panic_fault = options.cpu_panic_fault;
        settings.fetch_targets = options.fetch_targets.clone();
        if let Some(max) = options.max_workers {
            settings.max_workers = max;
        }
        settings.nice = options.nice;
        let gil = Gil::new(options.mode, options.interval);
        let (pool, receivers) = Pool::new(settings, gil.clone());
        Ok(Self {
            pool,
            receivers,
            gil,
            server,
            workdir,
            suite: None,
            race: None,
            lab: None,
            worker_nice: options.nice,
        })
    }

    /// Cancels and joins every worker, race and lab thread (up to
    /// `timeout` in all), then stops the server and removes a temp work
    /// dir. Returns the threads left running.
    pub fn shutdown(mut self, timeout: Duration) -> usize {
        let deadline = std::time::Instant::now() + timeout;
        if let Some(suite) = self.suite.take() {
            suite.cancel();
        }
        // Race and lab threads run at the workers' nice: on a saturated
        // machine they may not run for seconds, and the exit waits for
        // none of them past the deadline.
        let mut left = 0;
        if let Some(race) = self.race.take() {
            left += race.cancel_by(deadline);
        }
        if let Some(lab) = self.lab.take() {
            left += lab.cancel_by(deadline);
        }
        let started = deadline - timeout;
        let left = left
            + self
                .pool
                .shutdown(deadline.saturating_duration_since(std::time::Instant::now()));
        drop(self.pool);
        let joined = started.elapsed();
        self.server.shutdown();
        let stopped = started.elapsed();
        drop(self.workdir);
        // One line that says where an exit's time went when it is slow.
        tracing::info!(
            left,
            joined_ms = joined.as_millis() as u64,
            server_ms = (stopped - joined).as_millis() as u64,
            workdir_ms = (started.elapsed() - stopped).as_millis() as u64,
            "session shut down"
        );
        left
    }
}
