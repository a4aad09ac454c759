//! `threadlab trace` and `attach` refuse the builds they cannot trace — a
//! free-threaded CPython, one whose `take_gil` was inlined away — in one
//! line with exit code 2, leaving nothing behind: the launched program is
//! gone, an attached one runs on. No such build is installed here, so the
//! interpreters are stand-ins compiled with `cc` from
//! `engine/src/trace/testdata` (real ELF files linked as pyenv links
//! CPython; see `standin.rs` there).
//!
//! Needs root and the uprobe PMU (the permission check comes first) and a C
//! compiler; without them each test says why and returns.

#[path = "trace_support/mod.rs"]
#[macro_use]
#[allow(unused_macros)]
mod support;

#[path = "../engine/src/trace/testdata/standin.rs"]
#[macro_use]
mod standin;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use standin::Build;
use support::*;

/// One line on stderr naming `file` and saying `what`, exit code 2,
/// nothing on stdout.
fn assert_refused(done: &Run, line: &str) {
    assert_eq!(done.status.code(), Some(2), "{}", done.stderr);
    assert_eq!(done.stderr.trim_end(), line, "the whole of stderr");
    assert!(done.stdout.is_empty(), "{}", done.stdout);
}

fn free_threaded_line(library: &Path) -> String {
    format!(
        "threadlab: {} is a free-threaded build (GIL disabled): there is no GIL to trace; trace the same Python's default build (e.g. python3.13, not python3.13t)",
        library.display()
    )
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

/// Starts `exe 30` and waits until it has mapped its libpython.
fn start(exe: &Path) -> Program {
    let program = Program(
        Command::new(exe)
            .arg("30")
            .stdin(Stdio::null())
            .spawn()
            .expect("start the stand-in"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let maps = format!("/proc/{}/maps", program.0.id());
    while !std::fs::read_to_string(&maps).is_ok_and(|m| m.contains("libpython")) {
        assert!(
            Instant::now() < deadline,
            "the stand-in never mapped libpython"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    program
}

#[test]
fn trace_refuses_a_free_threaded_build_and_leaves_no_program() {
    require_tracing!();
    let build = build_or_skip!();
    let lib = build.library(
        "libpython3.13t.so.1.0",
        &["-DFREE_SYMBOLS", "-DFREE_TEXT"],
        false,
    );
    let exe = build.executable("python3.13t", "libpython3.13t.so.1.0");
    let done = run(trace_cmd(&[], &[exe.to_str().expect("utf-8"), "30"]));
    assert_refused(&done, &free_threaded_line(&lib));
    assert_eq!(
        running(&exe),
        Vec::<u32>::new(),
        "the program was left running"
    );
}

#[test]
fn attach_refuses_a_free_threaded_process_and_it_runs_on() {
    require_tracing!();
    let build = build_or_skip!();
    let lib = build.library("libpython3.13t.so.1.0", &["-DFREE_SYMBOLS"], true);
    let exe = build.executable("python3.13t", "libpython3.13t.so.1.0");
    let mut program = start(&exe);
    let pid = program.0.id().to_string();
    let done = run({
        let mut command = Command::new(BIN);
        command.args(["attach", &pid]);
        command
    });
    assert_refused(&done, &free_threaded_line(&lib));
    assert!(
        program.0.try_wait().expect("try_wait").is_none(),
        "a refused attach left the program alone"
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
