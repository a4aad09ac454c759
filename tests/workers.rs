//! Integration tests for the worker engine (`threadlab::work`, `threadlab::session`)
//! against real resources: the embedded loopback server (127.0.0.1 only) and
//! a fresh temp directory per test.
//!
//! Nothing waits with a fixed sleep: every wait is a `recv` on a pool channel
//! with a deadline, so a hang fails the test instead of stalling it. Cancel
//! latencies are printed (`cargo test --test workers -- --nocapture`).
//!
//! The [`Lab`] harness is in `tests/common/lab.rs`, shared with the `tests/faults_*.rs`.

mod common;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::heavy;
use common::lab::{
    HANG, HUGE_STEPS, Lab, SLOW_BYTES, assert_within_promise, entry_paths, failed_message,
    last_lane,
};
use threadlab::gil::{Mode, SwitchInterval, Transition};
use threadlab::session::{Session, SessionOptions};
use threadlab::work::{ConsoleSide, FetchTarget, WorkerEvent, WorkerId, WorkerKind};

/// A file size no test ever finishes writing: cancels always land mid-write.
const HUGE_FILE: u64 = 512 << 20;

// ---------------------------------------------------------------------------
// Fetch
// ---------------------------------------------------------------------------

#[test]
fn fetch_downloads_the_whole_body_with_monotonic_progress() {
    let n: u64 = 1 << 20;
    let mut lab = Lab::new(&format!("/bytes/{n}"), Mode::Free, |_| {});
    let (id, events, end) = lab.run_one(WorkerKind::Fetch);
    match &end {
        WorkerEvent::Finished { done, summary, .. } => {
            assert_eq!(*done, n, "{summary}");
            assert!(summary.contains("1.0 MiB"), "{summary}");
        }
        other => panic!("expected Finished, got {other:?}"),
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, WorkerEvent::Started { .. })),
        "a Started event precedes the end: {events:?}"
    );
    // Every progress message was sent before the terminal event, so all of
    // them are in the channel now.
    let progress: Vec<(u64, Option<u64>)> = lab
        .rx
        .progress
        .try_iter()
        .filter_map(|e| match e {
            WorkerEvent::Progress {
                id: got,
                done,
                total,
                ..
            } if got == id => Some((done, total)),
            _ => None,
        })
        .collect();
    assert!(!progress.is_empty(), "no progress seen");
    for pair in progress.windows(2) {
        assert!(
            pair[0].0 <= pair[1].0,
            "progress went backwards: {progress:?}"
        );
    }
    assert!(
        progress.iter().all(|&(_, total)| total == Some(n)),
        "every report knows the total: {progress:?}"
    );
    assert_eq!(
        progress.last().map(|p| p.0),
        Some(n),
        "last report is complete"
    );
}

#[test]
fn fetch_http_errors_fail_with_the_status() {
    for code in [500u16, 404] {
        let mut lab = Lab::new(&format!("/status/{code}"), Mode::Free, |_| {});
        let (_, _, end) = lab.run_one(WorkerKind::Fetch);
        let message = failed_message(&end);
        assert!(message.contains(&code.to_string()), "{code}: {message}");
    }
}

#[test]
fn fetch_of_a_body_cut_short_fails() {
    let mut lab = Lab::new("/abort/100000", Mode::Free, |_| {});
    let (_, _, end) = lab.run_one(WorkerKind::Fetch);
    let message = failed_message(&end);
    eprintln!("cut-short message: {message}");
    assert!(message.contains("body"), "{message}");
}

#[test]
fn fetch_of_a_refused_connection_fails_readably() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener.local_addr().expect("local addr").port()
    };
    let mut lab = Lab::new("/", Mode::Free, |settings| {
        settings.fetch =
            FetchTarget::parse(&format!("http://127.0.0.1:{port}/")).expect("URL parses");
    });
    let (_, _, end) = lab.run_one(WorkerKind::Fetch);
    let message = failed_message(&end);
    eprintln!("refused message: {message}");
    assert!(message.contains("connect"), "{message}");
    assert!(
        !message.is_empty() && !message.contains('\n'),
        "{message:?}"
    );
}

