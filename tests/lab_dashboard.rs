//! The coordination lab's dashboard side: the scenarios run to their end
//! (or deadlock) under a shared GIL, with the lab's own counters asserted
//! (never the screen's); the reducer and the panes for marks, names and
//! the lab pane; and the deadlock key end to end in a pty.

mod common;

use std::time::{Duration, Instant};

use threadlab::gil::{Gil, Mode, SwitchInterval};
use threadlab::server::Server;
use threadlab::sync::{LabThreadState, Scenario, ScenarioConfig, ScenarioKind, ScenarioStatus};

/// Generous: a scenario takes well under a second in a release build.
const RUN_BOUND: Duration = Duration::from_secs(60);

fn spawn(kind: ScenarioKind, mode: Mode, url: &str) -> Scenario {
    Scenario::spawn(ScenarioConfig {
        kind,
        gil: Gil::new(mode, SwitchInterval::DEFAULT),
        fetch_url: url.to_string(),
    })
    .expect("scenario threads start")
}

/// Polls the status until `done` says so (or the bound passes: a hang).
fn poll_until(
    scenario: &mut Scenario,
    what: &str,
    mut done: impl FnMut(&ScenarioStatus) -> bool,
) -> ScenarioStatus {
    let started = Instant::now();
    let mut worst = Vec::new();
    loop {
        let status = scenario.status();
        worst.push(status.counters);
        if done(&status) {
            return status;
        }
        assert!(
            started.elapsed() < RUN_BOUND,
            "{what}: not within {RUN_BOUND:?}: {status:#?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn all_done(status: &ScenarioStatus) {
    for thread in &status.threads {
        assert_eq!(thread.state, LabThreadState::Done, "{status:#?}");
    }
}

#[test]
fn the_deadlock_is_found_named_and_broken_and_the_ordered_fix_finishes() {
    let mut opposite = spawn(ScenarioKind::Deadlock, Mode::Gil, "");
    let status = poll_until(&mut opposite, "deadlock", |s| s.cycle.is_some());
    assert_eq!(
        status.cycle.as_deref(),
        Some("AB-1 waits for lock B held by BA-2, which waits for lock A held by AB-1")
    );
    let names: Vec<&str> = status.threads.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["AB-1", "BA-2"]);
    for thread in &status.threads {
        assert!(
            matches!(&thread.state, LabThreadState::Blocked(on) if on.starts_with("lock ")),
            "{status:#?}"
        );
    }
    assert!(status.detection_us.is_some());
    let cancelled = Instant::now();
    opposite.interrupt();
    let status = poll_until(&mut opposite, "break", |s| s.finished);
    assert!(cancelled.elapsed() < Duration::from_secs(5));
    assert!(status.cycle.is_none());
    for thread in &status.threads {
        assert_eq!(thread.state, LabThreadState::Cancelled);
    }

    let mut ordered = spawn(ScenarioKind::DeadlockOrdered, Mode::Gil, "");
    let status = poll_until(&mut ordered, "ordered", |s| {
        assert!(s.cycle.is_none(), "one lock order cannot deadlock: {s:#?}");
        s.finished
    });
    all_done(&status);
    assert_eq!(status.counters.rounds, 80);
}

#[test]
fn producers_block_on_the_full_queue_and_every_item_is_consumed() {
    let mut run = spawn(ScenarioKind::ProducerConsumer, Mode::Gil, "");
    let status = poll_until(&mut run, "producer/consumer", |s| s.finished);
    all_done(&status);
    let c = status.counters;
    assert_eq!((c.produced, c.consumed, c.depth), (48, 48, 0));
    assert!(c.depth_max <= 4, "{c:?}");
    assert!(
        c.producer_blocks > 0,
        "a slow consumer makes producers wait: {c:?}"
    );
}

#[test]
fn the_semaphore_never_lets_more_than_two_downloads_into_io() {
    let server = Server::start("127.0.0.1:0".parse().expect("addr")).expect("server");
    let url = server.url("/bytes/262144?rate=2097152");
    for mode in [Mode::Free, Mode::Gil] {
        let mut run = spawn(ScenarioKind::Semaphore, mode, &url);
        let mut seen_full = false;
        let status = poll_until(&mut run, "semaphore", |s| {
            assert!(s.counters.in_io <= 2, "{:?}", s.counters);
            let blocked = s
                .threads
                .iter()
                .filter(|t| matches!(&t.state, LabThreadState::Blocked(on) if on == "semaphore downloads"))
                .count();
            seen_full |= blocked > 0;
            s.finished
        });
        all_done(&status);
        let c = status.counters;
        assert_eq!(c.downloads, 6);
        assert_eq!(c.bytes, 6 * 262_144);
        assert_eq!(
            c.max_in_io, 2,
            "the limit is reached and never passed: {c:?}"
        );
        assert!(seen_full, "some download waited for the semaphore");
    }
    server.shutdown();
}

#[test]
fn an_event_and_a_barrier_release_their_waiters_together() {
    for kind in [ScenarioKind::Event, ScenarioKind::Barrier] {
        let mut run = spawn(kind, Mode::Gil, "");
        let status = poll_until(&mut run, kind.name(), |s| s.finished);
        all_done(&status);
        assert_eq!(status.counters.released, 4, "{kind:?}");
        // Woken by one change of the object: within a generous bound of
        // each other, far less than the work that staggered them.
        assert!(
            status.counters.release_spread_us < 500_000,
            "{kind:?}: {:?}",
            status.counters
        );
    }
}
