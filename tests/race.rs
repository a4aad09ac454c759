//! The race lab against the truths measured with real CPython: where the
//! eval breaker is checked decides whether `counter += 1` loses updates.
//!
//! Every race that must lose (or must not) runs until enough GIL hand-overs
//! happened to be certain — at least 100, with a 0.1 ms switch interval —
//! bounded by a generous timeout; the tests assert the hand-overs happened,
//! so a run that saw too few fails loudly instead of passing by luck.

use std::time::Duration;

use threadlab::gil::model::PythonVersion;
use threadlab::gil::{Mode, SwitchInterval};
use threadlab::sync::{Body, Extend, RaceConfig, RaceOutcome, run_race};

const MIN_SWITCHES: u64 = 100;

fn race(body: Body, mode: Mode, version: &str) -> RaceOutcome {
    let mut config = RaceConfig::new(body, 2, 5_000, mode);
    config.python_version = version.parse::<PythonVersion>().expect("version");
    config.interval = SwitchInterval::MIN;
    config.extend = Some(Extend {
        min_switches: MIN_SWITCHES,
        min_duration: if mode == Mode::Free {
            Duration::from_millis(300)
        } else {
            Duration::ZERO
        },
    });
    config.timeout = Duration::from_secs(60);
    let outcome = run_race(config).expect("race runs");
    assert!(
        !outcome.timed_out,
        "too few hand-overs in time: {outcome:?}"
    );
    if mode != Mode::Free {
        assert!(outcome.switches >= MIN_SWITCHES, "{outcome:?}");
    }
    assert_eq!(outcome.expected, outcome.counter + outcome.lost);
    assert!(outcome.expected >= 2 * 5_000, "{outcome:?}");
    outcome
}

#[test]
fn plain_increment_loses_nothing_under_the_3_10_model() {
    for version in ["3.10", "3.12"] {
        let outcome = race(Body::Plain, Mode::Gil, version);
        assert_eq!(outcome.lost, 0, "{outcome:?}");
        assert_eq!(outcome.clobbers, 0, "{outcome:?}");
    }
}

#[test]
fn a_call_between_load_and_store_loses_updates_under_the_3_10_model() {
    let outcome = race(Body::Call, Mode::Gil, "3.12");
    assert!(outcome.lost > 0, "{outcome:?}");
    assert!(outcome.clobbers > 0, "{outcome:?}");
}

#[test]
fn plain_increment_loses_updates_under_the_3_9_model() {
    let outcome = race(Body::Plain, Mode::Gil, "3.9");
    assert!(outcome.lost > 0, "{outcome:?}");
    assert_eq!(outcome.python_version.to_string(), "3.9");
}

#[test]
fn plain_increment_loses_updates_under_python_2_ticks() {
    let outcome = race(Body::Plain, Mode::Legacy, "3.12");
    assert_eq!(outcome.python_version, PythonVersion::PY27);
    assert!(outcome.lost > 0, "{outcome:?}");
}

#[test]
fn free_threads_lose_updates_in_parallel() {
    let outcome = race(Body::Plain, Mode::Free, "3.13");
    assert!(outcome.lost > 0, "{outcome:?}");
}

#[test]
fn a_lock_loses_nothing_in_any_mode() {
    for (mode, version) in [
        (Mode::Free, "3.13"),
        (Mode::Gil, "3.9"),
        (Mode::Gil, "3.12"),
        (Mode::Legacy, "2.7"),
    ] {
        let outcome = race(Body::Locked, mode, version);
        assert_eq!(outcome.lost, 0, "{mode} {version}: {outcome:?}");
        assert_eq!(outcome.clobbers, 0, "{mode} {version}: {outcome:?}");
    }
}

#[test]
fn exact_increments_without_extension_and_cancel_stops_a_race() {
    let outcome = run_race(RaceConfig::new(Body::Plain, 3, 1_000, Mode::Gil)).expect("race");
    assert_eq!(outcome.expected, 3_000);
    assert_eq!(outcome.counter, 3_000);
    assert_eq!(outcome.increments, 1_000);

    let mut config = RaceConfig::new(Body::Locked, 2, u64::MAX / 4, Mode::Gil);
    config.interval = SwitchInterval::MIN;
    let cancel = config.cancel.clone();
    let race = threadlab::sync::Race::spawn(config).expect("spawn");
    while race.progress().expected < 1_000 {
        std::thread::yield_now();
    }
    cancel.cancel();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(race.wait()));
    let result = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a cancelled race stops");
    assert_eq!(result.expect_err("cancelled"), "cancelled");
}
