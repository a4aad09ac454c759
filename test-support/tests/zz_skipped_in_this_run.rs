//! The last test binary `cargo test` runs (test binaries run package by
//! package, threadlab-test-support last, and by name within it: hence
//! `zz_`; the workspace's libraries have no doc-tests to run after it, see
//! `doctest = false`). It prints one block: how many tests this run
//! skipped, and per binary and reason how many, with what would let them
//! run — where a person sees it, at the end. The binaries' lists are read
//! and removed (`skip::take_records`).

use std::time::Duration;

use threadlab_test_support::skip::{records_dir, summary, take_records};

/// Lists older than this come from a run that stopped before its end.
const RUN_AT_MOST: Duration = Duration::from_secs(3600);

fn main() {
    let Some(dir) = records_dir() else {
        return;
    };
    let records = take_records(&dir, RUN_AT_MOST);
    eprint!("\n{}", summary(&records));
}
