//! The embedded loopback HTTP server: the default network target of the fetch
//! workers.
//!
//! It is a small, synchronous HTTP/1.1 server (GET only) with endpoints that
//! produce the behaviours a download lab needs: bulk bytes with an optional
//! rate limit, slow responses, arbitrary status codes and connections that die
//! mid-body. It binds loopback addresses only, so nothing it does ever leaves
//! the machine.
//!
//! The parts: [`limits`] (what a client may cost), `request` (reading a head,
//! strictly), `routes` (which reply a request gets), `response` (writing it)
//! and `connection` (accepting, one thread per connection, waits).
//!
//! # Endpoints
//!
//! | request                      | response                                                         |
//! |------------------------------|------------------------------------------------------------------|
//! | `/bytes/{n}?rate=R&chunk=C`  | `n` deterministic pseudo-random bytes ([`pattern_byte`]), `Content-Length: n`; `R` bytes/s (absent or 0 = unthrottled), `C` bytes per write (default [`DEFAULT_CHUNK`], clamped to `1..=`[`MAX_CHUNK`], and to `R` so writes come at least every [`MAX_WRITE_GAP`]) |
//! | `/delay/{ms}`                | `200 delayed {ms} ms` after `ms` milliseconds (at most [`MAX_DELAY_MS`]) |
//! | `/status/{code}`             | that status (`100..=599`); 1xx/204/304 get no body, and after a 1xx the connection is closed |
//! | `/bytes/{n}?length=none`     | the same bytes with no `Content-Length`: the body ends when the connection closes |
//! | `/abort/{n}?rate=R&chunk=C`  | promises `Content-Length: 2n` (1 for `n = 0`), sends `n` bytes, then closes the connection |
//! | `/redirect/{n}`              | `302` to `/redirect/{n-1}` (at most [`MAX_REDIRECTS`]); `/redirect/0` is `200 ok` |
//! | `/redirect/loop`             | `302` to itself, forever                                         |
//! | `/echo`                      | `200 ok`                                                          |
//! | `/`                          | a plain-text index of the endpoints                              |
//!
//! Other methods get 405, unknown paths 404, malformed numbers, sizes over
//! [`MAX_BYTES`] and other absurd parameters 400. Targets may be in origin
//! form (`/echo`) or absolute form (`http://host/echo`).
//!
//! # Strictness (RFC 9112)
//!
//! A request with whitespace between a header name and its colon, an
//! obsolete folded header line, a header name that is not a token, or a
//! missing (HTTP/1.1) or repeated `Host` gets 400 and is closed. HTTP/1.0
//! connections persist when the request says `Connection: keep-alive` (and
//! the response says so too).
//!
//! # Limits
//!
//! Whatever a client sends, a connection costs bounded memory and time
//! ([`Limits`]; the defaults are the constants named here): a request line over
//! [`MAX_REQUEST_LINE`] bytes gets 414, more than [`MAX_HEADERS`] header lines
//! or over [`MAX_HEADER_BYTES`] bytes of them 431, a request body over
//! [`MAX_REQUEST_BODY`] 413 and one without a length (`Transfer-Encoding`)
//! 411 — each with `Connection: close`, before the excess is read. Once a
//! request's first byte has arrived, its head and body must arrive within
//! [`HEAD_TIMEOUT`] (408 otherwise), so a client trickling bytes cannot hold a
//! thread forever. At most [`MAX_CONNECTIONS`] connections are served at
//! once — fewer if the file-descriptor limit allows fewer (each connection
//! holds one descriptor, [`FD_RESERVE`] are kept for the rest); a connection
//! over that gets `503` at once and is closed.
//!
//! A client that hangs up while its response waits (a `/delay`, a throttled
//! `/bytes`) frees its connection within [`STOP_POLL`]: waits poll the
//! socket for the hang-up, and throttled writes come at least every
//! [`MAX_WRITE_GAP`]. A client that shuts down its sending side while it
//! waits counts as gone (as nginx treats it): HTTP clients keep it open
//! until they have their answer.
//!
//! # Exhaustion
//!
//! Running out of file descriptors (or buffers, or memory) never stops the
//! server: the accept thread keeps one descriptor in reserve, gives it up to
//! accept a waiting connection and answer it 503, then backs off and logs
//! while it lasts. Only a listener that keeps failing for other reasons
//! stops it, and [`Server::wait`] then says why ([`Stopped::Failed`]). The
//! listen backlog ([`LISTEN_BACKLOG`]) holds a burst of a thousand connects.
//!
//! # Threads
//!
//! One accept thread (`http-accept`) and one thread per *connection*
//! (`http-req`, at most [`Limits::max_connections`]), which serves that
//! connection's requests one after another (HTTP/1.1 keep-alive). A thread
//! per connection rather than a fixed pool: the lab's workers hold long,
//! throttled downloads open, and a pool would make requests queue behind
//! them — which would distort exactly what the lab measures. Connections are
//! short-lived in practice, and idle ones are closed after [`IDLE_TIMEOUT`].
//!
//! # Why hand-written
//!
//! `tiny_http` 0.12 owns each connection's socket in an internal thread and
//! offers no way to close it from a handler, so neither `/abort` nor a prompt
//! [`Server::shutdown`] can be built on it. `hyper` answers a handler's 1xx
//! as 500, sends close-delimited bodies (`length=none`) chunked and never
//! answers 408 — each defeats an endpoint or a limit here. So the server
//! speaks the (small) subset of HTTP/1.1 it needs directly over [`std::net`],
//! taking reason phrases from the `http` crate.
//!
//! # Shutdown
//!
//! [`Server::shutdown`] (or dropping the [`Server`]) cancels the server's
//! [`CancelToken`], shuts the listener down (which wakes the accept thread
//! without needing a new descriptor), shuts down every open connection's
//! socket (which wakes any blocked read, write or wait) and joins all
//! threads. Clients of in-flight responses see the connection closed before
//! the promised `Content-Length`.

