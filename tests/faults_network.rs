//! Network faults: a fetch worker that meets a refused connection, an
//! unresolvable host, a full backlog, a silent server, an unbounded body or a
//! redirect loop fails with one clear line, and the workers beside it finish
//! as if nothing happened.
//!
//! Part of the fault matrix (`tests/faults_*.rs`). Every socket is on
//! 127.0.0.1; waits are `recv`s with deadlines.

mod common;

use std::io;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::lab::{HANG, Lab, assert_contained, assert_readable, failed_message};
use common::{heavy, run_without_terminal};
use threadlab::gil::Mode;
use threadlab::work::{FetchTarget, WorkerEvent, WorkerKind};

/// Runs a fetch worker that is expected to fail beside a cpu, a file and a
/// sleep worker that must all finish as if nothing happened. Returns the
/// fetch's message and how long it took to fail.
fn fetch_fault_isolated(lab: &mut Lab) -> (String, Duration) {
    let start = Instant::now();
    let fetch = lab.spawn(WorkerKind::Fetch);
    let others = [
        lab.spawn(WorkerKind::Cpu),
        lab.spawn(WorkerKind::File),
        lab.spawn(WorkerKind::Sleep),
    ];
    let fetch_end = lab.until_terminal(fetch);
    let took = start.elapsed();
    let message = failed_message(&fetch_end).to_string();
    assert_readable(&message);
    for (id, end) in lab.ends(&others) {
        assert!(
            matches!(end, WorkerEvent::Finished { .. }),
            "worker {id} beside the failing fetch did not finish: {end:?}"
        );
    }
    for id in std::iter::once(fetch).chain(others) {
        lab.pool.reap(id);
    }
    assert_eq!(lab.pool.live(), 0);
    assert_contained(lab);
    eprintln!("fetch fault after {took:?}: {message}");
    (message, took)
}

// ---------------------------------------------------------------------------
// 4. Network faults: a clear message on that worker, nothing else disturbed
// ---------------------------------------------------------------------------

#[test]
fn fetch_connection_refused_beside_healthy_workers() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener.local_addr().expect("local addr").port()
    };
    let mut lab = Lab::new("/", Mode::Free, |s| {
        s.fetch = FetchTarget::parse(&format!("http://127.0.0.1:{port}/")).expect("URL parses");
    });
    let (message, _) = fetch_fault_isolated(&mut lab);
    assert!(message.contains("connect"), "{message}");
}

/// `.invalid` names fail in threadlab's own resolver (RFC 6761): no DNS
/// query leaves the machine.
#[test]
fn fetch_of_an_unresolvable_host_fails_readably() {
    let mut lab = Lab::new("/", Mode::Free, |s| {
        s.fetch = FetchTarget::parse("http://threadlab-test.invalid/").expect("URL parses");
    });
    let (message, _) = fetch_fault_isolated(&mut lab);
    assert!(
        message.contains("resolve") || message.contains("dns") || message.contains("lookup"),
        "{message}"
    );
}

/// `localhost` is answered with the loopback addresses by threadlab's own
/// resolver, never by DNS: a fetch by that name reaches the embedded server.
#[test]
fn fetch_by_the_name_localhost_reaches_the_loopback_server() {
    let mut lab = Lab::new("/bytes/3000", Mode::Free, |s| {
        let url = s.fetch.url().replace("127.0.0.1", "localhost");
        assert!(url.contains("//localhost:"), "{url}");
        s.fetch = FetchTarget::parse(&url).expect("URL parses");
    });
    let id = lab.spawn(WorkerKind::Fetch);
    let end = lab.until_terminal(id);
    assert!(
        matches!(end, WorkerEvent::Finished { done: 3000, .. }),
        "{end:?}"
    );
}

/// Fills `listener`'s accept queue (never accepting), so that the kernel
/// drops further SYNs and a connect can only time out. Returns the
/// connections holding the queue full.
fn fill_accept_queue(listener: &TcpListener) -> Vec<TcpStream> {
    let addr = listener.local_addr().expect("local addr");
    let mut held = Vec::new();
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(250)) {
            Ok(stream) => held.push(stream),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return held,
            Err(e) => panic!("filling the accept queue: {e} after {}", held.len()),
        }
        assert!(
            held.len() < 20_000,
            "the accept queue never filled up ({} connections)",
            held.len()
        );
    }
}

