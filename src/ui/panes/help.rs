//! The help overlay: every command of the key map in force, with its keys.
//! A mode where only some keys work (the trace dashboard) lists those with
//! its own words, and names the keys that do not apply there
//! ([`ModeHelp`]); both are drawn the same way.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};

use super::experiment::centred;
use super::fit::{cut_words, fit_title};
use crate::ui::keys::{Action, COMMANDS, KeyMap};

/// The line every overlay ends its key list with.
const CTRL_C: &str = "    Ctrl-C  quit (always)";

/// The help overlay, centred on the screen.
pub(crate) struct HelpOverlay<'a> {
    /// The keys in force.
    pub keys: &'a KeyMap,
}

/// One key line: the keys bound to a command, bold, then the text cut
/// between words to `room` columns.
fn entry(keys: &str, text: &str, room: usize) -> Line<'static> {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    Line::from(vec![
        Span::styled(format!(" {keys:>9} "), bold),
        Span::raw(format!(" {}", cut_words(text, room))),
    ])
}

impl HelpOverlay<'_> {
    /// One line per command, the text cut between words to `room` columns.
    fn entries(&self, room: usize) -> Vec<Line<'static>> {
        COMMANDS
            .iter()
            .filter(|command| !command.action.trace_only())
            .map(|command| entry(&self.keys.label(command.action), command.help, room))
            .chain(std::iter::once(Line::from(CTRL_C)))
            .collect()
    }
}

impl Widget for HelpOverlay<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let title = [
            (0, "Help · keys"),
            (2, "(remap them in the config)"),
            (1, "Esc closes"),
        ];
        render_overlay(area, buf, &title, &|room| self.entries(room));
    }
}

/// The help overlay of a mode where only some commands apply: `entries`
/// (each action with what it does in this mode), then the keys of
/// `inapplicable` on one line, introduced by `why` ("not while tracing:
/// they drive the emulation").
pub(crate) struct ModeHelp<'a> {
    /// The keys in force.
    pub keys: &'a KeyMap,
    /// The commands that work here, with this mode's words for them.
    pub entries: &'a [(Action, String)],
    /// The commands that do nothing here.
    pub inapplicable: &'a [Action],
    /// Why they do nothing, shown before their keys.
    pub why: &'a str,
    /// What the mode is, in the title (`tracing a real program`).
    pub mode: &'a str,
}

impl ModeHelp<'_> {
    fn lines(&self, room: usize) -> Vec<Line<'static>> {
        let mut lines: Vec<Line<'static>> = self
            .entries
            .iter()
            .map(|(action, text)| entry(&self.keys.label(*action), text, room))
            .collect();
        lines.push(Line::from(CTRL_C));
        let keys: Vec<String> = self
            .inapplicable
            .iter()
            .map(|action| self.keys.label(*action))
            .filter(|label| label != "–")
            .collect();
        if !keys.is_empty() {
            lines.push(Line::from(""));
            lines.push(Line::from(format!(" {}:", cut_words(self.why, room + 11))));
            lines.push(Line::from(Span::styled(
                format!(" {}", cut_words(&keys.join(" "), room + 11)),
                Style::new().add_modifier(Modifier::BOLD),
            )));
        }
        lines
    }
}

impl Widget for ModeHelp<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let title = [(0, "Help · keys"), (2, self.mode), (1, "Esc closes")];
        render_overlay(area, buf, &title, &|room| self.lines(room));
    }
}

/// Draws `lines(room)` (room: columns left for a line's text after the
/// key column) in a bordered popup centred on `area`, in two columns when
/// one does not fit the height and the width allows.
fn render_overlay(
    area: Rect,
    buf: &mut Buffer,
    title: &[(u8, &str)],
    lines: &dyn Fn(usize) -> Vec<Line<'static>>,
) {
    let count = lines(80).len() as u16;
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
    let entries = lines((inner as usize).saturating_sub(13));
    let mut text = vec![Line::from("")];
    for row in 0..rows as usize {
        let Some(left) = entries.get(row) else { break };
        let mut line = left.clone();
        if let Some(right) = entries.get(row + rows as usize).filter(|_| columns == 2) {
            let pad = (inner as usize).saturating_sub(line.width());
            line.spans.push(Span::raw(" ".repeat(pad)));
            line.spans.extend(right.spans.iter().cloned());
        }
        text.push(line);
    }
    Clear.render(popup, buf);
    let title = fit_title(title, popup.width.saturating_sub(2) as usize);
    Paragraph::new(text)
        .block(Block::default().borders(Borders::ALL).title(title))
        .render(popup, buf);
}
