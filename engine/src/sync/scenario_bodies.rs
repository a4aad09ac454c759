//! The threads of each [`Scenario`](super::Scenario): what they take,
//! wait for and do, as short "Python" over the lab's objects. Work between
//! waits is CPU steps with an eval-breaker check after each, like the cpu
//! worker's, so it holds the emulated GIL; downloads are real HTTP GETs
//! with the GIL released.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::cancel::CancelToken;
use crate::gil::{GilThread, ThreadTag};
use crate::work::{HttpClient, cpu_step, human_bytes};

use super::locks::{Lock, Semaphore};
use super::pool::Pool;
use super::scenario_kind::{
    Body, DOWNLOADS, ITEMS_PER_PRODUCER, ORDERED_ROUNDS, PARTIES, POOL_THREADS, QUEUE_MAX,
    SEMAPHORE_LIMIT, ScenarioKind, Shared, raise,
};
use super::signals::{Barrier, Event, Queue};
use super::status::PoolTask;
use super::world::{SyncError, World};

/// CPU steps in roughly a millisecond of an optimised build.
const STEPS_PER_MS: u64 = 60_000;

/// A scenario's threads (name and body) and the queue it shows, if any.
pub(crate) struct Plan {
    pub(crate) threads: Vec<(String, Body)>,
    pub(crate) queue: Option<Queue>,
    /// Threads started by the plan itself (the pool's), with their names.
    pub(crate) extra: Vec<(ThreadTag, String)>,
}

/// `ms` milliseconds' worth of CPU steps, checking the eval breaker
/// after each step.
fn work(thread: &mut GilThread, ms: u64) -> Result<(), SyncError> {
    let mut state = 0x9E37_79B9_7F4A_7C15 ^ u64::from(thread.tag());
    for _ in 0..ms * STEPS_PER_MS {
        state = cpu_step(state);
        thread.check()?;
    }
    Ok(())
}

fn body(f: impl FnOnce(&mut GilThread) -> Result<(), SyncError> + Send + 'static) -> Body {
    Box::new(f)
}

/// The threads of `kind` over fresh objects in `world`.
pub(crate) fn plan(
    kind: ScenarioKind,
    world: &World,
    shared: &Arc<Shared>,
    url: &str,
    nice: u8,
) -> std::io::Result<Plan> {
    let threads = match kind {
        ScenarioKind::Deadlock => deadlock(world),
        ScenarioKind::DeadlockOrdered => ordered(world, shared),
        ScenarioKind::ProducerConsumer => {
            let queue = Queue::new(world, "jobs", QUEUE_MAX);
            return Ok(Plan {
                threads: producer_consumer(&queue, shared),
                queue: Some(queue),
                extra: Vec::new(),
            });
        }
        ScenarioKind::Pool => return pool(world, shared, url, nice),
        ScenarioKind::Semaphore => semaphore(world, shared, url),
        ScenarioKind::Event => event(world, shared),
        ScenarioKind::Barrier => barrier(world, shared),
    };
    Ok(Plan {
        threads,
        queue: None,
        extra: Vec::new(),
    })
}

/// Each takes its first lock, waits until the other holds its own, then
/// asks for the other's: the cycle closes every time.
fn deadlock(world: &World) -> Vec<(String, Body)> {
    let a = Lock::new(world, "A");
    let b = Lock::new(world, "B");
    let both = Barrier::new(world, "both hold one", 2);
    [("AB-1", a.clone(), b.clone()), ("BA-2", b, a)]
        .into_iter()
        .map(|(name, first, second)| {
            let both = both.clone();
            let run = body(move |thread| {
                work(thread, 2)?;
                first.acquire(thread)?;
                both.wait(thread)?;
                second.acquire(thread)?;
                work(thread, 1)?;
                second.release()?;
                first.release()
            });
            (name.to_string(), run)
        })
        .collect()
}

/// Both take A, then B, half of [`ORDERED_ROUNDS`] times each: one waits on A while the other
/// works, and no cycle can close.
fn ordered(world: &World, shared: &Arc<Shared>) -> Vec<(String, Body)> {
    let a = Lock::new(world, "A");
    let b = Lock::new(world, "B");
    (1..=2)
        .map(|i| {
            let (a, b, shared) = (a.clone(), b.clone(), Arc::clone(shared));
            let run = body(move |thread| {
                for _ in 0..ORDERED_ROUNDS / 2 {
                    a.acquire(thread)?;
                    b.acquire(thread)?;
                    work(thread, 3)?;
                    shared.rounds.fetch_add(1, Ordering::Relaxed);
                    b.release()?;
                    a.release()?;
                    work(thread, 1)?;
                }
                Ok(())
            });
            (format!("AB-{i}"), run)
        })
        .collect()
}

