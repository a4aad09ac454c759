//! The fault matrix, engine-, server- and CLI-level: each test drives the
//! real thing (the worker [`Pool`] on real threads, the embedded server over
//! real loopback sockets, the real binary) into one fault and checks that the
//! fault is reported clearly where it happened and disturbs nothing else.
//!
//! Every socket is on 127.0.0.1. Nothing waits with a fixed sleep: waits are
//! `recv`s with deadlines (a hang fails the test), and the few conditions with
//! no event to wait on are re-checked every few milliseconds up to a
//! deadline. The binary-in-a-pty faults are in `tests/pty_faults.rs`.
//!
//! The soak test is ignored; run it alone (it measures this whole process)
//! with `THREADLAB_SOAK_SECS=20 cargo test --test faults -- --ignored soak --nocapture`.
//!
//! The engine [`Lab`] (a pool, its own server, a work dir and a dir beside
//! it) is in `tests/common/lab.rs`, shared with `tests/workers.rs`.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use common::lab::{
    HANG, HUGE_STEPS, Lab, PRECIOUS, SLOW_BYTES, assert_within_promise, failed_message,
};
use common::{entries, heavy, run_without_terminal};
use crossbeam_channel::RecvTimeoutError;
use threadlab::gil::{Mode, SwitchInterval, Transition};
use threadlab::server::{
    Limits, MAX_BYTES, MAX_HEADER_BYTES, MAX_HEADERS, MAX_REQUEST_BODY, MAX_REQUEST_LINE, Server,
};
use threadlab::session::{Session, SessionOptions};
use threadlab::work::{FetchTarget, WorkerEvent, WorkerId, WorkerKind};

/// A message for a person: one line, not empty, not a wall of text.
fn assert_readable(message: &str) {
    assert!(!message.trim().is_empty(), "empty message");
    assert!(!message.contains('\n'), "more than one line: {message:?}");
    assert!(message.len() < 400, "too long: {message:?}");
}

/// Asserts that nothing outside the work dir was touched and no `.part`
/// file is left in it.
fn assert_contained(lab: &Lab) {
    assert_eq!(
        entries(&lab.outside()),
        ["precious.txt"],
        "outside dir changed"
    );
    assert_eq!(
        fs::read(lab.outside().join("precious.txt")).expect("outside file"),
        PRECIOUS,
        "outside file changed"
    );
    if lab.work().is_dir() {
        let parts: Vec<String> = entries(&lab.work())
            .into_iter()
            .filter(|name| name.ends_with(".part") || name.ends_with(".bin"))
            .collect();
        // A symlink a test planted is not a file a worker left.
        let left: Vec<&String> = parts
            .iter()
            .filter(|name| {
                !fs::symlink_metadata(lab.work().join(name)).is_ok_and(|m| m.is_symlink())
            })
            .collect();
        assert!(left.is_empty(), "worker files left behind: {left:?}");
    }
}

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
// 2. Cancellation within 100 ms, in the states tests/workers.rs leaves out
// ---------------------------------------------------------------------------

#[test]
fn cancel_fetch_stalled_on_a_long_delay_under_the_gil() {
    let _turn = heavy();
    let mut lab = Lab::new("/delay/60000", Mode::Gil, |s| {
        s.cpu_steps = HUGE_STEPS;
        s.read_timeout = Duration::from_secs(120);
    });
    lab.gil().set_interval(SwitchInterval::MAX);
    // A CPU hog holds the GIL: a fetch coming back from its socket would
    // have to wait for it, unless cancel gets it out first.
    let hog = lab.start_hog();
    let fetch = lab.spawn(WorkerKind::Fetch);
    let tag = lab.wait_started(fetch);
    lab.wait_for_lane(tag, Transition::Io);
    let took = lab.cancel_and_time(fetch);
    assert_within_promise("fetch stalled on /delay/60000, gil, beside a hog", took);
    let took = lab.cancel_and_time(hog);
    assert_within_promise("cpu hog, gil", took);
}

#[test]
fn cancel_fetch_mid_body_under_the_gil() {
    let _turn = heavy();
    let mut lab = Lab::new(SLOW_BYTES, Mode::Gil, |s| s.cpu_steps = HUGE_STEPS);
    lab.gil().set_interval(SwitchInterval::MAX);
    let hog = lab.start_hog();
    let fetch = lab.spawn(WorkerKind::Fetch);
    let done = lab.wait_progress(fetch, 32 << 10);
    assert!(done < 100_000_000, "mid-body");
    let took = lab.cancel_and_time(fetch);
    assert_within_promise("fetch mid-body, gil, beside a hog", took);
    let took = lab.cancel_and_time(hog);
    assert_within_promise("cpu hog, gil", took);
}

