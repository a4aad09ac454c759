//! The timeline's arithmetic: time shares per state over an interval, the
//! GIL's load, per-lane figures, and the sweep that turns a lane's changes
//! into one dominant state per half cell.

use std::collections::VecDeque;

use super::{Lane, Timeline};
use crate::gil::Transition;

/// A lane's state as the timeline draws it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Shade {
    /// Holding the GIL.
    Hold = 0,
    /// Waiting for it.
    Wait = 1,
    /// In a blocking call.
    Io = 2,
    /// Blocked on a coordination-lab object (lock, queue, event …).
    Blocked = 3,
    /// Running with no GIL.
    Free = 4,
    /// Not there (not started, or gone).
    None = 5,
}

/// How many shades there are.
const COUNT: usize = 6;

const SHADES: [Shade; COUNT] = [
    Shade::Hold,
    Shade::Wait,
    Shade::Io,
    Shade::Blocked,
    Shade::Free,
    Shade::None,
];

/// Mark bits of a cell ([`marks`]): a forced drop.
pub(crate) const MARK_FORCED: u8 = 1;
/// Mark bits of a cell ([`marks`]): a drop request.
pub(crate) const MARK_ASKS: u8 = 2;
/// Mark bits of a cell ([`marks`]): a lost update (a race's store that
/// overwrote another thread's).
pub(crate) const MARK_LOST: u8 = 4;

fn shade_of(what: Option<Transition>) -> usize {
    (match what {
        Some(Transition::Hold) => Shade::Hold,
        Some(Transition::Wait) => Shade::Wait,
        Some(Transition::Io) => Shade::Io,
        Some(Transition::Blocked) => Shade::Blocked,
        Some(Transition::Run) => Shade::Free,
        _ => Shade::None,
    }) as usize
}

/// Time spent in each of six states within `[from, to)`, from a list of
/// `(at_us, state)` changes in time order; `index` numbers a state 0..=5
/// (`None`: before the first change).
fn time_in<T: Copy>(
    changes: &VecDeque<(u64, T)>,
    from: u64,
    to: u64,
    index: impl Fn(Option<T>) -> usize,
) -> [u64; COUNT] {
    let mut out = [0u64; COUNT];
    // The state at `from` is the last change at or before it.
    let first = changes.partition_point(|c| c.0 <= from);
    let mut state = index(first.checked_sub(1).map(|i| changes[i].1));
    let mut t = from;
    for &(at, what) in changes.iter().skip(first) {
        if at >= to {
            break;
        }
        out[state] += at - t;
        t = at;
        state = index(Some(what));
    }
    out[state] += to - t;
    out
}

/// Time in each lane state within `[from, to)`, indexed by [`Shade`].
pub fn shares(lane: &Lane, from: u64, to: u64) -> [u64; COUNT] {
    time_in(&lane.changes, from, to, shade_of)
}

/// The fraction of `[from, to)` in which some thread held the GIL.
pub fn gil_load(timeline: &Timeline, from: u64, to: u64) -> f64 {
    let held = time_in(&timeline.gil_held, from, to, |h| {
        if h == Some(true) {
            0
        } else {
            Shade::None as usize
        }
    });
    held[0] as f64 / (to - from).max(1) as f64
}

/// Per-lane figures over the visible span: shares of hold/wait/io and switches/s.
pub(crate) struct LaneStats {
    /// Share of the span holding the GIL.
    pub hold: f64,
    /// Share of the span waiting for it.
    pub wait: f64,
    /// Share of the span in I/O.
    pub io: f64,
    /// Share of the span running without a GIL (`free` mode, or a
    /// free-threaded build's trace).
    pub run: f64,
    /// GIL takes per second.
    pub switches_per_s: f64,
}

