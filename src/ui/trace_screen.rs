//! The trace dashboard's state: the program's threads, its GIL lanes in
//! the dashboard's usual timeline state, its output, how it ended, and what
//! the keys do while tracing (only quit, zoom and help; the emulation's keys
//! say they do not apply).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, TryLockError};
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent};

use super::keys::{Action, KeyMap};
use super::panes::timeline::Timeline;
use super::theme::Theme;
use crate::gil::ThreadTag;
use crate::trace::console::ConsoleLog;
use crate::trace::live::{ThreadRow, thread_rows};
use crate::trace::recorder::Recorder;

/// Console lines kept on screen.
const CONSOLE_KEEP: usize = 500;

/// What the trace dashboard shows.
#[derive(Debug)]
pub struct TraceScreen {
    title: String,
    pid: u32,
    timeline: Timeline,
    seq: u64,
    rows: Vec<ThreadRow>,
    rate_base: HashMap<ThreadTag, (u64, Instant)>,
    rates: HashMap<ThreadTag, f64>,
    console: VecDeque<String>,
    console_seq: u64,
    partial: String,
    ended: Option<String>,
    notice: Option<String>,
    lost: u64,
    attached: bool,
    theme: Theme,
    keys: KeyMap,
}

impl TraceScreen {
    /// A screen for `python VERSION` in process `pid`.
    pub fn new(version: &str, pid: u32, attached: bool, theme: Theme, keys: KeyMap) -> Self {
        Self {
            title: format!("python {version} · pid {pid} · real GIL"),
            pid,
            timeline: Timeline::default(),
            seq: 0,
            rows: Vec::new(),
            rate_base: HashMap::new(),
            rates: HashMap::new(),
            console: VecDeque::new(),
            console_seq: 0,
            partial: String::new(),
            ended: None,
            notice: None,
            lost: 0,
            attached,
            theme,
            keys,
        }
    }

    /// `python 3.11.7 · pid 4242 · real GIL`.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// How the program ended, once it has (`exited with code 0`).
    pub fn ended(&self) -> Option<&str> {
        self.ended.as_deref()
    }

    /// Probe records the kernel dropped.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// The program's threads.
    pub fn rows(&self) -> &[ThreadRow] {
        &self.rows
    }

    /// Hand-overs to this thread per second, over the last second or so.
    pub fn switch_rate(&self, tag: ThreadTag) -> f64 {
        self.rates.get(&tag).copied().unwrap_or(0.0)
    }

    /// The newest `n` console lines (the unfinished one last).
    pub fn console_tail(&self, n: usize) -> Vec<String> {
        let partial = usize::from(!self.partial.is_empty());
        let skip = (self.console.len() + partial).saturating_sub(n);
        let mut lines: Vec<String> = self.console.iter().skip(skip).cloned().collect();
        if partial == 1 {
            lines.push(self.partial.clone());
        }
        lines
    }

    /// Attached rather than launched.
    pub fn attached(&self) -> bool {
        self.attached
    }

    /// The latest one-line notice.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Colours.
    pub fn theme(&self) -> &Theme {
        &self.theme
    }

    /// The timeline's state.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Reads what is new from the recorder; the picture ends at `now_ns`
    /// (ns since the trace's epoch).
    pub fn pull(&mut self, recorder: &Mutex<Recorder>, now_ns: u64, lost: u64) {
        // The tracer thread holds the recorder while it applies a batch of
        // probe hits: a frame never waits for it (the main dashboard reads
        // its rings the same way); what is new shows a frame later.
        let recorder = match recorder.try_lock() {
            Ok(recorder) => recorder,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        let mut events = Vec::new();
        if let Some(next) = recorder.timeline().try_read_since(self.seq, &mut events) {
            self.seq = next;
        }
        self.timeline.apply(&events, |_, _| {});
        self.timeline.set_now(now_ns / 1000);
        self.rows = thread_rows(&recorder, now_ns);
        drop(recorder);
        for row in &self.rows {
            let label = if row.tid == self.pid {
                "main".to_string()
            } else {
                row.tid.to_string()
            };
            self.timeline.set_name(row.tag, label);
        }
        let now = Instant::now();
        for row in &self.rows {
            let base = self.rate_base.entry(row.tag).or_insert((row.switches, now));
            let span = now.duration_since(base.1);
            if span >= Duration::from_secs(1) {
                let rate = (row.switches - base.0) as f64 / span.as_secs_f64();
                self.rates.insert(row.tag, rate);
                *base = (row.switches, now);
            }
        }
        self.lost = lost;
    }

    /// Reads new program output.
    pub fn pull_console(&mut self, log: &ConsoleLog) {
        let mut lines = Vec::new();
        let Some(next) = log.try_read_since(self.console_seq, &mut lines) else {
            return;
        };
        self.console_seq = next;
        for line in lines {
            if self.console.len() == CONSOLE_KEEP {
                self.console.pop_front();
            }
            self.console.push_back(line);
        }
        self.partial = log.partial();
    }

    /// Zooms out until the timeline spans `run` (as far as it can): the
    /// final picture shows the whole run, not its last moments.
    pub fn fit_span(&mut self, run: Duration) {
        let (_, max_ms) = super::panes::timeline::SPAN_RANGE_MS;
        while (self.timeline.span_ms() as u128) < run.as_millis()
            && self.timeline.span_ms() < max_ms
        {
            self.timeline.zoom(false);
        }
    }

    /// The program ended this way.
    pub fn set_ended(&mut self, text: String) {
        self.ended = Some(text);
    }

    /// A key press; true to quit.
    pub fn on_key(&mut self, key: &KeyEvent) -> bool {
        let Some(action) = self.keys.action_for(key) else {
            return false;
        };
        match action {
            Action::Quit | Action::ForceQuit => return true,
            Action::ZoomIn => self.timeline.zoom(true),
            Action::ZoomOut => self.timeline.zoom(false),
            Action::Help => {
                self.notice = Some(
                    "tracing a real program: q quits, +/- zoom the timeline; the other keys drive the emulation"
                        .to_string(),
                );
            }
            Action::Spawn(_)
            | Action::ToggleGil
            | Action::CycleGilKind
            | Action::IntervalDown
            | Action::IntervalUp
            | Action::Cancel
            | Action::CancelAll
            | Action::ToggleUiGil
            | Action::Experiments
            | Action::Confirm => {
                let name = match key.code {
                    KeyCode::Char(c) => c.to_string(),
                    other => format!("{other:?}"),
                };
                self.notice = Some(format!(
                    "{name}: drives the emulation; it does not apply to a traced program"
                ));
            }
            _ => {}
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    fn screen() -> TraceScreen {
        TraceScreen::new("3.11.7", 100, false, Theme::default(), KeyMap::default())
    }

    #[test]
    fn emulation_keys_say_they_do_not_apply_and_q_quits() {
        let mut screen = screen();
        for c in ['f', 'g', 'm', '[', ']', 'u', 'e'] {
            screen.notice = None;
            assert!(!screen.on_key(&key(c)), "{c} does not quit");
            let notice = screen.notice().unwrap_or_default();
            assert!(notice.contains("does not apply"), "{c}: {notice:?}");
        }
        let span = screen.timeline().span_ms();
        screen.on_key(&key('-'));
        assert_eq!(screen.timeline().span_ms(), span * 2);
        assert!(screen.on_key(&key('q')));
    }

    #[test]
    fn the_final_picture_spans_the_whole_run() {
        let mut screen = screen();
        screen.fit_span(Duration::from_millis(1500));
        assert!(screen.timeline().span_ms() >= 1500);
    }
}