pub mod limits;

mod connection;
mod request;
mod response;
mod routes;

use std::collections::HashMap;
use std::fmt;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::cancel::CancelToken;

pub(crate) use limits::LISTEN_BACKLOG;
pub use limits::{
    FD_RESERVE, Limits, MAX_BYTES, MAX_CONNECTIONS, MAX_HEADER_BYTES, MAX_HEADERS,
    MAX_REQUEST_BODY, MAX_REQUEST_LINE, NOFILE_TARGET, raise_nofile_limit,
};
pub use routes::pattern_byte;

/// A running embedded server.
///
/// Dropping it is the same as [`Server::shutdown`]: stop accepting, close
/// every open connection and join all of the server's threads.
pub struct Server {
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

/// A cloneable handle that stops a [`Server`] from any thread (for example a
/// signal handler thread while another thread is in [`Server::wait`]).
///
/// Stopping does not join the server's threads; dropping the [`Server`] does.
#[derive(Clone)]
pub struct StopHandle {
    shared: Arc<Shared>,
}

/// How a server ended, as [`Server::wait`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// A [`StopHandle::stop`] (or a shutdown) asked it to.
    Requested,
    /// It could not go on; the text says why.
    Failed(String),
}

/// Why the embedded server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address is not a loopback address; nothing was bound.
    #[error(
        "refusing to bind {0}: the embedded server binds loopback addresses only (127.0.0.0/8 or ::1)"
    )]
    NotLoopback(SocketAddr),
    /// Binding the listening socket failed (port in use, permissions, ...).
    #[error("cannot bind the embedded server to {addr}: {source}")]
    Bind {
        /// The address that could not be bound.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The accept thread could not be spawned.
    #[error("cannot start the embedded server's accept thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// Binds `addr` with a [`LISTEN_BACKLOG`]-deep queue (std's is 128).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, sockopt};
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd: OwnedFd =
        rustix::net::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    rustix::net::bind(&fd, &addr)?;
    rustix::net::listen(&fd, LISTEN_BACKLOG)?;
    Ok(TcpListener::from(fd))
}

impl Server {
    /// Binds `addr` (loopback only; port 0 picks a free port) and starts
    /// serving on a background thread.
    ///
    /// A non-loopback address is refused with [`ServerError::NotLoopback`]
    /// before any socket is created.
    pub fn start(addr: SocketAddr) -> Result<Server, ServerError> {
        Server::start_with(addr, Limits::default())
    }

    /// [`Server::start`] with other [`Limits`] than the defaults (the
    /// connection cap is lowered to what the descriptor limit allows).
    pub fn start_with(addr: SocketAddr, limits: Limits) -> Result<Server, ServerError> {
        if !addr.ip().is_loopback() {
            return Err(ServerError::NotLoopback(addr));
        }
        let listener = listen(addr).map_err(|source| ServerError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { addr, source })?;
        let shared = Arc::new(Shared {
            addr: local,
            limits: limits.within_fd_limit(),
            listener,
            stop: CancelToken::new(),
            stopped: CancelToken::new(),
            failure: Mutex::new(None),
            woken: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
        });
        let thread_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name("http-accept".into())
            .spawn(move || connection::accept_loop(&thread_shared))
            .map_err(ServerError::Spawn)?;
        tracing::info!(addr = %local, max_connections = shared.limits.max_connections, "embedded server listening");
        Ok(Server {
            shared,
            accept_thread: Some(accept_thread),
        })
    }

