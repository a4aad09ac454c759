//! The emulated GIL driven directly: mutual exclusion, hand-over within about
//! one switch interval, parallelism when off, and safe mode switches.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use threadlab::cancel::CancelToken;
use threadlab::gil::{Gil, Mode, SwitchInterval, Transition};

const HANG: Duration = Duration::from_secs(20);

/// Joins threads on a helper so a deadlock fails the test instead of hanging it.
fn join_within<T: Send + 'static>(handles: Vec<thread::JoinHandle<T>>) -> Vec<T> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    thread::spawn(move || {
        let results: Vec<T> = handles
            .into_iter()
            .map(|h| h.join().expect("thread panicked"))
            .collect();
        let _ = tx.send(results);
    });
    match rx.recv_timeout(HANG) {
        Ok(results) => results,
        Err(RecvTimeoutError::Timeout) => {
            panic!("threads did not finish within {HANG:?}: deadlock")
        }
        Err(e) => panic!("join helper failed: {e}"),
    }
}

fn mutual_exclusion(mode: Mode) {
    let gil = Gil::new(mode, SwitchInterval::MIN);
    let inside = Arc::new(AtomicU32::new(0));
    let overlaps = Arc::new(AtomicU64::new(0));
    let stop = CancelToken::new();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let mut me = gil.register(stop.clone());
            let inside = Arc::clone(&inside);
            let overlaps = Arc::clone(&overlaps);
            thread::spawn(move || {
                me.enter().unwrap();
                for step in 0..200_000u64 {
                    if me.check().is_err() {
                        break;
                    }
                    // The critical section: code between two checks runs holding the GIL.
                    if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    std::hint::black_box(step.wrapping_mul(i));
                    inside.fetch_sub(1, Ordering::SeqCst);
                    if step % 5_000 == 0 {
                        me.blocking(thread::yield_now).unwrap();
                    }
                }
                me.exit();
                me.stats().snapshot()
            })
        })
        .collect();
    let stats = join_within(handles);
    assert_eq!(
        overlaps.load(Ordering::SeqCst),
        0,
        "two holders at once in {mode}"
    );
    let switches: u64 = stats.iter().map(|s| s.switches).sum();
    assert!(
        switches > 4,
        "the GIL must actually pass between threads ({switches} switches)"
    );
}

#[test]
fn gil_mode_never_has_two_holders() {
    mutual_exclusion(Mode::Gil);
}

#[test]
fn legacy_mode_never_has_two_holders() {
    mutual_exclusion(Mode::Legacy);
}

#[test]
fn a_waiter_gets_the_gil_from_a_cpu_bound_holder_within_about_one_interval() {
    let interval = SwitchInterval::DEFAULT;
    let gil = Gil::new(Mode::Gil, interval);
    let stop = CancelToken::new();
    let mut holder = gil.register(stop.clone());
    let holder_tag = holder.tag();
    let (held_tx, held_rx) = crossbeam_channel::bounded(1);
    let hog = thread::spawn(move || {
        holder.enter().unwrap();
        held_tx.send(()).unwrap();
        let mut x = 1u64;
        while holder.check().is_ok() {
            x = threadlab::work::cpu_step(x);
        }
        holder.exit();
        x
    });
    held_rx.recv_timeout(HANG).expect("holder took the GIL");
    let mut waiter = gil.register(stop.clone());
    let waiter_tag = waiter.tag();
    let asked = Instant::now();
    waiter.enter().unwrap();
    let waited = asked.elapsed();
    assert!(waiter.is_holding());
    waiter.exit();
    stop.cancel();
    gil.wake_all();
    join_within(vec![hog]);

    // Behaviour, not timing: the waiter asked (drop request) and the holder
    // was forced to hand over — CPython's forced switching.
    let mut events = Vec::new();
    gil.timeline().read_since(0, &mut events);
    assert!(
        events
            .iter()
            .any(|e| e.thread == waiter_tag && e.what == Transition::DropRequest)
    );
    assert!(
        events
            .iter()
            .any(|e| e.thread == holder_tag && e.what == Transition::ForcedDrop)
    );
    // A generous bound that still catches "never" or "many intervals".
    assert!(
        waited < interval.duration() * 20,
        "waited {waited:?} for a {interval:?} interval"
    );
}

