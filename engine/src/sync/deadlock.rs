//! Deadlock: a wait-for graph over a world's locks, and the classic
//! two-threads-two-locks experiment behind `threadlab bench deadlock`.
//!
//! A thread blocked on a [`Lock`] or [`RLock`](super::RLock) waits for the
//! lock's holder; since a thread waits on one object at a time and a lock
//! has one holder, the graph is a set of chains, and a chain that comes
//! back to its start is a deadlock. Every blocking wait notifies the world,
//! so a detector sleeping in [`World::wait_for_deadlock`] looks again the
//! moment a cycle can have closed — no polling interval to wait out.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;
use crate::gil::{Gil, GilThread, Mode, SwitchInterval, ThreadTag};

use super::locks::Lock;
use super::signals::Barrier;
use super::world::{ObjectState, State, SyncAction, SyncError, World};

/// One edge of a cycle: `thread` waits for `lock`, held by `holder`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WaitsFor {
    /// The waiting thread.
    pub thread: ThreadTag,
    /// The lock's name.
    pub(crate) lock: String,
    /// Who holds it.
    pub(crate) holder: ThreadTag,
}

/// A cycle in the wait-for graph, starting at its lowest thread tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cycle {
    /// The edges in order; the last one's holder is the first one's thread.
    pub(crate) edges: Vec<WaitsFor>,
}

impl Cycle {
    /// The threads in the cycle.
    pub(crate) fn threads(&self) -> Vec<ThreadTag> {
        self.edges.iter().map(|e| e.thread).collect()
    }
}

impl Cycle {
    /// The cycle in words with the threads named by `name`: "AB-1 waits
    /// for lock B held by BA-2, which waits for lock A held by AB-1".
    pub(crate) fn named(&self, name: impl Fn(ThreadTag) -> String) -> String {
        let mut out = String::new();
        for (i, edge) in self.edges.iter().enumerate() {
            if i == 0 {
                out.push_str(&format!("{} waits for ", name(edge.thread)));
            } else {
                out.push_str(", which waits for ");
            }
            out.push_str(&format!("lock {} held by {}", edge.lock, name(edge.holder)));
        }
        out
    }
}

impl fmt::Display for Cycle {
    /// "thread 1 waits for lock B held by 2, which waits for lock A held by 1".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, edge) in self.edges.iter().enumerate() {
            if i == 0 {
                write!(f, "thread {} waits for ", edge.thread)?;
            } else {
                f.write_str(", which waits for ")?;
            }
            write!(f, "lock {} held by {}", edge.lock, edge.holder)?;
        }
        Ok(())
    }
}

/// The edge out of `thread`, if it is blocked on a lock someone else holds.
fn edge_from(state: &State, thread: ThreadTag) -> Option<WaitsFor> {
    let &id = state.blocked.get(&thread)?;
    let object = &state.objects[id];
    let holder = match object.state {
        ObjectState::Lock { holder } | ObjectState::RLock { holder, .. } => holder?,
        _ => return None,
    };
    (holder != thread).then(|| WaitsFor {
        thread,
        lock: object.name.clone(),
        holder,
    })
}

/// Finds a cycle in the wait-for graph of `state`, if there is one.
pub(crate) fn find_cycle(state: &State) -> Option<Cycle> {
    let mut starts: Vec<ThreadTag> = state.blocked.keys().copied().collect();
    starts.sort_unstable();
    for start in starts {
        let mut edges: Vec<WaitsFor> = Vec::new();
        let mut at = start;
        while let Some(edge) = edge_from(state, at) {
            at = edge.holder;
            edges.push(edge);
            if let Some(pos) = edges.iter().position(|e| e.thread == at) {
                let mut cycle: Vec<WaitsFor> = edges.split_off(pos);
                let lowest = cycle
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, e)| e.thread)
                    .map_or(0, |(i, _)| i);
                cycle.rotate_left(lowest);
                return Some(Cycle { edges: cycle });
            }
        }
    }
    None
}

impl World {
    /// The deadlock among this world's threads right now, if any.
    pub(crate) fn find_deadlock(&self) -> Option<Cycle> {
        find_cycle(&self.lock())
    }
}

/// How to run the two-locks experiment.
#[derive(Debug, Clone)]
pub struct DeadlockConfig {
    /// Both threads take A then B (no deadlock) instead of opposite orders.
    pub ordered: bool,
    /// The GIL mode the threads run under.
    pub mode: Mode,
    /// The switch interval for `gil` mode.
    pub interval: SwitchInterval,
    /// How long to wait for a deadlock (or for the ordered run to end).
    pub timeout: Duration,
}

impl Default for DeadlockConfig {
    fn default() -> Self {
        Self {
            ordered: false,
            mode: Mode::Gil,
            interval: SwitchInterval::DEFAULT,
            timeout: Duration::from_secs(10),
        }
    }
}

/// What the two-locks experiment did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeadlockOutcome {
    /// `ordered` or `opposite`.
    pub variant: &'static str,
    /// The GIL mode.
    pub mode: Mode,
    /// The cycle found, named.
    pub cycle: Option<String>,
    /// From the moment the cycle closed (the last thread blocked) to its
    /// detection, in microseconds.
    pub detection_us: Option<u64>,
    /// From the start of the run to the detection, in milliseconds.
    pub(crate) detected_after_ms: Option<f64>,
    /// From the cancel to both threads having stopped, in milliseconds.
    pub broken_in_ms: Option<f64>,
    /// Both threads took both locks and finished.
    pub finished: bool,
}