#[test]
fn fetch_read_timeout_is_per_read_not_for_the_whole_download() {
    // 1.5 s of steady download under a 1 s read timeout: every read is quick.
    let mut lab = Lab::new("/bytes/600000?rate=400000", Mode::Free, |s| {
        s.read_timeout = Duration::from_secs(1);
    });
    let (_, _, end) = lab.run_one(WorkerKind::Fetch);
    assert!(
        matches!(end, WorkerEvent::Finished { done: 600_000, .. }),
        "{end:?}"
    );
}

#[test]
fn fetch_from_a_stalled_server_times_out() {
    // Headers arrive at once; the first body chunk is due after ~164 s.
    let mut lab = Lab::new("/bytes/100000?rate=100", Mode::Free, |s| {
        s.read_timeout = Duration::from_millis(500);
    });
    let start = Instant::now();
    let (_, _, end) = lab.run_one(WorkerKind::Fetch);
    let message = failed_message(&end);
    assert!(message.contains("timed out"), "{message}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn fetch_over_the_body_cap_fails() {
    let mut lab = Lab::new("/bytes/200000", Mode::Free, |s| s.max_body = 100_000);
    let (_, _, end) = lab.run_one(WorkerKind::Fetch);
    let message = failed_message(&end);
    assert!(message.contains("cap"), "{message}");
}

// ---------------------------------------------------------------------------
// File
// ---------------------------------------------------------------------------

#[test]
fn file_worker_verifies_and_leaves_nothing_behind() {
    let mut lab = Lab::new("/bytes/1", Mode::Free, |s| s.file_bytes = (3 << 20) + 123);
    let (_, _, end) = lab.run_one(WorkerKind::File);
    match &end {
        WorkerEvent::Finished { done, summary, .. } => {
            assert!(summary.contains("verified"), "{summary}");
            assert_eq!(*done, 2 * ((3 << 20) + 123), "written plus read back");
        }
        other => panic!("expected Finished, got {other:?}"),
    }
    assert_eq!(lab.workdir_entries(), Vec::<PathBuf>::new());
}

#[test]
fn file_worker_cancelled_mid_write_leaves_nothing_behind() {
    let _turn = heavy();
    let mut lab = Lab::new("/bytes/1", Mode::Free, |s| s.file_bytes = HUGE_FILE);
    let id = lab.spawn(WorkerKind::File);
    // The first report (done = 0) comes before the file exists; wait for a
    // block actually written, so the `.part` file is there.
    let done = lab.wait_progress(id, 1);
    assert!(done < HUGE_FILE, "still writing");
    let part = lab.work().join(format!("file-{id}.part"));
    assert!(part.exists(), "{} exists mid-write", part.display());
    let took = lab.cancel_and_time(id);
    eprintln!("file cancelled after {done} bytes, in {took:?}");
    assert_eq!(lab.workdir_entries(), Vec::<PathBuf>::new());
}

/// Whether the file system under `dir` takes `O_DIRECT` (probed with a
/// scratch file that is removed again).
fn direct_io_supported(dir: &std::path::Path) -> bool {
    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
    let probe = dir.join("direct-io-probe");
    let file = fs::File::create(&probe).expect("probe file");
    let flags = fcntl_getfl(&file).expect("getfl");
    let ok = fcntl_setfl(&file, flags | OFlags::DIRECT).is_ok();
    drop(file);
    fs::remove_file(&probe).expect("remove probe");
    ok
}

/// The open-file flags of this process's descriptor for `path`, if open.
fn open_flags_of(path: &std::path::Path) -> Option<u32> {
    for fd in fs::read_dir("/proc/self/fd").ok()?.flatten() {
        if fs::read_link(fd.path()).is_ok_and(|target| target == path) {
            let info =
                fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.file_name().to_str()?))
                    .ok()?;
            let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
            return u32::from_str_radix(flags.trim(), 8).ok();
        }
    }
    None
}

