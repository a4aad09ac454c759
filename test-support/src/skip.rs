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
//! SKIPPED 3 tests in `trace` (counted ok, but did not run):
//!   cpu_threads_take_turns_on_3_11_at_the_default_interval — tracing (uprobes) needs root; run `sudo -E cargo test --test trace`
//! ```
//!
//! Each binary also leaves its list in `target/<profile>/threadlab-skips/`
//! ([`records_dir`]); the test binary cargo runs last
//! (`test-support/tests/zz_skipped_in_this_run.rs`) sums them up in one
//! block at the very end of `cargo test` ([`take_records`]) and removes
//! them.
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

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
    // For the summary at the end of the run: one line a test.
    if let Some(dir) = records_dir() {
        let lines: String = list
            .iter()
            .map(|s| format!("{}\t{}\n", s.test, s.reason.replace(['\t', '\n'], " ")))
            .collect();
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(format!("{}.txt", binary_name())), lines);
    }
}

/// Where test binaries leave their lists of skipped tests:
/// `THREADLAB_SKIP_RECORDS` if set (`off`: nowhere), else
/// `threadlab-skips/` beside the `deps/` folder the binary runs from.
pub fn records_dir() -> Option<PathBuf> {
    match std::env::var_os("THREADLAB_SKIP_RECORDS") {
        Some(dir) if dir == "off" => None,
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.join("threadlab-skips"))
        }
    }
}

/// One skipped test, as a binary recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The test binary (`trace`).
    pub binary: String,
    /// The test.
    pub test: String,
    /// Why, and what would let it run.
    pub reason: String,
}

/// Reads and removes every binary's list in `dir`, leaving out lists older
/// than `max_age` (a run that stopped before its end left them).
pub fn take_records(dir: &std::path::Path, max_age: Duration) -> Vec<Record> {
    let mut records = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return records;
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    for file in files {
        let fresh = std::fs::metadata(&file)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age <= max_age);
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let _ = std::fs::remove_file(&file);
        let Some(binary) = file.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if !fresh {
            continue;
        }
        records.extend(text.lines().filter_map(|line| {
            let (test, reason) = line.split_once('\t')?;
            Some(Record {
                binary: binary.to_string(),
                test: test.to_string(),
                reason: reason.to_string(),
            })
        }));
    }
    records
}

/// The summary of `records`: how many tests were skipped, and per binary
/// and reason how many, with what would let them run.
pub fn summary(records: &[Record]) -> String {
    if records.is_empty() {
        return "threadlab tests: none skipped in this run\n".to_string();
    }
    let mut groups: Vec<(&str, &str, usize)> = Vec::new();
    for r in records {
        match groups
            .iter_mut()
            .find(|(b, why, _)| *b == r.binary && *why == r.reason)
        {
            Some(group) => group.2 += 1,
            None => groups.push((&r.binary, &r.reason, 1)),
        }
    }
    let mut text = format!(
        "threadlab tests: {} skipped in this run (counted ok, but they did not run):\n",
        records.len()
    );
    for (binary, reason, n) in groups {
        text.push_str(&format!("  {n:>3} in {binary}: {reason}\n"));
    }
    text
}
