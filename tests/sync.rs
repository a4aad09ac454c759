//! The coordination lab's objects against their contracts, under the
//! emulated GIL in `gil` mode — so every test also shows that a blocking
//! wait releases the GIL: a waiter that kept it would stall the others.
//!
//! Waits are bounded by generous timeouts on channels; no fixed sleeps.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use threadlab::cancel::CancelToken;
use threadlab::gil::{Gil, GilThread, Mode, SwitchInterval, Transition};
use threadlab::sync::{
    Barrier, Condition, DeadlockConfig, Event, Lock, Queue, RLock, Semaphore, SyncAction,
    SyncError, World, run_deadlock,
};

mod common;

const BOUND: Duration = Duration::from_secs(20);

fn world() -> World {
    World::new(
        Gil::new(
            Mode::Gil,
            SwitchInterval::from_millis_f64(0.5).expect("0.5 ms"),
        ),
        CancelToken::new(),
    )
}

/// Runs `body` on a new thread that holds the GIL; its result arrives on
/// the returned channel.
fn spawn<T: Send + 'static>(
    world: &World,
    body: impl FnOnce(&mut GilThread) -> T + Send + 'static,
) -> mpsc::Receiver<T> {
    let mut thread = world.gil().register(world.cancel_token().clone());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        thread.enter().expect("enter");
        let out = body(&mut thread);
        thread.exit();
        let _ = tx.send(out);
    });
    rx
}

/// Some steps of "Python" with eval-breaker checks, so the GIL moves.
fn run_python(thread: &mut GilThread, steps: u32) -> Result<(), SyncError> {
    for _ in 0..steps {
        thread.check()?;
    }
    Ok(())
}

#[test]
fn a_semaphore_never_admits_more_than_its_value() {
    let world = world();
    let semaphore = Semaphore::new(&world, "pool", 2);
    let inside = Arc::new(AtomicU64::new(0));
    let most = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let (semaphore, inside, most) = (semaphore.clone(), inside.clone(), most.clone());
            spawn(&world, move |thread| -> Result<(), SyncError> {
                for _ in 0..20 {
                    semaphore.acquire(thread)?;
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    // Longer than a switch interval: the GIL moves meanwhile.
                    run_python(thread, 50_000)?;
                    inside.fetch_sub(1, Ordering::SeqCst);
                    semaphore.release();
                }
                Ok(())
            })
        })
        .collect();
    for rx in threads {
        rx.recv_timeout(BOUND).expect("finished").expect("no error");
    }
    let most = most.load(Ordering::SeqCst);
    assert!((1..=2).contains(&most), "at most 2 inside, saw {most}");
    assert_eq!(semaphore.value(), 2);
}