#[test]
fn file_worker_writes_around_the_page_cache_where_it_can() {
    let _turn = heavy();
    let mut lab = Lab::new("/bytes/1", Mode::Free, |s| s.file_bytes = HUGE_FILE);
    let direct = direct_io_supported(&lab.outside());
    let id = lab.spawn(WorkerKind::File);
    lab.wait_progress(id, 1);
    let part = lab.work().join(format!("file-{id}.part"));
    let flags = open_flags_of(&part).expect("the worker holds its .part file open mid-write");
    let o_direct = rustix::fs::OFlags::DIRECT.bits();
    if direct {
        assert_ne!(
            flags & o_direct,
            0,
            "O_DIRECT set on {} (flags {flags:o})",
            part.display()
        );
    } else {
        eprintln!("this file system has no direct I/O; the worker writes through the cache");
        assert_eq!(flags & o_direct, 0, "flags {flags:o}");
    }
    lab.cancel_and_time(id);
    assert_eq!(lab.workdir_entries(), Vec::<PathBuf>::new());
}

// ---------------------------------------------------------------------------
// Cancel latency
// ---------------------------------------------------------------------------

#[test]
fn cancel_latency_cpu() {
    let _turn = heavy();
    let mut lab = Lab::new("/bytes/1", Mode::Free, |s| s.cpu_steps = HUGE_STEPS);
    let id = lab.spawn(WorkerKind::Cpu);
    lab.wait_progress(id, 1);
    let took = lab.cancel_and_time(id);
    assert_within_promise("cpu", took);
}

#[test]
fn cancel_latency_sleep_demo() {
    let _turn = heavy();
    let mut lab = Lab::new("/bytes/1", Mode::Free, |s| {
        s.seed_sleep = Duration::from_secs(10);
    });
    let id = lab.spawn(WorkerKind::Sleep);
    lab.wait_console(id);
    let took = lab.cancel_and_time(id);
    assert_within_promise("sleep", took);
}

#[test]
fn cancel_latency_fetch_mid_body() {
    let _turn = heavy();
    let mut lab = Lab::new(SLOW_BYTES, Mode::Free, |_| {});
    let id = lab.spawn(WorkerKind::Fetch);
    let done = lab.wait_progress(id, 64 << 10);
    assert!(done < 100_000_000, "mid-body");
    let took = lab.cancel_and_time(id);
    assert_within_promise("fetch mid-body", took);
}

#[test]
fn cancel_latency_file_mid_write() {
    let _turn = heavy();
    let mut lab = Lab::new("/bytes/1", Mode::Free, |s| s.file_bytes = HUGE_FILE);
    let id = lab.spawn(WorkerKind::File);
    lab.wait_progress(id, 4 << 20);
    let took = lab.cancel_and_time(id);
    assert_within_promise("file mid-write", took);
    assert_eq!(lab.workdir_entries(), Vec::<PathBuf>::new());
}

