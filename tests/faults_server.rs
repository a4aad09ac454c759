//! The embedded server is safe: whatever a client sends or fails to send —
//! oversized or trickling heads, unbounded bodies, floods, more connections
//! than the cap or than the file-descriptor limit, hang-ups mid-response,
//! RFC 9112 violations — it costs bounded memory and time, answers clearly
//! and goes on serving.
//!
//! Part of the fault matrix (`tests/faults_*.rs`). Every socket is on
//! 127.0.0.1; nothing waits with a fixed sleep.

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::http::{assert_rejected, raw_exchange, read_until_close, status_line};
use common::lab::HANG;
use common::{entries, heavy};
use threadlab::server::{
    Limits, MAX_BYTES, MAX_HEADER_BYTES, MAX_HEADERS, MAX_REQUEST_BODY, MAX_REQUEST_LINE, Server,
};
use threadlab::session::{Session, SessionOptions};
use threadlab::work::WorkerKind;

// ---------------------------------------------------------------------------
// 8. The embedded server is safe
// ---------------------------------------------------------------------------

/// Sends `head`, then `filler` bytes as fast as the server takes them (up to
/// 4 GiB) while another thread reads the answer. Returns the answer, how
/// many filler bytes were sent and how long until the server hung up.
fn flood(addr: SocketAddr, head: &[u8], filler: u8) -> (Vec<u8>, u64, Duration) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let mut reader = stream.try_clone().expect("clone");
    reader
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let answer = thread::spawn(move || read_until_close(&mut reader));
    let start = Instant::now();
    stream.write_all(head).expect("send the head");
    let chunk = vec![filler; 64 << 10];
    let mut sent = 0u64;
    while sent < (4 << 30) && start.elapsed() < HANG {
        if stream.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len() as u64;
    }
    let took = start.elapsed();
    (answer.join().expect("reader thread"), sent, took)
}

fn get_echo_works(server: &Server) {
    let data = raw_exchange(
        server.addr(),
        b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(
        status_line(&data).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&data)
    );
}

#[test]
fn server_caps_the_request_line_with_414() {
    let server = Server::start_loopback().expect("start");
    let ok = format!(
        "GET /echo?{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(MAX_REQUEST_LINE - 30)
    );
    assert!(status_line(&raw_exchange(server.addr(), ok.as_bytes())).starts_with("HTTP/1.1 200"));
    let long = format!(
        "GET /echo?{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(MAX_REQUEST_LINE)
    );
    assert_rejected(
        &raw_exchange(server.addr(), long.as_bytes()),
        414,
        "long line",
    );
    // A line that never ends is cut off at the cap, not read forever.
    let (answer, sent, took) = flood(server.addr(), b"GET /", b'a');
    eprintln!("endless request line: hung up after {sent} bytes, {took:?}");
    assert_rejected(&answer, 414, "endless line");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // Socket buffers hold a few MiB; the server itself reads little more.
    assert!(sent < 64 << 20, "the server swallowed {sent} bytes");
    get_echo_works(&server);
}

#[test]
fn server_caps_headers_with_431() {
    let server = Server::start_loopback().expect("start");
    let many: String = (0..=MAX_HEADERS)
        .map(|i| format!("X-H{i}: v\r\n"))
        .collect();
    let request = format!("GET /echo HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    assert_rejected(
        &raw_exchange(server.addr(), request.as_bytes()),
        431,
        "too many",
    );

    let big = format!("X-Big: {}\r\n", "b".repeat(MAX_HEADER_BYTES));
    let request = format!("GET /echo HTTP/1.1\r\nHost: x\r\n{big}\r\n");
    assert_rejected(
        &raw_exchange(server.addr(), request.as_bytes()),
        431,
        "too large",
    );

    // Just under both caps is fine.
    let fine: String = (0..MAX_HEADERS - 2)
        .map(|i| format!("X-H{i}: {}\r\n", "v".repeat(200)))
        .collect();
    let request = format!("GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{fine}\r\n");
    let data = raw_exchange(server.addr(), request.as_bytes());
    assert!(
        status_line(&data).starts_with("HTTP/1.1 200"),
        "{}",
        status_line(&data)
    );
    get_echo_works(&server);
}