#[test]
fn cancel_sleep_demo_in_legacy_mode() {
    let _turn = heavy();
    let mut lab = Lab::new("/bytes/1", Mode::Legacy, |s| {
        s.seed_sleep = Duration::from_secs(10);
        s.cpu_steps = HUGE_STEPS;
    });
    // Alone first, then beside a CPU thread fighting for Python 2's lock.
    let sleep = lab.spawn(WorkerKind::Sleep);
    lab.wait_console(sleep);
    let took = lab.cancel_and_time(sleep);
    assert_within_promise("sleep demo, legacy", took);

    let hog = lab.start_hog();
    let sleep = lab.spawn(WorkerKind::Sleep);
    lab.wait_console(sleep);
    let took = lab.cancel_and_time(sleep);
    assert_within_promise("sleep demo, legacy, beside a hog", took);
    let took = lab.cancel_and_time(hog);
    assert_within_promise("cpu hog, legacy", took);
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

// ---------------------------------------------------------------------------
// 5. File faults
// ---------------------------------------------------------------------------

#[test]
fn file_worker_when_the_workdir_vanishes() {
    let mut lab = Lab::new("/bytes/1", Mode::Free, |_| {});
    fs::remove_dir(lab.work()).expect("remove the work dir");
    let id = lab.spawn(WorkerKind::File);
    let end = lab.until_terminal(id);
    let message = failed_message(&end);
    assert_readable(message);
    eprintln!("workdir missing: {message}");
    assert!(message.contains("cannot create"), "{message}");
    assert!(message.contains("file-1.part"), "{message}");
    assert!(!lab.work().exists(), "the work dir was re-created");
    assert_contained(&lab);
}

#[test]
fn file_worker_when_the_workdir_became_a_regular_file() {
    let mut lab = Lab::new("/bytes/1", Mode::Free, |_| {});
    fs::remove_dir(lab.work()).expect("remove the work dir");
    fs::write(lab.work(), b"a file where the work dir was").expect("write a file");
    let id = lab.spawn(WorkerKind::File);
    let end = lab.until_terminal(id);
    let message = failed_message(&end);
    assert_readable(message);
    eprintln!("workdir is a file: {message}");
    assert!(message.contains("cannot create"), "{message}");
    assert_eq!(
        fs::read(lab.work()).expect("the file is kept"),
        b"a file where the work dir was"
    );
    assert_contained(&lab);
}

/// A directory that exists but that even root cannot create files in.
fn unwritable_dir() -> PathBuf {
    let dir = PathBuf::from("/sys/kernel");
    assert!(
        dir.is_dir(),
        "test setup: {} is not a directory",
        dir.display()
    );
    let probe = dir.join("threadlab-probe");
    assert!(
        fs::File::create_new(&probe).is_err(),
        "test setup: {} is writable",
        dir.display()
    );
    dir
}

#[test]
fn file_worker_in_an_unwritable_workdir() {
    let dir = unwritable_dir();
    let mut lab = Lab::with_workdir("/bytes/1", Mode::Free, Some(dir.clone()), |_| {});
    let id = lab.spawn(WorkerKind::File);
    let end = lab.until_terminal(id);
    let message = failed_message(&end);
    assert_readable(message);
    eprintln!("workdir not writable: {message}");
    assert!(message.contains("cannot create"), "{message}");
    assert!(!dir.join(format!("file-{id}.part")).exists());
    assert_contained(&lab);

    // A session refuses it up front.
    let options = SessionOptions {
        workdir: Some(dir.clone()),
        ..Default::default()
    };
    let Err(error) = Session::start(&options) else {
        panic!("an unwritable workdir must be refused");
    };
    let text = error.to_string();
    assert!(text.contains("--workdir"), "{text}");
    assert!(text.contains("not writable"), "{text}");
}

/// The end of a file-interference test: worker `id` failed with a readable
/// message containing `needle`; the hog stops on cancel; the work dir is
/// empty and nothing outside it changed.
fn file_fault_ends_clean(mut lab: Lab, hog: WorkerId, id: WorkerId, what: &str, needle: &str) {
    let end = lab.until_terminal(id);
    eprintln!("{what}: {end:?}");
    let message = failed_message(&end);
    assert_readable(message);
    assert!(message.contains(needle), "{message}");
    lab.cancel_and_time(hog);
    assert_eq!(entries(&lab.work()), Vec::<String>::new());
    assert_contained(&lab);
}

/// A GIL lab where every blocking call of a file worker is followed by a
/// wait of about 100 ms for a CPU hog to hand the GIL back: each step of the
/// file worker is slow enough to interfere with, without any hook.
fn slow_file_lab(file_bytes: u64) -> (Lab, WorkerId) {
    let mut lab = Lab::new("/bytes/1", Mode::Gil, |s| {
        s.cpu_steps = HUGE_STEPS;
        s.file_bytes = file_bytes;
    });
    lab.gil().set_interval(SwitchInterval::MAX);
    let hog = lab.start_hog();
    (lab, hog)
}

#[test]
fn file_changed_during_verification_is_a_checksum_mismatch() {
    let _turn = heavy();
    let size: u64 = 8 << 20;
    let (mut lab, hog) = slow_file_lab(size);
    let id = lab.spawn(WorkerKind::File);
    // Progress past `size` means the read-back has begun; it reads 1 MiB per
    // GIL turn (~100 ms each), so the tail is read long after this.
    lab.wait_progress(id, size + 1);
    let bin = lab.work().join(format!("file-{id}.bin"));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(&bin)
        .expect("open the file being verified");
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(size - 4096)).expect("seek");
    file.write_all(&[0xA5; 4096]).expect("change the tail");
    drop(file);
    file_fault_ends_clean(
        lab,
        hog,
        id,
        "changed during verification",
        "checksum mismatch",
    );
}

