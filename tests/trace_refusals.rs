//! `threadlab trace` and `attach` on the builds that have no GIL to probe
//! or hide it: a free-threaded CPython is traced by its threads' scheduler
//! states alone (no probe, no root needed), one whose `take_gil` was
//! inlined away is refused in one line with exit code 2, leaving nothing
//! behind. No such build is installed here, so the interpreters are
//! stand-ins compiled with `cc` from `engine/src/trace/testdata` (real ELF
//! files linked as pyenv links CPython; see `standin.rs` there).
//!
//! The refusals need root and the uprobe PMU (the permission check comes
//! first); every test needs a C compiler. Without them each test says why
//! and returns.

#[path = "trace_support/mod.rs"]
#[macro_use]
#[allow(unused_macros)]
mod support;

mod common;

#[path = "../engine/src/trace/testdata/standin.rs"]
#[macro_use]
mod standin;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::process::thread_names;
use standin::Build;
use support::*;

/// One line on stderr naming `file` and saying `what`, exit code 2,
/// nothing on stdout.
fn assert_refused(done: &Run, line: &str) {
    assert_eq!(done.status.code(), Some(2), "{}", done.stderr);
    assert_eq!(done.stderr.trim_end(), line, "the whole of stderr");
    assert!(done.stdout.is_empty(), "{}", done.stdout);
}

/// Processes running `exe`, from `/proc/*/exe`.
fn running(exe: &Path) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == exe))
        .collect()
}

/// Kills the stand-in when the test ends, however it ends.
struct Program(Child);

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The threads of a states-only summary by name: (native %, hold %).
fn states(summary: &serde_json::Value) -> std::collections::HashMap<String, (f64, f64)> {
    summary["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or("?").to_string(),
                (num(t, "native_pct"), num(t, "hold_pct")),
            )
        })
        .collect()
}

/// `command` as the unprivileged user `nobody` when this test runs as root
/// and `nobody` may run the binary here; else unchanged. Says which.
fn as_nobody_if_possible(mut command: Command, build: &Build) -> Command {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    if !rustix::process::geteuid().is_root() {
        return command;
    }
    let _ = std::fs::set_permissions(build.path(""), std::fs::Permissions::from_mode(0o755));
    let can = Command::new(BIN)
        .arg("--version")
        .uid(65534)
        .gid(65534)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if can {
        command.uid(65534).gid(65534);
    } else {
        eprintln!("nobody cannot run {BIN} here: traced as root");
    }
    command
}

#[test]
fn trace_shows_a_free_threaded_build_s_thread_states_without_probes() {
    let build = build_or_skip!();
    build.library(
        "libpython3.13t.so.1.0",
        &["-DFREE_SYMBOLS", "-DFREE_TEXT"],
        false,
    );
    let exe = build.executable("python3.13t", "libpython3.13t.so.1.0");
    // Only the probes need root, and a build without a GIL gets none.
    let command = as_nobody_if_possible(
        trace_cmd(&["--json"], &[exe.to_str().expect("utf-8"), "2", "threads"]),
        &build,
    );
    let done = run(command);
    assert!(done.status.success(), "{:?}\n{}", done.status, done.stderr);
    let summary: serde_json::Value = serde_json::from_str(&done.stdout).expect("one JSON document");
    assert_eq!(summary["python"]["gil_disabled"], true, "{summary}");
    assert_eq!(summary["exit_code"], 0, "{summary}");
    assert_eq!(summary["events"], 0, "no probe, no probe record: {summary}");
    let threads = states(&summary);
    // The thread on a CPU and the one asleep, told apart by /proc alone;
    // nobody holds a GIL that does not exist.
    let (spinner, napper) = (threads.get("spinner"), threads.get("napper"));
    assert!(
        spinner.is_some_and(|&(native, hold)| native > 60.0 && hold == 0.0),
        "{summary}"
    );
    assert!(
        napper.is_some_and(|&(native, hold)| native < 40.0 && hold == 0.0),
        "{summary}"
    );
    assert_eq!(
        running(&exe),
        Vec::<u32>::new(),
        "the program was left running"
    );
}

#[test]
fn trace_of_a_free_threaded_build_says_the_gil_is_disabled() {
    let build = build_or_skip!();
    build.library("libpython3.13t.so.1.0", &["-DFREE_SYMBOLS"], true);
    let exe = build.executable("python3.13t", "libpython3.13t.so.1.0");
    let done = run(trace_cmd(&[], &[exe.to_str().expect("utf-8"), "0"]));
    assert!(done.status.success(), "{:?}\n{}", done.status, done.stderr);
    assert!(
        done.stdout
            .contains("GIL disabled (free-threaded build): thread states only"),
        "{}",
        done.stdout
    );
}

