//! The console pane: what the seed demo prints, thread side and main side
//! in their own colours, flowing like `print` output.

use std::collections::VecDeque;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};

use crate::ui::panes::fit::first_fitting;
use crate::ui::theme::{Role, Theme};
use crate::work::ConsoleSide;

/// How many console lines the console pane keeps.
pub(crate) const CONSOLE_LINES: usize = 200;

/// The console's state: the newest [`CONSOLE_LINES`] prints.
#[derive(Debug, Default)]
pub struct Console {
    lines: VecDeque<(ConsoleSide, String)>,
}

impl Console {
    /// The prints kept, oldest first.
    pub fn lines(&self) -> &VecDeque<(ConsoleSide, String)> {
        &self.lines
    }

    pub(in crate::ui) fn push(&mut self, side: ConsoleSide, text: String) {
        if self.lines.len() == CONSOLE_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back((side, text));
    }
}

/// The console pane.
pub(crate) struct ConsolePane<'a> {
    /// Its state.
    pub console: &'a Console,
    /// Colours.
    pub theme: &'a Theme,
    /// Whether it has the keyboard focus (its border says so).
    pub focused: bool,
}

impl Widget for ConsolePane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let title = first_fitting(
            &[
                " Console · seed demo: thread prints 0..4, main prints 5..9 ",
                " Console · thread prints 0..4, main 5..9 ",
                " Console ",
            ],
            area.width.saturating_sub(2) as usize,
        );
        let mut block = Block::default().borders(Borders::ALL).title(title);
        if self.focused {
            block = block.border_style(Style::new().add_modifier(Modifier::BOLD));
        }
        let inner = block.inner(area);
        block.render(area, buf);
        // Lines flow left to right, like `print` output joined with spaces.
        let keep = (inner.width as usize * inner.height as usize) / 3;
        let skip = self.console.lines.len().saturating_sub(keep);
        let mut text: Vec<Span> = Vec::new();
        for (side, value) in self.console.lines.iter().skip(skip) {
            let role = match side {
                ConsoleSide::Thread => Role::ThreadSide,
                ConsoleSide::Main => Role::MainSide,
            };
            text.push(Span::styled(value.as_str(), self.theme.fg(role)));
            text.push(Span::raw(" "));
        }
        let paragraph = if text.is_empty() {
            Paragraph::new(" press s to run the seed demo")
        } else {
            Paragraph::new(Line::from(text)).wrap(Wrap { trim: false })
        };
        paragraph.render(inner, buf);
    }
}
