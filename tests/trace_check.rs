//! `threadlab trace --check` and `attach --check`: one screenful saying
//! what would be traced and how, exit 0 when tracing would work and 2 with
//! the reason when not — and the checked program never runs any Python.
//!
//! These run as any user: as root the verdict is exact, as an ordinary
//! user sampled (`run with sudo for exact`); each test asserts the one its
//! user should get.

#[path = "trace_support/mod.rs"]
#[macro_use]
#[allow(unused_macros)]
mod support;

use std::process::{Command, Stdio};

use support::*;

fn check(program: &[&str]) -> Run {
    run(trace_cmd(&["--check"], program))
}

/// `done` ended with exit code `code` (its output shown if not).
fn exits(done: &Run, code: i32) {
    assert_eq!(
        done.status.code(),
        Some(code),
        "{}{}",
        done.stdout,
        done.stderr
    );
}

/// `text` contains `needle` (the whole text shown if not).
fn says(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle:?} not in:\n{text}");
}

/// Whether this test process may open uprobes (what `--check` reports).
fn exact_expected() -> bool {
    cannot_trace().is_none()
}

#[test]
fn a_pyenv_python_is_checked_with_its_symbols_and_mode() {
    let Some(python) = pyenv_python("3.11") else {
        skip("pyenv's Python 3.11 is not installed");
        return;
    };
    let done = check(&[python.to_str().expect("utf-8"), "-c", "pass"]);
    exits(&done, 0);
    let out = &done.stdout;
    says(out, "CPython 3.11.");
    says(out, "libpython3.11");
    says(out, "symbols      symtab: take_gil at 0x");
    says(out, "ptrace");
    if exact_expected() {
        says(out, "mode         exact");
        assert!(out.ends_with("ok: tracing would work, exactly\n"), "{out}");
    } else {
        says(out, "run with sudo for exact");
        assert!(out.ends_with("ok: tracing would work, sampled\n"), "{out}");
    }
    assert!(done.stderr.is_empty(), "{}", done.stderr);
}

#[test]
fn the_checked_program_runs_no_python() {
    let Some(python) = pyenv_python("3.11") else {
        skip("pyenv's Python 3.11 is not installed");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let marker = dir.path().join("ran");
    let code = format!("open({:?}, 'w').write('x')", marker.display().to_string());
    let done = check(&[python.to_str().expect("utf-8"), "-c", &code]);
    exits(&done, 0);
    assert!(!marker.exists(), "the program ran: {}", marker.display());
}

#[test]
fn python_2_is_checked_as_sampled() {
    let Some(python) = pyenv_python("2.7") else {
        skip("pyenv's Python 2.7 is not installed");
        return;
    };
    let done = check(&[python.to_str().expect("utf-8"), "-c", "pass"]);
    exits(&done, 0);
    says(&done.stdout, "none: Python 2 has no take_gil");
    says(&done.stdout, "mode         sampled");
}

#[test]
fn a_program_that_never_becomes_python_is_refused_with_exit_code_2() {
    let done = check(&["/bin/true"]);
    exits(&done, 2);
    let reason = "without running a Python interpreter";
    says(&done.stdout, "no: ");
    says(&done.stdout, reason);
    assert_eq!(done.stderr.lines().count(), 1, "{}", done.stderr);
    assert!(done.stderr.contains(reason), "{}", done.stderr);
}

#[test]
fn attach_check_reads_a_running_python_and_leaves_it_running() {
    let Some(python) = pyenv_python("3.11") else {
        skip("pyenv's Python 3.11 is not installed");
        return;
    };
    // A child of this test: readable under Yama scope 1 only by its parent,
    // so as an ordinary user `attach --check` (a grandchild's sibling) may
    // be refused; as root it is read.
    let mut child = Command::new(&python)
        .args([
            "-c",
            "import sys; print('ready', flush=True); sys.stdin.read()",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python");
    // Checked once it is Python, not the forked test binary before its exec.
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().expect("stdout")),
        &mut ready,
    )
    .expect("read ready");
    assert_eq!(ready.trim(), "ready");
    let pid = child.id().to_string();
    let mut command = Command::new(BIN);
    command.args(["attach", "--check", &pid]);
    let done = run(command);
    let alive = child.try_wait().expect("try_wait").is_none();
    drop(child.stdin.take());
    let _ = child.wait();
    assert!(alive, "attach --check stopped the program");
    assert!(
        done.stdout
            .starts_with(&format!("threadlab check: pid {pid} (")),
        "{}",
        done.stdout
    );
    if exact_expected() {
        exits(&done, 0);
        says(&done.stdout, "mode         exact");
    } else if done.status.code() == Some(2) {
        // Not threadlab's child: under Yama scope 1 an ordinary user may not
        // read it, and the reason says what would help.
        assert!(done.stderr.contains("ptrace_scope"), "{}", done.stderr);
    } else {
        exits(&done, 0);
        says(&done.stdout, "mode         sampled");
    }
}

#[test]
fn attach_check_of_no_process_says_so() {
    let mut command = Command::new(BIN);
    command.args(["attach", "--check", "999999999"]);
    let done = run(command);
    exits(&done, 2);
    assert!(
        done.stderr.contains("no process with pid 999999999"),
        "{}",
        done.stderr
    );
}

#[test]
fn check_with_an_option_that_only_a_trace_uses_is_a_usage_error() {
    for (extra, named) in [
        (&["--json"][..], "--json"),
        (&["--export", "x.json"][..], "--export"),
        (&["--flamegraph", "flames"][..], "--flamegraph"),
    ] {
        let mut args = vec!["--check"];
        args.extend_from_slice(extra);
        let done = run(trace_cmd(&args, &["python3", "-c", "pass"]));
        exits(&done, 2);
        says(&done.stderr, named);
        assert!(done.stdout.is_empty(), "{}", done.stdout);
    }
}
