//! A skipped test is listed after its binary's `test result:` line, on
//! stderr, with its name and reason — here this binary re-runs itself with
//! one test that skips, and reads what a person would see.

use std::process::Command;
use std::time::Duration;

use threadlab_test_support::skip::{Record, binary_name, skip, summary, take_records};

const CHILD: &str = "THREADLAB_SKIP_CHILD";

#[test]
#[ignore = "run by the_skip_list_comes_after_the_result_line in a child"]
fn a_test_that_cannot_run_here() {
    if std::env::var_os(CHILD).is_some() {
        skip("needs something this machine lacks; run it elsewhere");
    }
}

#[test]
fn the_skip_list_comes_after_the_result_line() {
    let records = tempfile_dir();
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "a_test_that_cannot_run_here",
            "--include-ignored",
        ])
        .env(CHILD, "1")
        .env("THREADLAB_SKIP_RECORDS", &records)
        .output()
        .expect("run the child");
    assert!(out.status.success(), "{out:?}");
    // Its list is left for the summary at the end of the run, which takes
    // it (and removes it).
    let taken = take_records(&records, Duration::from_secs(60));
    assert_eq!(
        taken,
        [Record {
            binary: "skip".into(),
            test: "a_test_that_cannot_run_here".into(),
            reason: "needs something this machine lacks; run it elsewhere".into(),
        }]
    );
    assert!(take_records(&records, Duration::from_secs(60)).is_empty());
    let _ = std::fs::remove_dir_all(&records);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("test result: ok. 1 passed"), "{stdout}");
    let block = format!(
        "SKIPPED 1 test in `{}` (counted ok, but did not run):\n  a_test_that_cannot_run_here — needs something this machine lacks; run it elsewhere\n",
        binary_name()
    );
    assert!(stderr.ends_with(&block), "stderr:\n{stderr}");
    assert_eq!(binary_name(), "skip");
}

#[test]
fn a_binary_that_skips_nothing_prints_no_list() {
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "a_test_that_cannot_run_here",
            "--include-ignored",
        ])
        .env_remove(CHILD)
        .env("THREADLAB_SKIP_RECORDS", "off")
        .output()
        .expect("run the child");
    assert!(out.status.success(), "{out:?}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("SKIPPED"),
        "{out:?}"
    );
}

/// A fresh directory under the system's temp dir, for one test's records.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("threadlab-skip-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn the_summary_counts_by_binary_and_reason() {
    let record = |binary: &str, test: &str, reason: &str| Record {
        binary: binary.into(),
        test: test.into(),
        reason: reason.into(),
    };
    let text = summary(&[
        record(
            "trace",
            "a",
            "needs root; run `sudo -E cargo test --test trace`",
        ),
        record(
            "trace",
            "b",
            "needs root; run `sudo -E cargo test --test trace`",
        ),
        record("race", "c", "needs pyenv's 3.9"),
    ]);
    assert_eq!(
        text,
        "threadlab tests: 3 skipped in this run (counted ok, but they did not run):\n    2 in trace: needs root; run `sudo -E cargo test --test trace`\n    1 in race: needs pyenv's 3.9\n"
    );
    assert_eq!(summary(&[]), "threadlab tests: none skipped in this run\n");
}
