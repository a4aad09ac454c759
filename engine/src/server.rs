//! The embedded loopback HTTP server: the default network target of the fetch
//! workers.
//!
//! It is a small, synchronous HTTP/1.1 server (GET only) with endpoints that
//! produce the behaviours a download lab needs: bulk bytes with an optional
//! rate limit, slow responses, arbitrary status codes and connections that die
//! mid-body. It binds loopback addresses only, so nothing it does ever leaves
//! the machine.
//!
//! # Endpoints
//!
//! | request                      | response                                                         |
//! |------------------------------|------------------------------------------------------------------|
//! | `/bytes/{n}?rate=R&chunk=C`  | `n` deterministic pseudo-random bytes ([`pattern_byte`]), `Content-Length: n`; `R` bytes/s (absent or 0 = unthrottled), `C` bytes per write (default [`DEFAULT_CHUNK`], clamped to `1..=`[`MAX_CHUNK`]) |
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
//! [`MAX_BYTES`] and other absurd parameters 400.
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
//! once; a connection over that gets `503` at once and is closed.
//!
//! # Threads
//!
//! One accept thread (`http-accept`) and one thread per *connection*
//! (`http-req`, at most [`Limits::max_connections`]), which serves that
//! connection's requests one after another (HTTP/1.1 keep-alive). A thread per connection rather than a fixed pool:
//! the lab's workers hold long, throttled downloads open, and a pool would
//! make requests queue behind them — which would distort exactly what the lab
//! measures. Connections are short-lived in practice, and idle ones are closed
//! after [`IDLE_TIMEOUT`].
//!
//! # Why not `tiny_http`
//!
//! `tiny_http` 0.12 owns each connection's socket in an internal thread and
//! offers no way to close it from a handler: when a response body's reader
//! fails, `tiny_http` neither flushes what it has buffered nor closes the
//! connection, so the client hangs instead of seeing a body cut short. Both
//! `/abort` and a prompt [`Server::shutdown`] need exactly that, so the
//! server speaks the (small) subset of HTTP/1.1 it needs directly over
//! [`std::net`].
//!
//! # Shutdown
//!
//! [`Server::shutdown`] (or dropping the [`Server`]) sets a flag, wakes the
//! accept thread with a loopback connection, closes the listener, shuts down
//! every open connection's socket (which wakes any blocked read or write) and
//! joins all threads. Sleeps — rate limiting and `/delay` — wake at least
//! every [`STOP_POLL`], so shutdown completes within about that long even
//! with throttled downloads in flight. Clients of in-flight responses see the
//! connection closed before the promised `Content-Length`.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The largest `n` accepted by `/bytes/{n}` and `/abort/{n}` (1 GiB).
pub const MAX_BYTES: u64 = 1 << 30;

/// The default number of bytes per write for `/bytes` and `/abort`.
pub const DEFAULT_CHUNK: usize = 16 * 1024;

/// The largest `chunk` (bytes per write); larger values are clamped to it.
pub const MAX_CHUNK: usize = 1 << 20;

/// The longest delay `/delay/{ms}` accepts, in milliseconds.
pub const MAX_DELAY_MS: u64 = 60_000;

/// How often sleeping request threads check whether the server is stopping.
pub const STOP_POLL: Duration = Duration::from_millis(20);