#[test]
fn server_refuses_large_or_unbounded_request_bodies() {
    let server = Server::start_loopback().expect("start");
    // Declared over the cap: 413 before the body is read.
    let request = format!(
        "GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        MAX_REQUEST_BODY + 1
    );
    assert_rejected(
        &raw_exchange(server.addr(), request.as_bytes()),
        413,
        "over cap",
    );
    // Claimed to be huge and actually sent: still 413, and the server
    // hangs up instead of swallowing gigabytes.
    let (answer, sent, took) = flood(
        server.addr(),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n",
        0,
    );
    eprintln!("huge request body: hung up after {sent} bytes, {took:?}");
    assert_rejected(&answer, 413, "huge body");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(sent < 64 << 20, "the server swallowed {sent} bytes");
    // No length: 411.
    let request = b"GET /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    assert_rejected(&raw_exchange(server.addr(), request), 411, "chunked");
    // A small body is read and the connection stays usable.
    let data = raw_exchange(
        server.addr(),
        b"GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
          GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&data);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    get_echo_works(&server);
}

#[test]
fn server_times_out_a_trickling_request_with_408() {
    let limits = Limits {
        head_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = Server::start_with("127.0.0.1:0".parse().expect("addr"), limits).expect("start");
    let mut stream = TcpStream::connect(server.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut trickle = stream.try_clone().expect("clone");
    let start = Instant::now();
    // The fault itself: one header byte every 20 ms, each read quick, the
    // whole head never done (it would take 4 s).
    let trickler = thread::spawn(move || {
        let _ = trickle.write_all(b"GET /echo HTTP/1.1\r\n");
        for byte in b"X-Slow: ".iter().cycle().take(200) {
            if trickle.write_all(&[*byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    });
    let answer = read_until_close(&mut stream);
    let took = start.elapsed();
    assert_rejected(&answer, 408, "trickle");
    eprintln!("trickling request cut off after {took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    drop(stream);
    trickler.join().expect("trickler");

    // An idle keep-alive connection is not a trickle: it may wait longer.
    let mut idle = TcpStream::connect(server.addr()).expect("connect");
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    idle.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut data = Vec::new();
    let mut buf = [0u8; 1024];
    while !data.ends_with(b"\r\n\r\nok\n") {
        let n = idle.read(&mut buf).expect("the answer");
        assert!(n > 0, "closed before the answer: {data:?}");
        data.extend_from_slice(&buf[..n]);
    }
    idle.set_read_timeout(Some(Duration::from_millis(900)))
        .expect("timeout");
    let after_idle = idle.read(&mut buf);
    assert!(
        matches!(&after_idle, Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)),
        "an idle connection was closed within 3 head timeouts: {after_idle:?}"
    );
    get_echo_works(&server);
}

#[test]
fn server_refuses_connections_over_the_cap_with_503() {
    let limits = Limits {
        max_connections: 8,
        ..Limits::default()
    };
    let server = Server::start_with("127.0.0.1:0".parse().expect("addr"), limits).expect("start");
    // Eight idle connections, each proven served by one request.
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut stream = TcpStream::connect(server.addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream
            .write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("send");
        let mut answer = [0u8; 12];
        stream.read_exact(&mut answer).expect("answer");
        assert_eq!(&answer, b"HTTP/1.1 200");
        held.push(stream);
    }
    assert_eq!(server.open_connections(), 8);
    // The ninth is told so at once and closed.
    let mut ninth = TcpStream::connect(server.addr()).expect("connect");
    ninth
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let data = read_until_close(&mut ninth);
    assert_rejected(&data, 503, "over the connection cap");
    assert_eq!(server.open_connections(), 8);
    // Once one closes, new connections are served again.
    drop(held.pop());
    wait_until("the server to notice the close", || {
        server.open_connections() < 8
    });
    get_echo_works(&server);
}

/// Re-checks `ready` every few milliseconds until it holds; fails after [`HANG`].
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn server_rejects_traversal_and_absurd_parameters() {
    let server = Server::start_loopback().expect("start");
    let huge = "9".repeat(30);
    let targets = [
        "/bytes/../../etc/passwd".to_string(),
        "/../../../etc/passwd".to_string(),
        "/bytes/%2e%2e/%2e%2e/etc/passwd".to_string(),
        "/bytes/..%2f..%2fetc%2fpasswd".to_string(),
        "/bytes/1%00".to_string(),
        "/bytes/\\..\\..\\windows".to_string(),
        "/./bytes/1".to_string(),
        "/bytes//1".to_string(),
        format!("/bytes/{}", MAX_BYTES + 1),
        format!("/bytes/{}", u64::MAX),
        format!("/bytes/{huge}"),
        format!("/abort/{huge}"),
        format!("/delay/{huge}"),
        "/delay/60001".to_string(),
        format!("/status/{huge}"),
        format!("/redirect/{huge}"),
        "/redirect/101".to_string(),
        format!("/bytes/1?rate={huge}"),
        format!("/bytes/1?chunk={huge}"),
        "/bytes/1?rate=-5".to_string(),
        "/bytes/1?length=1".to_string(),
        "http:///bytes/1".to_string(),
        "*".to_string(),
        "bytes/1".to_string(),
    ];
    for target in &targets {
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let data = raw_exchange(server.addr(), request.as_bytes());
        let line = status_line(&data);
        assert!(
            line.starts_with("HTTP/1.1 4"),
            "{target:?}: expected a 4xx, got {line:?}"
        );
    }
    // The absolute form names the same resource (RFC 9112 §3.2.2).
    let data = raw_exchange(
        server.addr(),
        b"GET http://127.0.0.1/bytes/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(status_line(&data).starts_with("HTTP/1.1 200"));
    // Absurd but valid: a rate of 1 byte/s schedules far in the future; the
    // server must neither hang shutdown nor overflow.
    let data = raw_exchange(
        server.addr(),
        b"GET /bytes/5?rate=1&chunk=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(status_line(&data).starts_with("HTTP/1.1 200"));
    // Non-UTF-8 and NUL bytes in the head.
    for request in [
        &b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &b"GET / HTTP/1.1\r\nX: \xc3\x28\r\n\r\n"[..],
        &b"\x00\x00\x00\r\n\r\n"[..],
        &b"GET / HTTP/1.1\r\nno colon here\r\n\r\n"[..],
    ] {
        let data = raw_exchange(server.addr(), request);
        assert!(
            status_line(&data).starts_with("HTTP/1.1 400"),
            "{:?}: {}",
            String::from_utf8_lossy(request),
            status_line(&data)
        );
    }
    get_echo_works(&server);
}

#[test]
fn server_survives_200_concurrent_connections() {
    let _turn = heavy();
    let server = Server::start_loopback().expect("start");
    let addr = server.addr();
    let start = Instant::now();
    let results: Vec<Result<usize, String>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..200)
            .map(|i| {
                scope.spawn(move || -> Result<usize, String> {
                    let target = match i % 4 {
                        0 => "/delay/500".to_string(),
                        1 => "/bytes/200000?rate=400000".to_string(),
                        2 => "/bytes/1000000".to_string(),
                        _ => "/redirect/3".to_string(),
                    };
                    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
                    stream
                        .set_read_timeout(Some(Duration::from_secs(20)))
                        .map_err(|e| e.to_string())?;
                    let request =
                        format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                    stream
                        .write_all(request.as_bytes())
                        .map_err(|e| e.to_string())?;
                    let mut data = Vec::new();
                    stream.read_to_end(&mut data).map_err(|e| e.to_string())?;
                    let line = status_line(&data);
                    if !(line.starts_with("HTTP/1.1 200") || line.starts_with("HTTP/1.1 302")) {
                        return Err(format!("{target}: {line}"));
                    }
                    Ok(data.len())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    let took = start.elapsed();
    eprintln!("200 concurrent connections served in {took:?}");
    let failures: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    wait_until("every connection thread to end", || {
        server.open_connections() == 0
    });
    get_echo_works(&server);
}

#[test]
fn server_survives_clients_that_disconnect_mid_response() {
    let _turn = heavy();
    let server = Server::start_loopback().expect("start");
    for i in 0..60 {
        let mut stream = TcpStream::connect(server.addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let target = match i % 3 {
            0 => "/bytes/100000000",
            1 => "/bytes/100000000?rate=1000000",
            _ => "/delay/2000",
        };
        stream
            .write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .expect("send");
        if i % 3 != 2 {
            // Read a little of the body, then vanish.
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).expect("first bytes");
            assert!(n > 0);
        }
        if i % 2 == 0 {
            // Hang up both ways first; the others just close.
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        drop(stream);
    }
    // Every connection thread notices and ends (a delayed one when its
    // delay is over, at most 2 s).
    wait_until("every connection thread to end", || {
        server.open_connections() == 0
    });
    get_echo_works(&server);
}

#[test]
fn session_shutdown_stops_its_server_with_downloads_in_flight() {
    let _turn = heavy();
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SessionOptions {
        workdir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let mut session = Session::start(&options).expect("session starts");
    let addr = session.server.addr();
    // Downloads from the session's own server, slow enough to be in flight.
    let mut clients = Vec::new();
    for _ in 0..10 {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .write_all(b"GET /bytes/100000000?rate=100000 HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("send");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut buf = [0u8; 1024];
        assert!(stream.read(&mut buf).expect("head") > 0);
        clients.push(stream);
    }
    let id = session.pool.spawn(WorkerKind::Fetch).expect("spawn fetch");
    assert!(session.server.open_connections() >= 10);
    let start = Instant::now();
    let left = session.shutdown(Duration::from_secs(1));
    let took = start.elapsed();
    eprintln!("session shutdown with 11 downloads in flight: {took:?} (worker {id})");
    assert_eq!(left, 0);
    assert!(took < Duration::from_secs(3), "{took:?}");
    // The server is gone: its port refuses connections.
    let refused = TcpStream::connect_timeout(&addr, Duration::from_secs(2));
    assert!(
        refused.is_err(),
        "the session's server still accepts connections"
    );
    // The clients see their downloads cut short (closed or reset), not
    // left hanging until their read timeout.
    for mut client in clients {
        let mut rest = Vec::new();
        if let Err(e) = client.read_to_end(&mut rest) {
            assert!(
                !matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ),
                "a client was left hanging after the session shut down"
            );
        }
        assert!(rest.len() < 100_000_000, "a download completed");
    }
    assert_eq!(entries(dir.path()), Vec::<String>::new());
}

#[test]
fn server_holds_requests_to_rfc_9112() {
    let server = Server::start_loopback().expect("start");
    for (request, what) in [
        (
            &b"GET /echo HTTP/1.1\r\nHost : x\r\n\r\n"[..],
            "whitespace before a colon",
        ),
        (
            b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",
            "obsolete line folding",
        ),
        (b"GET /echo HTTP/1.1\r\n\r\n", "no Host"),
        (
            b"GET /echo HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            "two Hosts",
        ),
    ] {
        let data = raw_exchange(server.addr(), request);
        assert_rejected(&data, 400, what);
    }
    // The absolute form names the same resource.
    let data = raw_exchange(
        server.addr(),
        b"GET http://127.0.0.1/bytes/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(status_line(&data).starts_with("HTTP/1.1 200"), "{data:?}");
    // HTTP/1.0 with keep-alive: two answers on one connection, each saying
    // it stays open; the last request closes it.
    let data = raw_exchange(
        server.addr(),
        b"GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
          GET /echo HTTP/1.0\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&data);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert_eq!(
        text.to_ascii_lowercase()
            .matches("connection: keep-alive")
            .count(),
        1,
        "{text}"
    );
    get_echo_works(&server);
}
