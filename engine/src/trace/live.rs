//! What a live view shows per traced thread, computed from the recorder at
//! one moment: the time of the lane in progress counts too.

use super::recorder::Recorder;
use crate::gil::{ThreadTag, Transition};

/// One traced thread, now.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadRow {
    /// Its tag on the timeline.
    pub tag: ThreadTag,
    /// OS thread id.
    pub tid: u32,
    /// Its name (`comm`).
    pub name: String,
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
                name: t.name.clone(),
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
}