#[test]
fn attach_to_a_free_threaded_process_shows_its_threads_and_it_runs_on() {
    let build = build_or_skip!();
    build.library("libpython3.13t.so.1.0", &["-DFREE_SYMBOLS"], true);
    let exe = build.executable("python3.13t", "libpython3.13t.so.1.0");
    let mut program = Program(
        Command::new(&exe)
            .args(["30", "threads"])
            .stdin(Stdio::null())
            .spawn()
            .expect("start the stand-in"),
    );
    let pid = program.0.id();
    // Attach once both named threads run.
    let deadline = Instant::now() + Duration::from_secs(10);
    let runs = |pid: u32, name: &str| thread_names(pid).iter().any(|n| n == name);
    while !(runs(pid, "spinner") && runs(pid, "napper")) {
        assert!(
            Instant::now() < deadline,
            "the stand-in's threads never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut tracer = Command::new(BIN)
        .args(["attach", &pid.to_string(), "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn threadlab attach");
    // Detach once its reader thread runs (it samples before it waits).
    let tracer_pid = tracer.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !runs(tracer_pid, "gil-tracer") {
        if let Ok(Some(status)) = tracer.try_wait() {
            let mut err = String::new();
            let _ =
                std::io::Read::read_to_string(&mut tracer.stderr.take().expect("stderr"), &mut err);
            panic!("attach ended before tracing: {status:?}\n{err}");
        }
        assert!(Instant::now() < deadline, "attach never started tracing");
        std::thread::sleep(Duration::from_millis(5));
    }
    kill(tracer_pid, rustix::process::Signal::INT);
    let out = tracer.wait_with_output().expect("wait for threadlab");
    assert!(out.status.success(), "{:?}", out.status);
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(summary["python"]["gil_disabled"], true, "{summary}");
    assert_eq!(summary["exit_code"], serde_json::Value::Null, "{summary}");
    let threads = states(&summary);
    for name in ["spinner", "napper"] {
        assert!(threads.contains_key(name), "{name} missing: {summary}");
    }
    assert!(
        program.0.try_wait().expect("try_wait").is_none(),
        "detaching left the program running"
    );
}

#[test]
fn trace_refuses_an_interpreter_whose_take_gil_was_inlined() {
    require_tracing!();
    let build = build_or_skip!();
    let lib = build.library("libpython3.13.so.1.0", &["-DNO_TAKE_GIL"], false);
    let exe = build.executable("python3.13", "libpython3.13.so.1.0");
    let done = run(trace_cmd(&[], &[exe.to_str().expect("utf-8"), "30"]));
    assert_refused(
        &done,
        &format!(
            "threadlab: {} has a symbol table but no take_gil/drop_gil (inlined by the compiler?): use a build that keeps them — pyenv's, python.org's or uv's",
            lib.display()
        ),
    );
    assert_eq!(
        running(&exe),
        Vec::<u32>::new(),
        "the program was left running"
    );
}

/// A stripped build no way finds `take_gil` in (the stand-in exports no
/// `PyEval_RestoreThread` to disassemble from): one line naming each way
/// and why it found nothing, then what would help.
#[test]
fn trace_refuses_a_stripped_interpreter_naming_each_way_tried() {
    require_tracing!();
    let build = build_or_skip!();
    let lib = build.library("libpython3.13.so.1.0", &[], true);
    let exe = build.executable("python3.13", "libpython3.13.so.1.0");
    let mut command = trace_cmd(&[], &[exe.to_str().expect("utf-8"), "30"]);
    command.env_remove("DEBUGINFOD_URLS");
    let done = run(command);
    assert_eq!(done.status.code(), Some(2), "{}", done.stderr);
    assert_eq!(done.stderr.lines().count(), 1, "one line: {}", done.stderr);
    let start = format!(
        "threadlab: {} has no symbol table (stripped) and take_gil was found no other way (debug-file: ",
        lib.display()
    );
    assert!(done.stderr.starts_with(&start), "{}", done.stderr);
    let clause = "; debuginfod: DEBUGINFOD_URLS not set; minidebuginfo: no .gnu_debugdata; disassembly: PyEval_RestoreThread is not exported): install its debug symbols";
    assert!(
        done.stderr.contains(clause),
        "{clause:?} in {}",
        done.stderr
    );
    assert!(done.stdout.is_empty(), "{}", done.stdout);
    assert_eq!(
        running(&exe),
        Vec::<u32>::new(),
        "the program was left running"
    );
}

#[test]
fn without_root_a_build_with_the_gil_is_refused_and_left_not_running() {
    let build = build_or_skip!();
    build.library("libpython3.13.so.1.0", &[], false);
    let exe = build.executable("python3.13", "libpython3.13.so.1.0");
    let command = as_nobody_if_possible(
        trace_cmd(&[], &[exe.to_str().expect("utf-8"), "30"]),
        &build,
    );
    let done = run(command);
    if done.status.success() {
        threadlab_test_support::skip::skip(
            "this test checks the refusal without the right to trace, and this user has it (root, or ptrace allowed)",
        );
        return;
    }
    assert_refused(
        &done,
        "threadlab: tracing needs root: uprobes can only be opened by root or with CAP_SYS_ADMIN/CAP_PERFMON; run it with sudo",
    );
    assert_eq!(
        running(&exe),
        Vec::<u32>::new(),
        "the program was left running"
    );
}
