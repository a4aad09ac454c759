//! Drawing the experiment picker and the experiment pane: progress while the
//! suite runs, then a grouped bar chart — one group per thread count, one
//! bar per mode — with every value also written as text.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Clear, Gauge, Paragraph, Wrap};

use super::app::{App, ExperimentPane};
use super::theme::{Role, Theme};
use crate::gil::Mode;
use crate::lab::{BenchRow, Experiment};

fn describe(experiment: Experiment) -> &'static str {
    match experiment {
        Experiment::Throughput => "N CPU-bound threads: speedup over 1 thread",
        Experiment::Io => "N threads doing sleeps and HTTP GETs: speedup over 1 thread",
        Experiment::Latency => "ping latency (p50 ms) beside N CPU threads",
        Experiment::Convoy => "loopback round trips/s beside N CPU threads",
        Experiment::All => "every experiment",
    }
}

/// The experiment picker: a small centred list.
pub fn draw_picker(frame: &mut Frame, app: &App, area: Rect) {
    let Some(selected) = app.picker else {
        return;
    };
    let width = 76.min(area.width);
    let height = (Experiment::EACH.len() as u16 + 4).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let mut lines = vec![Line::from(
        " Runs in free, gil and legacy with 1, 2, 4 threads:",
    )];
    for (i, experiment) in Experiment::EACH.iter().enumerate() {
        let marker = if i == selected { "▶" } else { " " };
        let style = if i == selected {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        lines.push(Line::from(Span::styled(
            format!(
                " {marker} {:<11} {}",
                experiment.name(),
                describe(*experiment)
            ),
            style,
        )));
    }
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Experiments · ↑↓ choose · Enter run · Esc close "),
        ),
        popup,
    );
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

/// The experiment pane, drawn over `area` (the workers and timeline).
pub fn draw_pane(frame: &mut Frame, pane: &ExperimentPane, theme: &Theme, area: Rect) {
    frame.render_widget(Clear, area);
    let state = if let Some(error) = &pane.error {
        format!("failed: {error}")
    } else if pane.finished {
        "done".to_string()
    } else {
        format!("running {}/{}", pane.done, pane.total)
    };
    let block = Block::default().borders(Borders::ALL).title(format!(
        " Experiment: {} — {} · {state} · Esc closes ",
        pane.experiment,
        describe(pane.experiment)
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height < 4 || inner.width < 20 {
        return;
    }
    let [gauge, legend, chart] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
    ])
    .areas(inner);
    let ratio = if pane.total == 0 {
        0.0
    } else {
        pane.done as f64 / pane.total as f64
    };
    frame.render_widget(
        Gauge::default()
            .ratio(ratio.clamp(0.0, 1.0))
            .label(format!("{}/{} measurements", pane.done, pane.total))
            .gauge_style(theme.fg(Role::Chart)),
        gauge,
    );
    let mut legend_spans = vec![Span::raw(" bars: ")];
    for mode in Mode::ALL {
        legend_spans.push(Span::styled("■ ", theme.fg(mode_role(mode))));
        legend_spans.push(Span::raw(format!("{mode}  ")));
    }
    for report in pane.reports.iter().filter(|r| r.interpreter.is_some()) {
        legend_spans.push(Span::styled("■ ", theme.fg(Role::Python)));
        legend_spans.push(Span::raw(format!("real {}  ", report.label())));
    }
    legend_spans.push(Span::raw(match pane.experiment {
        Experiment::Latency | Experiment::Convoy => "· groups: CPU threads beside it",
        _ => "· groups: threads",
    }));
    frame.render_widget(Paragraph::new(Line::from(legend_spans)), legend);
    if let (Some(error), true) = (&pane.error, pane.reports.is_empty()) {
        frame.render_widget(
            Paragraph::new(error.as_str()).wrap(Wrap { trim: true }),
            chart,
        );
        return;
    }
    // Group by thread count, in the order the first report lists them.
    let Some(first) = pane.reports.first() else {
        return;
    };
    let key = |row: &BenchRow| row.threads.or(row.cpu_threads).unwrap_or(0);
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
                            .style(theme.fg(role))
                            .value_style(theme.badge(role)),
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
    let bar_width = ((chart.width / group_count).saturating_sub(2) / per_group).clamp(1, 9);
    let mut bar_chart = BarChart::default()
        .bar_width(bar_width)
        .bar_gap(0)
        .group_gap(2);
    for group in groups {
        bar_chart = bar_chart.data(group);
    }
    frame.render_widget(bar_chart, chart);
}