#[test]
fn cancel_latency_cpu_waiting_for_the_gil() {
    let _turn = heavy();
    // A long switch interval makes each turn last ~100 ms, so a waiter seen
    // waiting a moment ago is still waiting when the cancel lands.
    let mut lab = Lab::new("/bytes/1", Mode::Gil, |s| s.cpu_steps = HUGE_STEPS);
    lab.gil().set_interval(SwitchInterval::MAX);
    let hog = lab.spawn(WorkerKind::Cpu);
    lab.wait_started(hog);
    lab.wait_progress(hog, 1);
    let waiter = lab.spawn(WorkerKind::Cpu);
    let tag = lab.wait_started(waiter);

    let mut timeline = Vec::new();
    let mut seq = 0;
    let deadline = Instant::now() + HANG;
    loop {
        assert!(Instant::now() < deadline, "never saw worker {waiter} wait");
        // Progress of either worker is the clock tick here; no sleeps.
        let _ = lab.rx.progress.recv_deadline(deadline);
        seq = lab.gil().timeline().read_since(seq, &mut timeline);
        if let Some((Transition::Wait, at_us)) = last_lane(&timeline, tag)
            && lab.gil().now_us().saturating_sub(at_us) < 30_000
        {
            break;
        }
    }
    let cancelled_at_us = lab.gil().now_us();
    let took = lab.cancel_and_time(waiter);

    // Prove it was cancelled while waiting: from the cancel on, it never held.
    lab.gil().timeline().read_since(seq, &mut timeline);
    let after: Vec<Transition> = timeline
        .iter()
        .filter(|e| e.thread == tag && e.at_us >= cancelled_at_us && !e.what.is_mark())
        .map(|e| e.what)
        .collect();
    assert_eq!(
        after,
        vec![Transition::Exit],
        "the waiter went from Wait to Exit"
    );
    let before = timeline
        .iter()
        .rfind(|e| e.thread == tag && e.at_us < cancelled_at_us && !e.what.is_mark())
        .map(|e| e.what);
    assert_eq!(before, Some(Transition::Wait));
    assert_within_promise("cpu waiting for the GIL", took);

    // The hog still runs and still cancels promptly.
    let took = lab.cancel_and_time(hog);
    assert_within_promise("cpu holding the GIL", took);
}

#[test]
fn cancel_latency_cpu_legacy_mode() {
    let _turn = heavy();
    // Python 2's GIL: waiters sleep on the lock with no timeout, so only the
    // pool's wake-up on cancel gets a waiter out.
    let mut lab = Lab::new("/bytes/1", Mode::Legacy, |s| s.cpu_steps = HUGE_STEPS);
    let first = lab.spawn(WorkerKind::Cpu);
    let second = lab.spawn(WorkerKind::Cpu);
    lab.wait_progress(first, 1);
    lab.wait_progress(second, 1);
    let took = lab.cancel_and_time(second);
    assert_within_promise("cpu, legacy GIL", took);
    let took = lab.cancel_and_time(first);
    assert_within_promise("cpu, legacy GIL, last one", took);
}

#[test]

fn cancel_latency_fetch_waiting_for_headers() {
    let _turn = heavy();
    let mut lab = Lab::new("/delay/10000", Mode::Free, |s| {
        s.read_timeout = Duration::from_secs(5);
    });
    let id = lab.spawn(WorkerKind::Fetch);
    // Wait for the request to be in flight: the server has answered nothing
    // yet, so the only sign is the GIL lane turning to I/O.
    let tag = lab.wait_started(id);
    lab.wait_for_lane(tag, Transition::Io);
    let took = lab.cancel_and_time(id);
    assert_within_promise("fetch waiting for headers", took);
}

#[test]

fn cancel_latency_fetch_stalled_body() {
    let _turn = heavy();
    // The first 16 KiB chunk is due after ~164 s: headers arrive, the body stalls.
    let mut lab = Lab::new("/bytes/1000000?rate=100", Mode::Free, |s| {
        s.read_timeout = Duration::from_secs(5);
    });
    let id = lab.spawn(WorkerKind::Fetch);
    // set_total runs once the response head is in; then the read blocks.
    lab.wait_progress(id, 0);
    let took = lab.cancel_and_time(id);
    assert_within_promise("fetch stalled body", took);
}

// ---------------------------------------------------------------------------
// Seed demo, panics, shutdown
// ---------------------------------------------------------------------------

