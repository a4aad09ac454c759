//! Drawing: the views only read [`App`]; they never change it.
//!
//! The worker table builds rows for the visible window only, so a frame
//! costs O(visible rows) however many workers exist. State is never shown
//! by colour alone: every state also has a word and a symbol.

use std::collections::VecDeque;
use std::time::Instant;

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

use super::app::{App, AppEvent, Lane, Life, WorkerRow};
use super::keys::{Action, COMMANDS, CommandInfo};
use super::theme::Role;
use crate::gil::Transition;
use crate::work::{ConsoleSide, Unit, WorkerKind, human_bytes};

/// Below this size the dashboard shows only a "terminal too small" notice.
pub const MIN_WIDTH: u16 = 60;
/// Below this size the dashboard shows only a "terminal too small" notice.
pub const MIN_HEIGHT: u16 = 16;

/// Where each pane goes on a screen of a given size.
pub struct Areas {
    header: Rect,
    body: Rect,
    workers: Rect,
    timeline: Rect,
    console: Rect,
    stats: Rect,
    footer: Rect,
}

/// The dashboard's layout, or `None` when the screen is too small.
pub fn areas(area: Rect) -> Option<Areas> {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return None;
    }
    let [header, body, bottom, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(6),
        Constraint::Length(8),
        Constraint::Length(1),
    ])
    .areas(area);
    let [workers, timeline] =
        Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(body);
    let [console, stats] =
        Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(bottom);
    Some(Areas {
        header,
        body,
        workers,
        timeline,
        console,
        stats,
        footer,
    })
}

/// Draws the whole dashboard.
pub fn draw(frame: &mut Frame, app: &App, now: Instant) {
    let area = frame.area();
    let Some(areas) = areas(area) else {
        draw_too_small(frame, area);
        return;
    };
    draw_header(frame, app, areas.header);
    draw_workers(frame, app, areas.workers, now);
    if app.logs_visible {
        draw_logs(frame, app, areas.timeline);
    } else {
        draw_timeline(frame, app, areas.timeline);
    }
    if let Some(pane) = &app.experiment {
        super::lab_view::draw_pane(frame, pane, &app.theme, areas.body);
    }
    draw_console(frame, app, areas.console);
    draw_stats(frame, app, areas.stats);
    draw_footer(frame, app, areas.footer);
    super::lab_view::draw_picker(frame, app, area);
    if app.help {
        draw_help(frame, app, area);
    }
}

/// The first worker row shown, so that the selection stays in view.
fn first_visible_row(app: &App, height: usize) -> usize {
    let height = height.max(1);
    if app.selected >= height {
        app.selected + 1 - height
    } else {
        0
    }
}

/// Turns a mouse event into a reducer event: a click on a worker row
/// selects it, the wheel scrolls the table or the timeline.
pub fn mouse_event(app: &App, screen: Rect, mouse: &MouseEvent) -> Option<AppEvent> {
    let areas = areas(screen)?;
    let at = ratatui::layout::Position::new(mouse.column, mouse.row);
    let over_table = areas.workers.contains(at) && app.experiment.is_none();
    let over_timeline = areas.timeline.contains(at) && app.experiment.is_none();
    match mouse.kind {
        MouseEventKind::Down(MouseButton::Left) if over_table => {
            // Border and header row come first.
            let first_row_y = areas.workers.y + 2;
            let height = areas.workers.height.saturating_sub(3) as usize;
            let offset = mouse.row.checked_sub(first_row_y)? as usize;
            (offset < height).then(|| AppEvent::ClickRow(first_visible_row(app, height) + offset))
        }
        MouseEventKind::ScrollDown if over_table => Some(AppEvent::ScrollTable { down: true }),
        MouseEventKind::ScrollUp if over_table => Some(AppEvent::ScrollTable { down: false }),
        MouseEventKind::ScrollDown if over_timeline => {
            Some(AppEvent::ScrollTimeline { down: true })
        }
        MouseEventKind::ScrollUp if over_timeline => Some(AppEvent::ScrollTimeline { down: false }),
        _ => None,
    }
}

