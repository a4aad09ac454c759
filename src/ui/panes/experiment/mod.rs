//! The experiment picker and the experiment pane: progress while the
//! suite runs, then either a grouped bar chart — one group per thread
//! count, one bar per mode — with every value also written as text, or the
//! emulated and real timelines side by side ([`side_by_side`], this
//! pane's second view and part of its state).

pub mod side_by_side;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Bar, BarChart, BarGroup, Block, Borders, Clear, Gauge, Paragraph, Widget, Wrap,
};

use crate::gil::Mode;
use crate::lab::{BenchRow, Experiment, Report, SuiteEvent};
use crate::ui::keys::Action;
use crate::ui::panes::fit::fit_title;
use crate::ui::theme::{Role, Theme};
use side_by_side::{SideByView, SideView};

/// An experiment run from the dashboard: its progress, then its results.
#[derive(Debug)]
pub struct ExperimentPane {
    /// Which experiment.
    pub experiment: Experiment,
    /// Measurements finished.
    pub done: usize,
    /// Measurements in all.
    pub total: usize,
    /// One report per mode, as they arrive.
    pub reports: Vec<Report>,
    /// Set if it failed.
    pub error: Option<String>,
    /// Set once every mode ran.
    pub finished: bool,
    /// For a side-by-side run: its view (else the pane shows bars).
    pub side: Option<SideView>,
}

/// What a key did in the open picker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PickerOutcome {
    /// The picker stays open (or just closed): nothing to run.
    Nothing,
    /// Run this experiment (the pane is open).
    Run(Experiment),
    /// Run this experiment emulated and real, timelines side by side.
    RunSideBySide(Experiment),
    /// The user asked to quit.
    Quit,
}

/// The picker's and the pane's state.
#[derive(Debug, Default)]
pub struct Experiments {
    picker: Option<usize>,
    pane: Option<ExperimentPane>,
}

impl Experiments {
    /// The picker's selection, while it is open.
    pub fn picker(&self) -> Option<usize> {
        self.picker
    }

    /// The experiment pane, while it is open.
    pub fn pane(&self) -> Option<&ExperimentPane> {
        self.pane.as_ref()
    }

    pub(in crate::ui) fn open_picker(&mut self) {
        self.picker = Some(0);
    }

    /// A key while the picker is open.
    pub(in crate::ui) fn picker_key(&mut self, selected: usize, action: Action) -> PickerOutcome {
        let each = Experiment::EACH.len();
        match action {
            Action::Up => self.picker = Some(selected.saturating_sub(1)),
            Action::Down => self.picker = Some((selected + 1).min(2 * each - 1)),
            Action::Confirm => {
                self.picker = None;
                let experiment = Experiment::EACH[selected % each];
                let side_by_side = selected >= each;
                self.pane = Some(ExperimentPane {
                    experiment,
                    done: 0,
                    total: 0,
                    reports: Vec::new(),
                    error: None,
                    finished: false,
                    side: side_by_side.then(SideView::default),
                });
                return if side_by_side {
                    PickerOutcome::RunSideBySide(experiment)
                } else {
                    PickerOutcome::Run(experiment)
                };
            }
            Action::Quit | Action::ForceQuit => return PickerOutcome::Quit,
            _ => self.picker = None,
        }
        PickerOutcome::Nothing
    }

    /// A key for the side-by-side view, if it is open and takes it: ↑↓
    /// choose the thread count, `+`/`-` zoom both timelines. `false`: the
    /// key goes on as usual.
    pub(in crate::ui) fn side_key(&mut self, action: Action) -> bool {
        let Some(side) = self.pane.as_mut().and_then(|p| p.side.as_mut()) else {
            return false;
        };
        match action {
            Action::Up | Action::Down => side.step(action == Action::Up),
            Action::ZoomIn | Action::ZoomOut => side.zoom(action == Action::ZoomIn),
            _ => return false,
        }
        true
    }

    /// Closes the pane; `Some(true)` if its experiment was still running.
    pub(in crate::ui) fn close_pane(&mut self) -> Option<bool> {
        let pane = self.pane.take()?;
        Some(!pane.finished && pane.error.is_none())
    }

