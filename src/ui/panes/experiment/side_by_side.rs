//! Emulated beside real: the experiment pane's second view. One thread
//! count at a time, the emulation's timeline above the real interpreter's
//! (traced), on one time scale, each with its distributions under it.
//! Lanes are drawn by the timeline pane itself — no second timeline.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use crate::lab::side_by_side::{Measured, Side, SideBySide};
use crate::lab::{BenchRow, Experiment};
use crate::ui::panes::fit::{Item, fit_line};
use crate::ui::panes::timeline::Timeline;
use crate::ui::panes::timeline::draw::TimelinePane;
use crate::ui::theme::Theme;

/// The thread count shown first, when measured.
const FIRST_SHOWN: u32 = 2;

/// The side-by-side view's state: the result once it came, which thread
/// count is shown and the two timelines built for it.
#[derive(Debug, Default)]
pub struct SideView {
    data: Option<Box<SideBySide>>,
    counts: Vec<u32>,
    shown: usize,
    span_ms: Option<u64>,
    emulated: Option<Timeline>,
    real: Option<Timeline>,
}

/// The span a side-by-side opens with: a few pings for `latency` (one
/// every 100 ms), some twenty switch intervals for the others.
fn first_span_ms(experiment: Experiment) -> u64 {
    match experiment {
        Experiment::Latency => 800,
        _ => 100,
    }
}

/// A timeline of one measurement, ending where its threads were last all
/// at work.
fn timeline_of(measured: &Measured, span_ms: u64) -> Timeline {
    let mut timeline = Timeline::default();
    timeline.name_lanes(&measured.names);
    let upto = measured
        .events
        .partition_point(|e| e.at_us <= measured.end_us);
    timeline.apply(&measured.events[..upto], |_, _| {});
    timeline.set_now(measured.end_us);
    timeline.set_span_ms(span_ms);
    timeline
}

impl SideView {
    /// The result, once both sides ran.
    pub fn data(&self) -> Option<&SideBySide> {
        self.data.as_deref()
    }

    /// The thread count shown.
    pub fn threads(&self) -> Option<u32> {
        self.counts.get(self.shown).copied()
    }

    /// The span both timelines show, ms.
    pub fn span_ms(&self) -> Option<u64> {
        self.span_ms
    }

    /// The emulation's timeline for the thread count shown.
    pub fn emulated(&self) -> Option<&Timeline> {
        self.emulated.as_ref()
    }

    /// The real interpreter's timeline for the thread count shown.
    pub fn real(&self) -> Option<&Timeline> {
        self.real.as_ref()
    }

    /// Takes the result and shows its first thread count.
    pub(in crate::ui) fn set(&mut self, data: Box<SideBySide>) {
        self.counts = data.thread_counts();
        self.shown = self
            .counts
            .iter()
            .position(|n| *n >= FIRST_SHOWN)
            .unwrap_or(0);
        self.span_ms = Some(first_span_ms(data.experiment));
        self.data = Some(data);
        self.rebuild();
    }

    /// ↑/↓: the next smaller or larger thread count.
    pub(in crate::ui) fn step(&mut self, up: bool) {
        if self.counts.is_empty() {
            return;
        }
        self.shown = if up {
            self.shown.saturating_sub(1)
        } else {
            (self.shown + 1).min(self.counts.len() - 1)
        };
        self.rebuild();
    }

    /// `+`/`-`: both timelines zoom together (one time scale).
    pub(in crate::ui) fn zoom(&mut self, zoom_in: bool) {
        for timeline in [&mut self.emulated, &mut self.real].into_iter().flatten() {
            timeline.zoom(zoom_in);
            self.span_ms = Some(timeline.span_ms());
        }
    }

    fn rebuild(&mut self) {
        let (Some(data), Some(n), Some(span)) =
            (self.data.as_deref(), self.threads(), self.span_ms)
        else {
            return;
        };
        let find = |side: &Side| side.measured.iter().find(|m| m.threads == n).cloned();
        self.emulated = find(&data.emulated).map(|m| timeline_of(&m, span));
        self.real = data
            .real
            .as_ref()
            .ok()
            .and_then(find)
            .map(|m| timeline_of(&m, span));
    }
}

/// The figures under one timeline: the experiment's own result and the
/// GIL's distributions, as ratios of the emulation's where both exist.
fn figures(experiment: Experiment, row: &BenchRow) -> Vec<Item<'static>> {
    // The I/O thread's holds last microseconds: keep them readable.
    let ms = |v: Option<f64>| match v {
        Some(v) if v < 0.1 => format!("{v:.3}"),
        Some(v) => format!("{v:.2}"),
        None => "–".to_string(),
    };
    let pair = |p50: Option<f64>, p99: Option<f64>| format!("{}/{}", ms(p50), ms(p99));
    let headline = match experiment {
        Experiment::Latency => row.latency_ms_p50.map(|v| format!("ping p50 {v:.2} ms")),
        Experiment::Convoy => row
            .round_trips_per_s
            .map(|v| format!("{v:.0} round trips/s")),
        _ => row.speedup.map(|v| format!("speedup {v:.2}")),
    };
    let mut items = Vec::new();
    if let Some(headline) = headline {
        items.push(Item::new(0, " ", headline));
    }
    items.push(Item::new(
        0,
        " · ",
        format!("hold p50/p99 {} ms", pair(row.hold_ms_p50, row.hold_ms_p99)),
    ));
    items.push(Item::new(
        1,
        " · ",
        format!("wait {} ms", pair(row.wait_ms_p50, row.wait_ms_p99)),
    ));
    if matches!(experiment, Experiment::Latency | Experiment::Convoy) {
        items.push(Item::new(
            2,
            " · ",
            format!(
                "io wait {} ms",
                pair(row.io_wait_ms_p50, row.io_wait_ms_p99)
            ),
        ));
    }
    items
}

