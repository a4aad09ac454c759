//! The endpoints: which reply a request gets (no I/O here), the
//! deterministic content of `/bytes` and `/abort` bodies, and each status
//! code's reason phrase.

use std::sync::OnceLock;

use super::limits::{DEFAULT_CHUNK, MAX_BYTES, MAX_CHUNK, MAX_DELAY_MS, MAX_REDIRECTS};
use super::request::{Head, parse_decimal};

/// The period of the `/bytes` content.
pub(crate) const PATTERN_LEN: usize = 64 * 1024;

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
pub(crate) fn pattern() -> &'static [u8] {
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

/// A response to send.
#[derive(Debug)]
pub(crate) enum Reply {
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
    pub(crate) fn text(status: u16, body: impl Into<String>) -> Reply {
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
pub(crate) fn route(head: &Head) -> Reply {
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

/// The reason phrase for a status code, from the `http` crate's registry
/// (`"Status"` for unassigned codes).
pub(crate) fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|code| code.canonical_reason())
        .unwrap_or("Status")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::request::BodyKind;

    #[test]
    fn reason_phrases_come_from_the_registry() {
        assert_eq!(reason(200), "OK");
        assert_eq!(reason(413), "Payload Too Large");
        assert_eq!(reason(599), "Status");
    }

    fn head(method: &str, target: &str) -> Head {
        Head {
            method: method.into(),
            target: target.into(),
            keep_alive: true,
            http10: false,
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
