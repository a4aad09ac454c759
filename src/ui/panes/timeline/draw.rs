//! Drawing the GIL timeline: lanes at two time samples per cell, per-lane
//! figures that shrink or go before the lanes do, a title and a legend
//! that drop whole items as the pane narrows.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Widget};

use super::sample::{
    MARK_ASKS, MARK_FORCED, MARK_LOST, Shade, gil_load, lane_stats, marks, samples,
};
use super::{Lane, Timeline};
use crate::gil::ThreadTag;
use crate::ui::panes::LaneOwners;
use crate::ui::panes::fit::{Item, fit_line, fit_title};
use crate::ui::theme::{Role, Theme};

/// Lanes get at least this many cells before per-lane figures are shown.
pub(crate) const MIN_LANE_CELLS: usize = 40;
/// Width of a lane's label (`cpu-12`, `sleep-4+`).
const LABEL: usize = 9;
/// Lane labels' width for a traced program on a pane at least 100 wide.
const LONG_LABEL: usize = 16;
/// Marks are drawn only where a cell is short enough for a hand-over to stand out.
const MARKS_UP_TO_US: u64 = 1_000;

/// A lane's label: the worker's thread name (`cpu-3`), with `+` for a
/// second thread of the same worker (the seed demo's `print_numbers`); a
/// lab thread's own name (`race-1`, `AB-1`); else `thread N`.
pub(crate) fn lane_label(
    timeline: &Timeline,
    workers: &dyn LaneOwners,
    thread: ThreadTag,
) -> String {
    if timeline.ui_thread == Some(thread) {
        return "ui".to_string();
    }
    if let Some(name) = timeline.name(thread) {
        return name.to_string();
    }
    workers.worker_label(thread).unwrap_or_else(|| {
        timeline
            .name(thread)
            .map_or_else(|| format!("thread {thread}"), str::to_string)
    })
}

/// The span as text: `100 ms`, `2.0 s`.
fn span_text(span_ms: u64) -> String {
    if span_ms >= 1000 {
        format!("{:.1} s", span_ms as f64 / 1000.0)
    } else {
        format!("{span_ms} ms")
    }
}

fn role_of(shade: Shade) -> Option<Role> {
    match shade {
        Shade::Hold => Some(Role::Hold),
        Shade::Wait => Some(Role::Wait),
        Shade::Io => Some(Role::Io),
        Shade::Blocked => Some(Role::Mark),
        Shade::Free => Some(Role::Free),
        Shade::None => None,
    }
}

/// A whole cell of one state.
fn full_glyph(shade: Shade) -> &'static str {
    match shade {
        Shade::Hold => "█",
        Shade::Wait => "░",
        Shade::Io => "▏",
        Shade::Blocked => "━",
        Shade::Free => "▒",
        Shade::None => " ",
    }
}

/// One cell from its two halves and its marks: a lost update shows over
/// anything; a hold in one half is a half block on that side (the other
/// half's colour behind it); other mixes show the more telling state.
fn cell(left: Shade, right: Shade, mark: u8, theme: &Theme) -> (&'static str, Style) {
    let held = left == Shade::Hold || right == Shade::Hold;
    if mark & MARK_LOST != 0 {
        return ("≠", theme.fg(Role::Bad).add_modifier(Modifier::BOLD));
    }
    if mark & MARK_FORCED != 0 && held {
        return ("×", theme.fg(Role::Mark));
    }
    if mark & MARK_ASKS != 0 && (left == Shade::Wait || right == Shade::Wait) {
        return ("!", theme.fg(Role::Mark));
    }
    let plain = |shade: Shade| {
        let style = role_of(shade).map_or_else(Style::new, |role| theme.fg(role));
        (full_glyph(shade), style)
    };
    if left == right {
        return plain(left);
    }
    if held {
        let (glyph, other) = if left == Shade::Hold {
            ("▌", right)
        } else {
            ("▐", left)
        };
        return (glyph, theme.split(Role::Hold, role_of(other)));
    }
    let shade = [Shade::Wait, Shade::Blocked, Shade::Free, Shade::Io]
        .into_iter()
        .find(|s| *s == left || *s == right)
        .unwrap_or(Shade::None);
    plain(shade)
}

/// Draws `width` cells of a lane ending at `now_us` from `(x, y)`, two
/// samples per cell, straight into the buffer (a lane is the frame's
/// hottest loop: no spans, no line layout).
fn draw_lane(
    lane: &Lane,
    now_us: u64,
    span_us: u64,
    at: (u16, u16),
    width: usize,
    theme: &Theme,
    buf: &mut Buffer,
) {
    let step = (span_us / (2 * width.max(1)) as u64).max(1);
    let start = now_us.saturating_sub(step * 2 * width as u64);
    let halves = samples(lane, start, step, 2 * width);
    // Lost updates show at every zoom; hand-over marks only where a cell
    // is short enough for one to stand out.
    let mut cell_marks = marks(lane, start, 2 * step, width);
    if 2 * step > MARKS_UP_TO_US {
        for mark in &mut cell_marks {
            *mark &= MARK_LOST;
        }
    }
    let (x, y) = at;
    for (i, (pair, mark)) in halves.chunks_exact(2).zip(cell_marks).enumerate() {
        let (glyph, style) = cell(pair[0], pair[1], mark, theme);
        if let Some(target) = buf.cell_mut((x + i as u16, y)) {
            target.set_symbol(glyph).set_style(style);
        }
    }
}

