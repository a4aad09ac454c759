//! The help overlay: every command of the key map in force, with its keys.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};

use super::experiment::centred;
use crate::ui::keys::{COMMANDS, KeyMap};

/// The help overlay, centred on the screen.
pub struct HelpOverlay<'a> {
    /// The keys in force.
    pub keys: &'a KeyMap,
}

impl Widget for HelpOverlay<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let popup = centred(area, 76, COMMANDS.len() as u16 + 4);
        let mut lines: Vec<Line> = COMMANDS
            .iter()
            .map(|command| {
                Line::from(vec![
                    Span::styled(
                        format!(" {:>9} ", self.keys.label(command.action)),
                        Style::new().add_modifier(Modifier::BOLD),
                    ),
                    Span::raw(format!(" {}", command.help)),
                ])
            })
            .chain(std::iter::once(Line::from("    Ctrl-C  quit (always)")))
            .collect();
        lines.insert(0, Line::from(""));
        Clear.render(popup, buf);
        Paragraph::new(lines)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" Help · keys (remap them in the config) · Esc closes "),
            )
            .render(popup, buf);
    }
}
