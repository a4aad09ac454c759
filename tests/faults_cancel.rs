//! Faults of cancellation: a worker cancelled in a state `tests/workers.rs`
//! leaves out (stalled on a long delay, mid-body, asleep under the legacy
//! GIL) still stops within the 100 ms promise.
//!
//! Part of the fault matrix (`tests/faults_*.rs`, one file per thing broken):
//! each test drives the real thing into one fault and checks that the fault is
//! reported clearly where it happened and disturbs nothing else. Nothing waits
//! with a fixed sleep: waits are `recv`s with deadlines.

mod common;

use std::time::Duration;

use common::heavy;
use common::lab::{HUGE_STEPS, Lab, SLOW_BYTES, assert_within_promise};
use threadlab::gil::{Mode, SwitchInterval, Transition};
use threadlab::work::WorkerKind;

// ---------------------------------------------------------------------------
// 2. Cancellation within 100 ms, in the states tests/workers.rs leaves out
// ---------------------------------------------------------------------------

#[test]
fn cancel_fetch_stalled_on_a_long_delay_under_the_gil() {
    let _turn = heavy();
    let mut lab = Lab::new("/delay/60000", Mode::Gil, |s| {
        s.cpu_steps = HUGE_STEPS;
        s.read_timeout = Duration::from_secs(120);
    });
    lab.gil().set_interval(SwitchInterval::MAX);
    // A CPU hog holds the GIL: a fetch coming back from its socket would
    // have to wait for it, unless cancel gets it out first.
    let hog = lab.start_hog();
    let fetch = lab.spawn(WorkerKind::Fetch);
    let tag = lab.wait_started(fetch);
    lab.wait_for_lane(tag, Transition::Io);
    let took = lab.cancel_and_time(fetch);
    assert_within_promise("fetch stalled on /delay/60000, gil, beside a hog", took);
    let took = lab.cancel_and_time(hog);
    assert_within_promise("cpu hog, gil", took);
}

#[test]
fn cancel_fetch_mid_body_under_the_gil() {
    let _turn = heavy();
    let mut lab = Lab::new(SLOW_BYTES, Mode::Gil, |s| s.cpu_steps = HUGE_STEPS);
    lab.gil().set_interval(SwitchInterval::MAX);
    let hog = lab.start_hog();
    let fetch = lab.spawn(WorkerKind::Fetch);
    let done = lab.wait_progress(fetch, 32 << 10);
    assert!(done < 100_000_000, "mid-body");
    let took = lab.cancel_and_time(fetch);
    assert_within_promise("fetch mid-body, gil, beside a hog", took);
    let took = lab.cancel_and_time(hog);
    assert_within_promise("cpu hog, gil", took);
}

#[test]
fn cancel_sleep_demo_in_legacy_mode() {
    let _turn = heavy();
    let mut lab = Lab::new("/bytes/1", Mode::Legacy, |s| {
        s.seed_sleep = Duration::from_secs(10);
        s.cpu_steps = HUGE_STEPS;
    });
    // Alone first, then beside a CPU thread fighting for Python 2's lock.
    let sleep = lab.spawn(WorkerKind::Sleep);
    lab.wait_console(sleep);
    let took = lab.cancel_and_time(sleep);
    assert_within_promise("sleep demo, legacy", took);

    let hog = lab.start_hog();
    let sleep = lab.spawn(WorkerKind::Sleep);
    lab.wait_console(sleep);
    let took = lab.cancel_and_time(sleep);
    assert_within_promise("sleep demo, legacy, beside a hog", took);
    let took = lab.cancel_and_time(hog);
    assert_within_promise("cpu hog, legacy", took);
}
