//! The trace dashboard's state and its reducer: the program's threads (as
//! the tracer last published them), its GIL lanes in the dashboard's usual
//! timeline state, its output, how it ended, and what the keys do while
//! tracing (quit, zoom, lane scrolling and help; the emulation's keys say
//! they do not apply). It changes only in [`TraceState::apply`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::keys::{Action, KeyMap};
use super::super::panes::timeline::Timeline;
use super::super::theme::Theme;
use crate::gil::{GilEvent, ThreadTag, Transition};
use crate::trace::functions::{GilState, SortBy};
use crate::trace::live::{LivePython, LiveRows, ThreadRow};
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
    Action::Confirm,
];

/// Something that happened, for the trace screen's reducer.
#[derive(Debug, Clone)]
pub enum TraceEvent {
    /// A key (already mapped) was pressed; `key` names it for a notice.
    Key {
        /// What it asks for.
        action: Action,
        /// The key as typed (`f`, `Tab`).
        key: String,
    },
    /// The mouse wheel over the timeline (`older`: towards older lanes).
    ScrollLanes {
        /// Direction.
        older: bool,
    },
    /// The tracer published rows; `at` is when they were read.
    Rows {
        /// What it published.
        rows: Arc<LiveRows>,
        /// When the UI read them (for switch rates).
        at: Instant,
    },
    /// New lane transitions, in order.
    Gil(Vec<GilEvent>),
    /// The picture ends at `now_us` (µs since the trace's epoch).
    Clock(u64),
    /// New program output, and the unfinished line.
    Console {
        /// Finished lines.
        lines: Vec<String>,
        /// The line being written.
        partial: String,
    },
    /// The program ended this way after running `run`: the picture zooms
    /// out to show all of it and stays.
    Ended {
        /// `exited with code 3`.
        text: String,
        /// How long it was traced.
        run: Duration,
    },
    /// The terminal was resized: the next frame repaints everything.
    Resized,
    /// The terminal is gone or a signal asked to stop.
    InputClosed,
    /// A frame went out.
    Drawn,
}

/// What the trace screen asks its loop to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceCommand {
    /// Leave: stop (launched) or detach (attached), or just close (ended).
    Quit,
}

/// What the trace dashboard shows.
#[derive(Debug)]
pub struct TraceState {
    title: String,
    pid: u32,
    timeline: Timeline,
    rows: Vec<ThreadRow>,
    rate_base: HashMap<ThreadTag, (u64, Instant)>,
    rates: HashMap<ThreadTag, f64>,
    gil_disabled: bool,
    console: VecDeque<String>,
    partial: String,
    ended: Option<String>,
    notice: Option<String>,
    help: bool,
    lost: u64,
    attached: bool,
    quit: bool,
    dirty: bool,
    needs_clear: bool,
    theme: Theme,
    keys: KeyMap,
    /// What the stack samples say, as last published.
    python: Arc<LivePython>,
    /// The thread the GIL-by-function pane and the stack show (`None`: all
    /// threads, and the stack of whoever holds the GIL).
    selected: Option<u32>,
    /// The GIL-by-function pane's order.
    sort: SortBy,
    /// The timeline cursor, in 50ths of the visible span back from its
    /// right edge (`None`: no cursor).
    cursor: Option<u64>,
}

/// Cursor steps across the visible span.
pub const CURSOR_STEPS: u64 = 50;

impl TraceState {
    /// A screen for `python VERSION` in process `pid`.
    pub fn new(version: &str, pid: u32, attached: bool, theme: Theme, keys: KeyMap) -> Self {
        Self {
            title: format!("python {version} · pid {pid} · real GIL"),
            gil_disabled: false,
            pid,
            timeline: Timeline::default(),
            rows: Vec::new(),
            rate_base: HashMap::new(),
            rates: HashMap::new(),
            console: VecDeque::new(),
            partial: String::new(),
            ended: None,
            notice: None,
            help: false,
            lost: 0,
            attached,
            quit: false,
            dirty: true,
            needs_clear: false,
            theme,
            keys,
            python: Arc::default(),
            selected: None,
            sort: SortBy::Hold,
            cursor: None,
        }
    }

    /// The timeline cursor's moment, µs since the trace's epoch, if shown.
    pub fn cursor_us(&self) -> Option<u64> {
        let steps = self.cursor?;
        let span_us = self.timeline.span_ms() * 1000;
        Some(
            self.timeline
                .now_us()
                .saturating_sub(span_us * steps / CURSOR_STEPS),
        )
    }

