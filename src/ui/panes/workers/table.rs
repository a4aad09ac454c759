//! The worker table widget: rows for the visible window only (a frame
//! costs O(visible rows)), columns that give way by importance as the pane
//! narrows, and text cut between words.

use std::time::Instant;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Widget};

use super::{Life, WorkerRow, Workers};
use crate::gil::Transition;
use crate::ui::keys::{Action, KeyMap};
use crate::ui::panes::fit::cut_words;
use crate::ui::theme::{Role, Theme};
use crate::work::{Unit, WorkerKind, human_bytes};

/// The first worker row shown, so that the selection stays in view.
pub(crate) fn first_visible_row(selected: usize, height: usize) -> usize {
    let height = height.max(1);
    if selected >= height {
        selected + 1 - height
    } else {
        0
    }
}

/// A state's word and symbol, and the role that colours it.
pub(crate) fn state_of(row: &WorkerRow) -> (&'static str, Role) {
    match row.life {
        Life::Done => ("✓ done", Role::Good),
        Life::Failed => ("✗ failed", Role::Bad),
        Life::Cancelled => ("■ cancelled", Role::Muted),
        Life::Live => match row.lane {
            Transition::Wait => ("… waiting (GIL)", Role::Wait),
            Transition::Io => ("⇅ in I/O", Role::Io),
            Transition::Blocked => ("━ blocked", Role::Mark),
            Transition::Hold => ("▶ running (GIL)", Role::Hold),
            _ => ("▶ running", Role::Free),
        },
    }
}

/// A text progress bar `width` cells wide with eighths for smoothness.
pub fn bar(ratio: f64, width: usize) -> String {
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

/// The worker table, drawn at `now`.
pub(crate) struct WorkerTable<'a> {
    /// The table's state.
    pub workers: &'a Workers,
    /// For the hint shown before any worker exists.
    pub keys: &'a KeyMap,
    /// Colours.
    pub theme: &'a Theme,
    /// The clock for running workers' time.
    pub now: Instant,
    /// Whether it has the keyboard focus (its border says so).
    pub focused: bool,
}

/// Width of the progress bar in the table.
const BAR_WIDTH: usize = 10;

/// The table's columns: heading, width (0: the rest) and rank (columns
/// give way in descending rank as the table narrows).
const COLUMNS: [(&str, u16, u8); 6] = [
    ("id", 3, 0),
    ("kind", 5, 2),
    ("state", 15, 1),
    ("progress", BAR_WIDTH as u16 + 6, 3),
    ("time", 6, 4),
    ("rate / result", 0, 5),
];

/// The rest column is shown only with at least this many cells.
const MIN_DETAIL: u16 = 12;

/// Cells the shown columns take, not counting the rest column's own width.
fn used(shown: &[bool; 6]) -> u16 {
    let count = shown.iter().filter(|s| **s).count() as u16;
    let fixed: u16 = COLUMNS
        .iter()
        .zip(shown)
        .filter(|(_, s)| **s)
        .map(|(c, _)| c.1)
        .sum();
    fixed + count.saturating_sub(1)
}

/// Which columns fit in `width` cells, and the width of the rest column.
fn columns(width: u16) -> ([bool; 6], u16) {
    let mut shown = [true; 6];
    for rank in (1..=5).rev() {
        let used = used(&shown);
        if used <= width && (!shown[5] || width - used >= MIN_DETAIL) {
            break;
        }
        if let Some(i) = COLUMNS.iter().position(|c| c.2 == rank) {
            shown[i] = false;
        }
    }
    let detail = if shown[5] {
        width.saturating_sub(used(&shown))
    } else {
        0
    };
    (shown, detail)
}