/// A lane's figures over the last `span_us` before `now_us`.
pub(crate) fn lane_stats(lane: &Lane, now_us: u64, span_us: u64) -> LaneStats {
    let from = now_us.saturating_sub(span_us);
    let share = shares(lane, from, now_us);
    let total = span_us.max(1) as f64;
    let first = lane.changes.partition_point(|c| c.0 < from);
    let takes = lane
        .changes
        .iter()
        .skip(first)
        .filter(|c| c.1 == Transition::Hold)
        .count();
    LaneStats {
        hold: share[0] as f64 / total,
        wait: share[1] as f64 / total,
        io: share[2] as f64 / total,
        run: share[Shade::Free as usize] as f64 / total,
        switches_per_s: takes as f64 / (span_us as f64 / 1e6),
    }
}

/// The state that filled most of each of `n` samples of `step` µs from
/// `start`, in one sweep over the lane's changes: O(changes + samples).
/// Ties go to the later [`Shade`] (as a cell of half hold, half nothing
/// reads as the thread ending).
pub fn samples(lane: &Lane, start: u64, step: u64, n: usize) -> Vec<Shade> {
    let step = step.max(1);
    let mut out = Vec::with_capacity(n);
    let changes = &lane.changes;
    let first = changes.partition_point(|c| c.0 <= start);
    let mut state = shade_of(first.checked_sub(1).map(|i| changes[i].1));
    let mut acc = [0u64; COUNT];
    let mut t = start;
    let mut end = start + step;
    for &(at, what) in changes.iter().skip(first) {
        while out.len() < n && end <= at {
            acc[state] += end - t;
            close(&mut acc, &mut out);
            t = end;
            end += step;
        }
        if out.len() == n {
            return out;
        }
        acc[state] += at - t;
        t = at;
        state = shade_of(Some(what));
    }
    while out.len() < n {
        acc[state] += end - t;
        close(&mut acc, &mut out);
        t = end;
        end += step;
    }
    out
}

fn close(acc: &mut [u64; COUNT], out: &mut Vec<Shade>) {
    let best = (0..COUNT)
        .max_by_key(|&i| acc[i])
        .unwrap_or(Shade::None as usize);
    out.push(SHADES[best]);
    *acc = [0; COUNT];
}

/// Marks per cell of `cell` µs from `start`: [`MARK_FORCED`],
/// [`MARK_ASKS`], [`MARK_LOST`]. One pass over the marks in the window.
pub fn marks(lane: &Lane, start: u64, cell: u64, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    let cell = cell.max(1);
    let first = lane.marks.partition_point(|m| m.0 < start);
    for &(at, what) in lane.marks.iter().skip(first) {
        let index = ((at - start) / cell) as usize;
        if index >= n {
            break;
        }
        out[index] |= match what {
            Transition::ForcedDrop => MARK_FORCED,
            Transition::DropRequest => MARK_ASKS,
            Transition::LostUpdate => MARK_LOST,
            _ => 0,
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(changes: &[(u64, Transition)]) -> Lane {
        Lane {
            changes: changes.iter().copied().collect(),
            marks: VecDeque::new(),
        }
    }

    #[test]
    fn shares_split_time_between_states() {
        let lane = lane(&[(0, Transition::Hold), (60, Transition::Wait)]);
        let s = shares(&lane, 0, 100);
        assert_eq!(s[0], 60);
        assert_eq!(s[1], 40);
    }

    #[test]
    fn samples_take_the_dominant_state_of_each_slot() {
        let lane = lane(&[
            (0, Transition::Hold),
            (25, Transition::Wait),
            (40, Transition::Hold),
            (90, Transition::Exit),
        ]);
        let got = samples(&lane, 0, 10, 12);
        use Shade::*;
        // 0..10 hold, 10..20 hold, 20..30 hold 5 wait 5 (tie: later shade),
        // 30..40 wait, 40..90 hold, then gone.
        assert_eq!(
            got,
            [
                Hold, Hold, Wait, Wait, Hold, Hold, Hold, Hold, Hold, None, None, None
            ]
        );
        // The same as asking each slot on its own.
        for (i, shade) in got.iter().enumerate() {
            let s = shares(&lane, i as u64 * 10, i as u64 * 10 + 10);
            let best = (0..COUNT).max_by_key(|&k| s[k]).unwrap();
            assert_eq!(SHADES[best], *shade, "slot {i}");
        }
    }
}
