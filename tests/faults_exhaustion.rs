//! The embedded server under exhaustion: a file-descriptor limit lower than
//! its connection cap, a burst of a thousand connects, and clients that hang
//! up while their response waits. It must answer every connection (served,
//! or 503 and closed), free what a vanished client held within a second,
//! and never stop by itself.
//!
//! Part of the fault matrix (`tests/faults_*.rs`). A lowered
//! `RLIMIT_NOFILE` only ever applies to a child process (`threadlab serve`,
//! or this test binary re-run as a server), never to the tests themselves.
//! A test that needs more descriptors than a user's usual soft limit of
//! 1,024 raises its own towards the hard limit, or is reported skipped.
//! Every socket is on 127.0.0.1.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::heavy;
use common::http::status_line;
use common::lab::HANG;
use common::process::Spawned;
use threadlab::server::{Limits, MAX_CONNECTIONS, Server, StopHandle};

/// Generous bound for "within a second" on a busy machine; the old server
/// held a vanished client's slot for the whole delay (60 s) or until its
/// next 16 KiB chunk (hours at 1 byte/s).
const FREED: Duration = Duration::from_secs(5);

/// Re-checks `ready` every few milliseconds until it holds; returns how long
/// that took, and fails after [`HANG`].
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < HANG, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

/// Sends `target`'s request and waits until the server holds its
/// connection, then hangs up and returns how long the slot stayed taken.
fn slot_after_hang_up(target: &str) -> Duration {
    let server = Server::start_loopback().expect("start");
    let mut client = TcpStream::connect(server.addr()).expect("connect");
    client
        .write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .expect("send");
    if target.starts_with("/bytes") {
        // The head arrives at once; the body trickles.
        let mut head = [0u8; 12];
        client.read_exact(&mut head).expect("head");
        assert_eq!(&head, b"HTTP/1.1 200");
    }
    wait_until("the connection to be served", || {
        server.open_connections() == 1
    });
    drop(client);
    let took = wait_until("the slot to be freed", || server.open_connections() == 0);
    eprintln!("{target}: slot freed {took:?} after the client hung up");
    took
}

#[test]
fn a_client_that_hangs_up_during_a_delay_frees_its_slot() {
    let took = slot_after_hang_up("/delay/60000");
    assert!(took < FREED, "{took:?}");
}

#[test]
fn a_client_that_hangs_up_during_a_throttled_download_frees_its_slot() {
    // One byte a second in 16 KiB chunks: the next write was hours away.
    let took = slot_after_hang_up("/bytes/100000?rate=1");
    assert!(took < FREED, "{took:?}");
}

/// Opens `n` connections to `addr`, each asking for `/echo` and keeping the
/// connection; returns the status of each answer (`None`: no answer before
/// the server closed) and the streams of those served.
fn storm(addr: SocketAddr, n: usize) -> (Vec<Option<u16>>, Vec<TcpStream>) {
    let mut statuses = Vec::new();
    let mut kept = Vec::new();
    for _ in 0..n {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let _ = stream.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
        // The head ends with an empty line; read up to it.
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut line = String::new();
        let status = match reader.read_line(&mut line) {
            Ok(n) if n > 0 => status_line(line.as_bytes())
                .split(' ')
                .nth(1)
                .and_then(|code| code.parse().ok()),
            _ => None,
        };
        if status == Some(200) {
            kept.push(stream);
        }
        statuses.push(status);
    }
    (statuses, kept)
}

fn count(statuses: &[Option<u16>], status: u16) -> usize {
    statuses.iter().filter(|s| **s == Some(status)).count()
}

/// Runs `threadlab serve` with `RLIMIT_NOFILE` lowered to `limit`; returns
/// it and the address it listens on.
fn serve_with_nofile(limit: u64) -> (Spawned, SocketAddr) {
    serve_with_nofile_limits(limit, limit)
}