#[test]
fn file_changed_before_verification_is_a_checksum_mismatch() {
    let _turn = heavy();
    let size: u64 = 8 << 20;
    let (mut lab, hog) = slow_file_lab(size);
    let id = lab.spawn(WorkerKind::File);
    // Progress past 0: the first 1 MiB block is in `file-N.part`, and the
    // other seven take a GIL turn (~100 ms) each.
    let done = lab.wait_progress(id, 1);
    assert!(done < size, "still writing");
    let part = lab.work().join(format!("file-{id}.part"));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(&part)
        .expect("open the file being written");
    file.write_all(&[0x5A; 4096]).expect("change the head");
    drop(file);
    file_fault_ends_clean(
        lab,
        hog,
        id,
        "changed before verification",
        "checksum mismatch",
    );
}

#[test]
fn file_removed_before_verification_fails_readably() {
    let _turn = heavy();
    let size: u64 = 8 << 20;
    let (mut lab, hog) = slow_file_lab(size);
    let id = lab.spawn(WorkerKind::File);
    let done = lab.wait_progress(id, 1);
    assert!(done < size, "still writing");
    let part = lab.work().join(format!("file-{id}.part"));
    fs::remove_file(&part).expect("remove the file being written");
    let needle = format!("file-{id}.part");
    file_fault_ends_clean(lab, hog, id, "removed before verification", &needle);
}

#[test]
fn file_removed_during_verification_fails_readably() {
    let _turn = heavy();
    let size: u64 = 8 << 20;
    let (mut lab, hog) = slow_file_lab(size);
    let id = lab.spawn(WorkerKind::File);
    lab.wait_progress(id, size + 1);
    let bin = lab.work().join(format!("file-{id}.bin"));
    fs::remove_file(&bin).expect("remove the file being verified");
    // The open file still reads back whole, so the check passes; the file
    // is gone when the worker deletes it, and that must not go unnoticed.
    let needle = format!("file-{id}.bin");
    file_fault_ends_clean(lab, hog, id, "removed during verification", &needle);
}

#[test]
fn symlinked_part_name_cannot_escape_the_workdir() {
    let mut lab = Lab::new("/bytes/1", Mode::Free, |_| {});
    let target = lab.outside().join("precious.txt");
    std::os::unix::fs::symlink(&target, lab.work().join("file-1.part")).expect("plant a symlink");
    let id = lab.spawn(WorkerKind::File);
    assert_eq!(id, 1);
    let end = lab.until_terminal(id);
    let message = failed_message(&end);
    assert_readable(message);
    eprintln!("symlinked .part: {message}");
    assert!(message.contains("cannot create"), "{message}");
    assert_contained(&lab);
    // The next worker (another name) works normally.
    let id = lab.spawn(WorkerKind::File);
    let end = lab.until_terminal(id);
    assert!(matches!(end, WorkerEvent::Finished { .. }), "{end:?}");
    assert_contained(&lab);
}

