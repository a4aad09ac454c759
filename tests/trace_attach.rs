//! `threadlab attach` and stopping a trace: attaching slows a GIL-heavy loop
//! (the probes are live), detaching or `kill -9` of threadlab brings its
//! speed back (the probes are gone — measured from the program's own rate,
//! not assumed), and Ctrl-C during `trace` stops the program and still
//! prints the summary.
//!
//! Whatever ends a trace (detach, Ctrl-C, `kill -9` of threadlab), no
//! probe stays: the code of the program and of another idle process of the
//! same interpreter reads as the file's own again (`probes::Sentinel`), and
//! the attach test first sees the breakpoints while the probes are live.
//!
//! Same requirements as `tests/trace.rs`: root, the uprobe PMU, pyenv.

#[path = "trace_support/mod.rs"]
#[macro_use]
mod support;

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use rustix::process::Signal;
use serde_json::Value;
use support::*;
use threadlab_test_support::probes::{Sentinel, assert_probe_gone};

/// Longest wait for a closed probe's breakpoints to be gone (hangs only).
const GONE: Duration = Duration::from_secs(10);

/// Longest wait for a change of speed to show (catches hangs only).
const SHOW: Duration = Duration::from_secs(20);

/// The rates (`rate N` lines) a `trace_rate.py` prints, from a reader thread.
fn rates(out: impl Read + Send + 'static) -> Receiver<u64> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(n) = line
                .strip_prefix("rate ")
                .and_then(|n| n.trim().parse().ok())
                && tx.send(n).is_err()
            {
                break;
            }
        }
    });
    rx
}

/// The median of the next `n` rates.
fn median_rate(rx: &Receiver<u64>, n: usize) -> u64 {
    let mut seen: Vec<u64> = (0..n)
        .map(|_| rx.recv_timeout(SHOW).expect("the program prints its rate"))
        .collect();
    seen.sort_unstable();
    seen[n / 2]
}

/// Waits until three windows in a row satisfy `ok`; returns them.
fn until_three(rx: &Receiver<u64>, what: &str, ok: impl Fn(u64) -> bool) -> Vec<u64> {
    let deadline = Instant::now() + SHOW;
    let mut run = Vec::new();
    let mut all = Vec::new();
    while run.len() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        let rate = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("{what} never showed; rates {all:?}"));
        all.push(rate);
        if ok(rate) {
            run.push(rate);
        } else {
            run.clear();
        }
    }
    run
}

