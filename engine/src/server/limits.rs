//! What one client may cost the server: the caps on a request's size and
//! time, the cap on open connections, and how that cap follows the process's
//! file-descriptor limit.

use std::time::Duration;

/// The largest `n` accepted by `/bytes/{n}` and `/abort/{n}` (1 GiB).
pub const MAX_BYTES: u64 = 1 << 30;

/// The default number of bytes per write for `/bytes` and `/abort`.
pub(crate) const DEFAULT_CHUNK: usize = 16 * 1024;

/// The largest `chunk` (bytes per write); larger values are clamped to it.
pub(crate) const MAX_CHUNK: usize = 1 << 20;

/// The longest delay `/delay/{ms}` accepts, in milliseconds.
pub(crate) const MAX_DELAY_MS: u64 = 60_000;

/// The longest a throttled response waits between two writes, and so the
/// longest a client that hung up can keep a thread busy without being
/// noticed by a failed write (hang-ups are also polled for while waiting).
pub(crate) const MAX_WRITE_GAP: Duration = Duration::from_secs(1);

/// How often a waiting response looks for a hang-up or a stop (a stop also
/// wakes it at once by shutting its socket down).
pub(crate) const STOP_POLL: Duration = Duration::from_millis(100);

/// How long a connection may sit idle between requests before it is closed.
///
/// Longer than reqwest's default pool idle timeout (90 s), so a pooled client
/// connection is never closed under a client that is about to reuse it.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a single socket write may block before the connection is dropped.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(120);

/// The longest request line accepted (default of [`Limits::max_request_line`]);
/// longer ones get 414.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;

/// The most bytes of header lines accepted in one request (default of
/// [`Limits::max_header_bytes`]); more get 431.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The most header lines accepted in one request (default of
/// [`Limits::max_headers`]); more get 431.
pub const MAX_HEADERS: usize = 100;

/// The largest request body accepted (default of [`Limits::max_request_body`]):
/// smaller ones are read and discarded, keeping the connection usable; larger
/// ones get 413 without being read.
pub const MAX_REQUEST_BODY: u64 = 64 * 1024;

/// How long a request's head and body may take to arrive once its first byte
/// has (default of [`Limits::head_timeout`]); slower ones get 408.
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The most connections served at once (default of
/// [`Limits::max_connections`]); one more gets 503 and is closed. Lowered
/// further when the file-descriptor limit is smaller ([`fd_cap`]).
pub const MAX_CONNECTIONS: usize = 1024;

/// The listen backlog: enough for a burst of a thousand connects to wait for
/// the accept thread instead of being dropped (the kernel may cap it at
/// `net.core.somaxconn`, 4096 by default).
pub(crate) const LISTEN_BACKLOG: i32 = 4096;

/// File descriptors kept free for everything that is not a connection (the
/// listener, the spare descriptor, logs, the rest of the process).
pub const FD_RESERVE: u64 = 64;

/// The longest chain `/redirect/{n}` makes.
pub(crate) const MAX_REDIRECTS: u64 = 100;

/// What one client may cost the server; see the module docs' *Limits*.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest request line, in bytes (414 beyond).
    pub max_request_line: usize,
    /// The most bytes of header lines in one request (431 beyond).
    pub max_header_bytes: usize,
    /// The most header lines in one request (431 beyond).
    pub max_headers: usize,
    /// The largest request body, read and discarded (413 beyond).
    pub max_request_body: u64,
    /// How long a request may take to arrive once it has begun (408 beyond).
    pub head_timeout: Duration,
    /// The most connections served at once (503 beyond); the server lowers
    /// it to what the file-descriptor limit allows ([`fd_cap`]).
    pub max_connections: usize,
    /// Niceness each connection thread adds to its own (0: none). The
    /// dashboard's embedded server serves its own fetch workers, so it runs
    /// at their priority, below the UI.
    pub connection_nice: u8,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_line: MAX_REQUEST_LINE,
            max_header_bytes: MAX_HEADER_BYTES,
            max_headers: MAX_HEADERS,
            max_request_body: MAX_REQUEST_BODY,
            head_timeout: HEAD_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            connection_nice: 0,
        }
    }
}

impl Limits {
    /// These limits with the connection cap lowered to what the process's
    /// file-descriptor limit allows (each connection holds one descriptor).
    pub(crate) fn within_fd_limit(self) -> Self {
        Self {
            max_connections: self.max_connections.min(fd_cap()),
            ..self
        }
    }
}

/// The process's soft `RLIMIT_NOFILE` (`None`: unlimited).
pub fn nofile_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// How many connections fit in the file-descriptor limit: one descriptor
/// each, with [`FD_RESERVE`] kept for the rest of the process (at least 1).
pub(crate) fn fd_cap() -> usize {
    match nofile_limit() {
        Some(limit) => {
            usize::try_from(limit.saturating_sub(FD_RESERVE).max(1)).unwrap_or(usize::MAX)
        }
        None => usize::MAX,
    }
}

/// The most the soft descriptor limit is raised to by
/// [`raise_nofile_limit`]: far more than the connection cap and 500 workers
/// need, without asking the kernel for millions of table slots.
pub const NOFILE_TARGET: u64 = 65_536;

/// Raises the process's soft `RLIMIT_NOFILE` towards its hard limit (at
/// most [`NOFILE_TARGET`]), as servers and Go programs do at start: many
/// machines give a user a soft limit of 1,024 under a hard one of tens of
/// thousands, and the embedded server's connection cap and the dashboard's
/// hundreds of workers need more. Never lowers it; needs no privilege.
/// Returns the soft limit before and after.
pub fn raise_nofile_limit() -> std::io::Result<(Option<u64>, Option<u64>)> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let before = getrlimit(Resource::Nofile);
    let target = match before.maximum {
        Some(hard) => hard.min(NOFILE_TARGET),
        None => NOFILE_TARGET,
    };
    match before.current {
        Some(soft) if soft < target => {
            setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(target),
                    maximum: before.maximum,
                },
            )?;
            Ok((before.current, Some(target)))
        }
        _ => Ok((before.current, before.current)),
    }
}