#[test]
fn seed_demo_prints_both_sides_in_order() {
    let mut lab = Lab::new("/bytes/1", Mode::Gil, |s| {
        s.seed_sleep = Duration::from_millis(20);
    });
    let (_, events, end) = lab.run_one(WorkerKind::Sleep);
    let mut thread_side = Vec::new();
    let mut main_side = Vec::new();
    for event in &events {
        if let WorkerEvent::Console { side, text, .. } = event {
            match side {
                ConsoleSide::Thread => thread_side.push(text.as_str()),
                ConsoleSide::Main => main_side.push(text.as_str()),
            }
        }
    }
    assert_eq!(thread_side.len() + main_side.len(), 10, "{events:?}");
    assert_eq!(thread_side, ["0", "1", "2", "3", "4"]);
    assert_eq!(main_side, ["5", "6", "7", "8", "9"]);
    match end {
        WorkerEvent::Finished { done, .. } => assert_eq!(done, 10),
        other => panic!("expected Finished, got {other:?}"),
    }
}

#[test]
fn a_worker_panic_is_contained_and_the_pool_lives_on() {
    let _turn = heavy();
    let mut lab = Lab::new("/bytes/1", Mode::Gil, |s| {
        s.cpu_panic_fault = true;
        s.cpu_steps = 1_000_000;
        s.seed_sleep = Duration::from_millis(5);
    });
    let (_, _, end) = lab.run_one(WorkerKind::Cpu);
    let message = failed_message(&end);
    assert!(message.contains("panicked"), "{message}");
    // The panicking thread held the GIL; it must have been released.
    let (_, _, end) = lab.run_one(WorkerKind::Sleep);
    assert!(
        matches!(end, WorkerEvent::Finished { done: 10, .. }),
        "the pool still works after a panic: {end:?}"
    );
    assert_eq!(lab.pool.live(), 0);
}

#[test]
fn shutdown_joins_twenty_busy_workers_quickly() {
    let _turn = heavy();
    let mut lab = Lab::new(SLOW_BYTES, Mode::Gil, |s| {
        s.file_bytes = HUGE_FILE;
        s.cpu_steps = HUGE_STEPS;
        s.seed_sleep = Duration::from_secs(10);
    });
    let mut ids = HashMap::new();
    for i in 0..20 {
        let kind = WorkerKind::ALL[i % WorkerKind::ALL.len()];
        ids.insert(lab.spawn(kind), kind);
    }
    // Wait until every worker has started (the seed demo starts twice).
    let deadline = Instant::now() + HANG;
    let mut started = HashSet::new();
    while started.len() < ids.len() {
        let event = lab.next_lifecycle(deadline, "all 20 workers to start");
        match event {
            WorkerEvent::Started { id, .. } => {
                started.insert(id);
            }
            other if other.is_terminal() => panic!("a worker ended early: {other:?}"),
            _ => {}
        }
    }
    assert_eq!(lab.pool.live(), 20);

    let start = Instant::now();
    let left = lab.pool.shutdown(Duration::from_secs(1));
    let took = start.elapsed();
    eprintln!("shutdown of 20 workers: {:.1} ms", took.as_secs_f64() * 1e3);
    assert_eq!(left, 0, "every worker thread ended");
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    assert_eq!(lab.pool.live(), 0);
    assert_eq!(lab.workdir_entries(), Vec::<PathBuf>::new());

    // Every worker reported its end, and none of them failed.
    let mut ended = HashSet::new();
    for event in lab
        .stash
        .borrow_mut()
        .drain(..)
        .chain(lab.rx.lifecycle.try_iter())
    {
        match event {
            WorkerEvent::Cancelled { id, .. } => {
                ended.insert(id);
            }
            WorkerEvent::Failed { id, message, .. } => {
                panic!("worker {id} ({}) failed: {message}", ids[&id])
            }
            WorkerEvent::Finished { id, .. } => panic!("worker {id} ({}) finished", ids[&id]),
            _ => {}
        }
    }
    assert_eq!(ended.len(), 20, "every worker ended cancelled");
}

// ---------------------------------------------------------------------------
// Session
// ---------------------------------------------------------------------------

