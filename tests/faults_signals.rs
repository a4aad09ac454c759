//! Faults from outside: every long headless command (`bench`, `compare`,
//! `serve`) stops promptly on SIGINT and SIGTERM, exits 130 / 143, kills
//! its Python children's whole process group and leaves no temp file.
//!
//! Each run gets its own `TMPDIR`, so "no temp file left" is "that directory
//! is empty", and its Python children are found by the script path (inside
//! that directory) on their command line. The dashboard's side (a signal
//! from outside exits 128 + signal, keys exit 0) is in `tests/pty_faults.rs`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::entries;
use common::process::{Spawned, processes_running};

/// Generous bound for an exit after a signal (the goal is 1 s; the machine
/// running the tests may be busy).
const STOP: Duration = Duration::from_secs(5);
/// Waiting for a child to get going.
const START: Duration = Duration::from_secs(60);

fn expected_code(signal: &str) -> i32 {
    match signal {
        "INT" => 130,
        "TERM" => 143,
        other => panic!("no expected code for SIG{other}"),
    }
}

/// Starts `bench all`, interrupts it while it measures, and checks that it
/// stops at once, says so, prints the table so far and leaves nothing.
fn bench_stops_on(signal: &str) {
    let _turn = common::heavy();
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut run = Spawned::start(
        &["bench", "all", "--seconds", "0.5", "--threads", "1,2"],
        &[("TMPDIR", tmp.path().as_os_str())],
    );
    // The first table (throughput, three modes) proves it is measuring;
    // the signal then lands inside the `io` experiment.
    run.wait_signal_watch(START);
    run.wait_line(START, |line| line.starts_with("throughput"));
    run.wait_line(START, |line| line.starts_with("legacy"));
    let ended = run.signal_and_wait(signal, STOP);
    eprintln!("bench all: SIG{signal} to exit in {:?}", ended.took);
    assert_eq!(
        ended.status.code(),
        Some(expected_code(signal)),
        "{ended:?}"
    );
    assert!(ended.stderr.contains("interrupted"), "{ended:?}");
    assert!(ended.stdout.contains("throughput"), "{ended:?}");
    assert_eq!(entries(tmp.path()), Vec::<String>::new());
}

#[test]
fn bench_stops_on_sigint() {
    bench_stops_on("INT");
}

#[test]
fn bench_stops_on_sigterm() {
    bench_stops_on("TERM");
}

/// A real CPython 3: pyenv's newest, else `python3` on PATH.
fn python3() -> Option<PathBuf> {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")))?;
    let mut found: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(root.join("versions"))
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let version: Vec<u32> = name
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            let python = entry.path().join("bin/python3");
            (version.first() == Some(&3) && python.is_file()).then_some((version, python))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, path)| path).or_else(|| {
        let (pythons, _) = threadlab::lab::compare::find_interpreters(&[PathBuf::from("python3")]);
        pythons.into_iter().next().map(|p| p.path)
    })
}

/// Starts `compare`, interrupts it while its Python child runs, and checks
/// that the child's group is killed and the script file removed.
fn compare_stops_on(signal: &str) {
    let Some(python) = python3() else {
        threadlab_test_support::skip::skip("no CPython 3 from pyenv or on PATH");
        return;
    };
    let _turn = common::heavy();
    let tmp = tempfile::tempdir().expect("temp dir");
    let script_dir = tmp.path().to_string_lossy().into_owned();
    let mut run = Spawned::start(
        &[
            "compare",
            "throughput",
            "--python",
            python.to_str().expect("UTF-8 path"),
            "--seconds",
            "3",
            "--threads",
            "1",
        ],
        &[("TMPDIR", tmp.path().as_os_str())],
    );
    run.wait_signal_watch(START);
    // Its Python child runs the script from our TMPDIR (a 3 s measurement:
    // it is still running when the signal comes).
    let mut children = Vec::new();
    run.wait_until("the Python child", START, || {
        children = processes_running(&script_dir);
        !children.is_empty()
    });
    let ended = run.signal_and_wait(signal, STOP);
    eprintln!("compare: SIG{signal} to exit in {:?}", ended.took);
    assert_eq!(
        ended.status.code(),
        Some(expected_code(signal)),
        "{ended:?}"
    );
    assert!(ended.stderr.contains("interrupted"), "{ended:?}");
    assert_eq!(
        processes_running(&script_dir),
        Vec::<u32>::new(),
        "Python children left running (were {children:?})"
    );
    assert_eq!(entries(tmp.path()), Vec::<String>::new());
}

#[test]
fn compare_stops_on_sigint_and_kills_python() {
    compare_stops_on("INT");
}

#[test]
fn compare_stops_on_sigterm_and_kills_python() {
    compare_stops_on("TERM");
}

fn serve_stops_on(signal: &str) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut run = Spawned::start(
        &["serve", "--addr", "127.0.0.1:0"],
        &[("TMPDIR", tmp.path().as_os_str())],
    );
    run.wait_line(START, |line| line.starts_with("threadlab server listening"));
    run.wait_signal_watch(START);
    let ended = run.signal_and_wait(signal, STOP);
    eprintln!("serve: SIG{signal} to exit in {:?}", ended.took);
    assert_eq!(
        ended.status.code(),
        Some(expected_code(signal)),
        "{ended:?}"
    );
    assert_eq!(entries(tmp.path()), Vec::<String>::new());
}

#[test]
fn serve_stops_on_sigint() {
    serve_stops_on("INT");
}

#[test]
fn serve_stops_on_sigterm() {
    serve_stops_on("TERM");
}
