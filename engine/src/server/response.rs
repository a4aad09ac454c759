//! Writing responses: the head (status line with the `http` crate's reason
//! phrase, length, connection header) and the bodies — small texts in one
//! write, `/bytes` and `/abort` streams in throttled chunks — and what the
//! connection does next ([`After`]). Delays and throttled writes wait with
//! [`wait_for`], which gives up when the client hangs up or the server
//! stops.

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::Shared;
use super::limits::{MAX_WRITE_GAP, STOP_POLL};
use super::request::Head;
use super::routes::{PATTERN_LEN, Reply, pattern, reason, route};

/// What to do with the connection after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    KeepAlive,
    /// Close after draining unread client data (the response is complete).
    Close,
    /// Close at once (the response was cut short on purpose or by an error).
    Drop,
}

/// How a response is framed for the connection it goes out on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Framing {
    /// Keep the connection open after this response.
    pub(crate) keep_alive: bool,
    /// The request was HTTP/1.0: keep-alive has to be announced.
    pub(crate) http10: bool,
    /// Send the body (false for HEAD).
    pub(crate) send_body: bool,
}

impl Framing {
    /// A response that closes the connection.
    pub(crate) const CLOSE: Framing = Framing {
        keep_alive: false,
        http10: false,
        send_body: true,
    };
}

/// Answers one request on `stream`.
pub(crate) fn respond(shared: &Shared, stream: &TcpStream, head: &Head) -> After {
    tracing::debug!(method = %head.method, target = %head.target, "request");
    let framing = Framing {
        keep_alive: head.keep_alive,
        http10: head.http10,
        // A HEAD response carries no body (the route answers HEAD with 405).
        send_body: head.method != "HEAD",
    };
    let written = match route(head) {
        Reply::Text {
            status,
            body,
            allow,
        } => write_text(stream, status, &body, allow, framing),
        Reply::Redirect(location) => write_response(
            stream,
            302,
            &format!("redirecting to {location}\n"),
            &[("Location", &location)],
            framing,
        ),
        Reply::Delay(ms) => {
            // Gives up early if the client hangs up or the server stops.
            if !wait_for(shared, stream, Instant::now() + Duration::from_millis(ms)) {
                return After::Drop;
            }
            let body = format!("delayed {ms} ms\n");
            write_text(stream, 200, &body, false, framing)
        }
        Reply::Stream {
            declared,
            send,
            rate,
            chunk,
        } => write_stream(shared, stream, declared, send, rate, chunk, framing),
    };
    written.unwrap_or_else(|e| {
        tracing::trace!(error = %e, "response not delivered");
        After::Drop
    })
}

/// Writes a small plain-text response in one piece.
pub(crate) fn write_text(
    stream: &TcpStream,
    status: u16,
    body: &str,
    allow: bool,
    framing: Framing,
) -> io::Result<After> {
    let extra: &[(&str, &str)] = if allow { &[("Allow", "GET")] } else { &[] };
    write_response(stream, status, body, extra, framing)
}

/// Writes a small plain-text response with `extra` headers in one piece.
fn write_response(
    stream: &TcpStream,
    status: u16,
    body: &str,
    extra: &[(&str, &str)],
    framing: Framing,
) -> io::Result<After> {
    // RFC 9110: 1xx, 204 and 304 carry no body; 1xx and 204 no Content-Length.
    let no_body = matches!(status, 100..=199 | 204 | 304);
    // A lone interim (1xx) response is not a complete exchange: close after it.
    let framing = Framing {
        keep_alive: framing.keep_alive && status >= 200,
        ..framing
    };
    let length = (!no_body).then_some(body.len() as u64);
    let mut out = head_bytes(status, "text/plain; charset=utf-8", length, framing, extra);
    if framing.send_body && !no_body {
        out.extend_from_slice(body.as_bytes());
    }
    let mut writer = stream;
    writer.write_all(&out)?;
    writer.flush()?;
    Ok(if framing.keep_alive {
        After::KeepAlive
    } else {
        After::Close
    })
}

/// How many bytes one write of a stream sends: `chunk`, but never more than
/// [`MAX_WRITE_GAP`] worth at `rate` bytes/s (0 = unthrottled), so writes
/// come at least that often and a vanished client is noticed.
pub(crate) fn write_len(chunk: usize, rate: u64) -> usize {
    if rate == 0 {
        return chunk;
    }
    let per_gap = u128::from(rate) * MAX_WRITE_GAP.as_nanos() / 1_000_000_000;
    usize::try_from(per_gap.max(1))
        .unwrap_or(usize::MAX)
        .min(chunk)
}

/// Writes a `/bytes` or `/abort` response: promises `declared` bytes, sends
/// `send` bytes of the pattern in writes of `chunk` bytes (see
/// [`write_len`]), at most `rate` bytes per second on average (0 =
/// unthrottled).
#[allow(clippy::too_many_arguments)]
fn write_stream(
    shared: &Shared,
    stream: &TcpStream,
    declared: Option<u64>,
    send: u64,
    rate: u64,
    chunk: usize,
    framing: Framing,
) -> io::Result<After> {
    let aborting = declared.is_some_and(|d| d != send);
    // Without a length, only the close ends the body.
    let framing = Framing {
        keep_alive: framing.keep_alive && !aborting && declared.is_some(),
        ..framing
    };
    let mut writer = stream;
    writer.write_all(&head_bytes(
        200,
        "application/octet-stream",
        declared,
        framing,
        &[],
    ))?;
    let pattern = pattern();
    let chunk = write_len(chunk, rate);
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
            if !wait_for(shared, stream, deadline) {
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
    } else if framing.keep_alive {
        After::KeepAlive
    } else {
        After::Close
    })
}

/// The bytes of a response head.
pub(crate) fn head_bytes(
    status: u16,
    content_type: &str,
    length: Option<u64>,
    framing: Framing,
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
    if !framing.keep_alive {
        head.push_str("Connection: close\r\n");
    } else if framing.http10 {
        head.push_str("Connection: keep-alive\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Waits until `deadline`; false as soon as the client hangs up or the
/// server stops (the caller then drops the connection). Hang-ups are seen
/// within [`STOP_POLL`]; a stop at once, since it shuts the socket down.
pub(crate) fn wait_for(shared: &Shared, stream: &TcpStream, deadline: Instant) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    loop {
        if shared.is_stopping() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        let slice = (deadline - now).min(STOP_POLL);
        let timeout = Timespec {
            tv_sec: 0,
            tv_nsec: i64::from(slice.subsec_nanos()),
        };
        // Only a hang-up or an error: pipelined requests (readable data)
        // must not end the wait.
        let mut fds = [PollFd::new(stream, PollFlags::RDHUP)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => {}
            Ok(_) => {
                let events = fds[0].revents();
                if events.intersects(PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR) {
                    tracing::debug!("client hung up during a wait; freeing its connection");
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_writes_come_at_least_once_a_gap() {
        assert_eq!(write_len(16384, 0), 16384);
        assert_eq!(write_len(16384, 1), 1);
        assert_eq!(write_len(16384, 1000), 1000);
        assert_eq!(write_len(16384, 1 << 20), 16384);
    }
}