    /// What each thread did at the cursor, from the stack sample nearest
    /// it: `(name, state, function)`; empty without a cursor.
    pub fn at_cursor(&self) -> Vec<(String, GilState, String)> {
        let Some(at_us) = self.cursor_us() else {
            return Vec::new();
        };
        // Near enough: half a cursor step, at least 10 ms (a sample period
        // at the default rate).
        let within_ns = (self.timeline.span_ms() * 1_000_000 / CURSOR_STEPS / 2).max(10_000_000);
        self.rows
            .iter()
            .filter(|r| self.selected.is_none_or(|tid| tid == r.tid))
            .filter_map(|r| {
                let sample = self.python.sample_near(r.tid, at_us * 1000, within_ns)?;
                Some((r.name.clone(), sample.state, sample.function.to_string()))
            })
            .collect()
    }

    fn move_cursor(&mut self, back: bool) {
        self.cursor = match (self.cursor, back) {
            (None, true) => Some(CURSOR_STEPS / 2),
            (None, false) => None,
            (Some(n), true) => Some((n + 1).min(CURSOR_STEPS)),
            (Some(0), false) => None,
            (Some(n), false) => Some(n - 1),
        };
    }

    /// What the stack samples say.
    pub fn python(&self) -> &LivePython {
        &self.python
    }

    /// The thread selected for the GIL-by-function pane (`None`: all).
    pub fn selected(&self) -> Option<u32> {
        self.selected
    }

    /// The GIL-by-function pane's order.
    pub fn sort(&self) -> SortBy {
        self.sort
    }

    /// The thread whose stack is shown: the selected one, else whoever
    /// holds the GIL now (else the first thread sampled).
    pub fn stack_thread(&self) -> Option<&ThreadRow> {
        match self.selected {
            Some(tid) => self.rows.iter().find(|r| r.tid == tid),
            None => self
                .rows
                .iter()
                .find(|r| r.lane == Some(Transition::Hold))
                .or_else(|| {
                    self.rows.iter().find(|r| {
                        self.python
                            .stacks
                            .get(&r.tid)
                            .is_some_and(|s| !s.is_empty())
                    })
                }),
        }
    }