#[test]
fn free_mode_lets_two_cpu_threads_run_at_once() {
    let gil = Gil::new(Mode::Free, SwitchInterval::DEFAULT);
    let running = Arc::new(AtomicU32::new(0));
    let start = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let mut me = gil.register(CancelToken::new());
            let running = Arc::clone(&running);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                me.enter().unwrap();
                running.fetch_add(1, Ordering::SeqCst);
                let deadline = Instant::now() + HANG;
                // Spin, making the eval-breaker check, until both are inside.
                let mut saw_both = false;
                while Instant::now() < deadline {
                    me.check().unwrap();
                    if running.load(Ordering::SeqCst) == 2 {
                        saw_both = true;
                        break;
                    }
                }
                me.exit();
                saw_both
            })
        })
        .collect();
    assert_eq!(join_within(handles), vec![true, true]);
}

#[test]
fn switching_the_gil_off_releases_waiters_stuck_behind_a_holder_that_never_checks() {
    let gil = Gil::new(Mode::Gil, SwitchInterval::MAX);
    let stop = CancelToken::new();
    let mut holder = gil.register(stop.clone());
    holder.enter().unwrap(); // held by this thread, which never checks: like C code holding it
    let (got_tx, got_rx) = crossbeam_channel::bounded(1);
    let mut waiter = gil.register(stop.clone());
    let waiter_thread = thread::spawn(move || {
        waiter.enter().unwrap();
        got_tx.send(waiter.is_holding()).unwrap();
        waiter.exit();
    });
    // The waiter cannot get in while the holder never checks...
    assert!(
        got_rx
            .recv_timeout(SwitchInterval::MAX.duration() * 3)
            .is_err()
    );
    // ...until the emulation is switched off: it carries on without the GIL.
    gil.set_mode(Mode::Free);
    let holding = got_rx
        .recv_timeout(HANG)
        .expect("waiter released by mode switch");
    assert!(!holding, "in free mode nobody holds the GIL");
    join_within(vec![waiter_thread]);
    holder.check().unwrap();
    assert!(!holder.is_holding(), "the holder lets go at its next check");
}

#[test]
fn toggling_modes_with_waiters_present_never_deadlocks() {
    let gil = Gil::new(Mode::Gil, SwitchInterval::MIN);
    let stop = CancelToken::new();
    let steps = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let mut me = gil.register(stop.clone());
            let steps = Arc::clone(&steps);
            thread::spawn(move || {
                let mut x = 7u64;
                if me.enter().is_ok() {
                    while me.check().is_ok() {
                        x = threadlab::work::cpu_step(x);
                        steps.fetch_add(1, Ordering::Relaxed);
                    }
                }
                me.exit();
                x
            })
        })
        .collect();
    let modes = [Mode::Free, Mode::Legacy, Mode::Gil];
    for round in 0..300 {
        gil.set_mode(modes[round % 3]);
        let before = steps.load(Ordering::Relaxed);
        // Wait for progress under this mode (some thread always runs), not for a time.
        let deadline = Instant::now() + HANG;
        while steps.load(Ordering::Relaxed) == before {
            assert!(
                Instant::now() < deadline,
                "no progress in {} mode: deadlock",
                modes[round % 3]
            );
            thread::yield_now();
        }
    }
    stop.cancel();
    gil.wake_all();
    join_within(handles);
}

#[test]
fn cancel_wakes_a_thread_waiting_for_the_gil() {
    for mode in [Mode::Gil, Mode::Legacy] {
        let gil = Gil::new(mode, SwitchInterval::MAX);
        let mut holder = gil.register(CancelToken::new());
        holder.enter().unwrap();
        let token = CancelToken::new();
        let mut waiter = gil.register(token.clone());
        let waiting = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&waiting);
        let handle = thread::spawn(move || {
            flag.store(true, Ordering::SeqCst);
            waiter.enter()
        });
        while !waiting.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        token.cancel();
        gil.wake_all();
        let result = join_within(vec![handle]);
        assert!(result[0].is_err(), "{mode}: a cancelled waiter gives up");
        holder.exit();
    }
}

