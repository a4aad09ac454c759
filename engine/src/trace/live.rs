//! What a live view shows per traced thread, computed from the recorder at
//! one moment (the time of the lane in progress counts too), and how it
//! reaches the view: the reader thread publishes [`LiveRows`] on a
//! [`Board`] it alone writes, and the view reads the newest with
//! [`LiveFeed`]. Neither waits for the other: the board's lock is held only
//! to swap or clone an `Arc`, never while rows are computed or drawn, and
//! the GIL lanes come through the timeline ring (read with `try_lock`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::functions::{FunctionRow, SortBy};
use super::python_threads::RecentSample;
use super::recorder::Recorder;
use super::sampler::SamplerStatus;
use super::stacks::PyFrame;
use crate::gil::{ThreadTag, Timeline, Transition};

/// Functions a live view gets per table (all threads, or one; by hold or
/// by wait).
pub const LIVE_FUNCTIONS: usize = 12;

/// One traced thread, now.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadRow {
    /// Its tag on the timeline.
    pub tag: ThreadTag,
    /// OS thread id.
    pub tid: u32,
    /// The name to show: its Python name, else its OS name.
    pub name: String,
    /// Its OS name (`comm`).
    pub os_name: String,
    /// Whether `name` is the Python thread's name.
    pub python_named: bool,
    /// Its lane now: Hold, Wait, Io (released, blocked), Run (released,
    /// native), Exit; `None` before its first event.
    pub lane: Option<Transition>,
    /// % of its observed time holding the GIL.
    pub hold_pct: f64,
    /// % waiting for it.
    pub wait_pct: f64,
    /// % released (blocked or native).
    pub(crate) released_pct: f64,
    /// % released and running native code.
    pub(crate) native_pct: f64,
    /// Times it took the GIL.
    pub(crate) takes: u64,
    /// Times it took the GIL from another thread.
    pub switches: u64,
    /// Its longest finished wait, ms.
    pub longest_wait_ms: f64,
}

/// Every thread's row at `now_ns` (nanoseconds since the trace's epoch).
pub fn thread_rows(recorder: &Recorder, now_ns: u64) -> Vec<ThreadRow> {
    recorder
        .threads()
        .iter()
        .map(|t| {
            let s = t.stats.snapshot();
            let mut hold = s.holding.as_nanos() as f64;
            let mut wait = s.waiting.as_nanos() as f64;
            let mut io = s.io.as_nanos() as f64;
            let mut native = s.running.as_nanos() as f64;
            let current = now_ns.saturating_sub(t.lane_since_ns()) as f64;
            match t.lane {
                Some(Transition::Hold) => hold += current,
                Some(Transition::Wait) => wait += current,
                Some(Transition::Io) => io += current,
                Some(Transition::Run) => native += current,
                _ => {}
            }
            let total = hold + wait + io + native;
            let pct = |part: f64| {
                if total > 0.0 {
                    part / total * 100.0
                } else {
                    0.0
                }
            };
            ThreadRow {
                tag: t.tag,
                tid: t.tid,
                name: t.display_name().to_string(),
                os_name: t.name.clone(),
                python_named: t.python_name.is_some(),
                lane: t.lane,
                hold_pct: pct(hold),
                wait_pct: pct(wait),
                released_pct: pct(io + native),
                native_pct: pct(native),
                takes: t.takes,
                switches: s.switches,
                longest_wait_ms: if t.waits_us.is_empty() {
                    0.0
                } else {
                    t.waits_us.max() as f64 / 1000.0
                },
            }
        })
        .collect()
}

/// Every thread's row at one moment, as the reader last published it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveRows {
    /// Which publication this is (1 for the first; 0: nothing yet).
    pub version: u64,
    /// The moment the rows describe, ns since the trace's epoch.
    pub at_ns: u64,
    /// The threads seen so far, in order of first appearance.
    pub rows: Vec<ThreadRow>,
    /// Probe records the kernel dropped so far.
    pub lost: u64,
    /// What the stack samples say (empty without a sampler); recomputed
    /// at most every [`PYTHON_EVERY`], shared between publications.
    pub python: Arc<LivePython>,
}

