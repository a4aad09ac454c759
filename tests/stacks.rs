//! Reading a live CPython's threads from outside (`trace::stacks`): on
//! every pyenv interpreter here, each Python thread comes with its OS
//! thread id, its Python name (live: a rename shows), and the function it
//! runs — without root (the program is this test's child) and without
//! pausing it.

#[path = "trace_support/mod.rs"]
#[allow(unused_macros)]
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;
use threadlab::cancel::CancelToken;
use threadlab::trace::stacks::{StackReader, ThreadStack};

/// Bound for a program to show what is awaited (catches hangs only).
const PATIENCE: Duration = Duration::from_secs(20);

fn tasks(pid: u32) -> Vec<u32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("tasks")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// Samples until `done` holds for a sample, or panics after [`PATIENCE`].
fn sample_until(
    reader: &mut StackReader,
    what: &str,
    done: impl Fn(&[ThreadStack]) -> bool,
) -> Vec<ThreadStack> {
    let deadline = Instant::now() + PATIENCE;
    let mut last = Vec::new();
    while Instant::now() < deadline {
        if let Ok(sample) = reader.sample() {
            if done(&sample) {
                return sample;
            }
            last = sample;
        }
        std::thread::yield_now();
    }
    panic!("{what}: never seen; last sample {last:#?}");
}

fn reads(version: &str) {
    let Some(python) = pyenv_python(version) else {
        skip(format!(
            "no pyenv {version} here; install it (`pyenv install {version}`)"
        ));
        return;
    };
    let mut child = Command::new(&python)
        .arg(script("trace_functions.py"))
        .arg("30")
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("start python");
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    assert_eq!(lines.next().expect("a line").expect("read"), "started");
    let cancel = CancelToken::new();
    let mut reader =
        StackReader::connect(pid, false, PATIENCE, &cancel).expect("connect to python");
    assert!(
        reader.version().starts_with(version),
        "{}",
        reader.version()
    );
    let has = |s: &ThreadStack, f: &str| s.frames.iter().any(|fr| fr.function.ends_with(f));
    let sample = sample_until(
        &mut reader,
        "worker in three_units, rival, main",
        |sample| {
            sample.len() == 3
                && sample.iter().any(|s| has(s, "three_units"))
                && sample.iter().any(|s| has(s, "rival"))
        },
    );
    let live = tasks(pid);
    for thread in &sample {
        let tid = thread.tid.unwrap_or_else(|| panic!("no tid: {thread:?}"));
        assert!(live.contains(&tid), "{tid} not a task of {pid}: {live:?}");
    }
    let main = sample
        .iter()
        .find(|s| s.tid == Some(pid))
        .expect("main thread");
    assert!(has(main, "main"), "{main:?}");
    if version != "2.7" {
        // 2.7's thread names are not read (py-spy reads no 2.x names).
        assert_eq!(main.name.as_deref(), Some("MainThread"), "{main:?}");
        let rival = sample.iter().find(|s| has(s, "rival")).expect("rival");
        assert_eq!(rival.name.as_deref(), Some("rival"));
        let work = sample.iter().find(|s| has(s, "work")).expect("worker");
        let work_tid = work.tid;
        sample_until(&mut reader, "the worker renamed", |sample| {
            sample
                .iter()
                .any(|s| s.tid == work_tid && s.name.as_deref() == Some("renamed-worker"))
        });
    }
    let frame = sample
        .iter()
        .flat_map(|s| &s.frames)
        .find(|f| f.function.ends_with("three_units"))
        .expect("three_units");
    assert!(frame.file.ends_with("trace_functions.py"), "{frame:?}");
    assert!(frame.line > 0, "{frame:?}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn python_2_7() {
    reads("2.7");
}

#[test]
fn python_3_6() {
    reads("3.6");
}

#[test]
fn python_3_7() {
    reads("3.7");
}

#[test]
fn python_3_8() {
    reads("3.8");
}

#[test]
fn python_3_9() {
    reads("3.9");
}

#[test]
fn python_3_10() {
    reads("3.10");
}

#[test]
fn python_3_11() {
    reads("3.11");
}

#[test]
fn python_3_12() {
    reads("3.12");
}

#[test]
fn python_3_13() {
    reads("3.13");
}