#[test]
fn fetch_connect_timeout_against_a_full_backlog() {
    let _turn = heavy();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let held = fill_accept_queue(&listener);
    eprintln!("accept queue full after {} connections", held.len());
    let addr = listener.local_addr().expect("local addr");
    let connect_timeout = Duration::from_millis(500);
    let mut lab = Lab::new("/", Mode::Free, |s| {
        s.fetch = FetchTarget::parse(&format!("http://{addr}/")).expect("URL parses");
        s.connect_timeout = connect_timeout;
    });
    let (message, took) = fetch_fault_isolated(&mut lab);
    assert!(
        message.contains("timed out") || message.contains("connect"),
        "{message}"
    );
    assert!(
        took < connect_timeout + Duration::from_secs(5),
        "the connect timeout did not bound the wait: {took:?}"
    );
    drop(held);
}

#[test]
fn fetch_read_timeout_waiting_for_headers() {
    let mut lab = Lab::new("/delay/60000", Mode::Free, |s| {
        s.read_timeout = Duration::from_millis(300);
    });
    let (message, took) = fetch_fault_isolated(&mut lab);
    assert!(message.contains("timed out"), "{message}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn fetch_over_the_cap_without_a_content_length() {
    // The body's size is only known as it arrives: the cap must stop it.
    let mut lab = Lab::new("/bytes/3000000?length=none", Mode::Free, |s| {
        s.max_body = 1_000_000;
    });
    let (message, _) = fetch_fault_isolated(&mut lab);
    assert!(message.contains("cap"), "{message}");

    // The same download under the cap completes, with an unknown total.
    let mut lab = Lab::new("/bytes/300000?length=none", Mode::Free, |s| {
        s.max_body = 1_000_000;
    });
    let id = lab.spawn(WorkerKind::Fetch);
    let end = lab.until_terminal(id);
    assert!(
        matches!(end, WorkerEvent::Finished { done: 300_000, .. }),
        "{end:?}"
    );
}

#[test]
fn fetch_follows_a_short_redirect_chain() {
    let mut lab = Lab::new("/redirect/5", Mode::Free, |_| {});
    let id = lab.spawn(WorkerKind::Fetch);
    let end = lab.until_terminal(id);
    assert!(
        matches!(end, WorkerEvent::Finished { done: 3, .. }),
        "{end:?}"
    );
}

#[test]
fn fetch_redirect_loop_fails_readably() {
    let mut lab = Lab::new("/redirect/loop", Mode::Free, |_| {});
    let (message, took) = fetch_fault_isolated(&mut lab);
    assert!(message.contains("redirect"), "{message}");
    assert_eq!(
        message.matches("too many redirects").count(),
        1,
        "said once: {message}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn fetch_too_long_redirect_chain_fails_readably() {
    let mut lab = Lab::new("/redirect/50", Mode::Free, |_| {});
    let (message, _) = fetch_fault_isolated(&mut lab);
    assert!(message.contains("redirect"), "{message}");
}

#[test]
fn non_http_urls_are_refused_before_any_request() {
    // A listener that would see any connection the program made.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("local addr");
    let urls = [
        format!("ftp://{addr}/file"),
        format!("file://{addr}/etc/passwd"),
        "file:///etc/passwd".to_string(),
        format!("gopher://{addr}/"),
        format!("{addr}/bytes/1"),
        "garbage".to_string(),
        "http://".to_string(),
        "http://:80/".to_string(),
        String::new(),
    ];
    for url in &urls {
        // The library refuses it...
        assert!(FetchTarget::parse(url).is_err(), "{url:?} was accepted");
        // ...and so does the binary, with one line and exit code 2.
        let (code, stderr) = run_without_terminal(&["--url", url], HANG);
        assert_eq!(code, Some(2), "--url {url:?}: stderr {stderr:?}");
        assert_eq!(stderr.lines().count(), 1, "--url {url:?}: {stderr:?}");
        assert!(stderr.contains("--url"), "--url {url:?}: {stderr:?}");
    }
    match listener.accept() {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Ok((_, peer)) => panic!("something connected to the listener from {peer}"),
        Err(e) => panic!("accept: {e}"),
    }
}