/// Waits (on the timeline, never a fixed sleep) until `tag` has asked the
/// holder to drop the GIL.
fn wait_for_drop_request(gil: &Gil, tag: threadlab::gil::ThreadTag) {
    let deadline = Instant::now() + HANG;
    let mut events = Vec::new();
    let mut seq = 0;
    loop {
        seq = gil.timeline().read_since(seq, &mut events);
        if events
            .iter()
            .any(|e| e.thread == tag && e.what == Transition::DropRequest)
        {
            return;
        }
        assert!(Instant::now() < deadline, "thread {tag} never asked");
        thread::yield_now();
    }
}

/// The lanes (marks left out) `tag` went through, in order.
fn lanes_of(gil: &Gil, tag: threadlab::gil::ThreadTag) -> Vec<Transition> {
    let mut events = Vec::new();
    gil.timeline().read_since(0, &mut events);
    events
        .iter()
        .filter(|e| e.thread == tag && !e.what.is_mark())
        .map(|e| e.what)
        .collect()
}

/// CPython's `take_gil` (3.2–3.12: RESET_GIL_DROP_REQUEST after the wait
/// loop; 3.13+: the new holder clears its own request bit): a thread that
/// takes the GIL while another thread's drop request is pending is not
/// asked to drop it at its first check.
///
/// The holder ends (its last release leaves the request for the next
/// holder) and a thread on the same OS thread takes the GIL at once, before
/// the woken requester can: it barged in. If the requester wins the race
/// instead, the attempt shows nothing and is repeated.
#[test]
fn a_thread_that_barges_in_after_anothers_drop_request_is_not_asked_to_drop() {
    for _attempt in 0..50 {
        let gil = Gil::new(Mode::Gil, SwitchInterval::MIN);
        let stop = CancelToken::new();
        let mut holder = gil.register(stop.clone());
        holder.enter().unwrap();
        let mut requester = gil.register(stop.clone());
        let requester_tag = requester.tag();
        let waiter = thread::spawn(move || {
            requester.enter().unwrap();
            requester.exit();
        });
        wait_for_drop_request(&gil, requester_tag);
        // From now on the requester waits long: it cannot ask again before
        // the barging thread's first check.
        gil.set_interval(SwitchInterval::MAX);
        let mut barger = gil.register(stop.clone());
        holder.exit();
        barger.enter().unwrap();
        barger.check().unwrap();
        let asked = barger.stats().snapshot().forced_drops;
        barger.exit();
        join_within(vec![waiter]);
        if lanes_of(&gil, barger.tag()).first() != Some(&Transition::Hold) {
            continue; // the requester took it first: no barging this time
        }
        assert_eq!(
            asked, 0,
            "the barging thread was made to drop the GIL at its first check"
        );
        return;
    }
    panic!("in 50 attempts the thread on the CPU never took the GIL before the woken waiter");
}

/// gh-96387: a waiter that gives up (here: is cancelled) after asking takes
/// its request back, so the holder is not made to drop the GIL for nobody.
#[test]
fn a_waiter_that_gives_up_withdraws_its_drop_request() {
    let gil = Gil::new(Mode::Gil, SwitchInterval::MIN);
    let mut holder = gil.register(CancelToken::new());
    holder.enter().unwrap();
    let token = CancelToken::new();
    let mut waiter = gil.register(token.clone());
    let waiter_tag = waiter.tag();
    let handle = thread::spawn(move || waiter.enter());
    wait_for_drop_request(&gil, waiter_tag);
    token.cancel();
    gil.wake_all();
    let result = join_within(vec![handle]);
    assert!(result[0].is_err(), "the cancelled waiter gives up");
    holder.check().unwrap();
    assert!(holder.is_holding());
    assert_eq!(
        holder.stats().snapshot().forced_drops,
        0,
        "the holder dropped the GIL for a waiter that was gone"
    );
    holder.exit();
}
