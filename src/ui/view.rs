//! Drawing: each pane draws itself as a widget on the state it owns, in
//! the place [`super::layout`] gives it; and mouse events become reducer
//! events. The views only read [`App`]. State is never shown by colour
//! alone: every state also has a word and a symbol.

use std::time::Instant;

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::widgets::{Paragraph, Wrap};

use super::app::{App, AppEvent};
use super::layout::{Areas, PaneId, areas};
use super::panes::bars::{Footer, Header};
use super::panes::console::ConsolePane;
use super::panes::experiment::{ExperimentView, PickerOverlay};
use super::panes::help::HelpOverlay;
use super::panes::lab::{LabView, ToolboxPicker};
use super::panes::logs::LogPane;
use super::panes::meter::MeterPane;
use super::panes::race::RaceView;
use super::panes::timeline::draw::TimelinePane;
use super::panes::workers::{WorkerTable, first_visible_row};

pub use super::layout::{MIN_HEIGHT, MIN_WIDTH};

/// Draws the whole dashboard.
pub fn draw(frame: &mut Frame, app: &App, now: Instant) {
    let area = frame.area();
    let Some(areas) = areas(app, area) else {
        draw_too_small(frame, area);
        return;
    };
    let bars = app.bars();
    frame.render_widget(Header { view: &bars }, areas.header);
    draw_panes(frame, app, &areas, now);
    if let Some(pane) = app.experiments().pane() {
        let theme = app.theme();
        frame.render_widget(ExperimentView { pane, theme }, areas.body);
    }
    frame.render_widget(Footer { view: &bars }, areas.footer);
    if let Some(selected) = app.experiments().picker() {
        frame.render_widget(PickerOverlay { selected }, area);
    }
    if let Some(selected) = app.labs().picker() {
        frame.render_widget(ToolboxPicker { selected }, area);
    }
    if app.help_open() {
        frame.render_widget(HelpOverlay { keys: app.keys() }, area);
    }
}

fn draw_panes(frame: &mut Frame, app: &App, areas: &Areas, now: Instant) {
    let (keys, theme) = (app.keys(), app.theme());
    let focused = |pane| app.focus() == pane;
    if let Some(area) = areas.workers {
        let workers = app.workers();
        let focused = focused(PaneId::Workers);
        let table = WorkerTable {
            workers,
            keys,
            theme,
            now,
            focused,
        };
        frame.render_widget(table, area);
    }
    if let Some(area) = areas.timeline {
        if app.logs().visible() {
            frame.render_widget(
                LogPane {
                    logs: app.logs(),
                    keys,
                },
                area,
            );
        } else {
            let focused = focused(PaneId::Timeline);
            let pane = TimelinePane::emulated(app.timeline(), app.workers(), theme, focused);
            frame.render_widget(pane, area);
        }
    }
    if let (Some(console), Some(pane)) = (areas.console, app.labs().pane()) {
        // The lab takes the whole strip (its cycle is one long sentence);
        // its threads' lanes stay in view above.
        let area = areas.meter.map_or(console, |meter| console.union(meter));
        let deadlock_key = keys.label(super::keys::Action::Deadlock);
        let view = LabView {
            pane,
            deadlock_key,
            theme,
        };
        frame.render_widget(view, area);
        return;
    }
    if let (Some(area), Some(pane)) = (areas.console, app.races().pane()) {
        // The race takes the console's place; its threads' lanes stay in view.
        frame.render_widget(RaceView { pane, theme }, area);
    } else if let Some(area) = areas.console {
        let console = app.console();
        let focused = focused(PaneId::Console);
        frame.render_widget(
            ConsolePane {
                console,
                theme,
                focused,
            },
            area,
        );
    }
    if let Some(area) = areas.meter {
        let pane = MeterPane {
            meter: app.meter(),
            ui_under_gil: app.ui_under_gil(),
            python_cost: app.python_cost(),
            keys,
            theme,
            focused: focused(PaneId::Meter),
        };
        frame.render_widget(pane, area);
    }
}

/// Turns a mouse event into a reducer event: a click on a worker row
/// selects it, a click elsewhere in a pane focuses it, the wheel scrolls
/// the table or the timeline.
pub fn mouse_event(app: &App, screen: Rect, mouse: &MouseEvent) -> Option<AppEvent> {
    let areas = areas(app, screen)?;
    if app.experiments().pane().is_some() {
        return None;
    }
    let pane = areas.pane_at(mouse.column, mouse.row)?;
    match (mouse.kind, pane) {
        (MouseEventKind::Down(MouseButton::Left), PaneId::Workers) => {
            let table = areas.workers?;
            // Border and header row come first.
            let first_row_y = table.y + 2;
            let height = table.height.saturating_sub(3) as usize;
            let offset = mouse.row.checked_sub(first_row_y)? as usize;
            let first = first_visible_row(app.workers().selected(), height);
            (offset < height).then(|| AppEvent::ClickRow(first + offset))
        }
        (MouseEventKind::Down(MouseButton::Left), pane) => Some(AppEvent::Focus(pane)),
        (MouseEventKind::ScrollDown | MouseEventKind::ScrollUp, PaneId::Workers) => {
            let down = mouse.kind == MouseEventKind::ScrollDown;
            Some(AppEvent::ScrollTable { down })
        }
        (MouseEventKind::ScrollDown | MouseEventKind::ScrollUp, PaneId::Timeline) => {
            let down = mouse.kind == MouseEventKind::ScrollDown;
            Some(AppEvent::ScrollTimeline { down })
        }
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