/// Two quick producers, one slow consumer, a queue of [`QUEUE_MAX`].
fn producer_consumer(queue: &Queue, shared: &Arc<Shared>) -> Vec<(String, Body)> {
    let mut threads: Vec<(String, Body)> = (1..=2)
        .map(|i| {
            let (queue, shared) = (queue.clone(), Arc::clone(shared));
            let run = body(move |thread| {
                for item in 0..ITEMS_PER_PRODUCER {
                    work(thread, 1)?;
                    queue.put(thread, item)?;
                    shared.produced.fetch_add(1, Ordering::Relaxed);
                    raise(&shared.depth_max, queue.len() as u64);
                }
                Ok(())
            });
            (format!("prod-{i}"), run)
        })
        .collect();
    let (queue, shared) = (queue.clone(), Arc::clone(shared));
    let consume = body(move |thread| {
        for _ in 0..2 * ITEMS_PER_PRODUCER {
            queue.get(thread)?;
            work(thread, 8)?;
            shared.consumed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    });
    threads.push(("cons-1".to_string(), consume));
    threads
}

/// [`DOWNLOADS`] threads, a semaphore of [`SEMAPHORE_LIMIT`]: each takes
/// a unit, downloads `url` with the GIL released, gives the unit back.
fn semaphore(world: &World, shared: &Arc<Shared>, url: &str) -> Vec<(String, Body)> {
    let limit = Semaphore::new(world, "downloads", SEMAPHORE_LIMIT);
    (1..=DOWNLOADS)
        .map(|i| {
            let (limit, shared, url) = (limit.clone(), Arc::clone(shared), url.to_string());
            let cancel = world.cancel_token().clone();
            let run = body(move |thread| {
                work(thread, 1)?;
                limit.acquire(thread)?;
                let now = shared.in_io.fetch_add(1, Ordering::SeqCst) + 1;
                raise(&shared.max_in_io, now);
                let fetched = download(thread, &shared, &url, &cancel);
                // Out of I/O before the unit goes back, so the count never
                // shows a successor early.
                shared.in_io.fetch_sub(1, Ordering::SeqCst);
                limit.release();
                shared.bytes.fetch_add(fetched?, Ordering::Relaxed);
                shared.downloads.fetch_add(1, Ordering::Relaxed);
                Ok(())
            });
            (format!("sem-{i}"), run)
        })
        .collect()
}

/// [`PARTIES`] threads wait on an event a setter sets after some work.
fn event(world: &World, shared: &Arc<Shared>) -> Vec<(String, Body)> {
    let go = Event::new(world, "go");
    let mut threads: Vec<(String, Body)> = (1..=PARTIES)
        .map(|i| {
            let (go, shared) = (go.clone(), Arc::clone(shared));
            let run = body(move |thread| {
                go.wait(thread)?;
                shared.released.fetch_add(1, Ordering::Relaxed);
                work(thread, 2)
            });
            (format!("ev-{i}"), run)
        })
        .collect();
    let setter = body(move |thread| {
        work(thread, 30)?;
        go.set();
        Ok(())
    });
    threads.push(("setter".to_string(), setter));
    threads
}

/// [`PARTIES`] threads work for different times, then meet at a barrier.
fn barrier(world: &World, shared: &Arc<Shared>) -> Vec<(String, Body)> {
    let meet = Barrier::new(world, "meet", PARTIES as u32);
    (1..=PARTIES as u64)
        .map(|i| {
            let (meet, shared) = (meet.clone(), Arc::clone(shared));
            let run = body(move |thread| {
                work(thread, 8 * i)?;
                meet.wait(thread)?;
                shared.released.fetch_add(1, Ordering::Relaxed);
                work(thread, 2)
            });
            (format!("bar-{i}"), run)
        })
        .collect()
}

/// The pool scenario's tasks, in submission order: long and short mixed,
/// so they complete in another order than they were submitted.
const TASKS: [(&str, Task); 9] = [
    ("fetch", Task::Fetch),
    ("cpu 20 ms", Task::Cpu(20)),
    ("sleep 60 ms", Task::Sleep(60)),
    ("cpu 5 ms", Task::Cpu(5)),
    ("fetch", Task::Fetch),
    ("sleep 10 ms", Task::Sleep(10)),
    ("cpu 40 ms", Task::Cpu(40)),
    ("cpu 5 ms", Task::Cpu(5)),
    ("sleep 30 ms", Task::Sleep(30)),
];

/// What a pool task does: the dashboard's cpu, sleep and fetch work.
#[derive(Debug, Clone, Copy)]
enum Task {
    Cpu(u64),
    Sleep(u64),
    Fetch,
}

/// The HTTP client the downloads share, built by the first to need it.
fn http(shared: &Shared) -> Result<&HttpClient, String> {
    shared
        .http
        .get_or_init(|| HttpClient::new(Duration::from_secs(5), Duration::from_secs(10)))
        .as_ref()
        .map_err(Clone::clone)
}

/// GETs `url` with the GIL released; answers the bytes read.
fn download(
    thread: &mut GilThread,
    shared: &Shared,
    url: &str,
    cancel: &CancelToken,
) -> Result<u64, SyncError> {
    let fetched = thread.blocking(|| match http(shared) {
        Ok(client) => client.get_all(url, cancel),
        Err(error) => Ok(Err(error)),
    })?;
    match fetched {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => Err(SyncError::Failed(error)),
        Err(_) => Err(SyncError::Cancelled),
    }
}

/// Runs one task on a pool thread; answers steps, ms or bytes.
fn run_task(
    task: Task,
    thread: &mut GilThread,
    shared: &Shared,
    url: &str,
    cancel: &CancelToken,
) -> Result<u64, SyncError> {
    match task {
        Task::Cpu(ms) => work(thread, ms).map(|()| ms * STEPS_PER_MS),
        Task::Sleep(ms) => {
            thread.blocking(|| std::thread::sleep(Duration::from_millis(ms)))?;
            Ok(ms)
        }
        Task::Fetch => download(thread, shared, url, cancel),
    }
}

fn answer(task: Task, value: u64) -> String {
    match task {
        Task::Cpu(_) => format!("{value} steps"),
        Task::Sleep(ms) => format!("slept {ms} ms"),
        Task::Fetch => human_bytes(value),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A pool of [`POOL_THREADS`] and a `main` thread that submits [`TASKS`],
/// then waits for each result in submission order (blocked on "future
/// N" while the pool works) and shuts the pool down.
fn pool(world: &World, shared: &Arc<Shared>, url: &str, nice: u8) -> std::io::Result<Plan> {
    let executor = Pool::new(world, "pool", POOL_THREADS, nice)?;
    let extra = executor.lanes().to_vec();
    let queue = executor.queue().clone();
    let names: Arc<HashMap<ThreadTag, String>> = Arc::new(extra.iter().cloned().collect());
    *lock(&shared.tasks) = TASKS
        .iter()
        .enumerate()
        .map(|(id, (work, _))| PoolTask {
            id: id as u64,
            work,
            thread: None,
            result: None,
        })
        .collect();
    let (shared, url) = (Arc::clone(shared), url.to_string());
    let cancel = world.cancel_token().clone();
    let main = body(move |thread| {
        let mut futures = Vec::new();
        for (id, (_, task)) in TASKS.iter().copied().enumerate() {
            let (shared, url, names, cancel) = (
                Arc::clone(&shared),
                url.clone(),
                Arc::clone(&names),
                cancel.clone(),
            );
            let job = move |pooled: &mut GilThread| {
                let name = names.get(&pooled.tag()).cloned();
                lock(&shared.tasks)[id].thread = name;
                let value = run_task(task, pooled, &shared, &url, &cancel)?;
                lock(&shared.tasks)[id].result = Some(answer(task, value));
                lock(&shared.completed).push(id as u64);
                Ok(value)
            };
            futures.push(executor.submit(thread, job)?);
        }
        for future in &futures {
            future.result(thread)?;
        }
        executor.shutdown(thread)
    });
    Ok(Plan {
        threads: vec![("main".to_string(), main)],
        queue: Some(queue),
        extra,
    })
}
