//! The race pane: a race of the coordination lab started with `r`, live —
//! the increments done (expected), the counter as it stands, and the
//! updates lost. It shows where the console strip is, so the racing
//! threads' lanes stay in view on the timeline above.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Paragraph, Widget};

use crate::gil::Mode;
use crate::gil::model::PythonVersion;
use crate::sync::{Body, RaceOutcome, RaceProgress};
use crate::ui::panes::fit::{Item, fit_line, fit_title};
use crate::ui::theme::{Role, Theme};

/// Threads in a race started from the dashboard.
pub(crate) const RACE_THREADS: u32 = 4;
/// Increments per thread in a race started from the dashboard (a second
/// or two: long enough to watch).
pub(crate) const RACE_INCREMENTS: u64 = 1_000_000;

/// What the run loop reports about the race.
#[derive(Debug, Clone, PartialEq)]
pub enum RaceUpdate {
    /// It started.
    Started {
        /// The loop body.
        body: Body,
        /// The GIL mode it runs in.
        mode: Mode,
        /// Whose eval-breaker model.
        version: PythonVersion,
    },
    /// The numbers now.
    Progress(RaceProgress),
    /// It ended: its outcome, or why not.
    Finished(Result<RaceOutcome, String>),
    /// It could not start.
    Failed(String),
}

/// The race shown in the pane.
#[derive(Debug, Clone, PartialEq)]
pub struct RacePane {
    /// The loop body.
    pub body: Body,
    /// The GIL mode.
    pub mode: Mode,
    /// Whose eval-breaker model.
    pub version: PythonVersion,
    /// The numbers so far (final once finished).
    pub progress: RaceProgress,
    /// Ended (with `error` set if it failed or was cancelled).
    pub finished: bool,
    /// Why it did not finish.
    pub error: Option<String>,
}

/// The pane's state: the race shown, and which body comes next.
#[derive(Debug, Default)]
pub struct Races {
    pane: Option<RacePane>,
    next: usize,
}

impl Races {
    /// The race shown, if any.
    pub fn pane(&self) -> Option<&RacePane> {
        self.pane.as_ref()
    }

    /// True while a race runs.
    pub fn running(&self) -> bool {
        self.pane.as_ref().is_some_and(|p| !p.finished)
    }

    /// The body the next `r` races: plain, call, locked in turn.
    pub(in crate::ui) fn take_next_body(&mut self) -> Body {
        let body = Body::ALL[self.next % Body::ALL.len()];
        self.next += 1;
        body
    }

    /// Closes the pane; `Some(true)` if its race was still running.
    pub(in crate::ui) fn close(&mut self) -> Option<bool> {
        let pane = self.pane.take()?;
        Some(!pane.finished)
    }

    pub(in crate::ui) fn apply(&mut self, update: RaceUpdate) {
        match update {
            RaceUpdate::Started {
                body,
                mode,
                version,
            } => {
                self.pane = Some(RacePane {
                    body,
                    mode,
                    version,
                    progress: RaceProgress::default(),
                    finished: false,
                    error: None,
                });
            }
            RaceUpdate::Progress(progress) => {
                if let Some(pane) = self.pane.as_mut() {
                    pane.progress = progress;
                }
            }
            RaceUpdate::Finished(outcome) => {
                if let Some(pane) = self.pane.as_mut() {
                    pane.finished = true;
                    match outcome {
                        Ok(outcome) => {
                            pane.progress = RaceProgress {
                                expected: outcome.expected,
                                counter: outcome.counter,
                                clobbers: outcome.clobbers,
                            };
                        }
                        Err(error) => pane.error = Some(error),
                    }
                }
            }
            RaceUpdate::Failed(error) => {
                self.pane = None;
                tracing::warn!(%error, "race did not start");
            }
        }
    }
}

/// Draws the race pane.
pub(crate) struct RaceView<'a> {
    /// The race.
    pub pane: &'a RacePane,
    /// Colours.
    pub theme: &'a Theme,
}

impl Widget for RaceView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let pane = self.pane;
        let theme = self.theme;
        let state = match (&pane.error, pane.finished) {
            (Some(error), _) => error.clone(),
            (None, true) => "done · r: next body".to_string(),
            (None, false) => "running · Esc stops".to_string(),
        };
        let name = format!("race: {}", pane.body.source());
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.fg(Role::Accent))
            .title(fit_title(
                &[(0, &name), (1, &state)],
                area.width.saturating_sub(2) as usize,
            ));
        let inner = block.inner(area);
        block.render(area, buf);
        let room = inner.width as usize;
        let lost = pane.progress.lost();
        let lost_role = if lost > 0 { Role::Bad } else { Role::Good };
        let mode = match pane.mode {
            Mode::Free => "free-threaded".to_string(),
            mode => format!("{mode}, {} model", pane.version),
        };
        let numbers = fit_line(
            vec![
                Item::new(
                    0,
                    " · ",
                    Span::styled(
                        format!("lost {lost}"),
                        theme.fg(lost_role).add_modifier(Modifier::BOLD),
                    ),
                ),
                Item::new(1, " · ", format!("expected {}", pane.progress.expected)),
                Item::new(2, " · ", format!("counter {}", pane.progress.counter)),
            ],
            room,
        );
        let setup = fit_line(
            vec![
                Item::new(
                    1,
                    " · ",
                    format!("{RACE_THREADS} threads × {RACE_INCREMENTS}"),
                ),
                Item::new(0, " · ", mode),
            ],
            room,
        );
        let clobbers = fit_line(
            vec![Item::new(
                0,
                "",
                Span::styled(
                    format!(
                        "stores that overwrote another thread's update: {}",
                        pane.progress.clobbers
                    ),
                    theme.fg(Role::Muted),
                ),
            )],
            room,
        );
        Paragraph::new(vec![numbers, setup.style(Style::default()), clobbers]).render(inner, buf);
    }
}
