//! Drawing the GIL timeline: the math that turns lane changes into time
//! shares per cell, per-lane figures, the GIL's load, and the pane widget.

use std::collections::VecDeque;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};

use super::{Lane, Timeline};
use crate::gil::{ThreadTag, Transition};
use crate::ui::panes::workers::Workers;
use crate::ui::theme::{Role, Theme};

/// Time spent in each of five states within `[from, to)`, from a list of
/// `(at_us, state)` changes in time order; `index` numbers a state 0..=4
/// (`None`: before the first change).
fn time_in<T: Copy>(
    changes: &VecDeque<(u64, T)>,
    from: u64,
    to: u64,
    index: impl Fn(Option<T>) -> usize,
) -> [u64; 5] {
    let mut out = [0u64; 5];
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

/// Time in each lane state within `[from, to)`: 0 hold, 1 wait, 2 I/O,
/// 3 running free, 4 nothing.
pub fn shares(lane: &Lane, from: u64, to: u64) -> [u64; 5] {
    time_in(&lane.changes, from, to, |t| match t {
        Some(Transition::Hold) => 0,
        Some(Transition::Wait) => 1,
        Some(Transition::Io) => 2,
        Some(Transition::Run) => 3,
        _ => 4,
    })
}

/// The fraction of `[from, to)` in which some thread held the GIL.
pub fn gil_load(timeline: &Timeline, from: u64, to: u64) -> f64 {
    let held = time_in(&timeline.gil_held, from, to, |h| {
        if h == Some(true) { 0 } else { 4 }
    });
    held[0] as f64 / (to - from).max(1) as f64
}

fn lane_text(
    lane: &Lane,
    now_us: u64,
    span_us: u64,
    width: usize,
    theme: &Theme,
) -> Vec<Span<'static>> {
    let start = now_us.saturating_sub(span_us);
    let per_cell = (span_us / width.max(1) as u64).max(1);
    let mut spans = Vec::with_capacity(width);
    for cell in 0..width as u64 {
        let from = start + cell * per_cell;
        let to = from + per_cell;
        let share = shares(lane, from, to);
        let (best, _) = share
            .iter()
            .enumerate()
            .max_by_key(|(_, v)| **v)
            .unwrap_or((4, &0));
        // Marks only where a cell is short enough for a hand-over to stand out.
        let mark_in_cell = |what: Transition| {
            per_cell <= 3_000
                && lane
                    .marks
                    .iter()
                    .any(|m| m.0 >= from && m.0 < to && m.1 == what)
        };
        let (symbol, style) = match best {
            0 if mark_in_cell(Transition::ForcedDrop) => ("▌", theme.fg(Role::Mark)),
            0 => ("█", theme.fg(Role::Hold)),
            1 if mark_in_cell(Transition::DropRequest) => ("!", theme.fg(Role::Mark)),
            1 => ("░", theme.fg(Role::Wait)),
            2 => ("▏", theme.fg(Role::Io)),
            3 => ("▒", theme.fg(Role::Free)),
            _ => (" ", Style::new()),
        };
        spans.push(Span::styled(symbol, style));
    }
    spans
}

/// Per-lane figures over the visible span: shares of hold/wait/io and switches/s.
pub struct LaneStats {
    /// Share of the span holding the GIL.
    pub hold: f64,
    /// Share of the span waiting for it.
    pub wait: f64,
    /// Share of the span in I/O.
    pub io: f64,
    /// GIL takes per second.
    pub switches_per_s: f64,
}

/// A lane's figures over the last `span_us` before `now_us`.
pub fn lane_stats(lane: &Lane, now_us: u64, span_us: u64) -> LaneStats {
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
        switches_per_s: takes as f64 / (span_us as f64 / 1e6),
    }
}

/// A lane's label: the worker's thread name (`cpu-3`), with `+` for a
/// second thread of the same worker (the seed demo's `print_numbers`).
pub fn lane_label(timeline: &Timeline, workers: &Workers, thread: ThreadTag) -> String {
    if timeline.ui_thread == Some(thread) {
        return "ui".to_string();
    }
    match workers.worker_of(thread) {
        Some(row) if row.thread == Some(thread) => format!("{}-{}", row.kind, row.id),
        Some(row) => format!("{}-{}+", row.kind, row.id),
        None => format!("thread {thread}"),
    }
}

