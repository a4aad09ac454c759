//! The trace dashboard's own panes: the header (`TRACE python 3.11.7 · pid
//! 4242 · real GIL`), the table of the program's threads, the console of
//! its output and the footer. The GIL timeline is the dashboard's usual
//! [`TimelinePane`](super::panes::timeline::draw::TimelinePane).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Widget};

use super::keys::Action;
use super::theme::{Role, Theme};
use super::trace_screen::TraceScreen;
use crate::gil::Transition;

/// A lane as a word and the role that colours it (never colour alone).
/// Without a GIL (a free-threaded build) a thread on a CPU runs Python
/// itself, not native code beside it.
pub(crate) fn lane_word(lane: Option<Transition>, gil_disabled: bool) -> (&'static str, Role) {
    match lane {
        Some(Transition::Hold) => ("▶ holds GIL", Role::Hold),
        Some(Transition::Wait) => ("… waits", Role::Wait),
        Some(Transition::Io) => ("⇅ blocked", Role::Io),
        Some(Transition::Run) if gil_disabled => ("▒ running", Role::Free),
        Some(Transition::Run) => ("▒ native", Role::Free),
        Some(Transition::Exit) => ("✓ exited", Role::Muted),
        _ => ("·", Role::Muted),
    }
}

/// The header line.
pub(crate) struct TraceHeader<'a> {
    /// What to show.
    pub screen: &'a TraceScreen,
}

impl Widget for TraceHeader<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let screen = self.screen;
        let theme = screen.theme();
        let mut spans = vec![
            Span::styled(" TRACE", theme.badge(Role::Python)),
            Span::raw(" "),
            Span::styled(
                screen.title().to_string(),
                Style::new().add_modifier(Modifier::BOLD),
            ),
        ];
        let state = match screen.ended() {
            Some(end) => Span::styled(format!(" · {end}"), theme.fg(Role::Accent)),
            None => Span::styled(" · running".to_string(), theme.fg(Role::Good)),
        };
        spans.push(state);
        if screen.lost() > 0 {
            spans.push(Span::styled(
                format!(" · {} events lost", screen.lost()),
                theme.fg(Role::Bad),
            ));
        }
        Line::from(spans).render(area, buf);
    }
}

/// The table of the program's threads.
pub(crate) struct ThreadTable<'a> {
    /// What to show.
    pub screen: &'a TraceScreen,
}

impl Widget for ThreadTable<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let screen = self.screen;
        let theme = screen.theme();
        // Without a GIL (a free-threaded build) there is nothing to hold,
        // wait for or switch: each thread's state only.
        let gil = !screen.is_gil_disabled();
        let (headings, widths): (&[&str], &[Constraint]) = if gil {
            (
                &[
                    "tid",
                    "name",
                    "state",
                    "hold %",
                    "wait %",
                    "sw/s",
                    "longest wait",
                ],
                &[
                    Constraint::Length(8),
                    Constraint::Length(16),
                    Constraint::Length(12),
                    Constraint::Length(7),
                    Constraint::Length(7),
                    Constraint::Length(6),
                    Constraint::Min(10),
                ],
            )
        } else {
            (
                &["tid", "name", "state"],
                &[
                    Constraint::Length(8),
                    Constraint::Length(16),
                    Constraint::Min(12),
                ],
            )
        };
        let header =
            Row::new(headings.iter().copied()).style(Style::new().add_modifier(Modifier::BOLD));
        let rows = screen.rows().iter().map(|row| {
            let (word, role) = lane_word(row.lane, !gil);
            let mut cells = vec![
                Span::raw(row.tid.to_string()),
                Span::raw(row.name.clone()),
                Span::styled(word, theme.fg(role)),
            ];
            if gil {
                cells.extend([
                    Span::raw(format!("{:5.1}", row.hold_pct)),
                    Span::raw(format!("{:5.1}", row.wait_pct)),
                    Span::raw(format!("{:5.0}", screen.switch_rate(row.tag))),
                    Span::raw(format!("{:.1} ms", row.longest_wait_ms)),
                ]);
            }
            Row::new(cells)
        });
        let title = format!(" Threads · {} ", screen.rows().len());
        let table = Table::new(rows, widths.iter().copied())
            .header(header)
            .block(Block::default().borders(Borders::ALL).title(title));
        Widget::render(table, area, buf);
    }
}

/// The program's output, newest at the bottom.
pub(crate) struct TraceConsole<'a> {
    /// What to show.
    pub screen: &'a TraceScreen,
}

impl Widget for TraceConsole<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let block = Block::default()
            .borders(Borders::ALL)
            .title(" Program output ");
        let inner = block.inner(area);
        block.render(area, buf);
        let lines = self.screen.console_tail(inner.height as usize);
        let text: Vec<Line> = lines.into_iter().map(Line::raw).collect();
        Paragraph::new(text).render(inner, buf);
    }
}

/// The footer: keys, and the latest notice.
pub(crate) struct TraceFooter<'a> {
    /// What to show.
    pub screen: &'a TraceScreen,
    /// Colours.
    pub theme: &'a Theme,
}

impl Widget for TraceFooter<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let screen = self.screen;
        let keys = screen.keys();
        // The first key of each command: the footer is a reminder, the
        // help overlay lists them all.
        let key = |action| {
            let label = keys.label(action);
            label.split(' ').next().unwrap_or_default().to_string()
        };
        let quit = if screen.attached() {
            "detach"
        } else if screen.ended().is_some() {
            "quit"
        } else {
            "stop the program and quit"
        };
        let mut spans = vec![Span::raw(format!(
            " {} {quit} · {}/{} zoom · {} help ",
            key(Action::Quit),
            key(Action::ZoomIn),
            key(Action::ZoomOut),
            key(Action::Help)
        ))];
        if let Some(notice) = screen.notice() {
            spans.push(Span::styled(
                format!("· {notice}"),
                self.theme.fg(Role::Accent),
            ));
        }
        Line::from(spans).render(area, buf);
    }
}
