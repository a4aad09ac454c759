//! Where each pane goes. The timeline is the picture: it gets the full
//! width at every size and every row the worker table does not need (the
//! table above it shows the rows it has, up to half the body once the
//! lanes are in); the console and the meter share a strip that shrinks on
//! short screens. A focused pane (`z`) fills the body.

use ratatui::layout::{Constraint, Layout, Rect};

use super::app::App;
pub use super::panes::PaneId;

/// Below this size the dashboard shows only a "terminal too small" notice.
pub const MIN_WIDTH: u16 = 60;
/// Below this size the dashboard shows only a "terminal too small" notice.
pub const MIN_HEIGHT: u16 = 16;

/// Where each pane goes on a screen of a given size; `None`: not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Areas {
    /// The header line.
    pub header: Rect,
    /// Everything between header and footer but the bottom strip (the
    /// experiment pane covers it).
    pub body: Rect,
    /// The worker table.
    pub workers: Option<Rect>,
    /// The timeline (or the log pane).
    pub timeline: Option<Rect>,
    /// The console.
    pub console: Option<Rect>,
    /// The responsiveness meter.
    pub meter: Option<Rect>,
    /// The footer line.
    pub footer: Rect,
}

impl Areas {
    /// The pane at a screen position.
    pub(crate) fn pane_at(&self, column: u16, row: u16) -> Option<PaneId> {
        let at = ratatui::layout::Position::new(column, row);
        PaneId::ALL
            .into_iter()
            .find(|pane| self.get(*pane).is_some_and(|area| area.contains(at)))
    }

    /// A pane's area, if shown.
    pub fn get(&self, pane: PaneId) -> Option<Rect> {
        match pane {
            PaneId::Workers => self.workers,
            PaneId::Timeline => self.timeline,
            PaneId::Console => self.console,
            PaneId::Meter => self.meter,
        }
    }
}

/// The bottom strip's height: the console and the meter.
fn strip_height(height: u16) -> u16 {
    match height {
        36.. => 8,
        28.. => 6,
        20.. => 5,
        _ => 4,
    }
}

/// Rows the table and the timeline want: the table its rows (or the hint
/// before any worker), the timeline its lanes plus borders, heading and legend.
fn wants(app: &App) -> (u16, u16) {
    let rows = app.workers().rows().len();
    let table = if rows == 0 { 5 } else { rows as u16 + 3 };
    let span_us = app.timeline().span_ms() * 1000;
    let lanes = app.timeline().visible_lane_count(span_us).max(1);
    (table, (lanes as u16).saturating_add(4))
}

/// Splits the body between table (top) and timeline: the timeline first
/// gets its lanes (up to half the body, at least 6 rows), then the table
/// its rows, then the timeline the rest.
fn split_rows(body: u16, table_want: u16, timeline_want: u16) -> (u16, u16) {
    let timeline_min = timeline_want.min((body / 2).max(6)).min(body);
    let table = table_want
        .min(body - timeline_min)
        .max(4.min(body - timeline_min));
    (table, body - table)
}

/// The dashboard's layout for `app` on `screen`, or `None` when the screen
/// is too small.
pub(crate) fn areas(app: &App, screen: Rect) -> Option<Areas> {
    if screen.width < MIN_WIDTH || screen.height < MIN_HEIGHT {
        return None;
    }
    let [header, middle, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(screen);
    let mut areas = Areas {
        header,
        body: middle,
        workers: None,
        timeline: None,
        console: None,
        meter: None,
        footer,
    };
    if app.zoomed() {
        match app.focus() {
            PaneId::Workers => areas.workers = Some(middle),
            PaneId::Timeline => areas.timeline = Some(middle),
            PaneId::Console => areas.console = Some(middle),
            PaneId::Meter => areas.meter = Some(middle),
        }
        return Some(areas);
    }
    let [body, strip] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(strip_height(screen.height)),
    ])
    .areas(middle);
    areas.body = body;
    let [console, meter] =
        Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(strip);
    (areas.console, areas.meter) = (Some(console), Some(meter));
    let (table_want, timeline_want) = wants(app);
    let (table, _) = split_rows(body.height, table_want, timeline_want);
    let [workers, timeline] =
        Layout::vertical([Constraint::Length(table), Constraint::Min(1)]).areas(body);
    (areas.workers, areas.timeline) = (Some(workers), Some(timeline));
    Some(areas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_gets_its_lanes_before_the_table_gets_its_rows() {
        // 80×24: body 17; 4 workers want 7, 5 lanes want 9.
        assert_eq!(split_rows(17, 7, 9), (7, 10));
        // Thousands of workers: the timeline keeps half the body.
        assert_eq!(split_rows(17, 4099, 9), (9, 8));
        // A tall screen: the table shows all its rows, the timeline the rest.
        assert_eq!(split_rows(38, 7, 9), (7, 31));
        assert_eq!(split_rows(38, 200, 30), (19, 19));
    }
}
