//! Integration tests for the embedded loopback server (`threadlab::server`).
//!
//! All traffic goes to 127.0.0.1 (or ::1). Nothing waits with a fixed sleep:
//! waiting is done on channels with timeouts, so a hang fails the test.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

mod common;

use common::http::{exchange, split_response, status_line};
use threadlab::server::{MAX_BYTES, Server, ServerError, pattern_byte};

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client builds")
}

fn get(server: &Server, path: &str) -> reqwest::blocking::Response {
    client()
        .get(server.url(path))
        .send()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

#[test]
fn bytes_has_exact_length_and_pattern_content() {
    let server = Server::start_loopback().expect("start");
    let n = 200_003u64;
    let response = get(&server, &format!("/bytes/{n}"));
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(n));
    let body = response.bytes().expect("body");
    assert_eq!(body.len() as u64, n);
    for (i, &b) in body.iter().enumerate() {
        assert_eq!(
            b,
            pattern_byte(i as u64),
            "byte {i} differs from the pattern"
        );
    }
    assert!(
        body.iter().take(1024).any(|&b| b != body[0]),
        "content is constant"
    );

    // Small chunks and an empty body.
    let body = get(&server, "/bytes/1000?chunk=7").bytes().expect("body");
    assert_eq!(body.len(), 1000);
    assert!(
        body.iter()
            .enumerate()
            .all(|(i, &b)| b == pattern_byte(i as u64))
    );
    let response = get(&server, "/bytes/0");
    assert_eq!(response.content_length(), Some(0));
    assert!(response.bytes().expect("body").is_empty());
}

#[test]
fn unthrottled_bytes_are_fast() {
    let server = Server::start_loopback().expect("start");
    let n = 64u64 << 20;
    let start = Instant::now();
    let mut response = get(&server, &format!("/bytes/{n}?chunk=1048576"));
    let copied = response.copy_to(&mut io::sink()).expect("download");
    let elapsed = start.elapsed();
    assert_eq!(copied, n);
    // Loopback does GB/s; even an unoptimised build manages far more than this.
    assert!(elapsed < Duration::from_secs(10), "64 MiB took {elapsed:?}");
}

#[test]
fn rate_limit_paces_the_download() {
    let server = Server::start_loopback().expect("start");
    let start = Instant::now();
    let body = get(&server, "/bytes/200000?rate=1000000")
        .bytes()
        .expect("body");
    let elapsed = start.elapsed();
    assert_eq!(body.len(), 200_000);
    // 200 kB at 1 MB/s is 0.2 s.
    assert!(
        elapsed >= Duration::from_millis(150),
        "too fast: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "too slow: {elapsed:?}");
}

#[test]
fn delay_waits_then_answers() {
    let server = Server::start_loopback().expect("start");
    let start = Instant::now();
    let response = get(&server, "/delay/250");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().expect("body"), "delayed 250 ms\n");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(250),
        "too fast: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "too slow: {elapsed:?}");

    assert_eq!(get(&server, "/delay/60001").status(), 400);
    assert_eq!(get(&server, "/delay/soon").status(), 400);
}

#[test]
fn status_returns_the_requested_code() {
    let server = Server::start_loopback().expect("start");
    let http = client();
    for code in [404u16, 500, 418, 200, 302, 599] {
        let response = http
            .get(server.url(&format!("/status/{code}")))
            .send()
            .expect("send");
        assert_eq!(response.status().as_u16(), code);
        let body = response.text().expect("body");
        assert!(body.starts_with(&code.to_string()), "body {body:?}");
    }
    // No body for 204 and 304, and the connection stays usable after them.
    for code in [204u16, 304] {
        let response = http
            .get(server.url(&format!("/status/{code}")))
            .send()
            .expect("send");
        assert_eq!(response.status().as_u16(), code);
        assert!(response.bytes().expect("body").is_empty());
        let echo = http.get(server.url("/echo")).send().expect("send");
        assert_eq!(echo.text().expect("body"), "ok\n");
    }
    for bad in ["99", "600", "abc", "-1"] {
        let response = http
            .get(server.url(&format!("/status/{bad}")))
            .send()
            .expect("send");
        assert_eq!(response.status(), 400, "/status/{bad}");
    }
}

