//! Test harnesses shared by the integration tests: [`pty`] runs the real
//! binary in a pseudo-terminal (`tests/pty.rs`, `tests/pty_faults.rs`),
//! [`lab`] drives the worker engine against its own server and work dir
//! (`tests/workers.rs`, `tests/faults.rs`). Each test crate declares
//! `mod common;` and uses what it needs.

// Each test crate uses its own subset of the harness.
#![allow(dead_code)]

pub mod lab;
pub mod process;
pub mod pty;

use std::path::Path;
use std::process::{Command, Stdio};
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

/// Runs the threadlab binary with `args`, stdin closed and no terminal;
/// returns its exit code and stderr. Kills it and panics if it runs longer
/// than `timeout`.
pub fn run_without_terminal(args: &[&str], timeout: Duration) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_threadlab"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start threadlab");
    let deadline = Instant::now() + timeout;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("threadlab {args:?} did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = child.wait_with_output().expect("collect output");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
