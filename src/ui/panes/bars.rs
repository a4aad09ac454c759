//! The header (mode, worker tallies, latency) and the footer (keys and the
//! last notice): one line each.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use crate::gil::Mode;
use crate::ui::app::App;
use crate::ui::keys::{Action, COMMANDS, CommandInfo};
use crate::ui::theme::Role;

/// The header line.
pub struct Header<'a> {
    /// What it shows.
    pub app: &'a App,
}

impl Widget for Header<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.app;
        let tally = app.workers().tally();
        let theme = app.theme();
        let gil_style = if app.mode() == Mode::Free {
            theme.fg(Role::Calm)
        } else {
            theme.fg(Role::Accent).add_modifier(Modifier::BOLD)
        };
        let latency = match app.meter().key_latency_ms(99.0) {
            Some(ms) => format!("{ms:.1} ms"),
            None => "–".to_string(),
        };
        let mut spans = vec![
            Span::styled(
                " threadlab ",
                Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
            ),
            Span::raw(" GIL: "),
            Span::styled(app.mode_label(), gil_style),
        ];
        if app.ui_under_gil() {
            spans.push(Span::raw(" "));
            spans.push(Span::styled(
                " UI under the GIL ",
                theme.badge(Role::Accent),
            ));
        }
        spans.push(Span::raw(format!(
            "  running {} · done {} · failed {} · cancelled {} · cores {} · key→screen p99 {latency}",
            tally.live,
            tally.done,
            tally.failed,
            tally.cancelled,
            app.cores()
        )));
        Paragraph::new(Line::from(spans)).render(area, buf);
    }
}

/// The footer line.
pub struct Footer<'a> {
    /// What it shows.
    pub app: &'a App,
}

impl Widget for Footer<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.app;
        // `? help` and `q quit` always fit; other keys fill the rest in order.
        fn essential(command: &CommandInfo) -> bool {
            matches!(command.action, Action::Help | Action::Quit)
        }
        let entry = |command: &CommandInfo| (app.keys().label(command.action), command.footer);
        let width =
            |(label, footer): &(String, &str)| label.chars().count() + footer.chars().count() + 4;
        let shown: Vec<&CommandInfo> = COMMANDS.iter().filter(|c| !c.footer.is_empty()).collect();
        let essentials: Vec<(String, &str)> = shown
            .iter()
            .filter(|c| essential(c))
            .map(|c| entry(c))
            .collect();
        let mut room = (area.width as usize).saturating_sub(essentials.iter().map(width).sum());
        let mut entries = Vec::new();
        for command in shown.iter().filter(|c| !essential(c)) {
            let item = entry(command);
            if width(&item) > room {
                break;
            }
            room -= width(&item);
            entries.push(item);
        }
        entries.extend(essentials);
        let mut spans = Vec::new();
        for (label, footer) in entries {
            spans.push(Span::styled(
                format!(" {label} "),
                Style::new().add_modifier(Modifier::REVERSED),
            ));
            spans.push(Span::raw(format!(" {footer} ")));
        }
        if let Some(notice) = app.notice() {
            spans.push(Span::styled(
                format!(" │ {notice}"),
                Style::new().add_modifier(Modifier::ITALIC),
            ));
        }
        Paragraph::new(Line::from(spans)).render(area, buf);
    }
}
