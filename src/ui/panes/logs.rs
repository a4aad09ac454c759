//! The log pane: the newest lines of the process's own log, shown in place
//! of the timeline while it is open.

use std::collections::VecDeque;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Widget};

use crate::ui::keys::{Action, KeyMap};
use crate::ui::panes::fit::fit_title;

/// Log lines kept for the log pane.
pub(crate) const LOG_LINES: usize = 500;

/// The log pane's state.
#[derive(Debug, Default)]
pub struct Logs {
    visible: bool,
    lines: VecDeque<String>,
}

impl Logs {
    /// Whether the pane is shown.
    pub fn visible(&self) -> bool {
        self.visible
    }

    /// Recent log lines, newest last.
    pub fn lines(&self) -> &VecDeque<String> {
        &self.lines
    }

    pub(in crate::ui) fn toggle(&mut self) {
        self.visible = !self.visible;
    }

    pub(in crate::ui) fn extend(&mut self, lines: Vec<String>) {
        for line in lines {
            if self.lines.len() == LOG_LINES {
                self.lines.pop_front();
            }
            self.lines.push_back(line);
        }
    }
}

/// The log pane.
pub(crate) struct LogPane<'a> {
    /// Its state.
    pub logs: &'a Logs,
    /// For the key that hides it.
    pub keys: &'a KeyMap,
}

impl Widget for LogPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let hides = format!("{} hides", self.keys.label(Action::ToggleLogs));
        let title = fit_title(
            &[(0, "Log"), (1, "newest last"), (2, &hides)],
            area.width.saturating_sub(2) as usize,
        );
        let block = Block::default().borders(Borders::ALL).title(title);
        let inner = block.inner(area);
        block.render(area, buf);
        let skip = self.logs.lines.len().saturating_sub(inner.height as usize);
        let lines: Vec<Line> = if self.logs.lines.is_empty() {
            vec![Line::from(" nothing logged yet")]
        } else {
            self.logs
                .lines
                .iter()
                .skip(skip)
                .map(|line| Line::from(line.as_str()))
                .collect()
        };
        Paragraph::new(lines).render(inner, buf);
    }
}