/// The lane column (of `width` cells ending at `now_us` over `span_us`)
/// that moment `at_us` falls in, if it is in view.
fn cursor_column(at_us: u64, now_us: u64, span_us: u64, width: usize) -> Option<u16> {
    let step = (span_us / (2 * width.max(1)) as u64).max(1);
    let start = now_us.saturating_sub(step * 2 * width as u64);
    if at_us < start || at_us > now_us {
        return None;
    }
    let col = ((at_us - start) / (2 * step)).min(width.saturating_sub(1) as u64);
    u16::try_from(col).ok()
}

/// How much room the per-lane figures take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Figures {
    /// hold, wait, I/O and switches/s.
    Full,
    /// The hold share only.
    Hold,
    /// Running and blocked shares: lanes without a GIL (a free-threaded
    /// build's trace), where hold, wait and switches would all read 0.
    States,
    /// None: the lanes need the room.
    Off,
}

impl Figures {
    fn width(self) -> usize {
        match self {
            Figures::Full => 21,
            Figures::Hold => 6,
            Figures::States => 10,
            Figures::Off => 0,
        }
    }

    /// The widest figures that leave the lanes [`MIN_LANE_CELLS`]: of
    /// the GIL, or of the thread states alone (`states_only`).
    fn for_width(inner: usize, label: usize, states_only: bool) -> Self {
        let lanes = |f: Figures| inner.saturating_sub(label + 1 + f.width());
        let choices: &[Figures] = if states_only {
            &[Figures::States]
        } else {
            &[Figures::Full, Figures::Hold]
        };
        choices
            .iter()
            .copied()
            .find(|f| lanes(*f) >= MIN_LANE_CELLS)
            .unwrap_or(Figures::Off)
    }

    fn heading(self) -> &'static str {
        match self {
            Figures::Full => "hold wait  I/O  sw/s",
            Figures::Hold => "hold",
            Figures::States => " run  blk",
            Figures::Off => "",
        }
    }

    fn text(self, lane: &Lane, now_us: u64, span_us: u64) -> String {
        if self == Figures::Off {
            return String::new();
        }
        let stat = lane_stats(lane, now_us, span_us);
        match self {
            Figures::Full => format!(
                " {:>3.0}% {:>3.0}% {:>3.0}% {:>5.0}",
                stat.hold * 100.0,
                stat.wait * 100.0,
                stat.io * 100.0,
                stat.switches_per_s
            ),
            Figures::States => format!(" {:>3.0}% {:>3.0}%", stat.run * 100.0, stat.io * 100.0),
            _ => format!(" {:>4.0}%", stat.hold * 100.0),
        }
    }
}

/// The timeline pane.
pub(crate) struct TimelinePane<'a> {
    /// Its state.
    pub timeline: &'a Timeline,
    /// For lane labels: which worker runs a lane's thread (the worker
    /// table, or `&()` where there is none).
    pub workers: &'a dyn LaneOwners,
    /// Colours.
    pub theme: &'a Theme,
    /// Lanes of a traced program: named by long names (Python thread
    /// names: 16 columns where the pane is at least 100 wide, else 9), and
    /// a legend of only the marks a real trace has (no lab marks, no
    /// emulated drop requests).
    pub traced: bool,
    /// Whether it has the keyboard focus (its border says so).
    pub focused: bool,
    /// The title's first item: what these lanes are (`GIL timeline`).
    pub title: &'a str,
    /// Lanes of a program without a GIL (a free-threaded build's trace):
    /// the legend names only the states that occur, running and blocked.
    pub states_only: bool,
    /// A cursor at this moment (µs on the timeline's clock): its column is
    /// drawn reversed in every lane.
    pub cursor_us: Option<u64>,
    /// A line shown instead of the legend (what the cursor points at).
    pub status: Option<Line<'a>>,
}

impl<'a> TimelinePane<'a> {
    /// The emulated dashboard's timeline: worker lanes, the full legend,
    /// no cursor.
    pub(crate) fn emulated(
        timeline: &'a Timeline,
        workers: &'a dyn LaneOwners,
        theme: &'a Theme,
        focused: bool,
    ) -> Self {
        TimelinePane {
            timeline,
            workers,
            theme,
            traced: false,
            focused,
            title: "GIL timeline",
            states_only: false,
            cursor_us: None,
            status: None,
        }
    }

