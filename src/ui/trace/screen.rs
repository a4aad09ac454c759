//! The trace dashboard as a [`Screen`] the runner drives: [`TraceDash`]
//! holds the [`TraceState`] and its read positions; [`TraceLink`] is the
//! world its wakes act on — the live trace (finished when the program
//! ends), the [`LiveFeed`] it reads rows and lanes from, the program's
//! output and the channel that says it ended.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use crossterm::event::{Event, KeyCode, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Position, Rect};

use super::TraceClosed;
use super::state::{TraceEvent, TraceState};
use super::view::{TraceView, layout};
use crate::gil::GilEvent;
use crate::trace::console::ConsoleLog;
use crate::trace::live::LiveFeed;
use crate::trace::{Trace, TraceEnd, TraceReport};
use crate::ui::keys::KeyMap;
use crate::ui::runner::{Feeds, Pacer, Screen, Sources, Wake};

/// The tracer applies events a few ms late (records from all CPUs are
/// sorted first): the picture ends that much before now, so its right edge
/// is never a guess.
const LAG: Duration = Duration::from_millis(6);

/// What the trace screen acts on: the live trace and where its news come from.
pub struct TraceLink {
    /// The live trace, until the program ends (then it is finished and
    /// its report kept); a test may run the screen without one.
    pub trace: Option<Trace>,
    feed: LiveFeed,
    epoch: Instant,
    console: Option<Arc<ConsoleLog>>,
    ended: Option<Receiver<TraceEnd>>,
    /// When the picture froze (the program's end), since the epoch.
    frozen_at: Option<Duration>,
    report: Option<TraceReport>,
}

impl TraceLink {
    /// A link reading `feed`, whose clock starts at `epoch`, with the
    /// program's output (`console`) and `ended`, which says when it ends.
    pub fn new(
        feed: LiveFeed,
        epoch: Instant,
        console: Option<Arc<ConsoleLog>>,
        ended: Receiver<TraceEnd>,
    ) -> Self {
        Self {
            trace: None,
            feed,
            epoch,
            console,
            ended: Some(ended),
            frozen_at: None,
            report: None,
        }
    }

    /// Whether the program has ended (the picture is frozen).
    pub fn has_ended(&self) -> bool {
        self.frozen_at.is_some()
    }

    /// How the dashboard closed: the summary if the program ended, else
    /// the live trace for the caller to stop or detach.
    pub(super) fn closed(self) -> TraceClosed {
        match (self.trace, self.report) {
            (Some(trace), _) => TraceClosed::Quit(trace),
            (None, Some(report)) => TraceClosed::Finished(report),
            // Only a test runs without a trace.
            (None, None) => unreachable!("a dashboard runs with a trace"),
        }
    }

    /// Where the picture ends at `now`: a little before now while the
    /// program runs, where it froze once it ended.
    fn picture_end(&self, now: Instant) -> Duration {
        self.frozen_at.unwrap_or_else(|| {
            now.saturating_duration_since(self.epoch)
                .saturating_sub(LAG)
        })
    }

    /// The program ended (`end`; `None` if its watcher stopped without a
    /// word): the trace is finished, the summary kept. Returns the line
    /// the header shows and how long the program ran.
    fn program_ended(&mut self, end: Option<TraceEnd>, now: Instant) -> Option<(String, Duration)> {
        self.ended = None;
        let end = end?;
        let at = now.saturating_duration_since(self.epoch);
        self.frozen_at = Some(at.saturating_sub(LAG));
        let text = match end_code(end, self.trace.take().map(|trace| trace.finish(end).0)) {
            (Some(code), report) => {
                self.report = report;
                format!("exited with code {code}")
            }
            (None, report) => {
                self.report = report;
                "the program has ended".to_string()
            }
        };
        if let Some(log) = &self.console {
            // Its last words: the pipes close as it exits.
            log.wait_closed(Duration::from_millis(500));
        }
        Some((text, at))
    }
}

/// The exit code the summary gives (`end`'s own when there is no summary:
/// a test's link), and the summary.
fn end_code(end: TraceEnd, report: Option<TraceReport>) -> (Option<i32>, Option<TraceReport>) {
    match report {
        Some(report) => (report.exit_code, Some(report)),
        None => match end {
            TraceEnd::Exited(status) => {
                use std::os::unix::process::ExitStatusExt;
                (
                    status.code().or_else(|| status.signal().map(|s| 128 + s)),
                    None,
                )
            }
            TraceEnd::Gone | TraceEnd::Detached => (None, None),
        },
    }
}

/// The trace screen: its state and its read positions in the feeds.
#[derive(Debug)]
pub struct TraceDash {
    state: TraceState,
    console: bool,
    gil_seq: u64,
    console_seq: u64,
    rows_version: u64,
    gil_events: Vec<GilEvent>,
}