    pub(in crate::ui) fn on_lab(&mut self, event: SuiteEvent) {
        let Some(pane) = self.pane.as_mut() else {
            return;
        };
        match event {
            SuiteEvent::Progress { done, total } => {
                pane.done = done;
                pane.total = total;
            }
            SuiteEvent::Report(report) => pane.reports.push(report),
            SuiteEvent::SideBySide(data) => {
                pane.side.get_or_insert_with(SideView::default).set(data)
            }
            SuiteEvent::Finished => pane.finished = true,
            SuiteEvent::Failed(error) => pane.error = Some(error),
        }
    }
}

fn describe(experiment: Experiment) -> &'static str {
    match experiment {
        Experiment::Throughput => "N CPU-bound threads: speedup over 1 thread",
        Experiment::Io => "N threads doing sleeps and HTTP GETs: speedup over 1 thread",
        Experiment::Latency => "ping latency (p50 ms) beside N CPU threads",
        Experiment::Convoy => "loopback round trips/s beside N CPU threads",
        Experiment::All => "every experiment",
    }
}

/// A box of `width`×`height` centred in `area` (clipped to it).
pub(crate) fn centred(area: Rect, width: u16, height: u16) -> Rect {
    let (width, height) = (width.min(area.width), height.min(area.height));
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

/// The experiment picker: a small centred list over the whole screen.
pub(crate) struct PickerOverlay {
    /// The selected line.
    pub selected: usize,
}

impl Widget for PickerOverlay {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let each = Experiment::EACH.len();
        let popup = centred(area, 78, 2 * each as u16 + 5);
        let entry = |i: usize, text: String| {
            let chosen = i == self.selected;
            let style = if chosen {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            Line::from(Span::styled(
                format!(" {} {text}", if chosen { "▶" } else { " " }),
                style,
            ))
        };
        let heading = |text: &'static str| {
            Line::from(Span::styled(
                text,
                Style::new().add_modifier(Modifier::BOLD),
            ))
        };
        let mut lines = vec![heading(
            " Bars: free, gil, legacy and python3, with 1, 2, 4 threads",
        )];
        for (i, experiment) in Experiment::EACH.iter().enumerate() {
            lines.push(entry(
                i,
                format!("{:<11} {}", experiment.name(), describe(*experiment)),
            ));
        }
        lines.push(heading(
            " Timelines: the emulation beside the real GIL of python3 (traced)",
        ));
        for (i, experiment) in Experiment::EACH.iter().enumerate() {
            lines.push(entry(
                each + i,
                format!(
                    "{:<11} emulated gil and real python3, one time scale",
                    experiment.name()
                ),
            ));
        }
        Clear.render(popup, buf);
        Paragraph::new(lines)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" Experiments · ↑↓ choose · Enter run · Esc close "),
            )
            .render(popup, buf);
    }
}

fn mode_role(mode: Mode) -> Role {
    match mode {
        Mode::Free => Role::ModeFree,
        Mode::Gil => Role::ModeGil,
        Mode::Legacy => Role::ModeLegacy,
    }
}

/// The value a bar shows for one row, scaled to an integer, and its text.
fn bar_value(experiment: Experiment, row: &BenchRow) -> (u64, String) {
    match experiment {
        Experiment::Latency => {
            let ms = row.latency_ms_p50.unwrap_or(0.0);
            ((ms * 100.0) as u64, format!("{ms:.1}"))
        }
        Experiment::Convoy => {
            let rate = row.round_trips_per_s.unwrap_or(0.0);
            (rate as u64, format!("{rate:.0}"))
        }
        _ => {
            let speedup = row.speedup.unwrap_or(0.0);
            ((speedup * 100.0) as u64, format!("{speedup:.2}"))
        }
    }
}

/// The experiment pane, drawn over the workers and the timeline.
pub(crate) struct ExperimentView<'a> {
    /// Its state.
    pub pane: &'a ExperimentPane,
    /// Colours.
    pub theme: &'a Theme,
}