    /// Tab: all threads → each thread in table order → all again.
    fn select_next_thread(&mut self) {
        let tids: Vec<u32> = self
            .rows
            .iter()
            .filter(|r| r.lane != Some(Transition::Exit))
            .map(|r| r.tid)
            .collect();
        self.selected = match self.selected {
            None => tids.first().copied(),
            Some(tid) => tids
                .iter()
                .position(|&t| t == tid)
                .and_then(|i| tids.get(i + 1).copied()),
        };
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

    /// This screen with how the probes' addresses were found in its header
    /// (`… · real GIL · symbols: disassembly`).
    pub fn symbols(mut self, source: &str) -> Self {
        self.title = format!("{} · symbols: {source}", self.title);
        self
    }

    /// This screen for a sampled trace: the title says so and why
    /// (`sampled GIL · run with sudo for exact`), in place of `real GIL`.
    pub fn sampled(mut self, label: &str) -> Self {
        self.title = self.title.replace("real GIL", label);
        self
    }

    /// True for a free-threaded build's trace.
    pub fn is_gil_disabled(&self) -> bool {
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
    pub fn switch_rate(&self, tag: ThreadTag) -> f64 {
        self.rates.get(&tag).copied().unwrap_or(0.0)
    }

    /// Hand-overs per second per thread (see [`Self::switch_rate`]).
    pub fn rates(&self) -> &HashMap<ThreadTag, f64> {
        &self.rates
    }

    /// What quitting does now, for the footer.
    pub fn quit_words(&self) -> &'static str {
        if self.attached {
            "detach"
        } else if self.ended.is_some() {
            "quit"
        } else {
            "stop the program and quit"
        }
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

    /// Whether the help overlay is open.
    pub fn help_open(&self) -> bool {
        self.help
    }

    /// The key map in force.
    pub fn keys(&self) -> &KeyMap {
        &self.keys
    }

    /// Whether the user (or a signal, or a gone terminal) asked to leave.
    pub fn quit(&self) -> bool {
        self.quit
    }

    /// Something changed since the last frame.
    pub fn dirty(&self) -> bool {
        self.dirty
    }

    /// The next frame repaints everything.
    pub fn needs_clear(&self) -> bool {
        self.needs_clear
    }

    /// What each key that works while tracing does, in the help
    /// overlay's order (`q` depends on attached, launched or ended).
    pub fn help_entries(&self) -> Vec<(Action, String)> {
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
            (
                Action::NextPane,
                "select the next thread for GIL by function and the stack (all → each)",
            ),
            (
                Action::SortFunctions,
                "order GIL by function by hold ⇄ by wait",
            ),
            (Action::Help, "this help"),
            (Action::CloseOverlay, "close this help"),
            (Action::Quit, quit),
        ]
        .into_iter()
        .map(|(action, text)| (action, text.to_string()))
        .collect()
    }

    /// The reducer: every change to the screen's state goes through here.
    pub fn apply(&mut self, event: TraceEvent) -> Option<TraceCommand> {
        match event {
            TraceEvent::Key { action, key } => {
                self.dirty = true;
                return self.on_key(action, &key);
            }
            TraceEvent::ScrollLanes { older } => {
                self.timeline.scroll_by_one(older);
                self.dirty = true;
            }
            TraceEvent::Rows { rows, at } => self.on_rows(&rows, at),
            TraceEvent::Gil(events) => {
                self.timeline.apply(&events, |_, _| {});
                self.dirty = true;
            }
            TraceEvent::Clock(now_us) => self.timeline.set_now(now_us),
            TraceEvent::Console { lines, partial } => {
                if lines.is_empty() && partial == self.partial {
                    return None;
                }
                for line in lines {
                    if self.console.len() == CONSOLE_KEEP {
                        self.console.pop_front();
                    }
                    self.console.push_back(line);
                }
                self.partial = partial;
                self.dirty = true;
            }
            TraceEvent::Ended { text, run } => {
                self.fit_span(run);
                self.ended = Some(text);
                self.dirty = true;
            }
            TraceEvent::Resized => {
                self.needs_clear = true;
                self.dirty = true;
            }
            TraceEvent::InputClosed => {
                self.quit = true;
                return Some(TraceCommand::Quit);
            }
            TraceEvent::Drawn => {
                self.dirty = false;
                self.needs_clear = false;
            }
        }
        None
    }

    fn on_rows(&mut self, published: &LiveRows, now: Instant) {
        self.rows.clone_from(&published.rows);
        self.python = Arc::clone(&published.python);
        self.lost = published.lost;
        for row in &self.rows {
            let label = if row.python_named {
                row.name.clone()
            } else if row.tid == self.pid {
                "main".to_string()
            } else {
                row.tid.to_string()
            };
            self.timeline.set_name(row.tag, label);
            let base = self.rate_base.entry(row.tag).or_insert((row.switches, now));
            let span = now.saturating_duration_since(base.1);
            if span >= Duration::from_secs(1) {
                let rate = (row.switches - base.0) as f64 / span.as_secs_f64();
                self.rates.insert(row.tag, rate);
                *base = (row.switches, now);
            }
        }
        self.dirty = true;
    }

    /// Zooms out until the timeline spans `run` (as far as it can): the
    /// final picture shows the whole run, not its last moments.
    fn fit_span(&mut self, run: Duration) {
        let (_, max_ms) = super::super::panes::timeline::SPAN_RANGE_MS;
        while (self.timeline.span_ms() as u128) < run.as_millis()
            && self.timeline.span_ms() < max_ms
        {
            self.timeline.zoom(false);
        }
    }

    /// A key's action. While the help is open, any key but quit and help
    /// closes it first (Esc only closes it), as on the main dashboard.
    fn on_key(&mut self, action: Action, key: &str) -> Option<TraceCommand> {
        if self.help && !matches!(action, Action::Quit | Action::ForceQuit | Action::Help) {
            self.help = false;
            if action == Action::CloseOverlay {
                return None;
            }
        }
        match action {
            Action::Quit | Action::ForceQuit => {
                self.quit = true;
                return Some(TraceCommand::Quit);
            }
            Action::ZoomIn => self.timeline.zoom(true),
            Action::ZoomOut => self.timeline.zoom(false),
            // Up shows older lanes (above), down the newer ones again.
            Action::Up | Action::Down => self.timeline.scroll_by_one(action == Action::Up),
            Action::Help => self.help = !self.help,
            Action::NextPane => self.select_next_thread(),
            Action::SortFunctions => {
                self.sort = match self.sort {
                    SortBy::Hold => SortBy::Wait,
                    SortBy::Wait => SortBy::Hold,
                };
            }
            Action::CursorLeft | Action::CursorRight => {
                self.move_cursor(action == Action::CursorLeft);
            }
            // Esc takes the cursor away (the help, if open, went first).
            Action::CloseOverlay => self.cursor = None,
            _ if INAPPLICABLE.contains(&action) => {
                self.notice = Some(format!(
                    "{key}: an emulation key; it does not apply to a traced program"
                ));
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(state: &mut TraceState, c: char) -> bool {
        let action = state
            .keys()
            .action_for(&crossterm::event::KeyEvent::new(
                crossterm::event::KeyCode::Char(c),
                crossterm::event::KeyModifiers::NONE,
            ))
            .expect("a bound key");
        press(state, action, &c.to_string())
    }

    fn press(state: &mut TraceState, action: Action, key: &str) -> bool {
        let key = key.to_string();
        state.apply(TraceEvent::Key { action, key }) == Some(TraceCommand::Quit)
    }

    fn esc(state: &mut TraceState) -> bool {
        press(state, Action::CloseOverlay, "Esc")
    }

    fn screen() -> TraceState {
        TraceState::new("3.11.7", 100, false, Theme::default(), KeyMap::default())
    }

    #[test]
    fn the_header_says_where_the_symbols_were_found() {
        let state = screen().symbols("disassembly");
        assert_eq!(
            state.title(),
            "python 3.11.7 · pid 100 · real GIL · symbols: disassembly"
        );
    }

    fn ended(state: &mut TraceState) {
        state.apply(TraceEvent::Ended {
            text: "exited with code 0".into(),
            run: Duration::from_millis(10),
        });
    }

    #[test]
    fn emulation_keys_say_they_do_not_apply_and_q_quits() {
        let mut screen = screen();
        for c in ['f', 'g', 'm', '[', ']', 'u', 'e'] {
            screen.notice = None;
            assert!(!key(&mut screen, c), "{c} does not quit");
            let notice = screen.notice().unwrap_or_default();
            assert!(notice.contains("does not apply"), "{c}: {notice:?}");
        }
        let span = screen.timeline().span_ms();
        key(&mut screen, '-');
        assert_eq!(screen.timeline().span_ms(), span * 2);
        assert!(key(&mut screen, 'q'));
        assert!(screen.quit());
    }

    #[test]
    fn help_toggles_with_its_key_closes_on_esc_and_on_any_other_key() {
        let mut screen = screen();
        assert!(!key(&mut screen, '?'));
        assert!(screen.help_open());
        assert!(!key(&mut screen, '?'));
        assert!(!screen.help_open(), "? closes it again");
        key(&mut screen, '?');
        assert!(!esc(&mut screen));
        assert!(!screen.help_open(), "Esc closes it");
        // Esc with the help closed does nothing (it never quits).
        assert!(!esc(&mut screen));
        // Another key closes the help and then acts.
        key(&mut screen, '?');
        let span = screen.timeline().span_ms();
        key(&mut screen, '-');
        assert!(!screen.help_open());
        assert_eq!(screen.timeline().span_ms(), span * 2);
        // q quits even with the help open.
        key(&mut screen, '?');
        assert!(key(&mut screen, 'q'));
    }

    #[test]
    fn the_help_names_what_q_does_in_each_case() {
        let quit = |screen: &TraceState| {
            screen
                .help_entries()
                .into_iter()
                .find(|(action, _)| *action == Action::Quit)
                .map(|(_, text)| text)
                .unwrap_or_default()
        };
        let mut launched = screen();
        assert!(quit(&launched).starts_with("stop the program"));
        ended(&mut launched);
        assert!(quit(&launched).starts_with("quit"));
        let attached = TraceState::new("3.11.7", 100, true, Theme::default(), KeyMap::default());
        assert!(quit(&attached).starts_with("detach"));
        // Nothing is both listed as working and as not applying.
        for (action, _) in launched.help_entries() {
            assert!(!INAPPLICABLE.contains(&action), "{action:?}");
        }
    }

    #[test]
    fn the_final_picture_spans_the_whole_run() {
        let mut screen = screen();
        screen.apply(TraceEvent::Ended {
            text: "exited with code 0".into(),
            run: Duration::from_millis(1500),
        });
        assert!(screen.timeline().span_ms() >= 1500);
        assert_eq!(screen.ended(), Some("exited with code 0"));
    }
}
