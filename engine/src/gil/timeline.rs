//! What the GIL did, as stamped transitions in a bounded ring, and per-thread totals.
//!
//! Every thread registered with the [`Gil`](super::Gil) reports each change of
//! its lane — running free, holding, waiting, in I/O, gone — plus marks for
//! drop requests and forced switches. The ring keeps the last
//! [`Timeline::CAPACITY`] events (never an unbounded log); readers ask for
//! everything after a sequence number they already saw, so the UI copies only
//! what is new each frame.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::ring::SeqRing;

/// A small number naming one registered thread (unique per [`Gil`](super::Gil)).
pub type ThreadTag = u32;

/// What a thread started doing at the moment of an event (or a mark).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    /// Runs without the GIL (emulation off: `free` mode).
    Run,
    /// Holds the GIL and runs "Python".
    Hold,
    /// Waits to take the GIL.
    Wait,
    /// In a blocking call with the GIL released.
    Io,
    /// Left the GIL for good (thread finished).
    Exit,
    /// Mark: this waiter timed out and asked the holder to drop the GIL.
    DropRequest,
    /// Mark: this holder saw a drop request and handed the GIL over.
    ForcedDrop,
    /// Mark: this thread, in a blocking call with the GIL released, waits
    /// on a coordination-lab object (lock, semaphore, queue …); the lab's
    /// `sync::World` names it.
    Blocked,
    /// Mark: this thread's store to a shared counter overwrote another
    /// thread's update (a lost update in the race lab).
    LostUpdate,
}

impl Transition {
    /// True for events that mark a moment rather than start a new lane state.
    pub fn is_mark(self) -> bool {
        matches!(
            self,
            Transition::DropRequest
                | Transition::ForcedDrop
                | Transition::Blocked
                | Transition::LostUpdate
        )
    }
}

/// One stamped transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GilEvent {
    /// Microseconds since the GIL's epoch (its creation).
    pub at_us: u64,
    /// The thread it happened to.
    pub thread: ThreadTag,
    /// What happened.
    pub what: Transition,
}

/// A bounded ring of [`GilEvent`]s shared by all threads of one GIL.
#[derive(Debug)]
pub struct Timeline {
    ring: SeqRing<GilEvent>,
}

impl Default for Timeline {
    fn default() -> Self {
        Self {
            ring: SeqRing::new(Self::CAPACITY),
        }
    }
}

impl Timeline {
    /// Events kept; older ones are overwritten.
    pub(crate) const CAPACITY: usize = 1 << 16;

    /// Appends an event, dropping the oldest when full.
    ///
    /// Events are kept in time order: a thread stamps its event before it
    /// takes the ring's lock, so another thread's later stamp may get in
    /// first; such an event is moved up to the newest stamp (microseconds at
    /// most), never before it — readers sum intervals between neighbours.
    pub(crate) fn push(&self, event: GilEvent) {
        self.ring.push_fitted(event, |newest, event| {
            event.at_us = event.at_us.max(newest.at_us);
        });
    }

    /// Copies every event with a sequence number `>= seq` that is still in the
    /// ring into `out`, and returns the sequence number to ask for next time.
    pub fn read_since(&self, seq: u64, out: &mut Vec<GilEvent>) -> u64 {
        self.ring.read_since(seq, out)
    }

    /// [`Timeline::read_since`] without waiting: `None` when a thread holds
    /// the ring's lock right now. The UI reads this way, so a worker that is
    /// preempted while pushing (workers run at a lower priority) never makes
    /// a frame wait; the events stay in the ring for the next frame.
    pub fn try_read_since(&self, seq: u64, out: &mut Vec<GilEvent>) -> Option<u64> {
        self.ring.try_read_since(seq, out)
    }
}

/// Running totals for one thread, readable from any thread.
#[derive(Debug, Default)]
pub struct ThreadStats {
    holding_ns: AtomicU64,
    waiting_ns: AtomicU64,
    io_ns: AtomicU64,
    running_ns: AtomicU64,
    switches: AtomicU64,
    forced_drops: AtomicU64,
    drop_requests: AtomicU64,
}

/// A copy of [`ThreadStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Time spent holding the GIL.
    pub(crate) holding: Duration,
    /// Time spent waiting for it.
    pub(crate) waiting: Duration,
    /// Time spent in blocking calls with it released.
    pub(crate) io: Duration,
    /// Time spent running without it (`free` mode).
    pub(crate) running: Duration,
    /// Times this thread took the GIL from another thread.
    pub switches: u64,
    /// Times this thread dropped it because another asked.
    pub forced_drops: u64,
    /// Times this thread asked the holder to drop it.
    pub(crate) drop_requests: u64,
}

impl ThreadStats {
    /// Adds `ns` nanoseconds to the total of the lane state that just ended.
    pub(crate) fn add_time(&self, state: Transition, ns: u64) {
        let counter = match state {
            Transition::Hold => &self.holding_ns,
            Transition::Wait => &self.waiting_ns,
            Transition::Io => &self.io_ns,
            Transition::Run => &self.running_ns,
            _ => return,
        };
        counter.fetch_add(ns, Ordering::Relaxed);
    }

    pub(crate) fn count_switch(&self) {
        self.switches.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_forced_drop(&self) {
        self.forced_drops.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_drop_request(&self) {
        self.drop_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The totals now (time of the state in progress is not yet included).
    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            holding: Duration::from_nanos(load(&self.holding_ns)),
            waiting: Duration::from_nanos(load(&self.waiting_ns)),
            io: Duration::from_nanos(load(&self.io_ns)),
            running: Duration::from_nanos(load(&self.running_ns)),
            switches: load(&self.switches),
            forced_drops: load(&self.forced_drops),
            drop_requests: load(&self.drop_requests),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u64) -> GilEvent {
        GilEvent {
            at_us: n,
            thread: 1,
            what: Transition::Hold,
        }
    }

    #[test]
    fn an_event_stamped_before_a_newer_one_got_in_is_kept_in_order() {
        let timeline = Timeline::default();
        timeline.push(ev(105));
        timeline.push(ev(100));
        timeline.push(ev(107));
        let mut out = Vec::new();
        timeline.read_since(0, &mut out);
        let stamps: Vec<u64> = out.iter().map(|e| e.at_us).collect();
        assert_eq!(stamps, vec![105, 105, 107]);
    }

    #[test]
    fn read_since_returns_only_new_events_and_survives_wraparound() {
        let timeline = Timeline::default();
        let mut out = Vec::new();
        for n in 0..10 {
            timeline.push(ev(n));
        }
        let seq = timeline.read_since(0, &mut out);
        assert_eq!(out.len(), 10);
        assert_eq!(seq, 10);
        out.clear();
        timeline.push(ev(10));
        let seq = timeline.read_since(seq, &mut out);
        assert_eq!(out, vec![ev(10)]);
        // Overflow the ring: the reader gets the newest CAPACITY events, no more.
        for n in 0..(Timeline::CAPACITY as u64 + 5) {
            timeline.push(ev(100 + n));
        }
        out.clear();
        let next = timeline.read_since(seq, &mut out);
        assert_eq!(out.len(), Timeline::CAPACITY);
        assert_eq!(
            out.last().map(|e| e.at_us),
            Some(100 + Timeline::CAPACITY as u64 + 4)
        );
        assert_eq!(next, seq + Timeline::CAPACITY as u64 + 5);
    }
}