/// Runs two threads that take locks A and B — in opposite orders, or both
/// in the same order — and watches the wait-for graph. A deadlock found is
/// broken by cancelling the run.
pub fn run_deadlock(config: &DeadlockConfig) -> std::io::Result<DeadlockOutcome> {
    let gil = Gil::new(config.mode, config.interval);
    let world = World::new(gil.clone(), CancelToken::new());
    let a = Lock::new(&world, "A");
    let b = Lock::new(&world, "B");
    let both_hold_one = Barrier::new(&world, "both hold one", 2);
    let finished = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut handles = Vec::new();
    for (index, (first, second)) in [(&a, &b), (&b, &a)].into_iter().enumerate() {
        let (first, second) = if config.ordered {
            (a.clone(), b.clone())
        } else {
            (first.clone(), second.clone())
        };
        let mut thread = gil.register(world.cancel_token().clone());
        let world = world.clone();
        let barrier = both_hold_one.clone();
        let finished = Arc::clone(&finished);
        let ordered = config.ordered;
        handles.push(
            std::thread::Builder::new()
                .name(format!("deadlock-{}", index + 1))
                .spawn(move || -> Result<(), SyncError> {
                    take_both(&mut thread, [&first, &second], &barrier, ordered)?;
                    finished.fetch_add(1, Ordering::SeqCst);
                    world.change(|_| ());
                    Ok(())
                })?,
        );
    }
    let deadline = started + config.timeout;
    let cycle = world.watch(deadline, |state| {
        find_cycle(state)
            .map(Some)
            .or_else(|| (finished.load(Ordering::SeqCst) == handles.len()).then_some(None))
    });
    let detected_at_us = gil.now_us();
    let cycle = cycle.flatten();
    let detected_after_ms = cycle
        .as_ref()
        .map(|_| started.elapsed().as_secs_f64() * 1000.0);
    let detection_us = cycle
        .as_ref()
        .map(|cycle| detected_at_us.saturating_sub(closed_at_us(&world, cycle, detected_at_us)));
    // Break the deadlock (or end a run that overran) by cancelling.
    let cancel_at = Instant::now();
    let must_cancel = finished.load(Ordering::SeqCst) < handles.len();
    if must_cancel {
        world.cancel();
    }
    for handle in handles {
        let _ = handle.join();
    }
    let broken_in_ms = must_cancel.then(|| cancel_at.elapsed().as_secs_f64() * 1000.0);
    Ok(DeadlockOutcome {
        variant: if config.ordered {
            "ordered"
        } else {
            "opposite"
        },
        mode: config.mode,
        cycle: cycle.map(|c| c.to_string()),
        detection_us,
        detected_after_ms,
        broken_in_ms,
        finished: finished.load(Ordering::SeqCst) == 2,
    })
}

/// One deadlock thread's work: take `first` then `second` (meeting the
/// other thread at `barrier` before the first lock when `ordered`, after it
/// otherwise, so each holds one before asking for the other's), run a
/// thousand steps holding both, release them and leave the GIL.
fn take_both(
    thread: &mut GilThread,
    [first, second]: [&Lock; 2],
    barrier: &Barrier,
    ordered: bool,
) -> Result<(), SyncError> {
    thread.enter()?;
    if ordered {
        // Start together, then contend for the same first lock.
        barrier.wait(thread)?;
        first.acquire(thread)?;
    } else {
        // Make sure each holds its first lock before it
        // asks for the other's.
        first.acquire(thread)?;
        barrier.wait(thread)?;
    }
    second.acquire(thread)?;
    for _ in 0..1000 {
        thread.check()?;
    }
    second.release()?;
    first.release()?;
    thread.exit();
    Ok(())
}

/// When the cycle closed: the last time one of its threads blocked, in the
/// GIL's microseconds (`detected_at_us` if none is on record).
fn closed_at_us(world: &World, cycle: &Cycle, detected_at_us: u64) -> u64 {
    let mut events = Vec::new();
    world.read_events_since(0, &mut events);
    events
        .iter()
        .filter(|e| e.what == SyncAction::Blocked && cycle.threads().contains(&e.thread))
        .map(|e| e.at_us)
        .max()
        .unwrap_or(detected_at_us)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::world::Object;

    fn lock(name: &str, holder: Option<ThreadTag>) -> Object {
        Object {
            name: name.to_string(),
            state: ObjectState::Lock { holder },
        }
    }

    #[test]
    fn a_three_thread_cycle_is_found_and_named_from_its_lowest_thread() {
        let mut state = State::default();
        state.objects = vec![lock("A", Some(1)), lock("B", Some(2)), lock("C", Some(3))];
        // 2 waits for C (held by 3), 3 waits for A (held by 1), 1 waits for B.
        state.blocked.insert(2, 2);
        state.blocked.insert(3, 0);
        assert_eq!(find_cycle(&state), None, "a chain is not a cycle");
        state.blocked.insert(1, 1);
        let cycle = find_cycle(&state).expect("cycle");
        assert_eq!(cycle.threads(), vec![1, 2, 3]);
        assert_eq!(
            cycle.to_string(),
            "thread 1 waits for lock B held by 2, which waits for lock C held by 3, \
             which waits for lock A held by 1"
        );
    }

    #[test]
    fn a_thread_on_a_chain_into_a_cycle_is_not_part_of_it() {
        let mut state = State::default();
        state.objects = vec![lock("A", Some(2)), lock("B", Some(3)), lock("C", Some(2))];
        state.blocked.insert(1, 0); // 1 → 2, outside the cycle
        state.blocked.insert(2, 1); // 2 → 3
        state.blocked.insert(3, 2); // 3 → 2
        let cycle = find_cycle(&state).expect("cycle");
        assert_eq!(cycle.threads(), vec![2, 3]);
    }
}