impl WorkerTable<'_> {
    fn block(&self, width: u16) -> Block<'static> {
        let mut block = Block::default()
            .borders(Borders::ALL)
            .title(format!(" Workers ({}) ", self.workers.rows.len()));
        if self.focused {
            block = block.border_style(Style::new().add_modifier(Modifier::BOLD));
        }
        // The selected worker's whole result or error, which the table cuts short.
        if let Some(row) = self.workers.selected_row() {
            let detail = row
                .message
                .clone()
                .unwrap_or_else(|| state_of(row).0.to_string());
            let text = format!("#{} {}: {detail}", row.id, row.kind);
            let room = width.saturating_sub(4) as usize;
            block = block.title_bottom(format!(" {} ", cut_words(&text, room)));
        }
        block
    }

    fn hint(&self, width: u16) -> Paragraph<'static> {
        let keys = self.keys;
        let room = width.saturating_sub(4) as usize;
        let first = format!(
            "No workers yet. Press {} (fetch), {} (file), {} (cpu) or {} (seed demo),",
            keys.label(Action::Spawn(WorkerKind::Fetch)),
            keys.label(Action::Spawn(WorkerKind::File)),
            keys.label(Action::Spawn(WorkerKind::Cpu)),
            keys.label(Action::Spawn(WorkerKind::Sleep)),
        );
        let second = format!(
            "then {} to switch the GIL on and watch CPU workers take turns.",
            keys.label(Action::ToggleGil)
        );
        Paragraph::new(vec![
            Line::from(""),
            Line::from(format!("  {}", cut_words(&first, room))),
            Line::from(format!("  {}", cut_words(&second, room))),
        ])
    }

    fn row(
        &self,
        row: &WorkerRow,
        selected: bool,
        shown: [bool; 6],
        detail_width: u16,
    ) -> Row<'static> {
        let (state, role) = state_of(row);
        let progress = match row.ratio() {
            Some(ratio) => format!("{} {:>3.0} %", bar(ratio, BAR_WIDTH), ratio * 100.0),
            None => format!(
                "{:<width$}     ",
                amount(row.kind.unit(), row.done),
                width = BAR_WIDTH
            ),
        };
        let detail = match (&row.message, row.life) {
            (Some(message), _) => message.clone(),
            (None, Life::Cancelled) => {
                format!("cancelled at {}", amount(row.kind.unit(), row.done))
            }
            _ => rate_text(row),
        };
        let style = if selected {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        let cells = [
            Cell::from(format!("{:>3}", row.id)),
            Cell::from(row.kind.name()),
            Cell::from(Span::styled(state, self.theme.fg(role))),
            Cell::from(progress),
            Cell::from(format!("{:>5.1}s", row.elapsed(self.now).as_secs_f64())),
            Cell::from(cut_words(&detail, detail_width as usize)),
        ];
        Row::new(
            cells
                .into_iter()
                .zip(shown)
                .filter(|(_, s)| *s)
                .map(|(c, _)| c),
        )
        .style(style)
    }
}

impl Widget for WorkerTable<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let block = self.block(area.width);
        let workers = self.workers;
        if workers.rows.is_empty() {
            self.hint(area.width).block(block).render(area, buf);
            return;
        }
        let (shown, detail) = columns(area.width.saturating_sub(2));
        // The visible window keeps the selection in view: O(visible rows).
        let height = (area.height.saturating_sub(3) as usize).max(1); // borders + header row
        let start = first_visible_row(workers.selected, height);
        let end = (start + height).min(workers.rows.len());
        let rows = workers.rows[start..end]
            .iter()
            .enumerate()
            .map(|(offset, row)| self.row(row, start + offset == workers.selected, shown, detail));
        let pick = |(c, s): (&(&'static str, u16, u8), &bool)| s.then_some(*c);
        let widths: Vec<Constraint> = COLUMNS
            .iter()
            .zip(&shown)
            .filter_map(pick)
            .map(|(_, width, _)| {
                if width == 0 {
                    Constraint::Length(detail)
                } else {
                    Constraint::Length(width)
                }
            })
            .collect();
        let names: Vec<&str> = COLUMNS
            .iter()
            .zip(&shown)
            .filter_map(pick)
            .map(|c| c.0)
            .collect();
        let header = Row::new(names).style(Style::new().add_modifier(Modifier::BOLD));
        Table::new(rows, widths)
            .header(header)
            .block(block)
            .render(area, buf);
    }
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
    fn less_important_columns_give_way_first() {
        let (shown, detail) = columns(78);
        assert_eq!(shown, [true; 6]);
        assert_eq!(detail, 78 - 50);
        // No room for a useful result column: it goes, then time, progress.
        assert_eq!(columns(60).0, [true, true, true, true, true, false]);
        assert_eq!(columns(45).0, [true, true, true, true, false, false]);
        assert_eq!(columns(26).0, [true, true, true, false, false, false]);
    }
}
