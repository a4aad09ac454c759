//! Drawing the trace dashboard: [`TraceView`] lays out the header, the
//! thread table, the GIL timeline (the dashboard's usual pane, given the
//! lanes alone), the program's output and the footer, and the help overlay
//! over them when it is open. It reads the [`TraceState`] it is given and
//! changes nothing.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::trace::functions::GilState;
use crate::ui::theme::Role;

use super::panes::{ThreadTable, TraceConsole, TraceFooter, TraceHeader};
use super::python_panes::{FunctionsPane, StackPane};
use super::state::{INAPPLICABLE, TraceState};
use crate::ui::panes::help::ModeHelp;
use crate::ui::panes::timeline::draw::TimelinePane;

/// Where each part goes: header, table, timeline, the Python strip (GIL
/// by function beside the stack; empty without stack samples), console,
/// footer. The timeline keeps at least 5 rows at 80×24.
pub(crate) fn layout(area: Rect, rows: usize, console: bool, python: bool) -> [Rect; 6] {
    let body = area.height.saturating_sub(2);
    let table = (rows as u16 + 3).min(body / 3).max(4);
    let console_rows = match (console, python) {
        (false, _) => 0,
        (true, false) => (body / 4).clamp(3, 10),
        (true, true) => (body / 6).clamp(3, 8),
    };
    let python_rows = if python { (body / 3).clamp(5, 14) } else { 0 };
    let [header, table, timeline, python, console, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(table),
        Constraint::Min(5),
        Constraint::Length(python_rows),
        Constraint::Length(console_rows),
        Constraint::Length(1),
    ])
    .areas(area);
    [header, table, timeline, python, console, footer]
}

/// What the timeline cursor points at, instead of the legend: how far
/// back, then per thread its state and innermost function then.
fn cursor_line(state: &TraceState) -> Option<Line<'static>> {
    let at_us = state.cursor_us()?;
    let back_ms = state.timeline().now_us().saturating_sub(at_us) as f64 / 1000.0;
    let theme = state.theme();
    let mut spans = vec![Span::styled(
        format!(" ◆ −{back_ms:.0} ms"),
        Style::new().add_modifier(Modifier::BOLD),
    )];
    let found = state.at_cursor();
    if found.is_empty() {
        spans.push(Span::raw(" · no stack sample here (←/→ move, Esc hides)"));
    }
    for (name, gil, function) in found {
        let (word, role) = match gil {
            GilState::Holding => ("holds in", Role::Hold),
            GilState::Waiting => ("waits in", Role::Wait),
            GilState::Blocked => ("blocked in", Role::Io),
            GilState::Native => ("native in", Role::Free),
        };
        spans.push(Span::raw(format!(" · {name} ")));
        spans.push(Span::styled(word, theme.fg(role)));
        // The function alone: the pane below names its file and line.
        let function = function.split(" (").next().unwrap_or_default();
        spans.push(Span::raw(format!(" {function}")));
    }
    Some(Line::from(spans))
}

/// GIL by function beside the stack of the selected thread (or of whoever
/// holds the GIL).
fn python_strip(state: &TraceState, area: Rect, buf: &mut Buffer) {
    let theme = state.theme();
    let [functions, stack] =
        Layout::horizontal([Constraint::Percentage(64), Constraint::Percentage(36)]).areas(area);
    let selected = state
        .selected()
        .and_then(|tid| state.rows().iter().find(|r| r.tid == tid));
    FunctionsPane {
        python: state.python(),
        thread: selected,
        sort: state.sort(),
        theme,
    }
    .render(functions, buf);
    StackPane {
        thread: state.stack_thread(),
        python: state.python(),
        gil_disabled: state.is_gil_disabled(),
        theme,
    }
    .render(stack, buf);
}

/// The whole trace dashboard.
pub struct TraceView<'a> {
    /// What to show.
    pub state: &'a TraceState,
    /// Whether the program's output is shown (a launched program's).
    pub console: bool,
}

impl Widget for TraceView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let state = self.state;
        let theme = state.theme();
        let sampling = state.python().rate_hz > 0;
        let [header, table, timeline, python, console_area, footer] =
            layout(area, state.rows().len(), self.console, sampling);
        TraceHeader {
            title: state.title(),
            ended: state.ended(),
            lost: state.lost(),
            theme,
        }
        .render(header, buf);
        ThreadTable {
            rows: state.rows(),
            rates: state.rates(),
            gil_disabled: state.is_gil_disabled(),
            selected: state.selected(),
            theme,
        }
        .render(table, buf);
        if sampling {
            python_strip(state, python, buf);
        }
        TimelinePane {
            cursor_us: state.cursor_us(),
            status: cursor_line(state),
            traced: true,
            timeline: state.timeline(),
            workers: &(),
            theme,
            focused: false,
            title: if state.is_gil_disabled() {
                "Thread states · no GIL"
            } else {
                "GIL timeline"
            },
            states_only: state.is_gil_disabled(),
        }
        .render(timeline, buf);
        if self.console {
            TraceConsole {
                tail: &|n| state.console_tail(n),
            }
            .render(console_area, buf);
        }
        TraceFooter {
            keys: state.keys(),
            quit: state.quit_words(),
            notice: state.notice(),
            stacks: sampling,
            theme,
        }
        .render(footer, buf);
        if state.help_open() {
            ModeHelp {
                keys: state.keys(),
                entries: &state.help_entries(),
                inapplicable: INAPPLICABLE,
                why: "Not while tracing (emulation keys: they say so instead of acting)",
                mode: "tracing a real program",
            }
            .render(area, buf);
        }
    }
}
