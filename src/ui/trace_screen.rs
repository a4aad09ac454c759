//! The trace dashboard's state: the program's threads, its GIL lanes in
//! the dashboard's usual timeline state, its output, how it ended, and what
//! the keys do while tracing (quit, zoom, lane scrolling and help; the
//! emulation's keys say they do not apply).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, TryLockError};
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, MouseEventKind};

use super::keys::{Action, KeyMap};
use super::panes::timeline::Timeline;
use super::theme::Theme;
use crate::gil::ThreadTag;
use crate::trace::console::ConsoleLog;
use crate::trace::live::{ThreadRow, thread_rows};
use crate::trace::recorder::Recorder;
use crate::work::WorkerKind;

/// Console lines kept on screen.
const CONSOLE_KEEP: usize = 500;

/// Commands that drive the emulation or its panes: while tracing they say
/// so instead of acting, and the help overlay lists their keys as such.
pub(crate) const INAPPLICABLE: &[Action] = &[
    Action::Spawn(WorkerKind::Fetch),
    Action::Spawn(WorkerKind::File),
    Action::Spawn(WorkerKind::Cpu),
    Action::Spawn(WorkerKind::Sleep),
    Action::ToggleGil,
    Action::CycleGilKind,
    Action::IntervalDown,
    Action::IntervalUp,
    Action::Experiments,
    Action::Race,
    Action::Deadlock,
    Action::Toolbox,
    Action::ToggleUiGil,
    Action::Cancel,
    Action::CancelAll,
    Action::Top,
    Action::Bottom,
    Action::ToggleLogs,
    Action::FocusPane,
    Action::NextPane,
    Action::Confirm,
];