/// How often the Python part of a publication is recomputed (the tables
/// and the recent samples change at the sampling rate, not per probe hit).
pub const PYTHON_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// One GIL-by-function table: whose, in what order, its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionTable {
    /// One thread's, or (`None`) the whole program's.
    pub tid: Option<u32>,
    /// The order.
    pub by: SortBy,
    /// The top [`LIVE_FUNCTIONS`] functions.
    pub rows: Vec<FunctionRow>,
    /// The GIL hold of all its sampled functions, ns (for shares).
    pub hold_ns: u64,
}

/// The stack samples at one moment, for a live view.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LivePython {
    /// Rounds per second asked for (0: not sampling).
    pub rate_hz: u32,
    /// Why stacks cannot be read, if they cannot.
    pub error: Option<String>,
    /// Thread samples joined with a GIL state so far.
    pub samples: u64,
    /// Each thread's stack at the latest sample, innermost first.
    pub stacks: std::collections::HashMap<u32, Vec<PyFrame>>,
    /// Every table a view may show: all threads and each thread, by hold
    /// and by wait.
    pub tables: Vec<FunctionTable>,
    /// The latest samples, oldest first (about the last 10 s at most),
    /// for a timeline cursor.
    pub recent: Vec<RecentSample>,
}

impl LivePython {
    /// Thread `tid`'s sample nearest `at_ns` (ns since the trace's epoch),
    /// within `within_ns`.
    pub fn sample_near(&self, tid: u32, at_ns: u64, within_ns: u64) -> Option<&RecentSample> {
        self.recent
            .iter()
            .filter(|s| s.tid == tid && s.at_ns.abs_diff(at_ns) <= within_ns)
            .min_by_key(|s| s.at_ns.abs_diff(at_ns))
    }

    /// The table of `tid` (or of all threads) in order `by`.
    pub fn table(&self, tid: Option<u32>, by: SortBy) -> Option<&FunctionTable> {
        self.tables.iter().find(|t| t.tid == tid && t.by == by)
    }

    fn of(recorder: &Recorder, status: &SamplerStatus) -> Self {
        let python = recorder.python();
        let by = python.functions();
        let mut tables = Vec::new();
        let scopes = std::iter::once(None).chain(recorder.threads().iter().map(|t| Some(t.tid)));
        for tid in scopes {
            for order in [SortBy::Hold, SortBy::Wait] {
                tables.push(FunctionTable {
                    tid,
                    by: order,
                    rows: by.top(tid, order, LIVE_FUNCTIONS),
                    hold_ns: by.hold_ns(tid),
                });
            }
        }
        LivePython {
            rate_hz: status.rate_hz,
            error: status.error.clone(),
            samples: by.samples,
            stacks: recorder
                .threads()
                .iter()
                .map(|t| (t.tid, python.stack(t.tid).to_vec()))
                .collect(),
            tables,
            recent: python.recent.iter().cloned().collect(),
        }
    }
}

/// The newest value one thread publishes and others read: a double buffer
/// whose lock is held only for a pointer swap (publish) or an `Arc` clone
/// (read), so a slow reader never holds up the writer nor the other way.
#[derive(Debug, Default)]
pub struct Board<T> {
    latest: Mutex<Arc<T>>,
    version: AtomicU64,
}

impl<T> Board<T> {
    /// Replaces the newest value.
    pub fn publish(&self, value: T) {
        let value = Arc::new(value);
        // The old value is dropped after the lock is released.
        let old = std::mem::replace(
            &mut *self.latest.lock().unwrap_or_else(PoisonError::into_inner),
            value,
        );
        self.version.fetch_add(1, Ordering::Release);
        drop(old);
    }