#[test]
fn a_lock_excludes_and_its_waiters_are_recorded_as_blocked() {
    let world = world();
    let lock = Lock::new(&world, "A");
    let (holder_tx, holder_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let first = {
        let lock = lock.clone();
        spawn(&world, move |thread| {
            lock.acquire(thread).expect("acquire");
            holder_tx.send(thread.tag()).expect("send");
            // Wait for the test with the GIL released, like a blocking call.
            thread
                .blocking(|| go_rx.recv())
                .expect("blocking")
                .expect("go");
            lock.release().expect("release");
        })
    };
    let holder = holder_rx.recv_timeout(BOUND).expect("first holds A");
    assert_eq!(lock.holder(), Some(holder));
    let second = {
        let lock = lock.clone();
        spawn(&world, move |thread| {
            lock.acquire(thread).expect("acquire");
            let tag = thread.tag();
            lock.release().expect("release");
            tag
        })
    };
    // The second thread shows up blocked on lock A.
    assert!(world.wait_until_blocked(1, BOUND), "nobody blocked on A");
    let mut events = Vec::new();
    world.read_events_since(0, &mut events);
    let waiter = events
        .iter()
        .find(|e| e.what == SyncAction::Blocked)
        .expect("a Blocked event")
        .thread;
    assert_ne!(waiter, holder);
    assert_eq!(world.blocked_on(waiter).as_deref(), Some("lock A"));
    go_tx.send(()).expect("go");
    first.recv_timeout(BOUND).expect("first done");
    assert_eq!(second.recv_timeout(BOUND).expect("second done"), waiter);
    assert_eq!(world.blocked_on(waiter), None);
    assert_eq!(lock.holder(), None);
    assert!(matches!(lock.release(), Err(SyncError::NotLocked(_))));
    let mut marks = Vec::new();
    world.gil().timeline().read_since(0, &mut marks);
    assert!(
        marks
            .iter()
            .any(|e| e.thread == waiter && e.what == Transition::Blocked)
    );
}

#[test]
fn an_rlock_is_reentrant_and_only_its_owner_releases_it() {
    let world = world();
    let rlock = RLock::new(&world, "R");
    let other_rlock = rlock.clone();
    let rx = spawn(&world, move |thread| {
        rlock.acquire(thread).expect("once");
        rlock.acquire(thread).expect("twice");
        let held = rlock.holder();
        // Another thread may neither release nor take it meanwhile.
        let mut stranger = thread.gil().register(CancelToken::new());
        let not_owner = other_rlock.release(&stranger);
        stranger.exit();
        rlock.release(thread).expect("release one level");
        let still = rlock.holder();
        rlock.release(thread).expect("release last level");
        (thread.tag(), held, not_owner, still, rlock.holder())
    });
    let (tag, held, not_owner, still, after) = rx.recv_timeout(BOUND).expect("done");
    assert_eq!(held, Some((tag, 2)));
    assert!(matches!(not_owner, Err(SyncError::NotOwner(_))));
    assert_eq!(still, Some((tag, 1)));
    assert_eq!(after, None);
}

#[test]
fn a_barrier_releases_all_at_once() {
    let world = world();
    let parties = 4;
    let barrier = Barrier::new(&world, "start", parties);
    let arrived = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..parties)
        .map(|i| {
            let (barrier, arrived) = (barrier.clone(), arrived.clone());
            spawn(&world, move |thread| -> Result<(u32, usize), SyncError> {
                // Arrive at different times.
                run_python(thread, 10_000 * i)?;
                arrived.fetch_add(1, Ordering::SeqCst);
                let index = barrier.wait(thread)?;
                // Nobody gets here before the last one arrived.
                Ok((index, arrived.load(Ordering::SeqCst)))
            })
        })
        .collect();
    let mut indices = Vec::new();
    for rx in threads {
        let (index, seen) = rx.recv_timeout(BOUND).expect("through").expect("ok");
        assert_eq!(seen, parties as usize, "passed before everyone arrived");
        indices.push(index);
    }
    indices.sort_unstable();
    assert_eq!(indices, vec![0, 1, 2, 3]);
}

#[test]
fn a_bounded_queue_never_exceeds_its_size_and_keeps_order() {
    let world = world();
    let queue = Queue::new(&world, "jobs", 3);
    let producer = {
        let queue = queue.clone();
        spawn(&world, move |thread| -> Result<usize, SyncError> {
            let mut most = 0;
            for item in 0..200 {
                queue.put(thread, item)?;
                most = most.max(queue.len());
            }
            Ok(most)
        })
    };
    let consumer = {
        let queue = queue.clone();
        spawn(&world, move |thread| -> Result<Vec<u64>, SyncError> {
            let mut got = Vec::new();
            for _ in 0..200 {
                got.push(queue.get(thread)?);
                run_python(thread, 500)?;
            }
            Ok(got)
        })
    };
    let most = producer.recv_timeout(BOUND).expect("producer").expect("ok");
    let got = consumer.recv_timeout(BOUND).expect("consumer").expect("ok");
    assert!(most <= 3, "queue held {most} > 3");
    assert_eq!(got, (0..200).collect::<Vec<u64>>());
    assert!(queue.is_empty());
    assert_eq!(queue.max(), 3);
}