/// How long a connection may sit idle between requests before it is closed.
///
/// Longer than reqwest's default pool idle timeout (90 s), so a pooled client
/// connection is never closed under a client that is about to reuse it.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a single socket write may block before the connection is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(120);

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
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The most connections served at once (default of
/// [`Limits::max_connections`]); one more gets 503 and is closed.
pub const MAX_CONNECTIONS: usize = 1024;

/// The longest chain `/redirect/{n}` makes.
pub const MAX_REDIRECTS: u64 = 100;

/// After a `Connection: close` response, how long to drain unread client
/// data before closing (closing with unread data would reset the connection
/// and could destroy the response in flight).
const LINGER: Duration = Duration::from_millis(500);

/// The most unread client data drained after a `Connection: close`
/// response; a client still sending after that is flooding, and is reset.
const LINGER_MAX_BYTES: usize = 256 * 1024;

/// Consecutive failed `accept` calls after which the server gives up.
const MAX_ACCEPT_FAILURES: u32 = 100;

/// The period of the `/bytes` content.
const PATTERN_LEN: usize = 64 * 1024;

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
    /// The most connections served at once (503 beyond).
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
        source: io::Error,
    },
    /// The accept thread could not be spawned.
    #[error("cannot start the embedded server's accept thread: {0}")]
    Spawn(#[source] io::Error),
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

    /// [`Server::start`] with other [`Limits`] than the defaults.
    pub fn start_with(addr: SocketAddr, limits: Limits) -> Result<Server, ServerError> {
        if !addr.ip().is_loopback() {
            return Err(ServerError::NotLoopback(addr));
        }
        let listener =
            TcpListener::bind(addr).map_err(|source| ServerError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { addr, source })?;
        let shared = Arc::new(Shared {
            addr: local,
            limits,
            stopping: AtomicBool::new(false),
            woken: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            stopped: Mutex::new(false),
            stopped_cv: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name("http-accept".into())
            .spawn(move || accept_loop(&thread_shared, listener))
            .map_err(ServerError::Spawn)?;
        tracing::info!(addr = %local, "embedded server listening");
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

    /// The limits this server enforces.
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

    /// Blocks the calling thread until the server has stopped: after a
    /// [`StopHandle::stop`] from another thread, or when accepting fails
    /// persistently. Returns at once if it has already stopped.
    pub fn wait(&self) {
        let mut stopped = lock(&self.shared.stopped);
        while !*stopped {
            stopped = self
                .shared
                .stopped_cv
                .wait(stopped)
                .unwrap_or_else(PoisonError::into_inner);
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

/// The byte at `offset` of every `/bytes` and `/abort` body.
///
/// The content is a fixed xorshift byte stream that repeats every 64 KiB, so a
/// client can verify what it downloaded without keeping a copy.
pub fn pattern_byte(offset: u64) -> u8 {
    // The remainder is below PATTERN_LEN, so the cast is lossless.
    pattern()[(offset % PATTERN_LEN as u64) as usize]
}

/// The body pattern, extended by [`MAX_CHUNK`] bytes so that any chunk
/// starting inside the first period is one contiguous slice.
fn pattern() -> &'static [u8] {
    static PATTERN: OnceLock<Box<[u8]>> = OnceLock::new();
    PATTERN.get_or_init(|| {
        let mut period = Vec::with_capacity(PATTERN_LEN);
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        while period.len() < PATTERN_LEN {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            period.extend_from_slice(&state.to_le_bytes());
        }
        let mut full = Vec::with_capacity(PATTERN_LEN + MAX_CHUNK);
        while full.len() < PATTERN_LEN + MAX_CHUNK {
            full.extend_from_slice(&period);
        }
        full.truncate(PATTERN_LEN + MAX_CHUNK);
        full.into_boxed_slice()
    })
}

/// State shared by the [`Server`], its accept thread and its connections.
struct Shared {
    addr: SocketAddr,
    limits: Limits,
    stopping: AtomicBool,
    /// Whether the accept thread was woken (or needed no waking) after stop.
    woken: AtomicBool,
    conns: Mutex<HashMap<u64, Conn>>,
    stopped: Mutex<bool>,
    stopped_cv: Condvar,
}

/// An open connection, as seen by the accept thread.
struct Conn {
    /// A clone of the connection's socket, used to shut it down on stop.
    stream: TcpStream,
    handle: JoinHandle<()>,
}

impl Shared {
    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn stop(&self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        // The accept thread blocks in accept(); a connection wakes it up.
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

    /// Sleeps until `deadline`, waking every [`STOP_POLL`] to check the stop
    /// flag. Returns false if the server is stopping.
    fn sleep_until(&self, deadline: Instant) -> bool {
        loop {
            if self.is_stopping() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            thread::sleep((deadline - now).min(STOP_POLL));
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs when the accept thread ends, even by panic: closes every open
/// connection, joins their threads and wakes [`Server::wait`].
struct AcceptExit<'a>(&'a Shared);

impl Drop for AcceptExit<'_> {
    fn drop(&mut self) {
        let shared = self.0;
        shared.stopping.store(true, Ordering::SeqCst);
        let conns: Vec<Conn> = lock(&shared.conns).drain().map(|(_, c)| c).collect();
        for conn in &conns {
            // Wakes a thread blocked reading or writing this socket.
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
        for conn in conns {
            if conn.handle.join().is_err() {
                tracing::error!("embedded server connection thread panicked");
            }
        }
        *lock(&shared.stopped) = true;
        shared.stopped_cv.notify_all();
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: TcpListener) {
    let _exit = AcceptExit(shared);
    let mut failures = 0u32;
    let mut next_id = 0u64;
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                if shared.is_stopping() {
                    break;
                }
                failures = 0;
                next_id += 1;
                tracing::trace!(%peer, id = next_id, "connection accepted");
                spawn_connection(shared, stream, next_id);
            }
            Err(e) => {
                if shared.is_stopping() {
                    break;
                }
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                ) {
                    continue;
                }
                failures += 1;
                if failures >= MAX_ACCEPT_FAILURES {
                    tracing::error!(error = %e, "embedded server stops: accept keeps failing");
                    break;
                }
                tracing::warn!(error = %e, "embedded server: accept failed; retrying");
                // Back off (e.g. out of file descriptors) without spinning.
                let backoff = Duration::from_millis(u64::from(failures.min(10)) * 10);
                if !shared.sleep_until(Instant::now() + backoff) {
                    break;
                }
            }
        }
    }
    // Refuse new connections before closing the open ones (in AcceptExit).
    drop(listener);
}

/// Answers a connection over [`Limits::max_connections`] with 503 and closes
/// it, without a thread: the reply is tiny and the socket's send buffer empty.
fn refuse_busy(stream: TcpStream) {
    tracing::warn!("embedded server: too many connections; refusing one with 503");
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let body = "server busy: too many connections\n";
    let mut out = head_bytes(
        503,
        "text/plain; charset=utf-8",
        Some(body.len() as u64),
        false,
        &[],
    );
    out.extend_from_slice(body.as_bytes());
    let _ = (&stream).write_all(&out);
    // Read what the client already sent (without waiting), so that closing
    // does not reset the connection and destroy the reply in flight.
    if stream.set_nonblocking(true).is_ok() {
        let mut buf = [0u8; 4096];
        for _ in 0..16 {
            if !matches!((&stream).read(&mut buf), Ok(n) if n > 0) {
                break;
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
}

fn spawn_connection(shared: &Arc<Shared>, stream: TcpStream, id: u64) {
    if lock(&shared.conns).len() >= shared.limits.max_connections {
        refuse_busy(stream);
        return;
    }
    let clone = match stream.try_clone() {
        Ok(clone) => clone,
        Err(e) => {
            tracing::warn!(error = %e, "embedded server: cannot clone a socket; dropping it");
            return;
        }
    };
    // Hold the registry lock across the spawn so that the thread cannot
    // deregister itself before it is registered.
    let mut conns = lock(&shared.conns);
    let thread_shared = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name("http-req".into())
        .spawn(move || {
            crate::work::lower_priority(thread_shared.limits.connection_nice);
            serve_connection(&thread_shared, &stream);
            // Dropping our own JoinHandle detaches this (finishing) thread.
            lock(&thread_shared.conns).remove(&id);
        });
    match spawned {
        Ok(handle) => {
            conns.insert(
                id,
                Conn {
                    stream: clone,
                    handle,
                },
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "embedded server: cannot spawn a connection thread");
        }
    }
}

/// What to do with the connection after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    KeepAlive,
    /// Close after draining unread client data (the response is complete).
    Close,
    /// Close at once (the response was cut short on purpose or by an error).
    Drop,
}

fn serve_connection(shared: &Shared, stream: &TcpStream) {
    // Without NODELAY, a small body written after the head can wait for a
    // delayed ACK (~40 ms).
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let limits = shared.limits;
    let mut reader = BufReader::with_capacity(
        8 * 1024,
        DeadlineReader {
            stream,
            deadline: None,
        },
    );
    let after = loop {
        if shared.is_stopping() {
            break After::Drop;
        }
        // Between requests the client may idle; once a request has begun,
        // all of it must arrive within the head timeout.
        reader.get_mut().deadline = None;
        let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
        match reader.fill_buf() {
            Ok([]) => break After::Drop,
            Ok(_) => {}
            Err(e) => {
                tracing::trace!(error = %e, "connection closed or idle between requests");
                break After::Drop;
            }
        }
        reader.get_mut().deadline = Some(Instant::now() + limits.head_timeout);
        let head = match read_head(&mut reader, &limits) {
            Ok(Some(head)) => head,
            Ok(None) => break After::Drop,
            Err(HeadError::Io(e)) if is_timeout(&e) => {
                reject(stream, 408, "the request did not arrive in time");
                break After::Close;
            }
            Err(HeadError::Io(e)) => {
                tracing::trace!(error = %e, "connection closed while reading a request");
                break After::Drop;
            }
            Err(HeadError::Reject(status, reason)) => {
                reject(stream, status, reason);
                break After::Close;
            }
        };
        match head.body {
            BodyKind::None => {}
            BodyKind::Length(n) if n <= limits.max_request_body => {
                let copied = io::copy(&mut (&mut reader).take(n), &mut io::sink());
                match copied {
                    Ok(c) if c == n => {}
                    Err(e) if is_timeout(&e) => {
                        reject(stream, 408, "the request body did not arrive in time");
                        break After::Close;
                    }
                    _ => break After::Drop,
                }
            }
            BodyKind::Length(_) => {
                reject(stream, 413, "request body too large");
                break After::Close;
            }
            BodyKind::Unsupported => {
                reject(
                    stream,
                    411,
                    "a request body needs a Content-Length (no Transfer-Encoding)",
                );
                break After::Close;
            }
        }
        reader.get_mut().deadline = None;
        let after = respond(shared, stream, &head, head.keep_alive);
        if after != After::KeepAlive {
            break after;
        }
    };
    reader.get_mut().deadline = None;
    if after == After::Close {
        linger(shared, stream, &mut reader);
    } else {
        let _ = stream.shutdown(Shutdown::Both);
    }
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Answers a request the server will not serve, and asks to close.
fn reject(stream: &TcpStream, status: u16, why: &str) {
    tracing::debug!(status, why, "request rejected");
    let body = format!("{status} {}: {why}\n", reason(status));
    let _ = write_text(stream, status, &body, false, false, true);
}

/// The connection's reader: while `deadline` is set, every read waits at
/// most until then (and fails with `TimedOut` after it), however the bytes
/// trickle in; without one, reads use the socket's own timeout.
struct DeadlineReader<'a> {
    stream: &'a TcpStream,
    deadline: Option<Instant>,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
        }
        let mut stream = self.stream;
        stream.read(buf)
    }
}

type ConnReader<'a> = BufReader<DeadlineReader<'a>>;

/// Half-closes the connection, then reads and discards what the client still
/// sends until it closes too (or [`LINGER`] passes, or [`LINGER_MAX_BYTES`]
/// arrived), so that unread data does not turn the close into a reset that
/// could destroy the response.
fn linger(shared: &Shared, stream: &TcpStream, reader: &mut ConnReader<'_>) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER;
    let mut buf = [0u8; 4096];
    let mut drained = 0;
    while !shared.is_stopping() && drained < LINGER_MAX_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left.min(STOP_POLL))).is_err() {
            break;
        }
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(e) if is_timeout(&e) => {}
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// A parsed request head.
#[derive(Debug)]
struct Head {
    method: String,
    target: String,
    keep_alive: bool,
    body: BodyKind,
}

#[derive(Debug, Clone, Copy)]
enum BodyKind {
    None,
    Length(u64),
    /// Chunked or otherwise not delimited by a length.
    Unsupported,
}

#[derive(Debug)]
enum HeadError {
    /// The connection failed or closed mid-head, or timed out.
    Io(io::Error),
    /// The request is refused with this status (400, 414, 431): answer and close.
    Reject(u16, &'static str),
}

/// Reads one line of at most `budget` bytes (with its line ending) into
/// `line`. `Ok(false)`: the line is longer than the budget.
fn read_line(
    reader: &mut ConnReader<'_>,
    budget: usize,
    line: &mut Vec<u8>,
) -> Result<bool, HeadError> {
    line.clear();
    // usize to u64 is lossless on every supported target.
    let n = reader
        .by_ref()
        .take(budget as u64)
        .read_until(b'\n', line)
        .map_err(HeadError::Io)?;
    if line.ends_with(b"\n") {
        return Ok(true);
    }
    if n == budget {
        return Ok(false);
    }
    Err(HeadError::Io(io::ErrorKind::UnexpectedEof.into()))
}

/// Reads one request head. `Ok(None)`: the client closed the connection
/// between requests.
fn read_head(reader: &mut ConnReader<'_>, limits: &Limits) -> Result<Option<Head>, HeadError> {
    let mut line = Vec::new();
    // The request line, after any stray empty lines a client may send
    // between requests (which count against the same budget).
    let mut line_budget = limits.max_request_line + 2;
    let request_line = loop {
        let complete = match read_line(reader, line_budget, &mut line) {
            Err(HeadError::Io(e))
                if e.kind() == io::ErrorKind::UnexpectedEof && line.is_empty() =>
            {
                return Ok(None);
            }
            other => other?,
        };
        if !complete {
            return Err(HeadError::Reject(414, "request line too long"));
        }
        line_budget -= line.len();
        let text = std::str::from_utf8(&line)
            .map_err(|_| HeadError::Reject(400, "request line is not UTF-8"))?
            .trim_end_matches(['\r', '\n']);
        if !text.is_empty() {
            break text.to_owned();
        }
    };
    let mut header_budget = limits.max_header_bytes + 2;
    let mut headers = Vec::new();
    loop {
        if !read_line(reader, header_budget, &mut line)? {
            return Err(HeadError::Reject(431, "request headers too large"));
        }
        header_budget -= line.len();
        let text = std::str::from_utf8(&line)
            .map_err(|_| HeadError::Reject(400, "request head is not UTF-8"))?
            .trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            break;
        }
        if headers.len() >= limits.max_headers {
            return Err(HeadError::Reject(431, "too many request headers"));
        }
        let (name, value) = text
            .split_once(':')
            .ok_or(HeadError::Reject(400, "header line without ':'"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let malformed = || HeadError::Reject(400, "request line is not 'METHOD TARGET HTTP/1.x'");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    if method.is_empty() || target.is_empty() {
        return Err(malformed());
    }
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => {
            return Err(HeadError::Reject(
                400,
                "only HTTP/1.0 and HTTP/1.1 are supported",
            ));
        }
    };
    let header = |name: &'static str| header_values(&headers, name);
    let connection_has = |token: &str| {
        header("connection").any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    let keep_alive = if http11 {
        !connection_has("close")
    } else {
        // HTTP/1.0 keep-alive is rare; close after the response.
        false
    };
    let body = if header("transfer-encoding").next().is_some() {
        BodyKind::Unsupported
    } else {
        let mut lengths = header("content-length");
        match (lengths.next(), lengths.next()) {
            (None, _) => BodyKind::None,
            (Some(v), None) => match parse_decimal(v) {
                Some(0) => BodyKind::None,
                Some(n) => BodyKind::Length(n),
                None => return Err(HeadError::Reject(400, "invalid Content-Length")),
            },
            (Some(_), Some(_)) => {
                return Err(HeadError::Reject(400, "repeated Content-Length"));
            }
        }
    };
    Ok(Some(Head {
        method: method.to_owned(),
        target: target.to_owned(),
        keep_alive,
        body,
    }))
}

/// The values of every header named `name` (lowercase), in order.
fn header_values<'a>(
    headers: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Parses a plain decimal number (ASCII digits only: no sign, no spaces).
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A response to send.
#[derive(Debug)]
enum Reply {
    /// A complete, small response.
    Text {
        status: u16,
        body: String,
        allow: bool,
    },
    /// `/redirect`: 302 to `location`.
    Redirect(String),
    /// `/bytes` and `/abort`: `declared` bytes promised (`None`: no
    /// `Content-Length`, the body ends at the close), `send` bytes sent.
    Stream {
        declared: Option<u64>,
        send: u64,
        rate: u64,
        chunk: usize,
    },
    /// `/delay`: sleep, then a text reply.
    Delay(u64),
}

impl Reply {
    fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply::Text {
            status,
            body: body.into(),
            allow: false,
        }
    }
}

const INDEX: &str = "\
threadlab embedded server (GET only):
  /bytes/{n}?rate=R&chunk=C   n pseudo-random bytes (n <= 1073741824); R bytes/s (0 = unthrottled); C bytes per write (default 16384, 1..=1048576)
  /delay/{ms}                 200 after ms milliseconds (ms <= 60000)
  /status/{code}              that status (100..=599)
  /bytes/{n}?length=none      the same without Content-Length: the body ends when the connection closes
  /abort/{n}?rate=R&chunk=C   promise 2n bytes, send n, then drop the connection
  /redirect/{n}               302 to /redirect/{n-1} (n <= 100); /redirect/0 is 200 ok
  /redirect/loop              302 to itself, forever
  /echo                       200 ok
  /                           this index
";

/// Maps a request to its reply (without doing any I/O).
fn route(head: &Head) -> Reply {
    if head.method != "GET" {
        return Reply::Text {
            status: 405,
            body: format!("method {} not allowed: only GET\n", head.method),
            allow: true,
        };
    }
    let (path, query) = head
        .target
        .split_once('?')
        .unwrap_or((head.target.as_str(), ""));
    let Some(path) = path.strip_prefix('/') else {
        return Reply::text(400, "bad request: the target must start with '/'\n");
    };
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        [""] => Reply::text(200, INDEX),
        ["echo"] => Reply::text(200, "ok\n"),
        ["bytes", n] => stream_reply(n, query, false),
        ["abort", n] => stream_reply(n, query, true),
        ["delay", ms] => match parse_decimal(ms) {
            Some(ms) if ms <= MAX_DELAY_MS => Reply::Delay(ms),
            Some(_) => Reply::text(400, format!("bad request: delay over {MAX_DELAY_MS} ms\n")),
            None => Reply::text(400, "bad request: usage /delay/{ms}\n"),
        },
        ["status", code] => match parse_decimal(code) {
            Some(code @ 100..=599) => {
                let code = u16::try_from(code).unwrap_or(500);
                Reply::text(code, format!("{code} {}\n", reason(code)))
            }
            _ => Reply::text(
                400,
                "bad request: usage /status/{code} with 100 <= code <= 599\n",
            ),
        },
        ["redirect", "loop"] => Reply::Redirect("/redirect/loop".into()),
        ["redirect", n] => match parse_decimal(n) {
            Some(0) => Reply::text(200, "ok\n"),
            Some(n) if n <= MAX_REDIRECTS => Reply::Redirect(format!("/redirect/{}", n - 1)),
            Some(_) => Reply::text(
                400,
                format!("bad request: more than {MAX_REDIRECTS} redirects\n"),
            ),
            None => Reply::text(400, "bad request: usage /redirect/{n} or /redirect/loop\n"),
        },
        ["bytes" | "abort" | "delay" | "status" | "redirect", ..] => Reply::text(
            400,
            format!("bad request: usage /{}/{{number}}\n", segments[0]),
        ),
        _ => Reply::text(404, format!("404 not found\n\n{INDEX}")),
    }
}

fn stream_reply(n: &str, query: &str, abort: bool) -> Reply {
    let endpoint = if abort { "abort" } else { "bytes" };
    let Some(n) = parse_decimal(n) else {
        return Reply::text(400, format!("bad request: usage /{endpoint}/{{n}}\n"));
    };
    if n > MAX_BYTES {
        return Reply::text(
            400,
            format!("bad request: {n} bytes is over the cap of {MAX_BYTES}\n"),
        );
    }
    let mut rate = 0;
    let mut chunk = DEFAULT_CHUNK as u64;
    let mut sized = true;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == "length" {
            if value != "none" {
                return Reply::text(400, "bad request: length can only be 'none'\n");
            }
            sized = false;
            continue;
        }
        let target = match key {
            "rate" => &mut rate,
            "chunk" => &mut chunk,
            _ => continue,
        };
        match parse_decimal(value) {
            Some(v) => *target = v,
            None => {
                return Reply::text(
                    400,
                    format!("bad request: {key} must be a non-negative integer\n"),
                );
            }
        }
    }
    // Clamped to 1..=MAX_CHUNK, so the conversion cannot fail.
    let chunk = usize::try_from(chunk.clamp(1, MAX_CHUNK as u64)).unwrap_or(MAX_CHUNK);
    let declared = if abort { n + n.max(1) } else { n };
    Reply::Stream {
        declared: sized.then_some(declared),
        send: n,
        rate,
        chunk,
    }
}

fn respond(shared: &Shared, stream: &TcpStream, head: &Head, keep_alive: bool) -> After {
    tracing::debug!(method = %head.method, target = %head.target, "request");
    // A HEAD response carries no body (the route answers HEAD with 405).
    let send_body = head.method != "HEAD";
    let written = match route(head) {
        Reply::Text {
            status,
            body,
            allow,
        } => write_text(stream, status, &body, allow, keep_alive, send_body),
        Reply::Redirect(location) => write_response(
            stream,
            302,
            &format!("redirecting to {location}\n"),
            &[("Location", &location)],
            keep_alive,
            send_body,
        ),
        Reply::Delay(ms) => {
            if !shared.sleep_until(Instant::now() + Duration::from_millis(ms)) {
                return After::Drop;
            }
            let body = format!("delayed {ms} ms\n");
            write_text(stream, 200, &body, false, keep_alive, send_body)
        }
        Reply::Stream {
            declared,
            send,
            rate,
            chunk,
        } => write_stream(shared, stream, declared, send, rate, chunk, keep_alive),
    };
    written.unwrap_or_else(|e| {
        tracing::trace!(error = %e, "response not delivered");
        After::Drop
    })
}

/// Writes a small plain-text response in one piece.
fn write_text(
    stream: &TcpStream,
    status: u16,
    body: &str,
    allow: bool,
    keep_alive: bool,
    send_body: bool,
) -> io::Result<After> {
    let extra: &[(&str, &str)] = if allow { &[("Allow", "GET")] } else { &[] };
    write_response(stream, status, body, extra, keep_alive, send_body)
}

/// Writes a small plain-text response with `extra` headers in one piece.
fn write_response(
    stream: &TcpStream,
    status: u16,
    body: &str,
    extra: &[(&str, &str)],
    keep_alive: bool,
    send_body: bool,
) -> io::Result<After> {
    // RFC 9110: 1xx, 204 and 304 carry no body; 1xx and 204 no Content-Length.
    let no_body = matches!(status, 100..=199 | 204 | 304);
    // A lone interim (1xx) response is not a complete exchange: close after it.
    let keep_alive = keep_alive && status >= 200;
    let length = (!no_body).then_some(body.len() as u64);
    let mut out = head_bytes(
        status,
        "text/plain; charset=utf-8",
        length,
        keep_alive,
        extra,
    );
    if send_body && !no_body {
        out.extend_from_slice(body.as_bytes());
    }
    let mut writer = stream;
    writer.write_all(&out)?;
    writer.flush()?;
    Ok(if keep_alive {
        After::KeepAlive
    } else {
        After::Close
    })
}

/// Writes a `/bytes` or `/abort` response: promises `declared` bytes, sends
/// `send` bytes of the pattern in writes of `chunk` bytes, at most `rate`
/// bytes per second on average (0 = unthrottled).
fn write_stream(
    shared: &Shared,
    stream: &TcpStream,
    declared: Option<u64>,
    send: u64,
    rate: u64,
    chunk: usize,
    keep_alive: bool,
) -> io::Result<After> {
    let aborting = declared.is_some_and(|d| d != send);
    // Without a length, only the close ends the body.
    let keep_alive = keep_alive && !aborting && declared.is_some();
    let mut writer = stream;
    writer.write_all(&head_bytes(
        200,
        "application/octet-stream",
        declared,
        keep_alive,
        &[],
    ))?;
    let pattern = pattern();
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < send {
        if shared.is_stopping() {
            return Ok(After::Drop);
        }
        // Both are below 1 MiB, so the casts are lossless.
        let len = (send - sent).min(chunk as u64) as usize;
        let offset = (sent % PATTERN_LEN as u64) as usize;
        if rate > 0 {
            // Never ahead of schedule: this chunk's last byte is due at
            // (sent + len) / rate seconds after the start.
            let due_nanos = u128::from(sent + len as u64) * 1_000_000_000 / u128::from(rate);
            let due = Duration::from_nanos(u64::try_from(due_nanos).unwrap_or(u64::MAX));
            // None only for absurd schedules (centuries); give up on those.
            let Some(deadline) = start.checked_add(due) else {
                return Ok(After::Drop);
            };
            if !shared.sleep_until(deadline) {
                return Ok(After::Drop);
            }
        }
        writer.write_all(&pattern[offset..offset + len])?;
        sent += len as u64;
    }
    writer.flush()?;
    Ok(if aborting {
        // The body is cut short on purpose: close below the promised length.
        After::Drop
    } else if keep_alive {
        After::KeepAlive
    } else {
        After::Close
    })
}

fn head_bytes(
    status: u16,
    content_type: &str,
    length: Option<u64>,
    keep_alive: bool,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nServer: threadlab\r\nContent-Type: {content_type}\r\n",
        reason(status)
    );
    if let Some(length) = length {
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// The reason phrase for a status code (`"Status"` for unassigned codes).
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        511 => "Network Authentication Required",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, target: &str) -> Head {
        Head {
            method: method.into(),
            target: target.into(),
            keep_alive: true,
            body: BodyKind::None,
        }
    }

    fn status_of(reply: &Reply) -> u16 {
        match reply {
            Reply::Text { status, .. } => *status,
            Reply::Redirect(_) => 302,
            Reply::Stream { .. } | Reply::Delay(_) => 200,
        }
    }

    #[test]
    fn routes_garbage_to_client_errors() {
        for target in [
            "/bytes/../../etc",
            "/bytes/abc",
            "/bytes/-1",
            "/bytes/+5",
            "/bytes/1e3",
            "/bytes/99999999999999999999999",
            "/bytes/",
            "/bytes",
            "/delay/x",
            "/status/99",
            "/status/600",
            "/abort/1073741825",
            "*",
            "http://example.com/",
            "/nope",
            "/echo/",
            "//",
            "/redirect/101",
            "/redirect/x",
            "/redirect/-1",
            "/redirect/loop/x",
            "/bytes/1?length=5",
        ] {
            let status = status_of(&route(&head("GET", target)));
            assert!(
                status == 400 || status == 404,
                "{target}: expected 400/404, got {status}"
            );
        }
    }

    #[test]
    fn parses_stream_parameters() {
        match route(&head("GET", "/bytes/10?rate=5&chunk=0&other=x")) {
            Reply::Stream {
                declared,
                send,
                rate,
                chunk,
            } => assert_eq!((declared, send, rate, chunk), (Some(10), 10, 5, 1)),
            other => panic!("unexpected {other:?}"),
        }
        match route(&head("GET", "/abort/0?chunk=99999999")) {
            Reply::Stream {
                declared,
                send,
                chunk,
                ..
            } => assert_eq!((declared, send, chunk), (Some(1), 0, MAX_CHUNK)),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(status_of(&route(&head("GET", "/bytes/1?rate=fast"))), 400);
        assert_eq!(status_of(&route(&head("POST", "/echo"))), 405);
    }

    #[test]
    fn routes_redirects_and_unsized_bytes() {
        match route(&head("GET", "/redirect/3")) {
            Reply::Redirect(location) => assert_eq!(location, "/redirect/2"),
            other => panic!("unexpected {other:?}"),
        }
        match route(&head("GET", "/redirect/loop")) {
            Reply::Redirect(location) => assert_eq!(location, "/redirect/loop"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(status_of(&route(&head("GET", "/redirect/0"))), 200);
        match route(&head("GET", "/bytes/10?length=none&rate=5")) {
            Reply::Stream { declared, send, .. } => assert_eq!((declared, send), (None, 10)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn pattern_is_periodic_and_not_constant() {
        let p = pattern();
        assert_eq!(p.len(), PATTERN_LEN + MAX_CHUNK);
        assert_eq!(p[..PATTERN_LEN], p[PATTERN_LEN..2 * PATTERN_LEN]);
        assert!(p[..256].iter().any(|&b| b != p[0]));
        assert_eq!(pattern_byte(PATTERN_LEN as u64 + 7), p[7]);
    }
}
