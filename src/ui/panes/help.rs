//! The help overlay: every command of the key map in force, with its keys.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};

use super::experiment::centred;
use super::fit::{cut_words, fit_title};
use crate::ui::keys::{COMMANDS, KeyMap};

/// The help overlay, centred on the screen.
pub struct HelpOverlay<'a> {
    /// The keys in force.
    pub keys: &'a KeyMap,
}

impl HelpOverlay<'_> {
    /// One line per command, the text cut between words to `room` columns.
    fn entries(&self, room: usize) -> Vec<Line<'static>> {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        COMMANDS
            .iter()
            .map(|command| {
                let keys = self.keys.label(command.action);
                Line::from(vec![
                    Span::styled(format!(" {keys:>9} "), bold),
                    Span::raw(format!(" {}", cut_words(command.help, room))),
                ])
            })
            .chain(std::iter::once(Line::from("    Ctrl-C  quit (always)")))
            .collect()
    }
}

impl Widget for HelpOverlay<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let count = COMMANDS.len() as u16 + 1;
        // Two columns when one does not fit the height and the width allows.
        let columns = if count + 3 > area.height && area.width >= 100 {
            2
        } else {
            1
        };
        let rows = count.div_ceil(columns);
        let width = if columns == 2 {
            area.width.min(150)
        } else {
            80
        };
        let popup = centred(area, width, rows + 3);
        let inner = popup.width.saturating_sub(2) / columns;
        // Key column 11 wide and a space: the rest is for the text.
        let entries = self.entries((inner as usize).saturating_sub(13));
        let mut lines = vec![Line::from("")];
        for row in 0..rows as usize {
            let mut line = entries[row].clone();
            if let Some(right) = entries.get(row + rows as usize).filter(|_| columns == 2) {
                let pad = (inner as usize).saturating_sub(line.width());
                line.spans.push(Span::raw(" ".repeat(pad)));
                line.spans.extend(right.spans.iter().cloned());
            }
            lines.push(line);
        }
        Clear.render(popup, buf);
        let title = fit_title(
            &[
                (0, "Help · keys"),
                (2, "(remap them in the config)"),
                (1, "Esc closes"),
            ],
            popup.width.saturating_sub(2) as usize,
        );
        Paragraph::new(lines)
            .block(Block::default().borders(Borders::ALL).title(title))
            .render(popup, buf);
    }
}