    fn legend(&self, room: usize) -> Line<'static> {
        let theme = self.theme;
        let key = |rank, glyph, role, text: &'static str| {
            Item::spans(
                rank,
                " ",
                vec![Span::styled(glyph, theme.fg(role)), Span::raw(text)],
            )
        };
        if self.states_only {
            return fit_line(
                vec![
                    key(0, "▒", Role::Free, " running"),
                    key(0, "▏", Role::Io, " blocked"),
                    Item::new(1, " · ", "no GIL: nobody holds or waits"),
                    Item::new(2, " · ", "+/- zoom"),
                ],
                room,
            );
        }
        if self.traced {
            return fit_line(
                vec![
                    key(0, "█", Role::Hold, " holds"),
                    key(1, "░", Role::Wait, " waits"),
                    key(2, "▏", Role::Io, " blocked"),
                    key(3, "▒", Role::Free, " native"),
                    Item::new(4, " · ", "▌▐ held half"),
                    Item::new(5, " · ", "←/→ cursor"),
                    Item::new(6, " · ", "+/- zoom"),
                ],
                room,
            );
        }
        fit_line(
            vec![
                key(0, "█", Role::Hold, " holds"),
                key(1, "░", Role::Wait, " waits"),
                key(2, "▏", Role::Io, " I/O"),
                key(3, "▒", Role::Free, " free"),
                key(2, "━", Role::Mark, " blocked"),
                key(3, "≠", Role::Bad, " lost update"),
                key(5, "!", Role::Mark, " asks"),
                key(5, "×", Role::Mark, " forced"),
                Item::new(4, " · ", "▌▐ held half"),
                Item::new(6, " · ", "+/- zoom"),
            ],
            room,
        )
    }

    fn block(&self, width: u16, now_us: u64, span_us: u64) -> Block<'static> {
        // The GIL's load, like `gil_load` for real Python: the fraction of
        // time anyone held it over the visible span.
        let load = gil_load(self.timeline, now_us.saturating_sub(span_us), now_us);
        let span = span_text(self.timeline.span_ms);
        let load = format!("load {:.0} %", load * 100.0);
        let title = fit_title(
            &[(0, self.title), (1, &span), (2, &load)],
            width.saturating_sub(2) as usize,
        );
        let block = Block::default().borders(Borders::ALL).title(title);
        if self.focused {
            block.border_style(Style::new().add_modifier(Modifier::BOLD))
        } else {
            block
        }
    }
}

impl Widget for TimelinePane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let timeline = self.timeline;
        let now_us = timeline.now_us;
        let span_us = timeline.span_ms * 1000;
        let block = self.block(area.width, now_us, span_us);
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.width < 24 || inner.height < 3 {
            return;
        }
        let tags = timeline.visible_lanes(span_us);
        // Long thread names (a traced program's Python names) get more
        // room where the pane is wide enough to spare it.
        let label_w = if self.traced && inner.width >= 100 {
            LONG_LABEL
        } else {
            LABEL
        };
        let figures = Figures::for_width(inner.width as usize, label_w, self.states_only);
        let width = (inner.width as usize).saturating_sub(label_w + 1 + figures.width());
        let room = inner.height as usize - 2;
        let dim = Style::new().add_modifier(Modifier::DIM);
        let heading = format!("{:>f$}", figures.heading(), f = figures.width());
        let figures_x = inner.x + (label_w + 1 + width) as u16;
        buf.set_string(figures_x, inner.y, heading, dim);
        // Newest lanes matter most: show the last `room` of them, unless
        // scrolled towards older ones. Figures only for the lanes that fit:
        // a frame costs O(shown lanes).
        let skip = tags
            .len()
            .saturating_sub(room)
            .saturating_sub(timeline.scroll);
        for (row, tag) in tags.iter().skip(skip).take(room).enumerate() {
            let lane = &timeline.lanes[tag];
            let y = inner.y + 1 + row as u16;
            let label = lane_label(timeline, self.workers, *tag);
            buf.set_string(
                inner.x,
                y,
                format!("{label:<label_w$.label_w$} "),
                Style::new(),
            );
            let at = (inner.x + label_w as u16 + 1, y);
            draw_lane(lane, now_us, span_us, at, width, self.theme, buf);
            if let Some(col) = self
                .cursor_us
                .and_then(|t| cursor_column(t, now_us, span_us, width))
                && let Some(cell) = buf.cell_mut((at.0 + col, y))
            {
                cell.set_style(cell.style().add_modifier(Modifier::REVERSED));
            }
            buf.set_string(
                figures_x,
                y,
                figures.text(lane, now_us, span_us),
                Style::new(),
            );
        }
        if tags.is_empty() {
            buf.set_string(inner.x, inner.y + 1, " no threads yet", Style::new());
        }
        let bottom = inner.y + inner.height - 1;
        match &self.status {
            Some(status) => {
                buf.set_line(inner.x, bottom, status, inner.width);
            }
            None => {
                let legend = self.legend(inner.width as usize);
                buf.set_line(inner.x, bottom, &legend, inner.width);
            }
        }
    }
}
