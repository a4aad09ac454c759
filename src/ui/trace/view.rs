//! Drawing the trace dashboard: [`TraceView`] lays out the header, the
//! thread table, the GIL timeline (the dashboard's usual pane, given the
//! lanes alone), the program's output and the footer, and the help overlay
//! over them when it is open. It reads the [`TraceState`] it is given and
//! changes nothing.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::Widget;

use super::panes::{ThreadTable, TraceConsole, TraceFooter, TraceHeader};
use super::state::{INAPPLICABLE, TraceState};
use crate::ui::panes::help::ModeHelp;
use crate::ui::panes::timeline::draw::TimelinePane;

/// Where each part goes: header, table, timeline, console, footer.
pub(crate) fn layout(area: Rect, rows: usize, console: bool) -> [Rect; 5] {
    let body = area.height.saturating_sub(2);
    let table = (rows as u16 + 3).min(body / 3).max(4);
    let console_rows = if console { (body / 4).clamp(3, 10) } else { 0 };
    let [header, table, timeline, console, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(table),
        Constraint::Min(5),
        Constraint::Length(console_rows),
        Constraint::Length(1),
    ])
    .areas(area);
    [header, table, timeline, console, footer]
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
        let [header, table, timeline, console_area, footer] =
            layout(area, state.rows().len(), self.console);
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
            theme,
        }
        .render(table, buf);
        TimelinePane {
            timeline: state.timeline(),
            workers: None,
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