#[test]
fn symlinked_bin_name_cannot_escape_the_workdir() {
    let mut lab = Lab::new("/bytes/1", Mode::Free, |_| {});
    let target = lab.outside().join("precious.txt");
    std::os::unix::fs::symlink(&target, lab.work().join("file-1.bin")).expect("plant a symlink");
    let id = lab.spawn(WorkerKind::File);
    let end = lab.until_terminal(id);
    eprintln!("symlinked .bin: {end:?}");
    assert!(end.is_terminal());
    assert_contained(&lab);
    assert_eq!(
        entries(&lab.work())
            .iter()
            .filter(|n| n.ends_with(".part"))
            .count(),
        0
    );
}

#[test]
fn files_a_worker_did_not_create_are_left_alone() {
    let mut lab = Lab::new("/bytes/1", Mode::Free, |_| {});
    // A user's given workdir may hold files with our names (say, left by a
    // run that was killed): a worker may fail on them, but not delete them.
    fs::write(lab.work().join("file-1.part"), b"the user's part").expect("plant");
    fs::write(lab.work().join("file-2.bin"), b"the user's bin").expect("plant");
    let first = lab.spawn(WorkerKind::File);
    let second = lab.spawn(WorkerKind::File);
    let ends = lab.ends(&[first, second]);
    eprintln!("{ends:?}");
    assert_eq!(
        fs::read(lab.work().join("file-1.part")).ok().as_deref(),
        Some(&b"the user's part"[..]),
        "worker 1 deleted or changed a file it did not create"
    );
    assert_eq!(
        fs::read(lab.work().join("file-2.bin")).ok().as_deref(),
        Some(&b"the user's bin"[..]),
        "worker 2 replaced or deleted a file it did not create"
    );
}

// ---------------------------------------------------------------------------
// 8. The embedded server is safe
// ---------------------------------------------------------------------------

/// Sends `request` over a raw socket and reads until the server closes the
/// connection (the server must close: a hang fails after 10 s).
fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set timeout");
    // The server may answer and close before all of an oversized request
    // is sent; a failed write is fine, the answer is what counts.
    let _ = stream.write_all(request);
    read_until_close(&mut stream)
}

fn read_until_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return data,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            // A reset after the answer arrived (the server closed with
            // unread request bytes): what arrived is what counts.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !data.is_empty() => {
                return data;
            }
            Err(e) => panic!(
                "reading the answer: {e} after {:?}",
                String::from_utf8_lossy(&data)
            ),
        }
    }
}

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

