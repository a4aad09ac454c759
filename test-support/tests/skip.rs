//! A skipped test is listed after its binary's `test result:` line, on
//! stderr, with its name and reason — here this binary re-runs itself with
//! one test that skips, and reads what a person would see.

use std::process::Command;

use threadlab_test_support::skip::{binary_name, skip};

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
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "a_test_that_cannot_run_here",
            "--include-ignored",
        ])
        .env(CHILD, "1")
        .output()
        .expect("run the child");
    assert!(out.status.success(), "{out:?}");
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
        .output()
        .expect("run the child");
    assert!(out.status.success(), "{out:?}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("SKIPPED"),
        "{out:?}"
    );
}
