//! The GIL timeline's state: each thread's lane of state changes over the
//! last [`TIMELINE_WINDOW_US`], who holds the GIL, the clock, the zoom and
//! the scroll. The arithmetic lives in [`sample`], drawing in [`draw`].

pub mod draw;
pub mod sample;

use std::collections::{HashMap, VecDeque};

use crate::gil::{GilEvent, ThreadTag, Transition};

/// How much GIL history the timeline keeps (and shows at most).
pub(crate) const TIMELINE_WINDOW_US: u64 = 10_000_000;
/// Changes kept per lane: legacy mode can hand over 100,000 times a second.
pub const LANE_CHANGES: usize = 20_000;
/// The timeline's span at start, ms.
pub(crate) const DEFAULT_SPAN_MS: u64 = 100;
/// Shortest and longest timeline spans, ms (zoom keys stop there).
pub const SPAN_RANGE_MS: (u64, u64) = (25, 10_000);

/// One lane of GIL history: which state the thread entered at which time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lane {
    /// `(at_us, state)` in time order; marks are kept in `marks`.
    pub changes: VecDeque<(u64, Transition)>,
    /// Forced drops, drop requests and lost updates. A lab wait
    /// ([`Transition::Blocked`]) is a state here, kept in `changes`: it
    /// lasts from the mark until the thread's next change.
    pub marks: VecDeque<(u64, Transition)>,
}

/// The timeline's state.
#[derive(Debug)]
pub struct Timeline {
    lanes: HashMap<ThreadTag, Lane>,
    /// When the GIL became held (`true`) or free (`false`), whoever held
    /// it: the load comes from this one list, not from every lane.
    gil_held: VecDeque<(u64, bool)>,
    /// The lane that took the GIL last and has not left its hold.
    gil_holder: Option<ThreadTag>,
    now_us: u64,
    span_ms: u64,
    scroll: usize,
    ui_thread: Option<ThreadTag>,
    /// Lane labels for threads that are no worker's: a traced program's
    /// threads, the lab's (`race-1`, `AB-1`).
    names: HashMap<ThreadTag, String>,
}

impl Default for Timeline {
    fn default() -> Self {
        Self {
            lanes: HashMap::new(),
            gil_held: VecDeque::new(),
            gil_holder: None,
            now_us: 0,
            span_ms: DEFAULT_SPAN_MS,
            scroll: 0,
            ui_thread: None,
            names: HashMap::new(),
        }
    }
}

impl Timeline {
    /// Every lane kept, by thread.
    pub fn lanes(&self) -> &HashMap<ThreadTag, Lane> {
        &self.lanes
    }

    /// The timeline clock's latest reading seen (µs).
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    /// How much time the pane spans, ms.
    pub fn span_ms(&self) -> u64 {
        self.span_ms
    }

    /// Lanes scrolled away from the newest (mouse wheel).
    pub fn scroll(&self) -> usize {
        self.scroll
    }

    /// Lanes with anything to show in the last `span_us`, oldest first.
    pub(crate) fn visible_lanes(&self, span_us: u64) -> Vec<ThreadTag> {
        let horizon = self.now_us.saturating_sub(span_us);
        let mut tags: Vec<ThreadTag> = self
            .lanes
            .iter()
            .filter(|(_, lane)| {
                !matches!(lane.changes.back(), Some((at, Transition::Exit)) if *at < horizon)
            })
            .map(|(tag, _)| *tag)
            .collect();
        tags.sort_unstable();
        tags
    }

    /// How many lanes [`Timeline::visible_lanes`] would return.
    pub(crate) fn visible_lane_count(&self, span_us: u64) -> usize {
        let horizon = self.now_us.saturating_sub(span_us);
        self.lanes
            .values()
            .filter(|lane| {
                !matches!(lane.changes.back(), Some((at, Transition::Exit)) if *at < horizon)
            })
            .count()
    }

    /// The label a lane was given, if any.
    pub fn name(&self, tag: ThreadTag) -> Option<&str> {
        self.names.get(&tag).map(String::as_str)
    }

