//! Drawing the lab pane (in the bottom strip, so the scenario's lanes stay
//! in view on the timeline above) and the toolbox picker. Lines go in
//! order of importance, so a short strip keeps the first: the cycle or the
//! gauge, then the counters, then each thread's state.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};

use super::LabPane;
use crate::sync::scenario::{
    DOWNLOADS, ITEMS_PER_PRODUCER, ORDERED_ROUNDS, PARTIES, QUEUE_MAX, SEMAPHORE_LIMIT,
};
use crate::sync::{LabCounters, LabThreadState, ScenarioKind, ScenarioStatus};
use crate::ui::panes::experiment::centred;
use crate::ui::panes::fit::{Item, cut_words, fit_line, fit_title};
use crate::ui::panes::workers::bar;
use crate::ui::theme::{Role, Theme};
use crate::work::human_bytes;

/// Draws the lab pane.
pub(crate) struct LabView<'a> {
    /// The scenario.
    pub pane: &'a LabPane,
    /// The key that runs the deadlock (for the hint).
    pub deadlock_key: String,
    /// Colours.
    pub theme: &'a Theme,
}

/// A thread's state in words, and its colour.
fn thread_state(state: &LabThreadState) -> (String, Role) {
    match state {
        LabThreadState::Running => ("▶ running".to_string(), Role::Hold),
        LabThreadState::Blocked(on) => (format!("━ blocked on {on}"), Role::Mark),
        LabThreadState::Done => ("✓ done".to_string(), Role::Good),
        LabThreadState::Cancelled => ("■ cancelled".to_string(), Role::Muted),
        LabThreadState::Failed(error) => (format!("✗ {error}"), Role::Bad),
    }
}

fn gauge(label: &str, now: u64, max: u64, extra: String) -> String {
    let ratio = now as f64 / max.max(1) as f64;
    format!("{label} {} {now}/{max} · {extra}", bar(ratio, 8))
}

impl LabView<'_> {
    fn state_text(&self) -> String {
        let pane = self.pane;
        let key = &self.deadlock_key;
        if let Some(error) = &pane.error {
            return error.clone();
        }
        let finished = pane.status.as_ref().is_some_and(|s| s.finished);
        match (pane.kind, finished) {
            (ScenarioKind::Deadlock, true) => format!("broken · {key}: the fix"),
            (ScenarioKind::Deadlock, false) if pane.breaking => "breaking…".to_string(),
            (ScenarioKind::Deadlock, false) => "x/Esc breaks it".to_string(),
            (ScenarioKind::DeadlockOrdered, true) => format!("done · {key}: opposite order"),
            (_, true) if pane.breaking => "stopped".to_string(),
            (_, true) => "done · Esc closes".to_string(),
            (_, false) => "running · Esc stops".to_string(),
        }
    }

    /// The first line: the cycle, a gauge or the releases.
    fn headline(&self, status: &ScenarioStatus, room: usize) -> Line<'static> {
        let theme = self.theme;
        let c = status.counters;
        let text = match self.pane.kind {
            ScenarioKind::Deadlock => match (&status.cycle, status.broken_in_ms) {
                (Some(cycle), _) => {
                    let text = format!("⟳ {cycle}");
                    return Line::from(Span::styled(
                        cut_words(&text, room),
                        theme.fg(Role::Bad).add_modifier(Modifier::BOLD),
                    ));
                }
                (None, Some(ms)) => {
                    format!("deadlock broken: both waits cancelled in {ms:.1} ms")
                }
                (None, None) => "both threads take their first lock…".to_string(),
            },
            ScenarioKind::DeadlockOrdered => format!(
                "rounds holding A and B: {}/{ORDERED_ROUNDS} · one order, no cycle can close",
                c.rounds
            ),
            ScenarioKind::ProducerConsumer => gauge(
                "queue jobs",
                c.depth,
                QUEUE_MAX as u64,
                format!("fullest {}", c.depth_max),
            ),
            ScenarioKind::Semaphore => gauge(
                "in I/O",
                c.in_io,
                SEMAPHORE_LIMIT,
                format!("most at once {} (limit {SEMAPHORE_LIMIT})", c.max_in_io),
            ),
            ScenarioKind::Event | ScenarioKind::Barrier => released(c),
            ScenarioKind::Pool => {
                let running: Vec<String> = status
                    .tasks
                    .iter()
                    .filter(|t| t.result.is_none())
                    .filter_map(|t| Some(format!("{} runs {}", t.thread.as_ref()?, t.id)))
                    .collect();
                let total = status.tasks.len() as u64;
                let queued = gauge("queued", c.depth, total.max(1), String::new());
                let mut items = vec![Item::new(0, "", queued.trim_end_matches(" · ").to_string())];
                items.extend(running.into_iter().map(|r| Item::new(1, " · ", r)));
                return fit_line(items, room);
            }
        };
        Line::from(cut_words(&text, room))
    }

    /// The second line: what the counters add.
    fn counters(&self, status: &ScenarioStatus, room: usize) -> Line<'static> {
        let c = status.counters;
        let total = 2 * ITEMS_PER_PRODUCER;
        let items: Vec<Item> = match self.pane.kind {
            ScenarioKind::Deadlock => match status.detection_us {
                Some(us) => vec![
                    Item::new(
                        0,
                        "",
                        format!("found {:.1} ms after it closed", us as f64 / 1000.0),
                    ),
                    Item::new(1, " · ", "lock waits are cancellable"),
                ],
                None => Vec::new(),
            },
            ScenarioKind::DeadlockOrdered => vec![Item::new(
                0,
                "",
                "the waiting thread blocks on lock A, never holding B",
            )],
            ScenarioKind::ProducerConsumer => vec![
                Item::new(0, "", format!("produced {}/{total}", c.produced)),
                Item::new(0, " · ", format!("consumed {}/{total}", c.consumed)),
                Item::new(
                    1,
                    " · ",
                    format!("producers blocked {}×", c.producer_blocks),
                ),
            ],
            ScenarioKind::Semaphore => vec![
                Item::new(0, "", format!("downloads {}/{DOWNLOADS}", c.downloads)),
                Item::new(1, " · ", human_bytes(c.bytes)),
            ],
            ScenarioKind::Event => vec![Item::new(0, "", "one set() wakes every waiter")],
            ScenarioKind::Barrier => {
                vec![Item::new(0, "", "nobody passes until the last one arrives")]
            }
            ScenarioKind::Pool => {
                let order =
                    |ids: Vec<u64>| ids.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
                let submitted = order(status.tasks.iter().map(|t| t.id).collect());
                vec![
                    Item::new(0, "", format!("submitted {submitted}")),
                    Item::new(
                        0,
                        " · ",
                        format!("completed {}", order(status.completed.clone())),
                    ),
                ]
            }
        };
        fit_line(items, room)
    }

    fn threads(&self, status: &ScenarioStatus, room: usize) -> Line<'static> {
        let theme = self.theme;
        let items = status
            .threads
            .iter()
            .map(|thread| {
                let (text, role) = thread_state(&thread.state);
                Item::spans(
                    0,
                    " · ",
                    vec![
                        Span::raw(format!("{} ", thread.name)),
                        Span::styled(text, theme.fg(role)),
                    ],
                )
            })
            .collect();
        fit_line(items, room)
    }
}