fn status_line(data: &[u8]) -> String {
    String::from_utf8_lossy(data)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn head_of(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    text.split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string()
}

fn assert_rejected(data: &[u8], status: u16, what: &str) {
    let line = status_line(data);
    assert!(
        line.starts_with(&format!("HTTP/1.1 {status} ")),
        "{what}: expected {status}, got {line:?}"
    );
    let head = head_of(data).to_ascii_lowercase();
    assert!(
        head.contains("connection: close"),
        "{what}: no Connection: close in {head:?}"
    );
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

// ---------------------------------------------------------------------------
// 9. Soak
// ---------------------------------------------------------------------------

/// `(VmRSS in KiB, threads)` of this process.
fn rss_and_threads() -> (u64, u64) {
    let status = fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/self/status"))
    };
    (field("VmRSS:"), field("Threads:"))
}

#[test]
#[ignore = "soak: 10 minutes (THREADLAB_SOAK_SECS overrides); run with --ignored"]
fn soak_ten_minutes_of_mixed_workers() {
    let _turn = heavy();
    let secs: u64 = std::env::var("THREADLAB_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let duration = Duration::from_secs(secs.max(10));
    let window = duration / 10;
    let baseline = rss_and_threads();
    // 4 MiB at 16 MiB/s, 4 MiB files, short cpu and seed runs: each worker
    // lives a fraction of a second, so thousands come and go.
    let mut lab = Lab::new("/bytes/4194304?rate=16777216", Mode::Gil, |s| {
        s.file_bytes = 4 << 20;
        s.cpu_steps = 5_000_000;
        s.seed_sleep = Duration::from_millis(10);
    });
    let mut live: BTreeMap<WorkerId, WorkerKind> = BTreeMap::new();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut spawned = 0u64;
    let per_kind = 2;
    let start = Instant::now();
    let mut next_sample = start;
    let mut samples: Vec<(Duration, u64, u64)> = Vec::new();
    let mut modes = [Mode::Gil, Mode::Legacy, Mode::Free].into_iter().cycle();
    let mut next_mode = start + Duration::from_secs(5);
    while start.elapsed() < duration {
        // Keep `per_kind` of each kind alive.
        for kind in WorkerKind::ALL {
            while live.values().filter(|&&k| k == kind).count() < per_kind {
                let id = lab.spawn(kind);
                live.insert(id, kind);
                spawned += 1;
                // Every 7th worker is cancelled right away: the cancel path soaks too.
                if spawned.is_multiple_of(7) {
                    lab.pool.cancel(id);
                }
            }
        }
        match lab.rx.lifecycle.recv_timeout(Duration::from_millis(100)) {
            Ok(event) if event.is_terminal() => {
                let id = event.id();
                lab.pool.reap(id);
                live.remove(&id);
                let what = match &event {
                    WorkerEvent::Finished { .. } => "finished",
                    WorkerEvent::Cancelled { .. } => "cancelled",
                    WorkerEvent::Failed { message, .. } => {
                        panic!("worker {id} failed during the soak: {message}")
                    }
                    _ => unreachable!(),
                };
                *counts.entry(what).or_default() += 1;
            }
            Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => panic!("lifecycle channel closed"),
        }
        // Progress is bounded and lossy: drain it like the UI does.
        for _ in lab.rx.progress.try_iter() {}
        let now = Instant::now();
        if now >= next_mode {
            lab.gil().set_mode(modes.next().unwrap_or(Mode::Free));
            next_mode = now + Duration::from_secs(5);
        }
        if now >= next_sample {
            let (rss, threads) = rss_and_threads();
            samples.push((now - start, rss, threads));
            next_sample = now + Duration::from_secs(1);
        }
    }
    let left = lab.pool.shutdown(Duration::from_secs(2));
    assert_eq!(left, 0, "workers left at the end of the soak");
    drop(lab);

    let max_in = |from: Duration, to: Duration, pick: fn(&(Duration, u64, u64)) -> u64| {
        samples
            .iter()
            .filter(|s| s.0 >= from && s.0 < to)
            .map(pick)
            .max()
            .unwrap_or(0)
    };
    let first_rss = max_in(Duration::ZERO, window, |s| s.1);
    let last_rss = max_in(duration - window, duration + window, |s| s.1);
    let first_threads = max_in(Duration::ZERO, window, |s| s.2);
    let last_threads = max_in(duration - window, duration + window, |s| s.2);
    let after = rss_and_threads();
    for window_start in (0..10).map(|i| window * i) {
        eprintln!(
            "soak window from {:>4} s: max rss {} KiB, max threads {}",
            window_start.as_secs(),
            max_in(window_start, window_start + window, |s| s.1),
            max_in(window_start, window_start + window, |s| s.2)
        );
    }
    eprintln!(
        "soak {secs} s: {spawned} workers ({counts:?}); baseline rss {} KiB / {} threads; \
         first window max rss {first_rss} KiB / {first_threads} threads; last window max rss \
         {last_rss} KiB / {last_threads} threads; after shutdown rss {} KiB / {} threads",
        baseline.0, baseline.1, after.0, after.1
    );
    assert!(samples.len() >= 5, "too few samples: {}", samples.len());
    assert!(spawned > 100, "the soak hardly ran: {spawned} workers");
    // Slack: 16 MiB of RSS (allocator caches) and 4 threads.
    assert!(
        last_rss <= first_rss * 3 / 2 + 16 * 1024,
        "memory grew: first window max {first_rss} KiB, last window max {last_rss} KiB"
    );
    assert!(
        last_threads <= first_threads * 3 / 2 + 4,
        "threads grew: first window max {first_threads}, last window max {last_threads}"
    );
    // Every worker, server and HTTP runtime thread is gone after shutdown.
    assert!(
        after.1 <= baseline.1 + 1,
        "threads left after shutdown: {} (baseline {})",
        after.1,
        baseline.1
    );
}