    /// Labels a lane (a traced thread has no worker to name it).
    pub(in crate::ui) fn set_name(&mut self, tag: ThreadTag, name: String) {
        self.names.insert(tag, name);
    }

    /// Names lanes of threads that are not workers (the lab's).
    pub(in crate::ui) fn name_lanes(&mut self, lanes: &[(ThreadTag, String)]) {
        for (tag, name) in lanes {
            self.names.insert(*tag, name.clone());
        }
    }

    pub(in crate::ui) fn set_ui_thread(&mut self, tag: ThreadTag) {
        self.ui_thread = Some(tag);
    }

    /// Sets the span, within [`SPAN_RANGE_MS`].
    pub(in crate::ui) fn set_span_ms(&mut self, span_ms: u64) {
        let (min, max) = SPAN_RANGE_MS;
        self.span_ms = span_ms.clamp(min, max);
    }

    /// Halves (`zoom_in`) or doubles the span, within [`SPAN_RANGE_MS`].
    pub(in crate::ui) fn zoom(&mut self, zoom_in: bool) {
        let (min, max) = SPAN_RANGE_MS;
        self.span_ms = if zoom_in {
            (self.span_ms / 2).max(min)
        } else {
            (self.span_ms * 2).min(max)
        };
    }

    /// Scrolls one lane towards older lanes (`down`) or back.
    pub(in crate::ui) fn scroll_by_one(&mut self, down: bool) {
        self.scroll = if down {
            self.scroll.saturating_add(1).min(self.lanes.len())
        } else {
            self.scroll.saturating_sub(1)
        };
    }

    /// Takes new transitions in order; `on_change` hears every lane state
    /// change (not marks), so the worker table can show it.
    pub(in crate::ui) fn apply(
        &mut self,
        events: &[GilEvent],
        mut on_change: impl FnMut(ThreadTag, Transition),
    ) {
        for event in events {
            self.now_us = self.now_us.max(event.at_us);
            let lane = self.lanes.entry(event.thread).or_default();
            // A lab wait starts a state of its own (drawn apart from I/O
            // and from waiting for the GIL) rather than marking a moment.
            if event.what.is_mark() && event.what != Transition::Blocked {
                lane.marks.push_back((event.at_us, event.what));
                continue;
            }
            if lane.changes.len() == LANE_CHANGES {
                lane.changes.pop_front();
            }
            lane.changes.push_back((event.at_us, event.what));
            let holds = event.what == Transition::Hold;
            if holds || self.gil_holder == Some(event.thread) {
                // Another thread may take the GIL before the old holder's
                // own "released" is pushed: the newest taker counts.
                self.gil_holder = holds.then_some(event.thread);
                if self.gil_held.len() == LANE_CHANGES {
                    self.gil_held.pop_front();
                }
                self.gil_held.push_back((event.at_us, holds));
            }
            on_change(event.thread, event.what);
        }
        self.forget_old_history();
    }

    /// Advances the clock (it moves even when nothing happens).
    pub(in crate::ui) fn set_now(&mut self, now_us: u64) {
        self.now_us = self.now_us.max(now_us);
        self.forget_old_history();
    }

    fn forget_old_history(&mut self) {
        let horizon = self.now_us.saturating_sub(TIMELINE_WINDOW_US);
        while self.gil_held.len() > 1 && self.gil_held[1].0 <= horizon {
            self.gil_held.pop_front();
        }
        let names = &mut self.names;
        self.lanes.retain(|tag, lane| {
            // Keep one change before the horizon: it says what the lane was doing then.
            while lane.changes.len() > 1 && lane.changes[1].0 <= horizon {
                lane.changes.pop_front();
            }
            while lane.marks.front().is_some_and(|m| m.0 < horizon) {
                lane.marks.pop_front();
            }
            let gone = matches!(lane.changes.back(), Some((at, Transition::Exit)) if *at < horizon);
            if gone {
                names.remove(tag);
            }
            !gone
        });
    }
}