#[test]
fn an_event_and_a_condition_wake_their_waiters() {
    let world = world();
    let event = Event::new(&world, "ready");
    let lock = Lock::new(&world, "L");
    let condition = Condition::new(&world, "changed", &lock);
    let items = Arc::new(AtomicU64::new(0));
    let waiter = {
        let (event, condition, items) = (event.clone(), condition.clone(), items.clone());
        spawn(&world, move |thread| -> Result<u64, SyncError> {
            event.wait(thread)?;
            condition.lock().acquire(thread)?;
            while items.load(Ordering::SeqCst) == 0 {
                condition.wait(thread)?;
            }
            let seen = items.load(Ordering::SeqCst);
            condition.lock().release()?;
            Ok(seen)
        })
    };
    let notifier = {
        let (event, condition, items) = (event.clone(), condition.clone(), items.clone());
        spawn(&world, move |thread| -> Result<(), SyncError> {
            event.set();
            run_python(thread, 20_000)?;
            condition.lock().acquire(thread)?;
            items.store(7, Ordering::SeqCst);
            condition.notify_all(thread)?;
            condition.lock().release()?;
            Ok(())
        })
    };
    notifier.recv_timeout(BOUND).expect("notifier").expect("ok");
    assert_eq!(waiter.recv_timeout(BOUND).expect("waiter").expect("ok"), 7);
    assert!(event.is_set());
    event.clear();
    assert!(!event.is_set());
}

#[test]
fn cancel_wakes_every_waiter() {
    let world = world();
    let lock = Lock::new(&world, "held");
    let semaphore = Semaphore::new(&world, "none left", 0);
    let event = Event::new(&world, "never");
    let queue = Queue::new(&world, "empty", 1);
    let barrier = Barrier::new(&world, "crowd", 10);
    let cond_lock = Lock::new(&world, "cond lock");
    let condition = Condition::new(&world, "never notified", &cond_lock);
    let (held_tx, held_rx) = mpsc::channel();
    let holder = {
        let lock = lock.clone();
        spawn(&world, move |thread| {
            lock.acquire(thread)?;
            held_tx.send(()).expect("send");
            // Hold it until cancelled.
            loop {
                run_python(thread, 1_000)?;
            }
        })
    };
    held_rx.recv_timeout(BOUND).expect("lock held");
    let waiters = vec![
        spawn(&world, move |t| lock.acquire(t)),
        spawn(&world, move |t| semaphore.acquire(t)),
        spawn(&world, move |t| event.wait(t)),
        spawn(&world, move |t| queue.get(t).map(|_| ())),
        spawn(&world, move |t| barrier.wait(t).map(|_| ())),
        spawn(&world, move |t| {
            condition.lock().acquire(t)?;
            condition.wait(t)
        }),
    ];
    // Everyone is blocked before the cancel.
    assert!(
        world.wait_until_blocked(waiters.len(), BOUND),
        "not every waiter blocked"
    );
    let start = Instant::now();
    world.cancel();
    for rx in waiters {
        let result = rx.recv_timeout(BOUND).expect("woken by cancel");
        assert_eq!(result, Err(SyncError::Cancelled));
    }
    assert!(start.elapsed() < Duration::from_secs(5));
    let result: Result<(), SyncError> = holder.recv_timeout(BOUND).expect("holder stops");
    assert_eq!(result, Err(SyncError::Cancelled));
}

#[test]
fn opposite_lock_orders_deadlock_and_the_cycle_is_named_and_broken() {
    let outcome = run_deadlock(&DeadlockConfig {
        timeout: Duration::from_secs(30),
        ..DeadlockConfig::default()
    })
    .expect("threads start");
    assert_eq!(
        outcome.cycle.as_deref(),
        Some("thread 1 waits for lock B held by 2, which waits for lock A held by 1"),
        "{outcome:?}"
    );
    let detection = outcome.detection_us.expect("detection time");
    assert!(detection < 1_000_000, "took {detection} µs");
    assert!(outcome.broken_in_ms.is_some(), "{outcome:?}");
    assert!(!outcome.finished);
}

#[test]
fn the_same_lock_order_runs_to_the_end() {
    for mode in [Mode::Gil, Mode::Free] {
        let outcome = run_deadlock(&DeadlockConfig {
            ordered: true,
            mode,
            timeout: Duration::from_secs(30),
            ..DeadlockConfig::default()
        })
        .expect("threads start");
        assert!(outcome.finished, "{outcome:?}");
        assert_eq!(outcome.cycle, None);
        assert_eq!(outcome.broken_in_ms, None);
    }
}

