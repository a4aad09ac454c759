//! The trace dashboard's own panes, each given only what it draws: the
//! header (`TRACE python 3.11.7 · pid 4242 · real GIL`), the table of the
//! program's threads, the console of its output and the footer. The GIL
//! timeline is the dashboard's usual
//! [`TimelinePane`](crate::ui::panes::timeline::draw::TimelinePane).

use std::collections::HashMap;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Widget};

use crate::gil::{ThreadTag, Transition};
use crate::trace::live::ThreadRow;
use crate::ui::keys::{Action, KeyMap};
use crate::ui::theme::{Role, Theme};

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
    /// `python 3.11.7 · pid 4242 · real GIL`.
    pub title: &'a str,
    /// How the program ended, once it has.
    pub ended: Option<&'a str>,
    /// Probe records the kernel dropped.
    pub lost: u64,
    /// Colours.
    pub theme: &'a Theme,
}

impl Widget for TraceHeader<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let theme = self.theme;
        let mut spans = vec![
            Span::styled(" TRACE", theme.badge(Role::Python)),
            Span::raw(" "),
            Span::styled(
                self.title.to_string(),
                Style::new().add_modifier(Modifier::BOLD),
            ),
        ];
        let state = match self.ended {
            Some(end) => Span::styled(format!(" · {end}"), theme.fg(Role::Accent)),
            None => Span::styled(" · running".to_string(), theme.fg(Role::Good)),
        };
        spans.push(state);
        if self.lost > 0 {
            spans.push(Span::styled(
                format!(" · {} events lost", self.lost),
                theme.fg(Role::Bad),
            ));
        }
        Line::from(spans).render(area, buf);
    }
}

/// The table of the program's threads.
pub(crate) struct ThreadTable<'a> {
    /// The threads, as last published.
    pub rows: &'a [ThreadRow],
    /// Hand-overs per second per thread.
    pub rates: &'a HashMap<ThreadTag, f64>,
    /// A free-threaded build: no GIL columns.
    pub gil_disabled: bool,
    /// The thread selected (Tab), shown reversed.
    pub selected: Option<u32>,
    /// Colours.
    pub theme: &'a Theme,
}

impl Widget for ThreadTable<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let theme = self.theme;
        // Without a GIL (a free-threaded build) there is nothing to hold,
        // wait for or switch: each thread's state only.
        let gil = !self.gil_disabled;
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
        let rows = self.rows.iter().map(|row| {
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
                    Span::raw(format!(
                        "{:5.0}",
                        self.rates.get(&row.tag).copied().unwrap_or(0.0)
                    )),
                    Span::raw(format!("{:.1} ms", row.longest_wait_ms)),
                ]);
            }
            let row_style = if self.selected == Some(row.tid) {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            Row::new(cells).style(row_style)
        });
        let title = format!(" Threads · {} ", self.rows.len());
        let table = Table::new(rows, widths.iter().copied())
            .header(header)
            .block(Block::default().borders(Borders::ALL).title(title));
        Widget::render(table, area, buf);
    }
}

/// The program's output, newest at the bottom.
pub(crate) struct TraceConsole<'a> {
    /// The newest `n` lines, given the pane's height.
    pub tail: &'a dyn Fn(usize) -> Vec<String>,
}

impl Widget for TraceConsole<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let block = Block::default()
            .borders(Borders::ALL)
            .title(" Program output ");
        let inner = block.inner(area);
        block.render(area, buf);
        let lines = (self.tail)(inner.height as usize);
        let text: Vec<Line> = lines.into_iter().map(Line::raw).collect();
        Paragraph::new(text).render(inner, buf);
    }
}

/// The footer: the keys in force, and the latest notice.
pub(crate) struct TraceFooter<'a> {
    /// The key map in force.
    pub keys: &'a KeyMap,
    /// What quitting does here (`detach`, `quit`, `stop the program and quit`).
    pub quit: &'a str,
    /// The latest one-line notice.
    pub notice: Option<&'a str>,
    /// Whether stacks are sampled (their keys are shown).
    pub stacks: bool,
    /// Colours.
    pub theme: &'a Theme,
}

impl Widget for TraceFooter<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let keys = self.keys;
        let quit = self.quit;
        // The first key of each command: the footer is a reminder, the
        // help overlay lists them all.
        let key = |action| {
            let label = keys.label(action);
            label.split(' ').next().unwrap_or_default().to_string()
        };
        let python = if self.stacks {
            format!(
                "{} thread · {} by hold/wait · ",
                key(Action::NextPane),
                key(Action::SortFunctions)
            )
        } else {
            String::new()
        };
        let mut spans = vec![Span::raw(format!(
            " {} {quit} · {}/{} zoom · {python}{} help ",
            key(Action::Quit),
            key(Action::ZoomIn),
            key(Action::ZoomOut),
            key(Action::Help)
        ))];
        if let Some(notice) = self.notice {
            spans.push(Span::styled(
                format!("· {notice}"),
                self.theme.fg(Role::Accent),
            ));
        }
        Line::from(spans).render(area, buf);
    }
}