/// The line over both timelines: real ÷ emulated for each distribution,
/// the at-a-glance answer to "is the emulation faithful?".
fn verdict(emulated: Option<&BenchRow>, real: Option<&BenchRow>) -> Vec<Item<'static>> {
    let (Some(emulated), Some(real)) = (emulated, real) else {
        return vec![Item::new(0, " ", "real ÷ emulated: needs both sides")];
    };
    let ratio = |r: Option<f64>, e: Option<f64>| match (r, e) {
        (Some(r), Some(e)) if e > 0.0 => Some(r / e),
        _ => None,
    };
    let mut items = vec![Item::new(0, " ", "real ÷ emulated, p50:")];
    for (rank, name, r, e) in [
        (0, "hold", real.hold_ms_p50, emulated.hold_ms_p50),
        (1, "wait", real.wait_ms_p50, emulated.wait_ms_p50),
        (2, "io wait", real.io_wait_ms_p50, emulated.io_wait_ms_p50),
    ] {
        if let Some(x) = ratio(r, e) {
            let sep = if items.len() == 1 { " " } else { " · " };
            items.push(Item::new(rank, sep, format!("{name} ×{x:.2}")));
        }
    }
    items
}

/// The side-by-side view, drawn inside the experiment pane.
pub(crate) struct SideByView<'a> {
    /// Its state.
    pub view: &'a SideView,
    /// Colours.
    pub theme: &'a Theme,
}

impl SideByView<'_> {
    /// One side: its timeline (or why there is none) over its figures.
    fn side(
        &self,
        label: &str,
        timeline: Option<&Timeline>,
        row: Option<&BenchRow>,
        missing: &str,
        area: Rect,
        buf: &mut Buffer,
    ) {
        let [lanes, under] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
        match timeline {
            Some(timeline) => {
                TimelinePane {
                    cursor_us: None,
                    status: None,
                    traced: false,
                    timeline,
                    workers: &(),
                    theme: self.theme,
                    focused: false,
                    title: label,
                    states_only: false,
                }
                .render(lanes, buf);
            }
            None => {
                let text = vec![
                    Line::from(Span::styled(
                        label.to_string(),
                        Style::new().add_modifier(Modifier::BOLD),
                    )),
                    Line::from(missing.to_string()),
                ];
                Paragraph::new(text)
                    .wrap(Wrap { trim: true })
                    .render(lanes, buf);
            }
        }
        if let (Some(row), Some(data)) = (row, self.view.data()) {
            let line = fit_line(figures(data.experiment, row), under.width as usize);
            buf.set_line(under.x, under.y, &line, under.width);
        }
    }
}

impl Widget for SideByView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let Some(data) = self.view.data() else {
            Paragraph::new(
                " Running the experiment in the emulation (gil), then in python3 under the \
                 real-GIL tracer; each measurement keeps its timeline.",
            )
            .wrap(Wrap { trim: true })
            .render(area, buf);
            return;
        };
        let n = self.view.threads().unwrap_or(0);
        fn find(side: &Side, n: u32) -> Option<&BenchRow> {
            side.measured
                .iter()
                .find(|m| m.threads == n)
                .map(|m| &m.row)
        }
        let lanes = |side: &Side| {
            side.measured
                .iter()
                .find(|m| m.threads == n)
                .map_or(1, |m| m.names.len())
        };
        let most = lanes(&data.emulated).max(data.real.as_ref().map_or(1, lanes));
        // Border, heading and legend around the lanes, then the figures.
        let want = most as u16 + 5;
        let half = (area.height.saturating_sub(1)) / 2;
        let [summary, top, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(want.min(half)),
            Constraint::Length(want.min(half)),
        ])
        .areas(area);
        let line = fit_line(
            verdict(
                find(&data.emulated, n),
                data.real.as_ref().ok().and_then(|s| find(s, n)),
            ),
            summary.width as usize,
        );
        buf.set_line(summary.x, summary.y, &line, summary.width);
        self.side(
            &data.emulated.label,
            self.view.emulated(),
            find(&data.emulated, n),
            "no emulated measurement of this thread count",
            top,
            buf,
        );
        let (label, missing) = match &data.real {
            Ok(side) => (
                side.label.clone(),
                "no real measurement of this thread count".to_string(),
            ),
            Err(why) => ("real interpreter: not traced".to_string(), why.clone()),
        };
        let real_row = data.real.as_ref().ok().and_then(|side| find(side, n));
        self.side(&label, self.view.real(), real_row, &missing, bottom, buf);
    }
}