/// Runs `threadlab serve` with the soft `RLIMIT_NOFILE` at `soft` and the
/// hard one at `hard`.
fn serve_with_nofile_limits(soft: u64, hard: u64) -> (Spawned, SocketAddr) {
    let mut run = Spawned::start_with(&["serve", "--addr", "127.0.0.1:0"], &[], move |cmd| {
        // SAFETY: setrlimit is a plain system call, safe between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let rlimit = rustix::process::Rlimit {
                    current: Some(soft),
                    maximum: Some(hard),
                };
                rustix::process::setrlimit(rustix::process::Resource::Nofile, rlimit)
                    .map_err(std::io::Error::from)
            });
        }
    });
    let line = run.wait_line(HANG, |line| line.starts_with("threadlab server listening"));
    let addr = line
        .trim_start_matches("threadlab server listening on http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("no address in {line:?}: {e}"));
    (run, addr)
}

#[test]
fn serve_under_a_low_descriptor_limit_caps_connections_with_503() {
    let _turn = heavy();
    let limit = 256;
    let (mut run, addr) = serve_with_nofile(limit);
    let cap = run.wait_line(HANG, |line| line.starts_with("at most "));
    let expected_cap = (limit - threadlab::server::FD_RESERVE) as usize;
    assert!(
        cap.starts_with(&format!("at most {expected_cap} connections")),
        "{cap}"
    );
    // Twice the descriptors it has: every connection is answered, the
    // first `cap` served, the rest refused with 503.
    let (statuses, kept) = storm(addr, 2 * limit as usize);
    assert_eq!(count(&statuses, 200), expected_cap, "{statuses:?}");
    assert_eq!(
        count(&statuses, 503),
        statuses.len() - expected_cap,
        "{statuses:?}"
    );
    drop(kept);
    // Still serving, not stopped.
    let again = wait_until("a connection served again", || {
        let (statuses, _) = storm(addr, 1);
        statuses == [Some(200)]
    });
    eprintln!("served again {again:?} after the storm");
    assert!(
        run.child.try_wait().expect("try_wait").is_none(),
        "serve exited"
    );
    let ended = run.signal_and_wait("TERM", HANG);
    assert_eq!(ended.status.code(), Some(143), "{ended:?}");
}

#[test]
fn serve_raises_a_low_soft_limit_to_serve_its_full_cap() {
    let needed = MAX_CONNECTIONS as u64 + threadlab::server::FD_RESERVE;
    let (_, hard) = common::nofile::limits();
    if hard < needed {
        common::skip::skip(format!(
            "needs a hard descriptor limit of {needed}, it is {hard}; raise it (`ulimit -Hn {needed}` as root)"
        ));
        return;
    }
    // A user's usual soft limit under a generous hard one: `serve` raises
    // its own, so its cap is the full one, not 1,024 - 64.
    let (mut run, _) = serve_with_nofile_limits(1024, hard);
    let cap = run.wait_line(HANG, |line| line.starts_with("at most "));
    assert!(
        cap.starts_with(&format!("at most {MAX_CONNECTIONS} connections")),
        "{cap}"
    );
    let ended = run.signal_and_wait("TERM", HANG);
    assert_eq!(ended.status.code(), Some(143), "{ended:?}");
}

/// Set in the environment of this binary re-run as a server child.
const CHILD_ENV: &str = "THREADLAB_TEST_FD_CHILD";

