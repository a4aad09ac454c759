//! Tests that cannot run on this machine (no root, no uprobes, an
//! interpreter missing) say so where a person sees it. libtest has no
//! run-time skip: such a test returns early and is counted `ok`, and what it
//! prints is captured. So [`skip`] records the test and the reason, and when
//! the test binary exits — after libtest's `test result:` line — one block
//! lists every skipped test of that binary, why, and what would let it run,
//! written to the process's stderr directly (not through the captured
//! `eprintln!`).
//!
//! ```text
//! SKIPPED 3 tests in `trace` (they passed without running):
//!   trace::two_cpu_threads_hold_about_half_each — not root; run `sudo -E cargo test --test trace`
//! ```

use std::io::Write;
use std::sync::{Mutex, PoisonError};

/// One skipped test: its name and the reason, with the remedy.
struct Skipped {
    test: String,
    reason: String,
}

static SKIPPED: Mutex<Vec<Skipped>> = Mutex::new(Vec::new());

/// The test binary's target name (`trace` for `target/debug/deps/trace-0123abcd`).
pub fn binary_name() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe
        .as_deref()
        .and_then(|p| p.file_stem())
        .and_then(|s| s.to_str())
        .unwrap_or("tests");
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_string(),
        _ => stem.to_string(),
    }
}

/// The command that runs this test binary with root's rights.
pub fn as_root_hint() -> String {
    format!("run `sudo -E cargo test --test {}`", binary_name())
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Why this process cannot do what needs root, if it cannot: "`what` needs
/// root; run `sudo -E cargo test --test NAME`".
pub fn not_root(what: &str) -> Option<String> {
    (!is_root()).then(|| format!("{what} needs root; {}", as_root_hint()))
}

/// Records that the current test is skipped because of `reason` (say what
/// would let it run), prints it to the test's own output too, and arranges
/// the list at exit. The caller returns from the test afterwards.
pub fn skip(reason: impl Into<String>) {
    let reason = reason.into();
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("a test")
        .to_string();
    eprintln!("skipped: {reason}");
    let mut list = SKIPPED.lock().unwrap_or_else(PoisonError::into_inner);
    if list.is_empty() {
        // SAFETY: `report` is an `extern "C" fn()` that never unwinds.
        unsafe {
            libc::atexit(report);
        }
    }
    list.push(Skipped { test, reason });
}

/// How many tests of this binary have been skipped so far.
pub fn skipped_count() -> usize {
    SKIPPED.lock().unwrap_or_else(PoisonError::into_inner).len()
}

/// Writes the list of skipped tests to stderr (called at exit).
extern "C" fn report() {
    let list = SKIPPED.lock().unwrap_or_else(PoisonError::into_inner);
    if list.is_empty() {
        return;
    }
    let mut text = format!(
        "\nSKIPPED {} test{} in `{}` (counted ok, but did not run):\n",
        list.len(),
        if list.len() == 1 { "" } else { "s" },
        binary_name()
    );
    for skipped in list.iter() {
        text.push_str(&format!("  {} — {}\n", skipped.test, skipped.reason));
    }
    let _ = std::io::stderr().write_all(text.as_bytes());
}