impl ExperimentView<'_> {
    fn title(&self, width: u16) -> String {
        let pane = self.pane;
        let state = if let Some(error) = &pane.error {
            format!("failed: {error}")
        } else if pane.finished {
            "done".to_string()
        } else {
            format!("running {}/{}", pane.done, pane.total)
        };
        let room = width.saturating_sub(2) as usize;
        if let Some(side) = &pane.side {
            let name = format!("Emulated beside real: {}", pane.experiment);
            let threads = side
                .threads()
                .map_or(String::new(), |n| match pane.experiment {
                    Experiment::Latency | Experiment::Convoy => {
                        format!("{n} CPU threads beside it")
                    }
                    _ if n == 1 => "1 thread".to_string(),
                    _ => format!("{n} threads"),
                });
            let mut parts = vec![(0, name.as_str())];
            if !threads.is_empty() {
                parts.push((1, &threads));
            }
            parts.extend([
                (2, state.as_str()),
                (3, "↑↓ threads"),
                (4, "+/- zoom"),
                (2, "Esc closes"),
            ]);
            return fit_title(&parts, room);
        }
        let name = format!("Experiment: {}", pane.experiment);
        fit_title(
            &[
                (0, &name),
                (3, describe(pane.experiment)),
                (1, &state),
                (2, "Esc closes"),
            ],
            room,
        )
    }

    fn gauge(&self) -> Gauge<'static> {
        let pane = self.pane;
        let ratio = if pane.total == 0 {
            0.0
        } else {
            pane.done as f64 / pane.total as f64
        };
        Gauge::default()
            .ratio(ratio.clamp(0.0, 1.0))
            .label(format!("{}/{} measurements", pane.done, pane.total))
            .gauge_style(self.theme.fg(Role::Chart))
    }

    fn legend(&self) -> Line<'static> {
        let theme = self.theme;
        let mut spans = vec![Span::raw(" bars: ")];
        for mode in Mode::ALL {
            spans.push(Span::styled("■ ", theme.fg(mode_role(mode))));
            spans.push(Span::raw(format!("{mode}  ")));
        }
        for report in self.pane.reports.iter().filter(|r| r.interpreter.is_some()) {
            spans.push(Span::styled("■ ", theme.fg(Role::Python)));
            spans.push(Span::raw(format!("real {}  ", report.label())));
        }
        spans.push(Span::raw(match self.pane.experiment {
            Experiment::Latency | Experiment::Convoy => "· groups: CPU threads beside it",
            _ => "· groups: threads",
        }));
        Line::from(spans)
    }

    /// Bars grouped by thread count, in the order the first report lists them.
    fn chart(&self, first: &Report, width: u16) -> BarChart<'static> {
        let pane = self.pane;
        let key = BenchRow::key;
        let groups: Vec<BarGroup> = first
            .rows
            .iter()
            .map(|row| {
                let n = key(row);
                let bars: Vec<Bar> = pane
                    .reports
                    .iter()
                    .filter_map(|report| {
                        let row = report.rows.iter().find(|r| key(r) == n)?;
                        let (value, text) = bar_value(pane.experiment, row);
                        let role = if report.interpreter.is_some() {
                            Role::Python
                        } else {
                            mode_role(report.mode)
                        };
                        Some(
                            Bar::default()
                                .value(value)
                                .text_value(text)
                                .style(self.theme.fg(role))
                                .value_style(self.theme.badge(role)),
                        )
                    })
                    .collect();
                BarGroup::default()
                    .label(Line::from(format!("N = {n}")))
                    .bars(&bars)
            })
            .collect();
        let per_group = pane.reports.len().max(1) as u16;
        let group_count = groups.len().max(1) as u16;
        let bar_width = ((width / group_count).saturating_sub(2) / per_group).clamp(1, 9);
        let mut chart = BarChart::default()
            .bar_width(bar_width)
            .bar_gap(0)
            .group_gap(2);
        for group in groups {
            chart = chart.data(group);
        }
        chart
    }
}

impl Widget for ExperimentView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        Clear.render(area, buf);
        let block = Block::default()
            .borders(Borders::ALL)
            .title(self.title(area.width));
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.height < 4 || inner.width < 20 {
            return;
        }
        if let Some(view) = &self.pane.side {
            let [gauge, body] =
                Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(inner);
            self.gauge().render(gauge, buf);
            if let (Some(error), None) = (&self.pane.error, view.data()) {
                Paragraph::new(error.as_str())
                    .wrap(Wrap { trim: true })
                    .render(body, buf);
                return;
            }
            SideByView {
                view,
                theme: self.theme,
            }
            .render(body, buf);
            return;
        }
        let [gauge, legend, chart] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(3),
        ])
        .areas(inner);
        self.gauge().render(gauge, buf);
        Paragraph::new(self.legend()).render(legend, buf);
        let pane = self.pane;
        if let (Some(error), true) = (&pane.error, pane.reports.is_empty()) {
            Paragraph::new(error.as_str())
                .wrap(Wrap { trim: true })
                .render(chart, buf);
            return;
        }
        if let Some(first) = pane.reports.first() {
            self.chart(first, chart.width).render(chart, buf);
        }
    }
}