fn draw_logs(frame: &mut Frame, app: &App, area: Rect) {
    let block = Block::default().borders(Borders::ALL).title(format!(
        " Log · newest last · {} hides ",
        app.keys.label(Action::ToggleLogs)
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let room = inner.height as usize;
    let skip = app.log_lines.len().saturating_sub(room);
    let lines: Vec<Line> = if app.log_lines.is_empty() {
        vec![Line::from(" nothing logged yet")]
    } else {
        app.log_lines
            .iter()
            .skip(skip)
            .map(|line| Line::from(line.as_str()))
            .collect()
    };
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_too_small(frame: &mut Frame, area: Rect) {
    let text = format!(
        "terminal too small: {}×{} (needs {MIN_WIDTH}×{MIN_HEIGHT}) — q quits",
        area.width, area.height
    );
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .alignment(Alignment::Center),
        area,
    );
}

fn draw_header(frame: &mut Frame, app: &App, area: Rect) {
    let (live, done, failed, cancelled) = app.counts();
    let gil_style = if app.mode == crate::gil::Mode::Free {
        app.theme.fg(Role::Calm)
    } else {
        app.theme.fg(Role::Accent).add_modifier(Modifier::BOLD)
    };
    let latency = match app.key_latency_ms(99.0) {
        Some(ms) => format!("{ms:.1} ms"),
        None => "–".to_string(),
    };
    let mut spans = vec![
        Span::styled(
            " threadlab ",
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ),
        Span::raw(" GIL: "),
        Span::styled(app.mode_label(), gil_style),
    ];
    if app.ui_under_gil {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(
            " UI under the GIL ",
            app.theme.badge(Role::Accent),
        ));
    }
    spans.push(Span::raw(format!(
        "  running {live} · done {done} · failed {failed} · cancelled {cancelled} · cores {} · key→screen p99 {latency}",
        app.cores
    )));
    let line = Line::from(spans);
    frame.render_widget(Paragraph::new(line), area);
}

/// A state's word and symbol, and the role that colours it.
fn state_of(row: &WorkerRow) -> (&'static str, Role) {
    match row.life {
        Life::Done => ("✓ done", Role::Good),
        Life::Failed => ("✗ failed", Role::Bad),
        Life::Cancelled => ("■ cancelled", Role::Muted),
        Life::Live => match row.lane {
            Transition::Wait => ("… waiting (GIL)", Role::Wait),
            Transition::Io => ("⇅ in I/O", Role::Io),
            Transition::Hold => ("▶ running (GIL)", Role::Hold),
            _ => ("▶ running", Role::Free),
        },
    }
}

/// A text progress bar `width` cells wide with eighths for smoothness.
fn bar(ratio: f64, width: usize) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (ratio.clamp(0.0, 1.0) * (width * 8) as f64).round() as usize;
    let full = eighths / 8;
    let mut out = "█".repeat(full);
    if full < width {
        let part = eighths % 8;
        if part > 0 {
            out.push(PARTS[part]);
        } else {
            out.push('░');
        }
        out.push_str(&"░".repeat(width - full - 1));
    }
    out
}

/// A count in the worker's own unit.
fn amount(unit: Unit, done: u64) -> String {
    match unit {
        Unit::Bytes => human_bytes(done),
        Unit::Steps => format!("{done} steps"),
        Unit::Lines => format!("{done} lines"),
    }
}

fn rate_text(row: &WorkerRow) -> String {
    let rate = row.rate();
    match row.kind.unit() {
        Unit::Bytes => format!("{}/s", human_bytes(rate as u64)),
        Unit::Steps => format!("{:.1} M/s", rate / 1e6),
        Unit::Lines => format!("{rate:.1}/s"),
    }
}