/// The span as text: `100 ms`, `2.0 s`.
fn span_text(span_ms: u64) -> String {
    if span_ms >= 1000 {
        format!("{:.1} s", span_ms as f64 / 1000.0)
    } else {
        format!("{span_ms} ms")
    }
}

/// The timeline pane.
pub struct TimelinePane<'a> {
    /// Its state.
    pub timeline: &'a Timeline,
    /// For lane labels.
    pub workers: &'a Workers,
    /// Colours.
    pub theme: &'a Theme,
}

impl TimelinePane<'_> {
    fn legend(&self) -> Line<'static> {
        let theme = self.theme;
        Line::from(vec![
            Span::styled("█", theme.fg(Role::Hold)),
            Span::raw(" holds "),
            Span::styled("░", theme.fg(Role::Wait)),
            Span::raw(" waits "),
            Span::styled("▏", theme.fg(Role::Io)),
            Span::raw(" I/O "),
            Span::styled("▒", theme.fg(Role::Free)),
            Span::raw(" free "),
            Span::styled("!", theme.fg(Role::Mark)),
            Span::raw(" asks "),
            Span::styled("▌", theme.fg(Role::Mark)),
            Span::raw(" forced · +/- zoom"),
        ])
    }
}

impl Widget for TimelinePane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let timeline = self.timeline;
        let now_us = timeline.now_us;
        let span_us = timeline.span_ms * 1000;
        let tags = timeline.visible_lanes(span_us);
        // The GIL's load, like `gil_load` for real Python: the fraction of
        // time anyone held it over the visible span.
        let load = gil_load(timeline, now_us.saturating_sub(span_us), now_us);
        let block = Block::default().borders(Borders::ALL).title(format!(
            " GIL timeline · {} · load {:.0} % ",
            span_text(timeline.span_ms),
            load * 100.0
        ));
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.width < 24 || inner.height < 3 {
            return;
        }
        let label_width = 9usize;
        let stats_width = 24usize;
        let width = (inner.width as usize).saturating_sub(label_width + 1 + stats_width);
        let room = inner.height as usize - 2;
        let mut lines: Vec<Line> = Vec::with_capacity(room + 2);
        lines.push(Line::from(Span::styled(
            format!(
                "{:<w$}{:>stats_width$}",
                "",
                "hold wait  I/O  sw/s",
                w = label_width + 1 + width
            ),
            Style::new().add_modifier(Modifier::DIM),
        )));
        // Newest lanes matter most: show the last `room` of them, unless the
        // wheel scrolled towards older ones.
        let skip = tags
            .len()
            .saturating_sub(room)
            .saturating_sub(timeline.scroll);
        // Figures only for the lanes that fit: a frame costs O(shown lanes).
        for tag in tags.iter().skip(skip).take(room) {
            let lane = &timeline.lanes[tag];
            let stat = lane_stats(lane, now_us, span_us);
            let label = lane_label(timeline, self.workers, *tag);
            let mut spans = vec![Span::raw(format!("{label:<label_width$.label_width$} "))];
            spans.extend(lane_text(lane, now_us, span_us, width, self.theme));
            spans.push(Span::raw(format!(
                " {:>3.0}% {:>3.0}% {:>3.0}% {:>5.0}",
                stat.hold * 100.0,
                stat.wait * 100.0,
                stat.io * 100.0,
                stat.switches_per_s
            )));
            lines.push(Line::from(spans));
        }
        if tags.is_empty() {
            lines.push(Line::from(" no threads yet"));
        }
        while lines.len() < room + 1 {
            lines.push(Line::from(""));
        }
        lines.push(self.legend());
        Paragraph::new(lines).render(inner, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_split_time_between_states() {
        let mut lane = Lane::default();
        lane.changes.push_back((0, Transition::Hold));
        lane.changes.push_back((60, Transition::Wait));
        let s = shares(&lane, 0, 100);
        assert_eq!(s[0], 60);
        assert_eq!(s[1], 40);
    }
}
