//! Test harnesses shared by the integration tests: [`pty`] runs the real
//! binary in a pseudo-terminal (`tests/pty.rs`, `tests/pty_faults.rs`),
//! [`lab`] drives the worker engine against its own server and work dir
//! (`tests/workers.rs`, `tests/faults_*.rs`), [`process`] runs it without
//! a terminal and watches it live (`tests/faults_signals.rs`), [`http`]
//! speaks raw HTTP to the embedded server, [`quiet`] waits for a quiet
//! machine before a timing test (`tests/emulation.rs`,
//! `tests/compare_trace.rs`); from the `threadlab-test-support` crate
//! (shared with the benchmarks), [`exit_steps`] picks the exit's logged
//! steps out of a `--log` file and [`skip`] reports a test that cannot run
//! here at the end of the run. Each test crate declares
//! `mod common;` and uses what it needs.

// Each test crate uses its own subset of the harness.
#![allow(dead_code)]

pub mod http;
pub mod lab;
pub mod process;
pub mod pty;
pub mod quiet;
pub mod screen;
pub mod terminal;

// One copy for the tests and the benchmarks (the `threadlab-test-support` crate).
#[allow(unused_imports)]
pub use threadlab_test_support::{exit_steps, nofile, pty_reader, skip};

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Tests that load the machine (CPU hogs, hundreds of threads or sockets,
/// floods of keys) or measure latency take turns within a test binary, so
/// that on a small machine they do not distort each other's numbers.
static HEAVY: Mutex<()> = Mutex::new(());

/// Takes the turn of a heavy test; held until the guard drops.
pub fn heavy() -> MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The nice values of this process's threads named `name`
/// (`/proc/self/task/TID/stat`, field 19). Tests run side by side, so more
/// than one race's `race-1` may be alive.
pub fn nices_of_threads(name: &str) -> Vec<i64> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|c| c.trim() == name)
        })
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let after_name = &stat[stat.rfind(')')? + 2..];
            // Fields from the third (state) on: nice is field 19, index 16 here.
            after_name.split_whitespace().nth(16)?.parse().ok()
        })
        .collect()
}

/// This process's nice (`/proc/self/stat`, field 19): the level threads
/// lowered "by N" are counted from.
pub fn process_nice() -> i64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            s[s.rfind(')')? + 2..]
                .split_whitespace()
                .nth(16)?
                .parse()
                .ok()
        })
        .expect("this process's nice")
}

/// The names of a directory's entries, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// What a run without a terminal left behind.
#[derive(Debug)]
pub struct Run {
    /// The arguments it ran with.
    pub args: Vec<String>,
    /// How it exited.
    pub status: ExitStatus,
    /// All of stdout.
    pub stdout: String,
    /// All of stderr.
    pub stderr: String,
}

impl Run {
    /// Its exit code (`None`: ended by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The run, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "threadlab {:?}: {}\n---- stdout ----\n{}\n---- stderr ----\n{}\n----",
            self.args, self.status, self.stdout, self.stderr
        )
    }

    /// Fails the test unless it exited 0.
    pub fn assert_success(&self) {
        assert!(
            self.status.success(),
            "expected success\n{}",
            self.describe()
        );
    }
}

/// How long a run may take (CI machines are small: be generous).
pub const RUN: Duration = Duration::from_secs(60);

/// Runs the threadlab binary with `args`, stdin closed and no terminal;
/// returns its exit code and stderr. Kills it and panics if it runs longer
/// than `timeout`.
pub fn run_without_terminal(args: &[&str], timeout: Duration) -> (Option<i32>, String) {
    let run = run_captured_env(args, &[], timeout);
    (run.code(), run.stderr)
}

/// Runs threadlab with `args` to the end within [`RUN`] (stdin null, no
/// terminal, `THREADLAB_LOG` and `THREADLAB_CONFIG` unset).
pub fn run(args: &[&str]) -> Run {
    run_captured_env(args, &[], RUN)
}

/// [`run`] with `envs` set.
pub fn run_env(args: &[&str], envs: &[(&str, &str)]) -> Run {
    run_captured_env(args, envs, RUN)
}

/// Runs threadlab with `args` and `envs` (`THREADLAB_LOG` and
/// `THREADLAB_CONFIG` are unset unless `envs` sets them); kills it and
/// panics, with what it printed, if it runs longer than `timeout`.
pub fn run_captured_env(args: &[&str], envs: &[(&str, &str)], timeout: Duration) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_threadlab"));
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("THREADLAB_LOG")
        .env_remove("THREADLAB_CONFIG");
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("start threadlab");
    let deadline = Instant::now() + timeout;
    // Drained on their own threads, so a full pipe never blocks the child.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let Some(status) = status else {
        panic!(
            "threadlab {args:?} did not exit within {timeout:?} (killed)\n---- stdout ----\n{stdout}\n---- stderr ----\n{stderr}"
        );
    };
    Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        status,
        stdout,
        stderr,
    }
}

/// Asserts that `threadlab args` is a usage error: exit code 2, nothing on
/// stdout, one line on stderr that mentions each of `mentions`.
pub fn assert_usage_error(args: &[&str], mentions: &[&str]) {
    let run = run(args);
    let info = run.describe();
    assert_eq!(run.code(), Some(2), "exit code\n{info}");
    assert_eq!(
        run.stderr.lines().count(),
        1,
        "stderr is not exactly one line\n{info}"
    );
    assert!(run.stderr.ends_with('\n'), "{info}");
    assert!(run.stdout.is_empty(), "nothing on stdout\n{info}");
    for word in mentions {
        assert!(
            run.stderr.contains(word),
            "stderr does not mention {word:?}\n{info}"
        );
    }
}