fn draw_workers(frame: &mut Frame, app: &App, area: Rect, now: Instant) {
    let mut block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" Workers ({}) ", app.rows.len()));
    // The selected worker's whole result or error, which the table cuts short.
    if let Some(row) = app.selected_row() {
        let detail = row
            .message
            .clone()
            .unwrap_or_else(|| state_of(row).0.to_string());
        block = block.title_bottom(format!(" #{} {}: {detail} ", row.id, row.kind));
    }
    let inner_height = area.height.saturating_sub(3) as usize; // borders + header row
    if app.rows.is_empty() {
        let hint = Paragraph::new(vec![
            Line::from(""),
            Line::from(format!(
                "  No workers yet. Press {} (fetch), {} (file), {} (cpu) or {} (seed demo),",
                app.keys.label(Action::Spawn(WorkerKind::Fetch)),
                app.keys.label(Action::Spawn(WorkerKind::File)),
                app.keys.label(Action::Spawn(WorkerKind::Cpu)),
                app.keys.label(Action::Spawn(WorkerKind::Sleep)),
            )),
            Line::from(format!(
                "  then {} to switch the GIL on and watch CPU workers take turns.",
                app.keys.label(Action::ToggleGil)
            )),
        ])
        .block(block);
        frame.render_widget(hint, area);
        return;
    }
    // The visible window keeps the selection in view: O(visible rows).
    let total = app.rows.len();
    let height = inner_height.max(1);
    let start = first_visible_row(app, height);
    let end = (start + height).min(total);
    let bar_width = 10;
    let rows = app.rows[start..end]
        .iter()
        .enumerate()
        .map(|(offset, row)| {
            let (state, role) = state_of(row);
            let progress = match row.ratio() {
                Some(ratio) => format!("{} {:>3.0} %", bar(ratio, bar_width), ratio * 100.0),
                None => format!(
                    "{:<width$}     ",
                    amount(row.kind.unit(), row.done),
                    width = bar_width
                ),
            };
            let detail = match (&row.message, row.life) {
                (Some(message), Life::Failed) => message.clone(),
                (Some(message), _) => message.clone(),
                (None, Life::Cancelled) => {
                    format!("cancelled at {}", amount(row.kind.unit(), row.done))
                }
                _ => rate_text(row),
            };
            let style = if start + offset == app.selected {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            Row::new(vec![
                Cell::from(format!("{:>3}", row.id)),
                Cell::from(row.kind.name()),
                Cell::from(Span::styled(state, app.theme.fg(role))),
                Cell::from(progress),
                Cell::from(format!("{:>5.1}s", row.elapsed(now).as_secs_f64())),
                Cell::from(detail),
            ])
            .style(style)
        });
    let table = Table::new(
        rows,
        [
            Constraint::Length(3),
            Constraint::Length(5),
            Constraint::Length(15),
            Constraint::Length(bar_width as u16 + 6),
            Constraint::Length(6),
            Constraint::Min(8),
        ],
    )
    .header(
        Row::new(vec![
            "id",
            "kind",
            "state",
            "progress",
            "time",
            "rate / result",
        ])
        .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .block(block);
    frame.render_widget(table, area);
}

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
fn shares(lane: &Lane, from: u64, to: u64) -> [u64; 5] {
    time_in(&lane.changes, from, to, |t| match t {
        Some(Transition::Hold) => 0,
        Some(Transition::Wait) => 1,
        Some(Transition::Io) => 2,
        Some(Transition::Run) => 3,
        _ => 4,
    })
}

/// The fraction of `[from, to)` in which some thread held the GIL.
fn gil_load(app: &App, from: u64, to: u64) -> f64 {
    let held = time_in(
        &app.gil_held,
        from,
        to,
        |h| {
            if h == Some(true) { 0 } else { 4 }
        },
    );
    held[0] as f64 / (to - from).max(1) as f64
}

fn lane_text(
    lane: &Lane,
    now_us: u64,
    span_us: u64,
    width: usize,
    theme: &super::theme::Theme,
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
struct LaneStats {
    hold: f64,
    wait: f64,
    io: f64,
    switches_per_s: f64,
}

fn lane_stats(lane: &Lane, now_us: u64, span_us: u64) -> LaneStats {
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

fn draw_timeline(frame: &mut Frame, app: &App, area: Rect) {
    let span_ms = app.timeline_span_ms;
    let span_us = span_ms * 1000;
    let span_text = if span_ms >= 1000 {
        format!("{:.1} s", span_ms as f64 / 1000.0)
    } else {
        format!("{span_ms} ms")
    };
    let tags = app.visible_lanes(span_us);
    // The GIL's load, like `gil_load` for real Python: the fraction of time
    // anyone held it over the visible span.
    let load = gil_load(app, app.gil_now_us.saturating_sub(span_us), app.gil_now_us);
    let block = Block::default().borders(Borders::ALL).title(format!(
        " GIL timeline · {span_text} · load {:.0} % ",
        load * 100.0
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
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
        .saturating_sub(app.timeline_scroll);
    // Figures only for the lanes that fit: a frame costs O(shown lanes).
    for tag in tags.iter().skip(skip).take(room) {
        let lane = &app.lanes[tag];
        let stat = lane_stats(lane, app.gil_now_us, span_us);
        let label = app.lane_label(*tag);
        let mut spans = vec![Span::raw(format!("{label:<label_width$.label_width$} "))];
        spans.extend(lane_text(lane, app.gil_now_us, span_us, width, &app.theme));
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
    lines.push(Line::from(vec![
        Span::styled("█", app.theme.fg(Role::Hold)),
        Span::raw(" holds "),
        Span::styled("░", app.theme.fg(Role::Wait)),
        Span::raw(" waits "),
        Span::styled("▏", app.theme.fg(Role::Io)),
        Span::raw(" I/O "),
        Span::styled("▒", app.theme.fg(Role::Free)),
        Span::raw(" free "),
        Span::styled("!", app.theme.fg(Role::Mark)),
        Span::raw(" asks "),
        Span::styled("▌", app.theme.fg(Role::Mark)),
        Span::raw(" forced · +/- zoom"),
    ]));
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_console(frame: &mut Frame, app: &App, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Console · seed demo: thread prints 0..4, main prints 5..9 ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // Lines flow left to right, like `print` output joined with spaces.
    let mut text: Vec<Span> = Vec::new();
    let keep = (inner.width as usize * inner.height as usize) / 3;
    let skip = app.console.len().saturating_sub(keep);
    for (side, value) in app.console.iter().skip(skip) {
        let role = match side {
            ConsoleSide::Thread => Role::ThreadSide,
            ConsoleSide::Main => Role::MainSide,
        };
        text.push(Span::styled(value.clone(), app.theme.fg(role)));
        text.push(Span::raw(" "));
    }
    let paragraph = if text.is_empty() {
        Paragraph::new(" press s to run the seed demo")
    } else {
        Paragraph::new(Line::from(text)).wrap(Wrap { trim: false })
    };
    frame.render_widget(paragraph, inner);
}

fn draw_stats(frame: &mut Frame, app: &App, area: Rect) {
    let title = if app.ui_under_gil {
        " Responsiveness · UI UNDER THE GIL "
    } else {
        " Responsiveness "
    };
    let border = if app.ui_under_gil {
        app.theme.fg(Role::Accent).add_modifier(Modifier::BOLD)
    } else {
        Style::new()
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(border)
        .title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let ms = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |ms| format!("{ms:.1} ms"));
    let [text, spark] = Layout::vertical([Constraint::Length(3), Constraint::Min(1)]).areas(inner);
    let lines = vec![
        Line::from(vec![
            Span::raw(" key→screen p50 "),
            Span::styled(
                ms(app.key_latency_ms(50.0)),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::raw("  p99 "),
            Span::styled(
                ms(app.key_latency_ms(99.0)),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!("  ({} keys)", app.key_latency.len())),
        ]),
        Line::from(format!(
            " frame p50 {}  p99 {}  events {}/s",
            ms(app.frame_ms(50.0)),
            ms(app.frame_ms(99.0)),
            app.events_per_s
        )),
        Line::from(format!(
            " {}: {}",
            app.keys.label(Action::ToggleUiGil),
            if app.ui_under_gil {
                "the UI takes the GIL for every key and frame"
            } else {
                "make the UI take the GIL, like a Python UI"
            }
        )),
    ];
    frame.render_widget(Paragraph::new(lines), text);
    let data: Vec<u64> = app.recent_latency.iter().copied().collect();
    let visible = spark.width as usize;
    let data = &data[data.len().saturating_sub(visible)..];
    frame.render_widget(
        ratatui::widgets::Sparkline::default()
            .data(data)
            .style(app.theme.fg(if app.ui_under_gil {
                Role::Accent
            } else {
                Role::Chart
            })),
        spark,
    );
}

fn draw_footer(frame: &mut Frame, app: &App, area: Rect) {
    // `? help` and `q quit` always fit; other keys fill the rest in order.
    fn essential(command: &CommandInfo) -> bool {
        matches!(command.action, Action::Help | Action::Quit)
    }
    let entry = |command: &CommandInfo| (app.keys.label(command.action), command.footer);
    let width =
        |(label, footer): &(String, &str)| label.chars().count() + footer.chars().count() + 4;
    let shown: Vec<&CommandInfo> = COMMANDS.iter().filter(|c| !c.footer.is_empty()).collect();
    let essentials: Vec<(String, &str)> = shown
        .iter()
        .filter(|c| essential(c))
        .map(|c| entry(c))
        .collect();
    let mut room = (area.width as usize).saturating_sub(essentials.iter().map(width).sum());
    let mut entries = Vec::new();
    for command in shown.iter().filter(|c| !essential(c)) {
        let item = entry(command);
        if width(&item) > room {
            break;
        }
        room -= width(&item);
        entries.push(item);
    }
    entries.extend(essentials);
    let mut spans = Vec::new();
    for (label, footer) in entries {
        spans.push(Span::styled(
            format!(" {label} "),
            Style::new().add_modifier(Modifier::REVERSED),
        ));
        spans.push(Span::raw(format!(" {footer} ")));
    }
    if let Some(notice) = &app.notice {
        spans.push(Span::styled(
            format!(" │ {notice}"),
            Style::new().add_modifier(Modifier::ITALIC),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_help(frame: &mut Frame, app: &App, area: Rect) {
    let width = 76.min(area.width);
    let height = (COMMANDS.len() as u16 + 4).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let mut lines: Vec<Line> = COMMANDS
        .iter()
        .map(|command| {
            Line::from(vec![
                Span::styled(
                    format!(" {:>9} ", app.keys.label(command.action)),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(format!(" {}", command.help)),
            ])
        })
        .chain(std::iter::once(Line::from("    Ctrl-C  quit (always)")))
        .collect();
    lines.insert(0, Line::from(""));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Help · keys (remap them in the config) · Esc closes "),
        ),
        popup,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_fills_proportionally() {
        assert_eq!(bar(0.0, 4), "░░░░");
        assert_eq!(bar(1.0, 4), "████");
        assert_eq!(bar(0.5, 4), "██░░");
        assert_eq!(bar(0.5, 4).chars().count(), 4);
        assert_eq!(bar(0.3, 10).chars().count(), 10);
    }

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