fn attach(pid: u32) -> Child {
    Command::new(BIN)
        .args(["attach", &pid.to_string(), "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn threadlab attach")
}

/// Kills the program when the test ends, however it ends.
struct Program(Child);

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn attach_slows_the_program_and_detaching_or_kill_9_removes_every_probe() {
    require_tracing!();
    let python = python_or_skip!("3.11", "3.12", "3.13");
    let _turn = turn();
    let mut program = Program(
        Command::new(&python)
            .arg(script("trace_rate.py"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the program"),
    );
    let pid = program.0.id();
    let rx = rates(program.0.stdout.take().expect("stdout"));
    // Another process of the same interpreter: a probe shows in its code.
    let sentinel = Sentinel::start(&python);
    let lib = sentinel.probed_file.clone();
    assert_eq!(sentinel.planted(), Vec::<u64>::new(), "no probe before");
    // The baseline on a quiet machine: measured while a build still ends,
    // it was so low that the probes' slowdown did not reach half of it.
    common::quiet::wait_quiet(Duration::from_secs(15));
    let _stale = rx.try_iter().count();
    let baseline = median_rate(&rx, 5);
    let slowed = |r: u64| r * 2 < baseline;
    let normal = |r: u64| r * 10 > baseline * 6;

    // Attach: every GIL hand-off now hits four probes.
    let mut tracer = attach(pid);
    let during = until_three(&rx, "the slowdown of attaching", slowed);
    // The check below can fail: a live probe is a breakpoint in the code
    // of every process of that interpreter, the traced one and the other.
    assert!(!sentinel.planted().is_empty(), "a live probe shows");
    let live = threadlab_test_support::probes::planted_breakpoints(pid, &lib).expect("its code");
    assert_eq!(live, sentinel.planted(), "the same breakpoints in both");
    kill(tracer.id(), Signal::INT);
    let mut json = String::new();
    tracer
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut json)
        .expect("read the summary");
    let status = tracer.wait().expect("wait for threadlab");
    assert!(
        status.success(),
        "Ctrl-C detaches with exit code 0: {status:?}"
    );
    let summary: Value = serde_json::from_str(&json).expect("one JSON document");
    assert_eq!(summary["exit_code"], Value::Null, "{summary}");
    let main = summary["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .find(|t| t["tid"] == pid)
        .unwrap_or_else(|| panic!("the main thread was traced: {summary}"));
    assert!(num(main, "takes") > 100.0, "{main}");
    assert!(
        program.0.try_wait().expect("try_wait").is_none(),
        "detaching leaves it running"
    );
    assert_probe_gone(pid, &lib, "detaching", GONE);
    sentinel.assert_no_probe_left("detaching", GONE);
    let after_detach = until_three(&rx, "the speed after detaching", normal);

    // kill -9 while attached: the kernel drops the probes with the fds.
    let mut tracer = attach(pid);
    until_three(&rx, "the slowdown of attaching again", slowed);
    kill(tracer.id(), Signal::KILL);
    let _ = tracer.wait();
    assert_probe_gone(pid, &lib, "kill -9 of threadlab", GONE);
    sentinel.assert_no_probe_left("kill -9 of threadlab", GONE);
    let after_kill = until_three(&rx, "the speed after kill -9", normal);
    assert!(
        program.0.try_wait().expect("try_wait").is_none(),
        "still running"
    );
    eprintln!(
        "rate per 100 ms: alone {baseline}, traced {during:?}, after detach {after_detach:?}, after kill -9 {after_kill:?}"
    );
}

#[test]
fn ctrl_c_during_trace_stops_the_program_and_prints_the_summary() {
    require_tracing!();
    let python = python_or_skip!("3.11", "3.12", "3.13");
    let _turn = turn();
    let script_path = script("trace_rate.py");
    let sentinel = Sentinel::start(&python);
    let mut tracer = trace_cmd(
        &["--json"],
        &[
            python.to_str().expect("utf-8"),
            script_path.to_str().expect("utf-8"),
        ],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn threadlab trace");
    // With --json the program's output comes on threadlab's stderr.
    let rx = rates(tracer.stderr.take().expect("stderr"));
    rx.recv_timeout(SHOW).expect("the traced program runs");
    let program_pid = {
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", tracer.id()))
            .expect("threadlab's children");
        children.trim().parse::<u32>().expect("one child")
    };
    kill(tracer.id(), Signal::INT);
    let mut json = String::new();
    tracer
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut json)
        .expect("read the summary");
    let status = tracer.wait().expect("wait for threadlab");
    assert_eq!(
        status.code(),
        Some(130),
        "Ctrl-C stops a trace with the shell's 130, after the summary: {status:?}"
    );
    let summary: Value = serde_json::from_str(&json).expect("one JSON document");
    assert_eq!(summary["pid"], program_pid, "{summary}");
    // KeyboardInterrupt: killed by SIGINT (130) or exit code 1.
    let code = summary["exit_code"].as_i64().expect("exit code");
    assert!(code != 0, "{summary}");
    assert!(num(&summary, "events") > 100.0, "{summary}");
    assert!(
        !std::path::Path::new(&format!("/proc/{program_pid}")).exists(),
        "no child left"
    );
    sentinel.assert_no_probe_left("Ctrl-C of trace", GONE);
}

#[test]
fn kill_9_of_threadlab_during_trace_leaves_no_program_behind() {
    require_tracing!();
    let python = python_or_skip!("3.11", "3.12", "3.13");
    let _turn = turn();
    let script_path = script("trace_rate.py");
    let sentinel = Sentinel::start(&python);
    let mut tracer = trace_cmd(
        &[],
        &[
            python.to_str().expect("utf-8"),
            script_path.to_str().expect("utf-8"),
        ],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn threadlab trace");
    // Without --json the program writes to threadlab's stdout, inherited.
    let rx = rates(tracer.stdout.take().expect("stdout"));
    rx.recv_timeout(SHOW).expect("the traced program runs");
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", tracer.id()))
        .expect("threadlab's children");
    let program_pid: u32 = children.trim().parse().expect("one child");
    kill(tracer.id(), Signal::KILL);
    let _ = tracer.wait();
    // Its parent-death signal ends it; its output pipe then closes.
    let deadline = Instant::now() + SHOW;
    while rx
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .is_ok()
    {}
    assert!(
        Instant::now() < deadline,
        "the program kept printing after threadlab died"
    );
    // Its output closes as it starts to exit; wait for the exit to finish.
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{program_pid}/stat")).unwrap_or_default();
        if stat.is_empty() || stat.contains(") Z") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "program {program_pid} still alive: {stat}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    sentinel.assert_no_probe_left("kill -9 of threadlab trace", GONE);
}