impl TraceDash {
    /// The screen for `state`; `console`: the program's output is shown.
    pub fn new(state: TraceState, console: bool) -> Self {
        Self {
            state,
            console,
            gil_seq: 0,
            console_seq: 0,
            rows_version: 0,
            gil_events: Vec::new(),
        }
    }

    /// The screen's state.
    pub fn state(&self) -> &TraceState {
        &self.state
    }
}

impl Screen for TraceDash {
    type World = TraceLink;

    fn keys(&self) -> &KeyMap {
        self.state.keys()
    }

    fn sources(&self, link: &TraceLink) -> Sources {
        Sources {
            program: link.ended.clone().unwrap_or_else(crossbeam_channel::never),
            ..Sources::default()
        }
    }

    fn deadline(&self, pacer: &Pacer) -> Option<Instant> {
        // While the program runs its picture moves every frame.
        (self.state.dirty() || self.state.ended().is_none()).then_some(pacer.next_frame())
    }

    fn on_wake(&mut self, link: &mut TraceLink, wake: Wake) {
        match wake {
            Wake::Program(end) => {
                // The runner's turn instant is not known here; the end is
                // stamped when it is seen, as the old loop did.
                if let Some((text, run)) = link.program_ended(end, Instant::now()) {
                    self.state.apply(TraceEvent::Ended { text, run });
                }
            }
            Wake::Quit => self.input_closed(),
            _ => {}
        }
    }

    fn input_closed(&mut self) {
        self.state.apply(TraceEvent::InputClosed);
    }

    fn on_event(&mut self, _link: &mut TraceLink, event: Event, area: Rect) -> bool {
        let event = match event {
            Event::Key(key) => {
                let Some(action) = self.state.keys().action_for(&key) else {
                    return false;
                };
                let key = match key.code {
                    KeyCode::Char(c) => c.to_string(),
                    other => format!("{other:?}"),
                };
                TraceEvent::Key { action, key }
            }
            Event::Mouse(mouse) => {
                let sampling = self.state.python().rate_hz > 0;
                let timeline = layout(area, self.state.rows().len(), self.console, sampling)[2];
                let over = timeline.contains(Position::new(mouse.column, mouse.row));
                match mouse.kind {
                    MouseEventKind::ScrollUp if over => TraceEvent::ScrollLanes { older: true },
                    MouseEventKind::ScrollDown if over => TraceEvent::ScrollLanes { older: false },
                    _ => return false,
                }
            }
            Event::Resize(_, _) => {
                self.state.apply(TraceEvent::Resized);
                return false;
            }
            _ => return false,
        };
        // The only command is quit, which the state keeps (see `settle`).
        let _ = self.state.apply(event);
        true
    }

    fn drain(&mut self, _link: &mut TraceLink, _feeds: &Feeds, _catch_up: bool) {}

    fn settle(&mut self, _now: Instant, _keys_waiting: bool) -> bool {
        self.state.quit()
    }

    fn dirty(&self) -> bool {
        self.state.dirty()
    }

    fn animating(&self) -> bool {
        self.state.ended().is_none()
    }

    fn catch_up(&mut self, link: &TraceLink, now: Instant) -> bool {
        let mut news = false;
        self.gil_events.clear();
        if let Some(next) = link
            .feed
            .timeline()
            .try_read_since(self.gil_seq, &mut self.gil_events)
        {
            self.gil_seq = next;
        }
        if !self.gil_events.is_empty() {
            let events = std::mem::take(&mut self.gil_events);
            self.state.apply(TraceEvent::Gil(events));
            news = true;
        }
        if link.feed.version() != self.rows_version {
            let rows = link.feed.rows();
            self.rows_version = rows.version;
            self.state.apply(TraceEvent::Rows { rows, at: now });
            news = true;
        }
        news
    }

    fn before_draw(&mut self, link: &TraceLink, now: Instant) {
        let end = link.picture_end(now);
        self.state.apply(TraceEvent::Clock(end.as_micros() as u64));
        if let Some(log) = &link.console {
            let mut lines = Vec::new();
            if let Some(next) = log.try_read_since(self.console_seq, &mut lines) {
                self.console_seq = next;
                let partial = log.partial();
                self.state.apply(TraceEvent::Console { lines, partial });
            }
        }
    }

    fn needs_clear(&self) -> bool {
        self.state.needs_clear()
    }

    fn draw(&self, frame: &mut Frame, _now: Instant) {
        let view = TraceView {
            state: &self.state,
            console: self.console,
        };
        frame.render_widget(view, frame.area());
    }

    fn drawn(&mut self, _draw_time: Duration, _drawn: Instant, _latencies: &[Duration]) {
        self.state.apply(TraceEvent::Drawn);
    }
}