/// The pool's results in completion order, where a tall strip has room.
fn results(status: &ScenarioStatus, room: usize) -> Line<'static> {
    let items = status
        .completed
        .iter()
        .filter_map(|id| status.tasks.iter().find(|t| t.id == *id))
        .map(|task| {
            let result = task.result.clone().unwrap_or_default();
            let thread = task.thread.clone().unwrap_or_default();
            Item::new(0, " · ", format!("#{} {result} ({thread})", task.id))
        })
        .collect();
    fit_line(items, room)
}

fn released(c: LabCounters) -> String {
    if c.released == 0 {
        return format!("released 0/{PARTIES}: waiting…");
    }
    format!(
        "released {}/{PARTIES} · woken within {:.1} ms of each other",
        c.released,
        c.release_spread_us as f64 / 1000.0
    )
}

impl Widget for LabView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let pane = self.pane;
        let name = format!("lab: {}", pane.kind.name());
        let state = self.state_text();
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(self.theme.fg(Role::Accent))
            .title(fit_title(
                &[(0, &name), (1, &state)],
                area.width.saturating_sub(2) as usize,
            ));
        let inner = block.inner(area);
        block.render(area, buf);
        let room = inner.width as usize;
        let lines = match &pane.status {
            Some(status) => vec![
                self.headline(status, room),
                self.counters(status, room),
                self.threads(status, room),
                results(status, room),
            ],
            None => vec![Line::from(cut_words(pane.kind.describe(), room))],
        };
        Paragraph::new(lines).render(inner, buf);
    }
}

/// The toolbox picker: a small centred list over the whole screen.
pub(crate) struct ToolboxPicker {
    /// The selected line.
    pub selected: usize,
}

impl Widget for ToolboxPicker {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let popup = centred(area, 80, ScenarioKind::TOOLBOX.len() as u16 + 4);
        let room = popup.width.saturating_sub(2) as usize;
        let mut lines = vec![Line::from(cut_words(
            " threading's toolbox, on the timeline with every blocked wait:",
            room,
        ))];
        for (i, kind) in ScenarioKind::TOOLBOX.iter().enumerate() {
            let chosen = i == self.selected;
            let style = if chosen {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            let text = format!(
                " {} {:<18} {}",
                if chosen { "▶" } else { " " },
                kind.name(),
                kind.describe()
            );
            lines.push(Line::from(Span::styled(cut_words(&text, room), style)));
        }
        Clear.render(popup, buf);
        let title = fit_title(
            &[
                (0, "Toolbox"),
                (1, "↑↓ choose"),
                (1, "Enter run"),
                (2, "Esc close"),
            ],
            room,
        );
        Paragraph::new(lines)
            .block(Block::default().borders(Borders::ALL).title(title))
            .render(popup, buf);
    }
}
