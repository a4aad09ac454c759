//! Connections: the accept loop (with its caps, its spare descriptor and its
//! back-off), one thread per connection reading requests (`response.rs`
//! answers them), and the linger that drains a client before a close.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::limits::Limits;
use super::limits::{IDLE_TIMEOUT, STOP_POLL, WRITE_TIMEOUT};
use super::request::{BodyKind, Head, HeadError, read_head};
use super::response::{After, Framing, head_bytes, respond, write_text};
use super::routes::reason;
use super::{Conn, Shared, lock};

/// After a `Connection: close` response, how long to drain unread client
/// data before closing (closing with unread data would reset the connection
/// and could destroy the response in flight).
const LINGER: Duration = Duration::from_millis(500);

/// The most unread client data drained after a `Connection: close`
/// response; a client still sending after that is flooding, and is reset.
const LINGER_MAX_BYTES: usize = 256 * 1024;

/// Consecutive failures of `accept` other than running out of a resource
/// after which the server gives up (the listener itself is broken).
const MAX_ACCEPT_FAILURES: u32 = 100;

/// The longest back-off between two failed `accept` calls.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How often a failing accept loop logs while it keeps failing.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(10);

/// Runs when the accept thread ends, even by panic: closes every open
/// connection, joins their threads and wakes [`super::Server::wait`].
struct AcceptExit<'a>(&'a Shared);

impl Drop for AcceptExit<'_> {
    fn drop(&mut self) {
        let shared = self.0;
        if thread::panicking() {
            shared.fail("the accept thread panicked".into());
        }
        shared.stop.cancel();
        // Refuse new connections before closing the open ones.
        let _ = rustix::net::shutdown(shared.listener.as_fd(), rustix::net::Shutdown::Both);
        let conns: Vec<Conn> = lock(&shared.conns).drain().map(|(_, c)| c).collect();
        for conn in &conns {
            // Wakes a thread blocked reading, writing or waiting on this socket.
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
        for conn in conns {
            if conn.handle.join().is_err() {
                tracing::error!("embedded server connection thread panicked");
            }
        }
        shared.stopped.cancel();
    }
}

/// A descriptor held in reserve: when accepting fails for want of
/// descriptors, closing it makes room to accept one connection and tell it
/// 503 instead of leaving every client hanging in the backlog.
fn open_spare() -> Option<File> {
    File::open("/dev/null").ok()
}

/// Whether `error` says the process or system is out of a resource that
/// closing connections gives back (descriptors, buffers, memory).
fn is_resource_error(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(code) if [
            rustix::io::Errno::MFILE.raw_os_error(),
            rustix::io::Errno::NFILE.raw_os_error(),
            rustix::io::Errno::NOBUFS.raw_os_error(),
            rustix::io::Errno::NOMEM.raw_os_error(),
        ]
        .contains(&code)
    )
}

fn is_out_of_fds(error: &io::Error) -> bool {
    error.raw_os_error() == Some(rustix::io::Errno::MFILE.raw_os_error())
        || error.raw_os_error() == Some(rustix::io::Errno::NFILE.raw_os_error())
}

/// Accepts connections until the server stops. Running out of a resource
/// never ends it: it answers what it can with 503, backs off and logs.
pub(crate) fn accept_loop(shared: &Arc<Shared>) {
    let _exit = AcceptExit(shared);
    let listener: &TcpListener = &shared.listener;
    let mut spare = open_spare();
    let mut failures = 0u32;
    let mut other_failures = 0u32;
    let mut last_log: Option<Instant> = None;
    let mut next_id = 0u64;
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                if shared.is_stopping() {
                    break;
                }
                if failures > 0 {
                    tracing::info!(failures, "embedded server accepts again");
                }
                failures = 0;
                other_failures = 0;
                if spare.is_none() {
                    spare = open_spare();
                }
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
                if is_out_of_fds(&e)
                    && let Some(fd) = spare.take()
                {
                    // The spare's slot takes the waiting connection, which
                    // learns why it is not served.
                    drop(fd);
                    if let Ok((stream, _)) = listener.accept() {
                        if shared.is_stopping() {
                            break;
                        }
                        refuse(&stream, "server busy: out of file descriptors");
                    }
                    spare = open_spare();
                    log_failure(&e, failures, &mut last_log);
                    continue;
                }
                if is_resource_error(&e) {
                    other_failures = 0;
                } else {
                    other_failures += 1;
                    if other_failures >= MAX_ACCEPT_FAILURES {
                        shared.fail(format!("accepting connections keeps failing: {e}"));
                        break;
                    }
                }
                log_failure(&e, failures, &mut last_log);
                // Back off without spinning; closing connections will free
                // what is missing.
                let backoff = (Duration::from_millis(10) * failures.min(100)).min(MAX_BACKOFF);
                if shared.stop.sleep(backoff).is_err() {
                    break;
                }
            }
        }
    }
}

/// Logs a failed accept: the first of a streak, then every
/// [`FAILURE_LOG_EVERY`].
fn log_failure(error: &io::Error, failures: u32, last: &mut Option<Instant>) {
    if last.is_none_or(|at| at.elapsed() >= FAILURE_LOG_EVERY) || failures == 1 {
        tracing::warn!(%error, failures, "embedded server: accept failed; backing off and retrying");
        *last = Some(Instant::now());
    }
}