#[test]
fn a_pool_runs_every_job_on_at_most_its_workers_and_shuts_down() {
    use threadlab::sync::Pool;
    let world = world();
    let pool = Pool::new(&world, "pool", 3, 0).expect("pool");
    let running = Arc::new(AtomicU64::new(0));
    let most = Arc::new(AtomicU64::new(0));
    let rx = {
        let (running, most) = (running.clone(), most.clone());
        spawn(&world, move |thread| -> Result<Vec<u64>, SyncError> {
            let mut futures = Vec::new();
            for i in 0..12u64 {
                let (running, most) = (running.clone(), most.clone());
                futures.push(pool.submit(thread, move |worker| {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    // CPU work past a switch interval, then a blocking call.
                    run_python(worker, 20_000)?;
                    worker.blocking(|| ())?;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(i * i)
                })?);
            }
            let results = futures
                .iter()
                .map(|f| f.result(thread))
                .collect::<Result<Vec<u64>, SyncError>>()?;
            pool.shutdown(thread)?;
            Ok(results)
        })
    };
    let results = rx.recv_timeout(BOUND).expect("done").expect("ok");
    assert_eq!(results, (0..12u64).map(|i| i * i).collect::<Vec<_>>());
    let most = most.load(Ordering::SeqCst);
    assert!(
        (1..=3).contains(&most),
        "{most} jobs ran at once on 3 workers"
    );
}

/// The executor's threads lower themselves to the nice they are given (the
/// dashboard's workers'), as workers, race and lab threads do, so the pool
/// scenario never takes the CPU from the UI. Read from /proc while every
/// worker is inside a job.
#[test]
fn pool_threads_run_at_the_nice_they_are_given() {
    use threadlab::sync::Pool;
    const WORKERS: u32 = 2;
    let base = common::process_nice();
    let world = world();
    // A name no other test's threads have (tests run side by side).
    let pool = Pool::new(&world, "nicepool", WORKERS, 7).expect("pool");
    let all_in = Barrier::new(&world, "all in", WORKERS + 1);
    let release = Event::new(&world, "release");
    let (inside_tx, inside_rx) = mpsc::channel();
    let main = {
        let release = release.clone();
        spawn(&world, move |thread| -> Result<(), SyncError> {
            let futures = (0..WORKERS)
                .map(|_| {
                    let (all_in, release) = (all_in.clone(), release.clone());
                    pool.submit(thread, move |worker| {
                        all_in.wait(worker)?;
                        release.wait(worker)?;
                        Ok(0)
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            all_in.wait(thread)?;
            inside_tx.send(()).expect("the test waits");
            for future in &futures {
                future.result(thread)?;
            }
            pool.shutdown(thread)
        })
    };
    inside_rx
        .recv_timeout(BOUND)
        .expect("every pool worker runs a job");
    let nices: Vec<i64> = (1..=WORKERS)
        .flat_map(|i| common::nices_of_threads(&format!("nicepool-{i}")))
        .collect();
    release.set();
    main.recv_timeout(BOUND)
        .expect("the pool ends")
        .expect("ok");
    let expected = (base + 7).min(19);
    assert_eq!(
        nices,
        vec![expected; WORKERS as usize],
        "pool threads' nice (process at {base})"
    );
}

#[test]
fn cancel_stops_a_pool_and_its_waiting_futures() {
    use threadlab::sync::Pool;
    let world = world();
    let pool = Pool::new(&world, "pool", 2, 0).expect("pool");
    let never = Event::new(&world, "never");
    let (submitted_tx, submitted_rx) = mpsc::channel();
    let waiter = spawn(&world, move |thread| -> Result<u64, SyncError> {
        let future = pool.submit(thread, move |worker| {
            never.wait(worker)?;
            Ok(1)
        })?;
        submitted_tx.send(()).expect("send");
        let result = future.result(thread);
        drop(pool);
        result
    });
    submitted_rx.recv_timeout(BOUND).expect("submitted");
    world.cancel();
    assert_eq!(
        waiter.recv_timeout(BOUND).expect("woken by cancel"),
        Err(SyncError::Cancelled)
    );
}