#[test]
fn informational_status_is_sent_then_the_connection_closes() {
    let server = Server::start_loopback().expect("start");
    let (data, ended) = exchange(
        server.addr(),
        b"GET /status/100 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    );
    ended.expect("clean close");
    assert_eq!(status_line(&data), "HTTP/1.1 100 Continue");
    let (head, body) = split_response(&data);
    assert!(body.is_empty());
    assert!(!head.to_ascii_lowercase().contains("content-length"));
}

#[test]
fn abort_cuts_the_body_short() {
    let server = Server::start_loopback().expect("start");
    let n = 100_000u64;
    let response = get(&server, &format!("/abort/{n}"));
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(2 * n));
    assert!(response.bytes().is_err(), "a short body must be an error");

    // On the wire: exactly n body bytes, then the connection closes.
    let (data, ended) = exchange(
        server.addr(),
        format!("GET /abort/{n} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes(),
    );
    ended.expect("the server closes the connection (no hang)");
    let (head, body) = split_response(&data);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}", 2 * n)),
        "{head}"
    );
    assert_eq!(body.len() as u64, n);

    // n = 0 still promises one byte.
    let response = get(&server, "/abort/0");
    assert_eq!(response.content_length(), Some(1));
    assert!(response.bytes().is_err());
}

#[test]
fn non_loopback_addresses_are_refused() {
    for text in ["10.1.2.3:0", "0.0.0.0:0", "192.168.1.1:8080", "[::]:0"] {
        let addr: SocketAddr = text.parse().expect("address");
        match Server::start(addr) {
            Err(ServerError::NotLoopback(refused)) => {
                assert_eq!(refused, addr);
                let message = ServerError::NotLoopback(refused).to_string();
                assert!(message.contains("refusing to bind"), "{message}");
                assert!(message.contains("loopback"), "{message}");
                assert!(!message.contains('\n'), "{message}");
            }
            other => panic!("{text}: expected NotLoopback, got {other:?}"),
        }
    }
}

#[test]
fn a_busy_port_is_a_bind_error() {
    let first = Server::start_loopback().expect("start");
    match Server::start(first.addr()) {
        Err(ServerError::Bind { addr, .. }) => assert_eq!(addr, first.addr()),
        other => panic!("expected Bind, got {other:?}"),
    }
}

#[test]
fn ipv6_loopback_works_where_available() {
    let addr: SocketAddr = "[::1]:0".parse().expect("address");
    let server = match Server::start(addr) {
        Ok(server) => server,
        // No IPv6 on this machine: nothing to test.
        Err(ServerError::Bind { .. }) => return,
        Err(e) => panic!("unexpected error: {e}"),
    };
    assert!(server.url("/echo").starts_with("http://[::1]:"));
    assert_eq!(get(&server, "/echo").text().expect("body"), "ok\n");
}

#[test]
fn over_cap_and_garbage_are_client_errors() {
    let server = Server::start_loopback().expect("start");
    let response = get(&server, &format!("/bytes/{}", MAX_BYTES + 1));
    assert_eq!(response.status(), 400);
    let reason = response.text().expect("body");
    assert_eq!(reason.lines().count(), 1, "one-line reason: {reason:?}");
    assert_eq!(
        get(&server, &format!("/abort/{}", MAX_BYTES + 1)).status(),
        400
    );
    for path in [
        "/bytes/abc",
        "/bytes/1?rate=fast",
        "/bytes/1?chunk=-1",
        "/bytes",
    ] {
        assert_eq!(get(&server, path).status(), 400, "{path}");
    }

    // reqwest normalises "..", so send these over a raw socket.
    for target in [
        "/bytes/../../etc/passwd",
        "/../etc",
        "/bytes/%2e%2e",
        "//",
        "*",
    ] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (data, ended) = exchange(server.addr(), request.as_bytes());
        ended.expect("closed cleanly");
        let line = status_line(&data);
        assert!(
            line.starts_with("HTTP/1.1 400") || line.starts_with("HTTP/1.1 404"),
            "{target}: {line}"
        );
    }
    let (data, _) = exchange(server.addr(), b"complete garbage\r\n\r\n");
    assert!(status_line(&data).starts_with("HTTP/1.1 400"));
    let (data, _) = exchange(server.addr(), b"GET / HTTP/2.0\r\n\r\n");
    assert!(status_line(&data).starts_with("HTTP/1.1 400"));

    // The server still works afterwards.
    assert_eq!(get(&server, "/echo").status(), 200);
}

#[test]
fn unknown_path_is_404_with_an_index() {
    let server = Server::start_loopback().expect("start");
    let response = get(&server, "/no/such/thing");
    assert_eq!(response.status(), 404);
    let body = response.text().expect("body");
    for endpoint in ["/bytes/", "/delay/", "/status/", "/abort/", "/echo"] {
        assert!(body.contains(endpoint), "404 body lacks {endpoint}: {body}");
    }
    let index = get(&server, "/");
    assert_eq!(index.status(), 200);
    assert!(index.text().expect("body").contains("/bytes/{n}"));
}

#[test]
fn only_get_is_allowed() {
    let server = Server::start_loopback().expect("start");
    let http = client();
    let response = http
        .post(server.url("/echo"))
        .body("hello")
        .send()
        .expect("send");
    assert_eq!(response.status(), 405);
    assert_eq!(
        response.headers().get("allow").map(|v| v.as_bytes()),
        Some(&b"GET"[..])
    );
    let response = http.head(server.url("/echo")).send().expect("send");
    assert_eq!(response.status(), 405);
    // The same (pooled) connection still works after the POST and HEAD.
    let response = http.get(server.url("/echo")).send().expect("send");
    assert_eq!(response.text().expect("body"), "ok\n");
}