    /// Starts a server on `127.0.0.1` with a free port.
    pub fn start_loopback() -> Result<Server, ServerError> {
        Server::start(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The address the server listens on (with the actual port).
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The URL for `path_and_query` on this server, e.g.
    /// `url("/bytes/100")` is `"http://127.0.0.1:PORT/bytes/100"`. A missing
    /// leading `/` is added.
    pub fn url(&self, path_and_query: &str) -> String {
        let slash = if path_and_query.starts_with('/') {
            ""
        } else {
            "/"
        };
        format!("http://{}{slash}{path_and_query}", self.shared.addr)
    }

    /// How many connections are open (each has a thread serving it).
    pub fn open_connections(&self) -> usize {
        lock(&self.shared.conns).len()
    }

    /// The limits this server enforces, with the connection cap it actually
    /// applies (the one asked for, lowered to fit the descriptor limit).
    pub fn limits(&self) -> Limits {
        self.shared.limits
    }

    /// A handle that can stop this server from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Stops the server and joins its threads; the same as dropping it.
    pub fn shutdown(self) {
        drop(self);
    }

    /// Blocks the calling thread until the server has stopped — after a
    /// [`StopHandle::stop`] from another thread, or when it cannot go on —
    /// and says which. Returns at once if it has already stopped.
    pub fn wait(&self) -> Stopped {
        // Each sleep ends early when the token is cancelled.
        while self.shared.stopped.sleep(Duration::from_secs(3600)).is_ok() {}
        match lock(&self.shared.failure).clone() {
            Some(why) => Stopped::Failed(why),
            None => Stopped::Requested,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop();
        let Some(handle) = self.accept_thread.take() else {
            return;
        };
        if !self.shared.woken.load(Ordering::SeqCst) && !handle.is_finished() {
            // The accept thread could not be woken; joining would hang.
            tracing::error!(addr = %self.shared.addr, "embedded server accept thread left running");
            return;
        }
        if handle.join().is_err() {
            tracing::error!("embedded server accept thread panicked");
        }
        tracing::info!(addr = %self.shared.addr, "embedded server stopped");
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.shared.addr)
            .field("stopping", &self.shared.is_stopping())
            .finish()
    }
}

impl StopHandle {
    /// Asks the server to stop: no new connections, open ones closed, and
    /// [`Server::wait`] returns once everything has ended. Idempotent.
    pub fn stop(&self) {
        self.shared.stop();
    }

    /// Whether a stop has been requested (or the server failed).
    pub fn is_stopping(&self) -> bool {
        self.shared.is_stopping()
    }
}

impl fmt::Debug for StopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StopHandle")
            .field("addr", &self.shared.addr)
            .field("stopping", &self.shared.is_stopping())
            .finish()
    }
}

/// State shared by the [`Server`], its accept thread and its connections.
struct Shared {
    addr: SocketAddr,
    limits: Limits,
    listener: TcpListener,
    /// Cancelled when the server is asked to stop (or fails).
    stop: CancelToken,
    /// Cancelled once every thread but the accept thread's caller has ended.
    stopped: CancelToken,
    /// Why the server stopped by itself, if it did.
    failure: Mutex<Option<String>>,
    /// Whether the accept thread was woken (or needed no waking) after stop.
    woken: AtomicBool,
    conns: Mutex<HashMap<u64, Conn>>,
}

/// An open connection, as seen by the accept thread.
struct Conn {
    /// The connection's socket, shared with its thread (one descriptor), used
    /// to shut it down on stop.
    stream: Arc<TcpStream>,
    handle: JoinHandle<()>,
}

impl Shared {
    fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Records why the server cannot go on (the first reason wins) and stops.
    fn fail(&self, why: String) {
        tracing::error!(why, "embedded server stops");
        lock(&self.failure).get_or_insert(why);
        self.stop.cancel();
    }

    fn stop(&self) {
        if self.stopped.is_cancelled() {
            self.woken.store(true, Ordering::SeqCst);
            return;
        }
        self.stop.cancel();
        // Shutting the listener down wakes the accept thread from accept()
        // with an error, and needs no new descriptor.
        let shut =
            rustix::net::shutdown(self.listener.as_fd(), rustix::net::Shutdown::Both).is_ok();
        if shut {
            self.woken.store(true, Ordering::SeqCst);
            return;
        }
        // Otherwise a connection wakes it.
        for _ in 0..3 {
            match TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)) {
                Ok(_) => {
                    self.woken.store(true, Ordering::SeqCst);
                    return;
                }
                Err(e) => {
                    tracing::warn!(addr = %self.addr, error = %e, "cannot wake the accept thread");
                }
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_says_whether_a_stop_was_asked_for_or_a_failure() {
        let asked = Server::start_loopback().expect("start");
        asked.stop_handle().stop();
        assert_eq!(asked.wait(), Stopped::Requested);

        // What the accept loop does when its listener keeps failing.
        let failed = Server::start_loopback().expect("start");
        failed
            .shared
            .fail("accepting connections keeps failing: test".into());
        failed.shared.stop();
        assert_eq!(
            failed.wait(),
            Stopped::Failed("accepting connections keeps failing: test".into())
        );
    }

    #[test]
    fn the_connection_cap_fits_the_descriptor_limit() {
        let server = Server::start_with(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Limits {
                max_connections: usize::MAX,
                ..Limits::default()
            },
        )
        .expect("start");
        let cap = server.limits().max_connections;
        match limits::nofile_limit() {
            Some(limit) => assert_eq!(cap as u64, limit.saturating_sub(FD_RESERVE).max(1)),
            None => assert_eq!(cap, usize::MAX),
        }
    }
}
