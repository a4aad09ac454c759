//! Shared by `tests/trace.rs` and `tests/trace_attach.rs`: whether this
//! machine can trace, finding pyenv's interpreters, running the binary with
//! a deadline, reading its JSON summary.

// Each test crate uses its own subset.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_threadlab");
/// Upper bound for one traced run (catches hangs only).
pub const RUN: Duration = Duration::from_secs(60);

pub static TURN: Mutex<()> = Mutex::new(());

pub fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

pub use threadlab_test_support::skip::{not_root, skip};

/// Why tracing cannot be tested here, if it cannot, and what would let it.
pub fn cannot_trace() -> Option<String> {
    if let Some(reason) = not_root("tracing (uprobes)") {
        return Some(reason);
    }
    if !Path::new("/sys/bus/event_source/devices/uprobe/type").exists() {
        return Some("no uprobe PMU in this kernel (needs CONFIG_UPROBE_EVENTS)".into());
    }
    None
}

macro_rules! require_tracing {
    () => {
        if let Some(reason) = cannot_trace() {
            skip(reason);
            return;
        }
    };
}

/// pyenv's interpreter `major.minor`, if installed.
pub fn pyenv_python(version: &str) -> Option<PathBuf> {
    let mut roots = Vec::new();
    if let Ok(out) = Command::new("pyenv").arg("root").output()
        && out.status.success()
    {
        roots.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    roots.push(PathBuf::from("/root/.pyenv"));
    for root in roots {
        let Ok(dir) = std::fs::read_dir(root.join("versions")) else {
            continue;
        };
        let mut found: Vec<PathBuf> = dir
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{version}.")))
            })
            .map(|p| p.join("bin").join(format!("python{version}")))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        if let Some(python) = found.pop() {
            return Some(python);
        }
    }
    None
}

macro_rules! python_or_skip {
    ($($version:expr),+) => {{
        let found = [$($version),+].into_iter().find_map(|v| pyenv_python(v));
        match found {
            Some(python) => python,
            None => {
                skip(format!(
                    "no pyenv interpreter among {:?}; install one (`pyenv install 3.12`)",
                    [$($version),+]
                ));
                return;
            }
        }
    }};
}

pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/python")
        .join(name)
}

/// A finished run of the binary.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to the end (killing it past [`RUN`]).
pub fn run(mut command: Command) -> Run {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn threadlab");
    let pid = child.id();
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        let _ = tx.send((text, child.wait()));
    });
    let (stdout, status) = match rx.recv_timeout(RUN) {
        Ok(done) => done,
        Err(_) => {
            kill(pid, rustix::process::Signal::KILL);
            panic!("threadlab did not finish within {RUN:?}");
        }
    };
    Run {
        status: status.expect("wait"),
        stdout,
        stderr: reader.join().expect("stderr reader"),
    }
}

/// Whether the user nobody (uid 65534) can run this threadlab binary (a
/// directory above it may be closed to others).
pub fn nobody_can_run_bin() -> bool {
    use std::os::unix::process::CommandExt;
    Command::new(BIN)
        .arg("--version")
        .uid(65534)
        .gid(65534)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn kill(pid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

pub fn trace_cmd(args: &[&str], program: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.arg("trace").args(args).arg("--").args(program);
    command
}

/// `trace --json` of `python script args`: the summary document.
pub fn trace_json(python: &Path, flags: &[&str], script_name: &str, args: &[&str]) -> Value {
    let script_path = script(script_name);
    let mut program = vec![python.to_str().expect("utf-8 path")];
    program.extend_from_slice(flags);
    program.push(script_path.to_str().expect("utf-8 path"));
    program.extend_from_slice(args);
    let done = run(trace_cmd(&["--json"], &program));
    assert!(
        done.status.success(),
        "trace failed: {:?}\n{}",
        done.status,
        done.stderr
    );
    assert_eq!(
        done.stdout.lines().count(),
        1,
        "one JSON line: {}",
        done.stdout
    );
    let summary: Value = serde_json::from_str(&done.stdout).expect("JSON summary");
    assert_eq!(summary["exit_code"], 0, "{summary}");
    assert_eq!(summary["lost_events"], 0, "{summary}");
    summary
}

/// The threads of `summary` that are not the main thread (tid == pid).
pub fn workers(summary: &Value) -> Vec<&Value> {
    let pid = &summary["pid"];
    summary["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .filter(|t| t["tid"] != *pid)
        .collect()
}

pub fn num(value: &Value, key: &str) -> f64 {
    value[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {value}"))
}

/// `name` on PATH.
pub fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
        .ok_or(())
}