/// Answers a connection the server will not serve with 503 and closes it,
/// without a thread: the reply is tiny and the socket's send buffer empty.
fn refuse(stream: &TcpStream, why: &str) {
    tracing::warn!(why, "embedded server: refusing a connection with 503");
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let body = format!("{why}\n");
    let mut out = head_bytes(
        503,
        "text/plain; charset=utf-8",
        Some(body.len() as u64),
        Framing::CLOSE,
        &[],
    );
    out.extend_from_slice(body.as_bytes());
    let _ = (&*stream).write_all(&out);
    // Read what the client already sent (without waiting), so that closing
    // does not reset the connection and destroy the reply in flight.
    if stream.set_nonblocking(true).is_ok() {
        let mut buf = [0u8; 4096];
        for _ in 0..16 {
            if !matches!((&*stream).read(&mut buf), Ok(n) if n > 0) {
                break;
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
}

fn spawn_connection(shared: &Arc<Shared>, stream: TcpStream, id: u64) {
    // Hold the registry lock across the spawn so that the thread cannot
    // deregister itself before it is registered.
    let mut conns = lock(&shared.conns);
    if conns.len() >= shared.limits.max_connections {
        drop(conns);
        refuse(&stream, "server busy: too many connections");
        return;
    }
    // One descriptor per connection: the registry and the thread share it.
    let stream = Arc::new(stream);
    let thread_stream = Arc::clone(&stream);
    let thread_shared = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name("http-req".into())
        .spawn(move || {
            crate::work::lower_priority(thread_shared.limits.connection_nice);
            serve_connection(&thread_shared, &thread_stream);
            let _ = thread_stream.shutdown(Shutdown::Both);
            // Dropping our own JoinHandle detaches this (finishing) thread;
            // the last reference closes the socket.
            lock(&thread_shared.conns).remove(&id);
        });
    match spawned {
        Ok(handle) => {
            conns.insert(id, Conn { stream, handle });
        }
        Err(e) => {
            drop(conns);
            tracing::warn!(error = %e, "embedded server: cannot spawn a connection thread");
            refuse(&stream, "server busy: cannot start a thread");
        }
    }
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
        let head = match next_request(stream, &mut reader, &limits) {
            Ok(head) => head,
            Err(after) => break after,
        };
        reader.get_mut().deadline = None;
        let after = respond(shared, stream, &head);
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

/// Reads the connection's next request: waits for it as long as a client
/// may idle, then wants its head (and any body, read and discarded) within
/// the head timeout. `Err` says how to end the connection instead (a
/// refusal already answered, or a hang-up).
fn next_request(
    stream: &TcpStream,
    reader: &mut BufReader<DeadlineReader<'_>>,
    limits: &Limits,
) -> Result<Head, After> {
    // Between requests the client may idle; once a request has begun,
    // all of it must arrive within the head timeout.
    reader.get_mut().deadline = None;
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    match reader.fill_buf() {
        Ok([]) => return Err(After::Drop),
        Ok(_) => {}
        Err(e) => {
            tracing::trace!(error = %e, "connection closed or idle between requests");
            return Err(After::Drop);
        }
    }
    reader.get_mut().deadline = Some(Instant::now() + limits.head_timeout);
    let head = match read_head(reader, limits) {
        Ok(Some(head)) => head,
        Ok(None) => return Err(After::Drop),
        Err(HeadError::Io(e)) if is_timeout(&e) => {
            reject(stream, 408, "the request did not arrive in time");
            return Err(After::Close);
        }
        Err(HeadError::Io(e)) => {
            tracing::trace!(error = %e, "connection closed while reading a request");
            return Err(After::Drop);
        }
        Err(HeadError::Reject(status, reason)) => {
            reject(stream, status, reason);
            return Err(After::Close);
        }
    };
    skip_body(stream, reader, head.body, limits)?;
    Ok(head)
}

/// Reads and discards a request's body (none is used), refusing one too
/// large, one without a length, or one that does not arrive in time.
fn skip_body(
    stream: &TcpStream,
    reader: &mut BufReader<DeadlineReader<'_>>,
    body: BodyKind,
    limits: &Limits,
) -> Result<(), After> {
    match body {
        BodyKind::None => Ok(()),
        BodyKind::Length(n) if n <= limits.max_request_body => {
            match io::copy(&mut reader.take(n), &mut io::sink()) {
                Ok(c) if c == n => Ok(()),
                Err(e) if is_timeout(&e) => {
                    reject(stream, 408, "the request body did not arrive in time");
                    Err(After::Close)
                }
                _ => Err(After::Drop),
            }
        }
        BodyKind::Length(_) => {
            reject(stream, 413, "request body too large");
            Err(After::Close)
        }
        BodyKind::Unsupported => {
            reject(
                stream,
                411,
                "a request body needs a Content-Length (no Transfer-Encoding)",
            );
            Err(After::Close)
        }
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
    let _ = write_text(stream, status, &body, false, Framing::CLOSE);
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

/// Half-closes the connection, then reads and discards what the client still
/// sends until it closes too (or [`LINGER`] passes, or [`LINGER_MAX_BYTES`]
/// arrived), so that unread data does not turn the close into a reset that
/// could destroy the response.
fn linger(shared: &Shared, stream: &TcpStream, reader: &mut BufReader<DeadlineReader<'_>>) {
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