/// The server side of
/// [`out_of_descriptors_the_server_answers_503_and_recovers`], run in a
/// child process: a server with the default cap (1,024) whose descriptor
/// limit then drops to 96, so accepting fails with EMFILE long before the
/// cap. Prints the address, serves until stdin closes.
#[test]
#[ignore = "run by out_of_descriptors_the_server_answers_503_and_recovers in a child"]
fn fd_exhaustion_server_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    // The cap is the default only if the soft limit leaves room for it:
    // raised as `threadlab serve` raises its own (the parent checked that
    // the hard limit allows it).
    threadlab::server::raise_nofile_limit().expect("raise the soft descriptor limit");
    let server =
        Server::start_with("127.0.0.1:0".parse().expect("addr"), Limits::default()).expect("start");
    assert_eq!(server.limits().max_connections, MAX_CONNECTIONS);
    let rlimit = rustix::process::Rlimit {
        current: Some(96),
        maximum: Some(96),
    };
    rustix::process::setrlimit(rustix::process::Resource::Nofile, rlimit).expect("setrlimit");
    println!("ADDR {}", server.addr());
    let stop: StopHandle = server.stop_handle();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        stop.stop();
    });
    // A server that stops by itself fails the parent's test.
    println!("STOPPED {:?}", server.wait());
}

#[test]
fn out_of_descriptors_the_server_answers_503_and_recovers() {
    let needed = MAX_CONNECTIONS as u64 + threadlab::server::FD_RESERVE;
    let (_, hard) = common::nofile::limits();
    if hard < needed {
        common::skip::skip(format!(
            "the server child needs {needed} file descriptors, the hard limit is {hard}; raise it (`ulimit -Hn {needed}` as root)"
        ));
        return;
    }
    let _turn = heavy();
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "fd_exhaustion_server_child",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server child");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr: SocketAddr = loop {
        let line = lines
            .next()
            .expect("the child prints its address")
            .expect("read");
        // libtest may print "test NAME ... " before it on the same line.
        if let Some((_, addr)) = line.split_once("ADDR ") {
            break addr.trim().parse().expect("address");
        }
    };
    // Three times its descriptor limit: past the limit, every connection
    // still gets an answer (the spare descriptor makes room for a 503).
    let (statuses, kept) = storm(addr, 300);
    let served = count(&statuses, 200);
    let refused = count(&statuses, 503);
    eprintln!("out of descriptors: {served} served, {refused} refused with 503");
    assert!(served > 0 && refused > 0, "{statuses:?}");
    assert_eq!(served + refused, statuses.len(), "{statuses:?}");
    // Held over the old give-up point (100 failed accepts, about 10 s of
    // back-off, then an exit): it still answers.
    let (statuses, _) = storm(addr, 150);
    assert_eq!(count(&statuses, 503), statuses.len(), "{statuses:?}");
    drop(kept);
    wait_until("a connection served again", || {
        let (statuses, _) = storm(addr, 1);
        statuses == [Some(200)]
    });
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the server child exited"
    );
    drop(child.stdin.take());
    let stopped = lines
        .find_map(|line| Some(line.ok()?.split_once("STOPPED ")?.1.trim().to_string()))
        .expect("the child reports how it stopped");
    assert_eq!(stopped, "Requested");
    let _ = child.wait();
}

#[test]
fn a_burst_of_a_thousand_connects_fits_the_backlog() {
    // A thousand client sockets and the thousand the server accepted, all
    // in this process.
    if let Err(why) = common::nofile::ensure(2_200) {
        common::skip::skip(why);
        return;
    }
    let _turn = heavy();
    let server = Server::start_loopback().expect("start");
    let port = server.addr().port();
    // ss shows a listening socket's backlog in its Send-Q column.
    match Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
    {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let backlog: u64 = text
                .split_whitespace()
                .nth(2)
                .and_then(|q| q.parse().ok())
                .unwrap_or_else(|| panic!("no Send-Q in {text:?}"));
            assert!(backlog >= 1000, "listen backlog {backlog}");
        }
        _ => eprintln!("ss not available: backlog not read"),
    }
    let start = Instant::now();
    let streams: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(server.addr()).expect("connect"))
        .collect();
    eprintln!("1000 connects in {:?}", start.elapsed());
    for mut stream in streams {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream
            .write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("send");
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).expect("answer");
        assert_eq!(&head, b"HTTP/1.1 200");
    }
}