#[test]
fn keep_alive_and_pipelining() {
    let server = Server::start_loopback().expect("start");
    let (data, ended) = exchange(
        server.addr(),
        b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /bytes/5 HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    ended.expect("closed after the Connection: close request");
    let text = String::from_utf8_lossy(&data);
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{text}");
    assert!(text.ends_with("ok\n"), "{text}");
}

#[test]
fn echo_and_url() {
    let server = Server::start_loopback().expect("start");
    let addr = server.addr();
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);
    assert_eq!(
        server.url("/echo"),
        format!("http://127.0.0.1:{}/echo", addr.port())
    );
    assert_eq!(server.url("echo"), server.url("/echo"));
    assert_eq!(get(&server, "/echo").text().expect("body"), "ok\n");
}

#[test]
fn shutdown_with_requests_in_flight_is_prompt() {
    let server = Server::start_loopback().expect("start");

    // A long /delay, sent first so that it is surely being served by the
    // time the download below has produced bytes.
    let mut delayed = TcpStream::connect(server.addr()).expect("connect");
    delayed
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set timeout");
    delayed
        .write_all(b"GET /delay/60000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("send request");
    let (delay_tx, delay_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut data = Vec::new();
        let ended = delayed.read_to_end(&mut data).map(|_| ());
        let _ = delay_tx.send((data, ended));
    });

    // 10 MB at 100 kB/s would take 100 s.
    let url = server.url("/bytes/10000000?rate=100000");
    let (first_tx, first_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut response = client().get(url).send().expect("send");
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = response.read(&mut buf).expect("first read");
        first_tx.send(total).expect("report");
        let outcome = loop {
            match response.read(&mut buf) {
                Ok(0) => break Ok(total),
                Ok(n) => total += n,
                Err(e) => break Err(e.to_string()),
            }
        };
        let _ = done_tx.send(outcome);
    });
    let first = first_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the download started");
    assert!(first > 0);

    let start = Instant::now();
    server.shutdown();
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_secs(1),
        "shutdown took {elapsed:?}"
    );

    // The client sees the body cut short promptly instead of hanging.
    let outcome = done_rx
        .recv_timeout(Duration::from_secs(3))
        .expect("the client noticed the shutdown");
    if let Ok(total) = outcome {
        assert!(total < 10_000_000, "the download completed");
    }
    // The delayed request is closed without an answer.
    let (data, ended) = delay_rx
        .recv_timeout(Duration::from_secs(3))
        .expect("the delayed request ended");
    assert!(
        ended.is_err() || data.is_empty(),
        "delay answered after shutdown: {:?}",
        String::from_utf8_lossy(&data)
    );
}

#[test]
fn wait_returns_after_stop_from_another_thread() {
    let server = Arc::new(Server::start_loopback().expect("start"));
    let handle = server.stop_handle();
    assert!(!handle.is_stopping());
    let (tx, rx) = mpsc::channel();
    let waiter = Arc::clone(&server);
    thread::spawn(move || {
        waiter.wait();
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "wait returned while the server was running"
    );
    handle.stop();
    rx.recv_timeout(Duration::from_secs(2))
        .expect("wait returned after stop");
    assert!(handle.is_stopping());
    // Stopped: new connections are refused or closed without an answer.
    let refused = client().get(server.url("/echo")).send();
    assert!(refused.is_err(), "a stopped server answered: {refused:?}");
}

#[test]
fn fifty_concurrent_requests_all_succeed() {
    let server = Server::start_loopback().expect("start");
    let http = client();
    let start = Instant::now();
    let results: Vec<_> = thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let http = http.clone();
                let url = if i % 2 == 0 {
                    server.url("/delay/300")
                } else {
                    server.url("/bytes/100000?rate=400000")
                };
                scope.spawn(move || -> Result<usize, String> {
                    let response = http.get(&url).send().map_err(|e| e.to_string())?;
                    if response.status() != 200 {
                        return Err(format!("{url}: status {}", response.status()));
                    }
                    Ok(response.bytes().map_err(|e| e.to_string())?.len())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("request thread"))
            .collect()
    });
    let elapsed = start.elapsed();
    for (i, result) in results.iter().enumerate() {
        let expected = if i % 2 == 0 { 15 } else { 100_000 };
        assert_eq!(result.as_ref().ok(), Some(&expected), "request {i}");
    }
    // Served one after another this would take 25 * 0.3 s + 25 * 0.25 s.
    assert!(
        elapsed < Duration::from_secs(5),
        "not concurrent: {elapsed:?}"
    );
}