    /// The newest value.
    pub fn latest(&self) -> Arc<T> {
        Arc::clone(&self.latest.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// How many values have been published (cheap: no lock).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

/// The writing end of a live view: what the tracer's reader thread (or a
/// test standing in for it) publishes after applying a batch.
#[derive(Debug, Clone)]
pub struct LivePublisher {
    board: Arc<Board<LiveRows>>,
    sampler: Arc<Mutex<SamplerStatus>>,
    /// The Python part last computed, and when.
    python: Arc<Mutex<(Option<std::time::Instant>, Arc<LivePython>)>>,
}

impl LivePublisher {
    /// Publishes every thread's row in `recorder` at `at_ns` (ns since the
    /// trace's epoch) and the records lost so far. Called by the thread
    /// that owns the recorder, between batches: no view ever locks it.
    pub fn publish(&self, recorder: &Recorder, at_ns: u64, lost: u64) {
        self.publish_with(recorder, at_ns, lost, false);
    }

    /// Like [`Self::publish`], with the Python part recomputed now (the
    /// final picture; tests).
    pub fn publish_fresh(&self, recorder: &Recorder, at_ns: u64, lost: u64) {
        self.publish_with(recorder, at_ns, lost, true);
    }

    fn publish_with(&self, recorder: &Recorder, at_ns: u64, lost: u64, fresh: bool) {
        let version = self.board.version() + 1;
        let python = {
            let mut last = self.python.lock().unwrap_or_else(PoisonError::into_inner);
            let stale = last.0.is_none_or(|at| at.elapsed() >= PYTHON_EVERY);
            if fresh || stale {
                let status = self
                    .sampler
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                *last = (
                    Some(std::time::Instant::now()),
                    Arc::new(LivePython::of(recorder, &status)),
                );
            }
            Arc::clone(&last.1)
        };
        self.board.publish(LiveRows {
            version,
            at_ns,
            rows: thread_rows(recorder, at_ns),
            lost,
            python,
        });
    }

    /// Where the stack sampler keeps its account (shown with the rows).
    pub fn sampler_status(&self) -> Arc<Mutex<SamplerStatus>> {
        Arc::clone(&self.sampler)
    }
}

/// The reading end of a live view: the newest rows and the GIL lanes.
#[derive(Debug, Clone)]
pub struct LiveFeed {
    board: Arc<Board<LiveRows>>,
    timeline: Arc<Timeline>,
}

impl LiveFeed {
    /// The newest rows published (empty before the first).
    pub fn rows(&self) -> Arc<LiveRows> {
        self.board.latest()
    }

    /// How many times rows have been published: a view re-reads only
    /// when this moved.
    pub fn version(&self) -> u64 {
        self.board.version()
    }

    /// The lanes' transitions, as the recorder writes them (read with
    /// `try_read_since`: a writer holding the ring delays them a frame).
    pub fn timeline(&self) -> &Arc<Timeline> {
        &self.timeline
    }
}

/// A publisher and the feed that reads it, for the recorder writing `timeline`.
pub fn live_channel(timeline: Arc<Timeline>) -> (LivePublisher, LiveFeed) {
    let board = Arc::new(Board::default());
    (
        LivePublisher {
            board: Arc::clone(&board),
            sampler: Arc::default(),
            python: Arc::default(),
        },
        LiveFeed { board, timeline },
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::gil::Timeline;
    use crate::trace::recorder::{Happening, Stamped};

    #[test]
    fn the_lane_in_progress_counts_up_to_now() {
        let mut rec = Recorder::new(0, Arc::new(Timeline::default()), |_| "t".into());
        let at = |ms: u64, what| Stamped {
            time_ns: ms * 1_000_000,
            tid: 5,
            what,
        };
        rec.apply(at(0, Happening::TakeEntry));
        rec.apply(at(2, Happening::TakeReturn));
        let rows = thread_rows(&rec, 10_000_000);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].lane, Some(Transition::Hold));
        assert!((rows[0].hold_pct - 80.0).abs() < 1e-9, "{rows:?}");
        assert!((rows[0].wait_pct - 20.0).abs() < 1e-9);
        assert_eq!(rows[0].longest_wait_ms, 2.0);
        assert_eq!((rows[0].takes, rows[0].switches), (1, 1));
    }

    #[test]
    fn a_feed_sees_each_publication_and_keeps_what_it_read() {
        let timeline = Arc::new(Timeline::default());
        let mut rec = Recorder::new(0, Arc::clone(&timeline), |_| "t".into());
        let (publisher, feed) = live_channel(timeline);
        assert_eq!(feed.version(), 0);
        assert!(feed.rows().rows.is_empty());
        rec.apply(Stamped {
            time_ns: 0,
            tid: 5,
            what: Happening::TakeEntry,
        });
        publisher.publish(&rec, 1_000, 3);
        let first = feed.rows();
        assert_eq!((first.version, first.at_ns, first.lost), (1, 1_000, 3));
        assert_eq!(first.rows.len(), 1);
        publisher.publish(&rec, 2_000, 3);
        assert_eq!(feed.version(), 2);
        assert_eq!(
            first.at_ns, 1_000,
            "a read value never changes under the reader"
        );
        assert_eq!(feed.rows().at_ns, 2_000);
    }
}