/// What the trace dashboard shows.
#[derive(Debug)]
pub(crate) struct TraceScreen {
    title: String,
    pid: u32,
    timeline: Timeline,
    seq: u64,
    rows: Vec<ThreadRow>,
    rate_base: HashMap<ThreadTag, (u64, Instant)>,
    rates: HashMap<ThreadTag, f64>,
    gil_disabled: bool,
    console: VecDeque<String>,
    console_seq: u64,
    partial: String,
    ended: Option<String>,
    notice: Option<String>,
    help: bool,
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
            gil_disabled: false,
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
            help: false,
            lost: 0,
            attached,
            theme,
            keys,
        }
    }

    /// This screen for a free-threaded build: there is no GIL, the title
    /// says so and the lanes are the threads' scheduler states only.
    pub fn gil_disabled(mut self) -> Self {
        self.title = self.title.replace(
            "real GIL",
            "GIL disabled (free-threaded): thread states only",
        );
        self.gil_disabled = true;
        self
    }

    /// True for a free-threaded build's trace.
    pub(crate) fn is_gil_disabled(&self) -> bool {
        self.gil_disabled
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
    pub(crate) fn switch_rate(&self, tag: ThreadTag) -> f64 {
        self.rates.get(&tag).copied().unwrap_or(0.0)
    }

    /// The newest `n` console lines (the unfinished one last).
    pub(crate) fn console_tail(&self, n: usize) -> Vec<String> {
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
    pub(crate) fn pull(&mut self, recorder: &Mutex<Recorder>, now_ns: u64, lost: u64) {
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
    pub(crate) fn pull_console(&mut self, log: &ConsoleLog) {
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
    pub(crate) fn fit_span(&mut self, run: Duration) {
        let (_, max_ms) = super::panes::timeline::SPAN_RANGE_MS;
        while (self.timeline.span_ms() as u128) < run.as_millis()
            && self.timeline.span_ms() < max_ms
        {
            self.timeline.zoom(false);
        }
    }

    /// The program ended this way.
    pub(crate) fn set_ended(&mut self, text: String) {
        self.ended = Some(text);
    }

    /// Whether the help overlay is open.
    pub fn help_open(&self) -> bool {
        self.help
    }

    /// The key map in force.
    pub fn keys(&self) -> &KeyMap {
        &self.keys
    }

    /// What each key that works while tracing does, in the help
    /// overlay's order (`q` depends on attached, launched or ended).
    pub(crate) fn help_entries(&self) -> Vec<(Action, String)> {
        let quit = if self.attached {
            "detach: the probes go, the program keeps running"
        } else if self.ended.is_some() {
            "quit (the program has ended)"
        } else {
            "stop the program (SIGINT, then SIGTERM, then SIGKILL) and quit"
        };
        [
            (Action::ZoomIn, "zoom the GIL timeline in (down to 25 ms)"),
            (Action::ZoomOut, "zoom the GIL timeline out (up to 10 s)"),
            (
                Action::Up,
                "scroll the lanes to older threads (or the mouse wheel)",
            ),
            (Action::Down, "scroll the lanes back to newer threads"),
            (Action::Help, "this help"),
            (Action::CloseOverlay, "close this help"),
            (Action::Quit, quit),
        ]
        .into_iter()
        .map(|(action, text)| (action, text.to_string()))
        .collect()
    }

    /// A key press; true to quit. While the help is open, any key but
    /// quit and help closes it first (Esc only closes it), as on the main
    /// dashboard.
    pub(crate) fn on_key(&mut self, key: &KeyEvent) -> bool {
        let Some(action) = self.keys.action_for(key) else {
            return false;
        };
        if self.help && !matches!(action, Action::Quit | Action::ForceQuit | Action::Help) {
            self.help = false;
            if action == Action::CloseOverlay {
                return false;
            }
        }
        match action {
            Action::Quit | Action::ForceQuit => return true,
            Action::ZoomIn => self.timeline.zoom(true),
            Action::ZoomOut => self.timeline.zoom(false),
            // Up shows older lanes (above), down the newer ones again.
            Action::Up | Action::Down => self.timeline.scroll_by_one(action == Action::Up),
            Action::Help => self.help = !self.help,
            Action::CloseOverlay => {}
            _ if INAPPLICABLE.contains(&action) => {
                let name = match key.code {
                    KeyCode::Char(c) => c.to_string(),
                    other => format!("{other:?}"),
                };
                self.notice = Some(format!(
                    "{name}: an emulation key; it does not apply to a traced program"
                ));
            }
            _ => {}
        }
        false
    }

    /// The mouse wheel over the timeline (`over_timeline`) scrolls its
    /// lanes, as on the main dashboard; other mouse events do nothing.
    pub(crate) fn on_mouse(&mut self, kind: MouseEventKind, over_timeline: bool) {
        if over_timeline {
            match kind {
                MouseEventKind::ScrollUp => self.timeline.scroll_by_one(true),
                MouseEventKind::ScrollDown => self.timeline.scroll_by_one(false),
                _ => {}
            }
        }
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
    fn help_toggles_with_its_key_closes_on_esc_and_on_any_other_key() {
        let mut screen = screen();
        let esc = KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE);
        assert!(!screen.on_key(&key('?')));
        assert!(screen.help_open());
        assert!(!screen.on_key(&key('?')));
        assert!(!screen.help_open(), "? closes it again");
        screen.on_key(&key('?'));
        assert!(!screen.on_key(&esc));
        assert!(!screen.help_open(), "Esc closes it");
        // Esc with the help closed does nothing (it never quits).
        assert!(!screen.on_key(&esc));
        // Another key closes the help and then acts.
        screen.on_key(&key('?'));
        let span = screen.timeline().span_ms();
        screen.on_key(&key('-'));
        assert!(!screen.help_open());
        assert_eq!(screen.timeline().span_ms(), span * 2);
        // q quits even with the help open.
        screen.on_key(&key('?'));
        assert!(screen.on_key(&key('q')));
    }

    #[test]
    fn the_help_names_what_q_does_in_each_case() {
        let quit = |screen: &TraceScreen| {
            screen
                .help_entries()
                .into_iter()
                .find(|(action, _)| *action == Action::Quit)
                .map(|(_, text)| text)
                .unwrap_or_default()
        };
        let mut launched = screen();
        assert!(quit(&launched).starts_with("stop the program"));
        launched.set_ended("exited with code 0".into());
        assert!(quit(&launched).starts_with("quit"));
        let attached = TraceScreen::new("3.11.7", 100, true, Theme::default(), KeyMap::default());
        assert!(quit(&attached).starts_with("detach"));
        // Nothing is both listed as working and as not applying.
        for (action, _) in launched.help_entries() {
            assert!(!INAPPLICABLE.contains(&action), "{action:?}");
        }
    }

    #[test]
    fn the_final_picture_spans_the_whole_run() {
        let mut screen = screen();
        screen.fit_span(Duration::from_millis(1500));
        assert!(screen.timeline().span_ms() >= 1500);
    }
}
