//! `threadlab trace` and `attach` on the builds that have no GIL to probe
//! or hide it: a free-threaded CPython is traced by its threads' scheduler
//! states alone (no probe, no root needed), one whose `take_gil` was
//! inlined away — or any, without root — is traced sampled instead,
//! leaving nothing behind. No such build is installed here, so the
//! interpreters are stand-ins compiled with `cc` from
//! `engine/src/trace/testdata` (real ELF files linked as pyenv links
//! CPython; see `standin.rs` there).
//! A stand-in linked with `DT_RPATH` checks the library search order the
//! probes rely on.
//!
//! The inlined build's test needs root and the uprobe PMU (else it would be
//! sampled for want of root first); every test needs a C compiler. Without
//! them each test says why and returns.

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
    let can = nobody_can_run_bin();
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
    // nobody holds a GIL that does not exist. The spinner is native
    // whenever it is on a CPU, and only then: its native share is its own
    // CPU share (which it prints), however busy the machine.
    let (spinner, napper) = (threads.get("spinner"), threads.get("napper"));
    let on_cpu: f64 = done
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("spinner_cpu_pct ")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("the spinner's CPU share: {}", done.stderr));
    assert!(
        spinner.is_some_and(|&(native, hold)| (native - on_cpu).abs() < 15.0 && hold == 0.0),
        "spinner on a CPU {on_cpu} %: {summary}"
    );
    assert!(
        napper.is_some_and(|&(native, hold)| native < 5.0 && hold == 0.0),
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

/// The stand-in's `--json` summary of a run that worked, and its stderr's
/// first line: why it was sampled.
fn sampled_summary(done: &Run) -> (serde_json::Value, String) {
    assert!(done.status.success(), "{:?}\n{}", done.status, done.stderr);
    let summary: serde_json::Value = serde_json::from_str(&done.stdout).expect("one JSON document");
    assert_eq!(summary["mode"], "sampled", "{summary}");
    assert_eq!(summary["rate_hz"], 100, "{summary}");
    let first = done.stderr.lines().next().unwrap_or_default().to_string();
    (summary, first)
}

#[test]
fn an_interpreter_whose_take_gil_was_inlined_is_traced_sampled_and_not_left_running() {
    require_tracing!();
    let build = build_or_skip!();
    let lib = build.library("libpython3.13.so.1.0", &["-DNO_TAKE_GIL"], false);
    let exe = build.executable("python3.13", "libpython3.13.so.1.0");
    let done = run(trace_cmd(&["--json"], &[exe.to_str().expect("utf-8"), "1"]));
    let (summary, why) = sampled_summary(&done);
    assert_eq!(summary["sampled_because"], "no_gil_symbols", "{summary}");
    assert!(
        why.starts_with("threadlab: sampled GIL: ") && why.contains(&lib.display().to_string()),
        "{}",
        done.stderr
    );
    assert_eq!(
        running(&exe),
        Vec::<u32>::new(),
        "the program was left running"
    );
}

/// A stripped build no way finds `take_gil` in (the stand-in exports no
/// `PyEval_RestoreThread` to disassemble from): traced sampled, and the one
/// line saying so names each way tried and why it found nothing, then what
/// would help; nothing is left running.
#[test]
fn a_stripped_interpreter_is_sampled_naming_each_way_tried() {
    require_tracing!();
    let build = build_or_skip!();
    let lib = build.library("libpython3.13.so.1.0", &[], true);
    let exe = build.executable("python3.13", "libpython3.13.so.1.0");
    let mut command = trace_cmd(&["--json"], &[exe.to_str().expect("utf-8"), "1"]);
    command.env_remove("DEBUGINFOD_URLS");
    let done = run(command);
    let first = done.stderr.lines().next().unwrap_or_default();
    let start = format!(
        "threadlab: sampled GIL: reading the GIL holder 100 times a second: {} has no symbol table (stripped) and take_gil was found no other way (debug-file: ",
        lib.display()
    );
    assert!(first.starts_with(&start), "{}", done.stderr);
    let clause = "; debuginfod: DEBUGINFOD_URLS not set; minidebuginfo: no .gnu_debugdata; disassembly: PyEval_RestoreThread is not exported): install its debug symbols";
    assert!(first.contains(clause), "{clause:?} in {first}");
    assert!(first.ends_with("; sampled instead of exact"), "{first}");
    let summary: serde_json::Value = serde_json::from_str(&done.stdout).expect("JSON summary");
    assert_eq!(summary["mode"], "sampled", "{summary}");
    assert_eq!(summary["sampled_because"], "no_gil_symbols", "{summary}");
    assert_eq!(
        running(&exe),
        Vec::<u32>::new(),
        "the program was left running"
    );
}

#[test]
fn without_root_a_build_with_the_gil_is_traced_sampled_and_not_left_running() {
    let build = build_or_skip!();
    build.library("libpython3.13.so.1.0", &[], false);
    let exe = build.executable("python3.13", "libpython3.13.so.1.0");
    let command = as_nobody_if_possible(
        trace_cmd(&["--json"], &[exe.to_str().expect("utf-8"), "1"]),
        &build,
    );
    let done = run(command);
    let exact = serde_json::from_str::<serde_json::Value>(&done.stdout)
        .is_ok_and(|summary| summary["mode"] == "exact");
    if exact {
        threadlab_test_support::skip::skip(
            "this test checks the fallback without the right to trace, and this user has it (root, or CAP_PERFMON)",
        );
        return;
    }
    let (summary, why) = sampled_summary(&done);
    assert_eq!(summary["sampled_because"], "not_root", "{summary}");
    assert!(why.contains("run with sudo for exact"), "{}", done.stderr);
    assert_eq!(
        running(&exe),
        Vec::<u32>::new(),
        "the program was left running"
    );
}

/// The loader searches `DT_RPATH` before `LD_LIBRARY_PATH` (and
/// `DT_RUNPATH` after it): a stand-in linked with `DT_RPATH` to its own
/// `lib/`, run with `LD_LIBRARY_PATH` naming another copy, maps its own;
/// the tracer must find and probe that one (it used to take the other, and
/// now checks what was mapped, so that mistake would be refused).
#[test]
fn an_rpath_library_is_found_before_ld_library_path_as_the_loader_does() {
    require_tracing!();
    let build = build_or_skip!();
    let name = "libpython3.13.so.1.0";
    build.library(name, &[], false);
    let exe = build.executable_linked("python3.13", name, &["-Wl,--disable-new-dtags"]);
    let other = build.path("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::copy(build.path(&format!("lib/{name}")), other.join(name)).expect("copy");
    let mut command = trace_cmd(&["--json"], &[exe.to_str().expect("utf-8"), "1"]);
    command.env("LD_LIBRARY_PATH", &other);
    let done = run(command);
    assert!(done.status.success(), "{:?}\n{}", done.status, done.stderr);
    let summary: serde_json::Value = serde_json::from_str(&done.stdout).expect("one JSON document");
    let library = summary["python"]["library"]
        .as_str()
        .expect("a shared build");
    assert_eq!(
        std::fs::canonicalize(library).expect("the probed library"),
        std::fs::canonicalize(build.path(&format!("lib/{name}"))).expect("its own"),
        "{summary}"
    );
}
