//! Drawing: where each pane goes, and turning mouse events into reducer
//! events. The views only read [`App`]; each pane draws itself as a widget
//! on the state it owns. State is never shown by colour alone: every state
//! also has a word and a symbol.

use std::time::Instant;

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Position, Rect};
use ratatui::widgets::{Paragraph, Wrap};

use super::app::{App, AppEvent};
use super::panes::bars::{Footer, Header};
use super::panes::console::ConsolePane;
use super::panes::experiment::{ExperimentView, PickerOverlay};
use super::panes::help::HelpOverlay;
use super::panes::logs::LogPane;
use super::panes::meter::MeterPane;
use super::panes::timeline::draw::TimelinePane;
use super::panes::workers::{WorkerTable, first_visible_row};

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
    let (keys, theme) = (app.keys(), app.theme());
    frame.render_widget(Header { app }, areas.header);
    frame.render_widget(
        WorkerTable {
            workers: app.workers(),
            keys,
            theme,
            now,
        },
        areas.workers,
    );
    if app.logs().visible() {
        frame.render_widget(
            LogPane {
                logs: app.logs(),
                keys,
            },
            areas.timeline,
        );
    } else {
        frame.render_widget(
            TimelinePane {
                timeline: app.timeline(),
                workers: app.workers(),
                theme,
            },
            areas.timeline,
        );
    }
    if let Some(pane) = app.experiments().pane() {
        frame.render_widget(ExperimentView { pane, theme }, areas.body);
    }
    frame.render_widget(
        ConsolePane {
            console: app.console(),
            theme,
        },
        areas.console,
    );
    frame.render_widget(
        MeterPane {
            meter: app.meter(),
            ui_under_gil: app.ui_under_gil(),
            keys,
            theme,
        },
        areas.stats,
    );
    frame.render_widget(Footer { app }, areas.footer);
    if let Some(selected) = app.experiments().picker() {
        frame.render_widget(PickerOverlay { selected }, area);
    }
    if app.help_open() {
        frame.render_widget(HelpOverlay { keys }, area);
    }
}

/// Turns a mouse event into a reducer event: a click on a worker row
/// selects it, the wheel scrolls the table or the timeline.
pub fn mouse_event(app: &App, screen: Rect, mouse: &MouseEvent) -> Option<AppEvent> {
    let areas = areas(screen)?;
    let at = Position::new(mouse.column, mouse.row);
    let no_pane = app.experiments().pane().is_none();
    let over_table = areas.workers.contains(at) && no_pane;
    let over_timeline = areas.timeline.contains(at) && no_pane;
    match mouse.kind {
        MouseEventKind::Down(MouseButton::Left) if over_table => {
            // Border and header row come first.
            let first_row_y = areas.workers.y + 2;
            let height = areas.workers.height.saturating_sub(3) as usize;
            let offset = mouse.row.checked_sub(first_row_y)? as usize;
            let first = first_visible_row(app.workers().selected(), height);
            (offset < height).then(|| AppEvent::ClickRow(first + offset))
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