#[test]
fn session_rejects_a_missing_workdir() {
    let options = SessionOptions {
        workdir: Some("/nonexistent/x".into()),
        ..Default::default()
    };
    let Err(error) = Session::start(&options) else {
        panic!("a missing workdir must be refused");
    };
    let text = error.to_string();
    assert!(text.contains("--workdir"), "{text}");
    assert!(text.contains("/nonexistent/x"), "{text}");
}

#[test]
fn session_rejects_a_workdir_that_is_a_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("plain-file");
    fs::write(&file, b"not a dir").expect("write file");
    let options = SessionOptions {
        workdir: Some(file.clone()),
        ..Default::default()
    };
    let Err(error) = Session::start(&options) else {
        panic!("a regular file as workdir must be refused");
    };
    let text = error.to_string();
    assert!(text.contains("--workdir"), "{text}");
    assert!(text.contains("not a directory"), "{text}");
    assert_eq!(fs::read(&file).expect("file kept"), b"not a dir");
}

#[test]
fn session_uses_a_given_workdir_and_leaves_it_clean() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SessionOptions {
        workdir: Some(dir.path().to_path_buf()),
        file_bytes: Some(64 << 10),
        ..Default::default()
    };
    let mut session = Session::start(&options).expect("session starts");
    let id = session.pool.spawn(WorkerKind::File).expect("spawn file");
    let end = wait_end(&session, id);
    assert!(matches!(end, WorkerEvent::Finished { .. }), "{end:?}");
    assert_eq!(session.shutdown(Duration::from_secs(1)), 0);
    assert!(dir.path().is_dir(), "a given workdir is never removed");
    assert_eq!(entry_paths(dir.path()), Vec::<PathBuf>::new());
}

#[test]
fn default_session_removes_its_temp_workdir() {
    let options = SessionOptions {
        file_bytes: Some(64 << 10),
        ..Default::default()
    };
    let mut session = Session::start(&options).expect("session starts");
    let workdir = session.workdir.path().to_path_buf();
    assert!(workdir.is_dir(), "{} exists", workdir.display());
    let id = session.pool.spawn(WorkerKind::File).expect("spawn file");
    let end = wait_end(&session, id);
    assert!(matches!(end, WorkerEvent::Finished { .. }), "{end:?}");
    // A worker still running at shutdown is cancelled and joined first.
    let id = session.pool.spawn(WorkerKind::Sleep).expect("spawn sleep");
    wait_event(
        &session,
        |e| matches!(e, WorkerEvent::Console { id: got, .. } if *got == id),
    );
    assert_eq!(session.shutdown(Duration::from_secs(1)), 0);
    assert!(!workdir.exists(), "{} removed", workdir.display());
}

#[test]
fn session_fetches_a_chosen_path_from_its_embedded_server() {
    let options = SessionOptions {
        serve_path: Some("/bytes/4321?chunk=1000".into()),
        ..Default::default()
    };
    let mut session = Session::start(&options).expect("session starts");
    let id = session.pool.spawn(WorkerKind::Fetch).expect("spawn fetch");
    let end = wait_end(&session, id);
    assert!(
        matches!(end, WorkerEvent::Finished { done: 4321, .. }),
        "{end:?}"
    );
    assert_eq!(session.shutdown(Duration::from_secs(1)), 0);
}

fn wait_event(session: &Session, mut want: impl FnMut(&WorkerEvent) -> bool) -> WorkerEvent {
    let deadline = Instant::now() + HANG;
    loop {
        match session.receivers.lifecycle.recv_deadline(deadline) {
            Ok(event) if want(&event) => return event,
            Ok(_) => {}
            Err(e) => panic!("waiting for a session event: {e}"),
        }
    }
}

fn wait_end(session: &Session, id: WorkerId) -> WorkerEvent {
    wait_event(session, |e| e.id() == id && e.is_terminal())
}
