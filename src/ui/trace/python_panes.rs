//! The trace screen's Python panes, from the stack samples joined with the
//! probes' exact GIL states: *GIL by function* (which functions held the
//! GIL and which waited for it, for one thread or all) and the stack of
//! the selected thread (or of whoever holds the GIL now). Each is given
//! only what it draws.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Widget};

use super::panes::lane_word;
use crate::trace::functions::SortBy;
use crate::trace::live::{FunctionTable, LivePython, ThreadRow};
use crate::trace::stacks::short_file;
use crate::ui::theme::{Role, Theme};

/// The GIL-by-function table.
pub(crate) struct FunctionsPane<'a> {
    /// What the samples say.
    pub python: &'a LivePython,
    /// The thread shown (`None`: all threads).
    pub thread: Option<&'a ThreadRow>,
    /// The order.
    pub sort: SortBy,
    /// Colours.
    pub theme: &'a Theme,
}

impl FunctionsPane<'_> {
    fn title(&self) -> String {
        let whose = self.thread.map_or("all threads", |t| t.name.as_str());
        let order = match self.sort {
            SortBy::Hold => "by hold",
            SortBy::Wait => "by wait",
        };
        format!(
            " GIL by function · {whose} · {order} · {} samples at {} Hz ",
            self.python.samples, self.python.rate_hz
        )
    }

    fn message(&self) -> Option<String> {
        if let Some(error) = &self.python.error {
            return Some(format!("no Python stacks: {error}"));
        }
        (self.python.samples == 0).then(|| "waiting for the first stack samples…".to_string())
    }
}

impl Widget for FunctionsPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let block = Block::default().borders(Borders::ALL).title(self.title());
        if let Some(message) = self.message() {
            let inner = block.inner(area);
            block.render(area, buf);
            Paragraph::new(Line::styled(message, self.theme.fg(Role::Muted))).render(inner, buf);
            return;
        }
        let tid = self.thread.map(|t| t.tid);
        let empty = FunctionTable {
            tid,
            by: self.sort,
            rows: Vec::new(),
            hold_ns: 0,
        };
        let table = self.python.table(tid, self.sort).unwrap_or(&empty);
        let wide = area.width >= 70;
        let ms = |ns: u64| format!("{:.0}", ns as f64 / 1e6);
        let rows = table.rows.iter().map(|row| {
            let share = if table.hold_ns > 0 {
                row.time.hold_ns as f64 / table.hold_ns as f64 * 100.0
            } else {
                0.0
            };
            let file = row.key.file.rsplit('/').next().unwrap_or_default();
            let mut cells = vec![
                Span::raw(format!("{} {file}:{}", row.key.function, row.time.line())),
                Span::styled(ms(row.time.hold_ns), self.theme.fg(Role::Hold)),
                Span::styled(ms(row.time.wait_ns), self.theme.fg(Role::Wait)),
            ];
            if wide {
                cells.push(Span::raw(ms(row.time.released_ns)));
            }
            cells.push(Span::raw(format!("{share:.0}%")));
            Row::new(cells)
        });
        let mut headings = vec!["function file:line", "hold ms", "wait ms"];
        let mut widths = vec![
            Constraint::Min(16),
            Constraint::Length(7),
            Constraint::Length(7),
        ];
        if wide {
            headings.push("released");
            widths.push(Constraint::Length(9));
        }
        headings.push("hold%");
        widths.push(Constraint::Length(5));
        let header = Row::new(headings).style(Style::new().add_modifier(Modifier::BOLD));
        Widget::render(
            Table::new(rows, widths).header(header).block(block),
            area,
            buf,
        );
    }
}

/// One thread's current Python stack, innermost first.
pub(crate) struct StackPane<'a> {
    /// The thread (`None`: no thread sampled yet).
    pub thread: Option<&'a ThreadRow>,
    /// What the samples say.
    pub python: &'a LivePython,
    /// Whether the program has a GIL (the state words differ).
    pub gil_disabled: bool,
    /// Colours.
    pub theme: &'a Theme,
}

impl Widget for StackPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let Some(thread) = self.thread else {
            let block = Block::default().borders(Borders::ALL).title(" Stack ");
            let inner = block.inner(area);
            block.render(area, buf);
            Paragraph::new(Line::styled("no thread yet", self.theme.fg(Role::Muted)))
                .render(inner, buf);
            return;
        };
        let (word, role) = lane_word(thread.lane, self.gil_disabled);
        let block = Block::default()
            .borders(Borders::ALL)
            .title(format!(" Stack · {} ", thread.name));
        let inner = block.inner(area);
        block.render(area, buf);
        let frames = self.python.stacks.get(&thread.tid);
        let mut lines = vec![Line::styled(word, self.theme.fg(role))];
        lines.extend(match frames {
            Some(frames) if !frames.is_empty() => frames
                .iter()
                .map(|f| {
                    Line::from(vec![
                        Span::styled(
                            f.function.clone(),
                            Style::new().add_modifier(Modifier::BOLD),
                        ),
                        Span::styled(
                            format!("  {}:{}", short_file(&f.file), f.line),
                            self.theme.fg(Role::Muted),
                        ),
                    ])
                })
                .collect::<Vec<_>>(),
            _ => vec![Line::styled(
                "(no Python frames: native or not yet sampled)",
                self.theme.fg(Role::Muted),
            )],
        });
        Paragraph::new(lines).render(inner, buf);
    }
}
