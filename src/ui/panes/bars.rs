//! The header (mode, worker tallies, latency) and the footer (keys, the
//! focus and the last notice): one line each, built from ranked items so a
//! narrow screen drops whole items — the mode and `?`/`q` go last.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Paragraph, Widget};

use super::PaneId;
use super::fit::{Item, cut_words, fit_line};
use crate::gil::Mode;
use crate::ui::keys::{Action, COMMANDS, KeyMap};
use crate::ui::theme::{Role, Theme};

/// What the header and the footer show: the few facts of the dashboard
/// they draw, copied out of the app by `App::bars`.
#[derive(Debug, Clone)]
pub(crate) struct BarsView<'a> {
    /// The GIL mode in force (colours the mode).
    pub mode: Mode,
    /// The mode as the header words it (`on · gil · 5.0 ms`).
    pub mode_label: String,
    /// Whether the UI thread runs under the GIL (`u`): a badge.
    pub ui_under_gil: bool,
    /// Workers running, done, failed and cancelled.
    pub workers: WorkerCounts,
    /// The machine's cores.
    pub cores: usize,
    /// Key-to-screen latency's 99th percentile so far, if any key came.
    pub key_p99_ms: Option<f64>,
    /// The keys in force (the footer names them).
    pub keys: &'a KeyMap,
    /// Colours.
    pub theme: &'a Theme,
    /// The focused pane (named while zoomed).
    pub focus: PaneId,
    /// Whether the focused pane fills the screen.
    pub zoomed: bool,
    /// The last notice, if any.
    pub notice: Option<&'a str>,
}

/// How many workers are in each state, for the header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WorkerCounts {
    /// Running.
    pub live: usize,
    /// Finished.
    pub done: usize,
    /// Failed.
    pub failed: usize,
    /// Cancelled.
    pub cancelled: usize,
}

/// The header line.
pub(crate) struct Header<'a> {
    /// What it shows.
    pub view: &'a BarsView<'a>,
}

impl Widget for Header<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let view = self.view;
        let tally = view.workers;
        let theme = view.theme;
        let gil_style = if view.mode == Mode::Free {
            theme.fg(Role::Calm)
        } else {
            theme.fg(Role::Accent).add_modifier(Modifier::BOLD)
        };
        let latency = match view.key_p99_ms {
            Some(ms) => format!("{ms:.1} ms"),
            None => "–".to_string(),
        };
        let brand = Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED);
        let mut items = vec![
            Item::new(1, "", Span::styled(" threadlab ", brand)),
            Item::spans(
                0,
                " ",
                vec![
                    Span::raw("GIL: "),
                    Span::styled(view.mode_label.as_str(), gil_style),
                ],
            ),
        ];
        if view.ui_under_gil {
            let badge = theme.badge(Role::Accent);
            items.push(Item::new(2, " ", Span::styled(" UI under the GIL ", badge)));
        }
        let counts = [
            (3, "  ", format!("running {}", tally.live)),
            (5, " · ", format!("done {}", tally.done)),
            (4, " · ", format!("failed {}", tally.failed)),
            (6, " · ", format!("cancelled {}", tally.cancelled)),
            (8, " · ", format!("cores {}", view.cores)),
            (7, " · ", format!("key→screen p99 {latency}")),
        ];
        items.extend(
            counts
                .into_iter()
                .map(|(rank, sep, text)| Item::new(rank, sep, text)),
        );
        Paragraph::new(fit_line(items, area.width as usize)).render(area, buf);
    }
}

/// The footer line.
pub(crate) struct Footer<'a> {
    /// What it shows.
    pub view: &'a BarsView<'a>,
}

impl Footer<'_> {
    fn key<'a>(&self, rank: u8, action: Action, text: &'a str) -> Item<'a> {
        let label = self.view.keys.label(action);
        let reversed = Style::new().add_modifier(Modifier::REVERSED);
        Item::spans(
            rank,
            "",
            vec![
                Span::styled(format!(" {label} "), reversed),
                Span::raw(format!(" {text} ")),
            ],
        )
    }
}

impl Widget for Footer<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let view = self.view;
        let room = area.width as usize;
        // `? help` and `q quit` are the last to go, then the focus, then
        // the notice (cut between words to half the rest), then the other
        // keys in order.
        let help = self.key(0, Action::Help, "help");
        let quit = self.key(0, Action::Quit, "quit");
        let zoom = view.zoomed.then(|| {
            let back = format!("{} fills the screen · z back", view.focus.name());
            Item::new(
                1,
                " ",
                Span::styled(back, Style::new().add_modifier(Modifier::BOLD)),
            )
        });
        let fixed = help
            .spans
            .iter()
            .chain(&quit.spans)
            .map(Span::width)
            .sum::<usize>()
            + zoom.as_ref().map_or(0, |z| z.spans[0].width() + 1);
        let notice = view.notice.map(|notice| {
            // At most half of what is left, so key hints stay in sight.
            let text = cut_words(notice, room.saturating_sub(fixed) / 2);
            Item::new(
                2,
                "",
                Span::styled(
                    format!(" │ {text}"),
                    Style::new().add_modifier(Modifier::ITALIC),
                ),
            )
        });
        let mut items: Vec<Item> = COMMANDS
            .iter()
            .filter(|c| !c.footer.is_empty() && !matches!(c.action, Action::Help | Action::Quit))
            .enumerate()
            .map(|(i, c)| self.key(3 + i as u8, c.action, c.footer))
            .collect();
        items.extend([help, quit]);
        items.extend(zoom);
        items.extend(notice);
        Paragraph::new(fit_line(items, room)).render(area, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gil::SwitchInterval;
    use crate::ui::app::{App, AppEvent};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn line(app: &App, width: u16, footer: bool) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, 1)).unwrap();
        let view = &app.bars();
        terminal
            .draw(|frame| {
                let area = frame.area();
                if footer {
                    frame.render_widget(Footer { view }, area);
                } else {
                    frame.render_widget(Header { view }, area);
                }
            })
            .unwrap();
        let buffer = terminal.backend().buffer();
        (0..width)
            .map(|x| buffer[(x, 0)].symbol())
            .collect::<String>()
    }

    #[test]
    fn narrow_bars_drop_whole_items_and_keep_mode_help_and_quit() {
        let mut app = App::new(Mode::Gil, SwitchInterval::DEFAULT).with_cores(2);
        app.apply(AppEvent::Action(Action::ToggleUiGil));
        for width in [60u16, 80, 100, 120, 160] {
            let header = line(&app, width, false);
            assert!(
                header.contains("GIL: on · gil · 5.0 ms"),
                "{width}: {header}"
            );
            for word in ["runn", "canc", "key→", "core"] {
                let whole = ["running", "cancelled", "key→screen", "cores"]
                    .iter()
                    .any(|w| w.starts_with(word) && header.contains(w));
                assert!(
                    whole || !header.contains(word),
                    "{width}: cut word in {header}"
                );
            }
            let footer = line(&app, width, true);
            assert!(
                footer.contains(" ? ") && footer.contains(" help "),
                "{width}: {footer}"
            );
            assert!(
                footer.contains(" q ") && footer.contains(" quit "),
                "{width}: {footer}"
            );
        }
        // A long notice leaves room for key hints.
        assert!(line(&app, 100, true).contains(" fetch "));
        assert!(line(&app, 100, true).contains("UI under the GIL: on"));
        assert!(line(&app, 160, false).contains("cores 2"));
        assert!(!line(&app, 80, false).contains("cores"));
    }
}
