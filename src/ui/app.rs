//! The dashboard's state and its reducer.
//!
//! [`App::apply`] is the only place state changes: worker events, GIL
//! timeline batches, key actions and frame reports all go through it, and
//! key actions come back out as [`Command`]s for the run loop to carry out
//! on the pool and the GIL. Tests drive it directly, without a terminal.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::gil::{GilEvent, Mode, SwitchInterval, ThreadTag, Transition};
use crate::lab::{Experiment, Report, SuiteEvent};
use crate::work::{ConsoleSide, WorkerEvent, WorkerId, WorkerKind};

use super::keys::{Action, KeyMap};
use super::theme::Theme;

/// How many console lines the console pane keeps.
pub const CONSOLE_LINES: usize = 200;
/// How much GIL history the timeline keeps (and shows at most).
pub const TIMELINE_WINDOW_US: u64 = 10_000_000;
/// Changes kept per lane: legacy mode can hand over 100,000 times a second.
pub const LANE_CHANGES: usize = 20_000;
/// The timeline's span at start, ms.
pub const DEFAULT_SPAN_MS: u64 = 100;
/// Shortest and longest timeline spans, ms (zoom keys stop there).
pub const SPAN_RANGE_MS: (u64, u64) = (25, 10_000);
/// Log lines kept for the log pane.
pub const LOG_LINES: usize = 500;
/// Latencies kept for the responsiveness sparkline.
pub const RECENT_LATENCIES: usize = 120;

/// Where a worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    /// Running (what exactly is in [`WorkerRow::lane`]).
    Live,
    /// Finished its work.
    Done,
    /// Stopped on an error.
    Failed,
    /// Stopped on cancel.
    Cancelled,
}

/// One worker as the dashboard knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRow {
    /// The worker's id.
    pub id: WorkerId,
    /// What it does.
    pub kind: WorkerKind,
    /// Alive or how it ended.
    pub life: Life,
    /// What it is doing right now, from the GIL timeline.
    pub lane: Transition,
    /// Units done.
    pub done: u64,
    /// Units in all, when known.
    pub total: Option<u64>,
    /// When it was spawned.
    pub started: Instant,
    /// When its last progress was measured.
    pub last_progress: Instant,
    /// When it ended.
    pub ended: Option<Instant>,
    /// Summary on success, message on failure.
    pub message: Option<String>,
    /// Its lane on the GIL timeline, once started.
    pub thread: Option<ThreadTag>,
}

impl WorkerRow {
    /// Fraction done in 0..=1, when the total is known.
    pub fn ratio(&self) -> Option<f64> {
        match (self.life, self.total) {
            (Life::Done, _) => Some(1.0),
            (_, Some(total)) if total > 0 => Some((self.done as f64 / total as f64).min(1.0)),
            _ => None,
        }
    }

    /// Average units per second since it started.
    pub fn rate(&self) -> f64 {
        let end = self.ended.unwrap_or(self.last_progress);
        let secs = end.duration_since(self.started).as_secs_f64();
        if secs > 0.0 {
            self.done as f64 / secs
        } else {
            0.0
        }
    }

    /// Time since it started (until it ended).
    pub fn elapsed(&self, now: Instant) -> Duration {
        self.ended
            .unwrap_or(now)
            .saturating_duration_since(self.started)
    }
}

/// An experiment run from the dashboard: its progress, then its results.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentPane {
    /// Which experiment.
    pub experiment: Experiment,
    /// Measurements finished.
    pub done: usize,
    /// Measurements in all.
    pub total: usize,
    /// One report per mode, as they arrive.
    pub reports: Vec<Report>,
    /// Set if it failed.
    pub error: Option<String>,
    /// Set once every mode ran.
    pub finished: bool,
}

/// One lane of GIL history: which state the thread entered at which time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lane {
    /// `(at_us, state)` in time order; marks are kept in `marks`.
    pub changes: VecDeque<(u64, Transition)>,
    /// Forced drops and drop requests.
    pub marks: VecDeque<(u64, Transition)>,
}

/// Something that happened, for the reducer.
#[derive(Debug, Clone)]
pub enum AppEvent {
    /// A key (already mapped) was pressed.
    Action(Action),
    /// The run loop started worker `id`.
    Spawned {
        /// Its id.
        id: WorkerId,
        /// Its kind.
        kind: WorkerKind,
        /// When.
        at: Instant,
    },
    /// The run loop could not start a worker.
    SpawnFailed(String),
    /// A message from a worker.
    Worker(WorkerEvent),
    /// New GIL transitions, in order.
    Gil(Vec<GilEvent>),
    /// A frame showing a key's effect finished, `latency` after the key was read.
    KeyShown {
        /// Read-to-screen time.
        latency: Duration,
    },
    /// The terminal was resized.
    Resized,
    /// News from the experiment running in the background.
    Lab(SuiteEvent),
    /// New lines for the log pane.
    Logs(Vec<String>),
    /// A mouse click on the worker table's row `index` (0 = first worker).
    ClickRow(usize),
    /// The mouse wheel over the worker table (`down` = towards newer rows).
    ScrollTable {
        /// Direction.
        down: bool,
    },
    /// The mouse wheel over the timeline (`down` = towards older lanes).
    ScrollTimeline {
        /// Direction.
        down: bool,
    },
    /// A frame was drawn in `draw_time`, after `events` events were applied.
    FrameDrawn {
        /// Time to build and flush the frame.
        draw_time: Duration,
        /// When it finished.
        at: Instant,
    },
}

/// An effect the run loop must carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Spawn a worker.
    Spawn(WorkerKind),
    /// Cancel one worker.
    Cancel(WorkerId),
    /// Cancel every live worker.
    CancelAll,
    /// Switch the GIL mode.
    SetMode(Mode),
    /// Set the switch interval.
    SetInterval(SwitchInterval),
    /// Make the UI thread take the GIL to handle events and draw (or stop).
    SetUiUnderGil(bool),
    /// Run an experiment in every mode, in the background.
    RunExperiment(Experiment),
    /// Stop the running experiment.
    CancelExperiment,
    /// Leave.
    Quit,
}

/// The whole dashboard state.
#[derive(Debug)]
pub struct App {
    /// The GIL mode in force.
    pub mode: Mode,
    /// The mode `g` switches on (gil or legacy).
    pub on_mode: Mode,
    /// The switch interval in force.
    pub interval: SwitchInterval,
    /// Every worker ever spawned, by ascending id.
    pub rows: Vec<WorkerRow>,
    /// Index of the selected row.
    pub selected: usize,
    /// The console pane's lines (the seed example's prints).
    pub console: VecDeque<(ConsoleSide, String)>,
    /// GIL history per thread.
    pub lanes: HashMap<ThreadTag, Lane>,
    /// When the GIL became held (`true`) or free (`false`), whoever held
    /// it: the timeline's load comes from this one list, not from every lane.
    pub gil_held: VecDeque<(u64, bool)>,
    /// The lane that took the GIL last and has not left its hold.
    gil_holder: Option<ThreadTag>,
    /// The timeline clock's latest reading seen (µs).
    pub gil_now_us: u64,
    /// Whether the help overlay is open.
    pub help: bool,
    /// Set once the user asked to quit.
    pub quit: bool,
    /// The last notice for the footer.
    pub notice: Option<String>,
    /// Logical CPU cores.
    pub cores: usize,
    /// Key-to-screen latency, µs.
    pub key_latency: Histogram<u64>,
    /// Recent key-to-screen latencies (µs), newest last, for the sparkline.
    pub recent_latency: VecDeque<u64>,
    /// Time to build and draw one frame, µs.
    pub frame_time: Histogram<u64>,
    /// Events applied per second, measured over the last full second.
    pub events_per_s: u64,
    /// Whether the UI thread itself must take the GIL to handle input and draw.
    pub ui_under_gil: bool,
    /// The UI thread's lane on the timeline.
    pub ui_thread: Option<ThreadTag>,
    /// How much time the timeline pane spans, ms.
    pub timeline_span_ms: u64,
    /// The key map in force (the views show it, the run loop reads keys with it).
    pub keys: KeyMap,
    /// The colour theme.
    pub theme: Theme,
    /// Whether the log pane is shown.
    pub logs_visible: bool,
    /// Recent log lines, newest last.
    pub log_lines: VecDeque<String>,
    /// Timeline lanes scrolled away from the newest (mouse wheel).
    pub timeline_scroll: usize,
    /// The experiment picker's selection, while it is open.
    pub picker: Option<usize>,
    /// The experiment pane, while it is open.
    pub experiment: Option<ExperimentPane>,
    /// Set when something visible changed since the last frame.
    pub dirty: bool,
    /// Set after a resize: the next frame repaints the whole screen.
    pub needs_clear: bool,
    events_this_second: u64,
    second_started: Option<Instant>,
    live: usize,
    threads: HashMap<ThreadTag, WorkerId>,
}

impl App {
    /// A fresh dashboard in `mode` with `interval`.
    pub fn new(mode: Mode, interval: SwitchInterval) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let key_latency = crate::gil::micros_histogram();
        Self {
            mode,
            on_mode: if mode == Mode::Legacy {
                Mode::Legacy
            } else {
                Mode::Gil
            },
            interval,
            rows: Vec::new(),
            selected: 0,
            console: VecDeque::new(),
            lanes: HashMap::new(),
            gil_held: VecDeque::new(),
            gil_holder: None,
            gil_now_us: 0,
            help: false,
            quit: false,
            notice: None,
            cores,
            key_latency,
            recent_latency: VecDeque::new(),
            frame_time: crate::gil::micros_histogram(),
            events_per_s: 0,
            ui_under_gil: false,
            ui_thread: None,
            timeline_span_ms: DEFAULT_SPAN_MS,
            keys: KeyMap::default(),
            theme: Theme::default(),
            logs_visible: false,
            log_lines: VecDeque::new(),
            timeline_scroll: 0,
            picker: None,
            experiment: None,
            dirty: true,
            needs_clear: false,
            events_this_second: 0,
            second_started: None,
            live: 0,
            threads: HashMap::new(),
        }
    }

    /// Workers still running.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Counts of (live, done, failed, cancelled) workers.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let mut counts = (0, 0, 0, 0);
        for row in &self.rows {
            match row.life {
                Life::Live => counts.0 += 1,
                Life::Done => counts.1 += 1,
                Life::Failed => counts.2 += 1,
                Life::Cancelled => counts.3 += 1,
            }
        }
        counts
    }

    /// The selected worker, if any.
    pub fn selected_row(&self) -> Option<&WorkerRow> {
        self.rows.get(self.selected)
    }

    /// The worker a timeline lane belongs to.
    pub fn worker_of(&self, thread: ThreadTag) -> Option<&WorkerRow> {
        let id = self.threads.get(&thread)?;
        self.row(*id)
    }

    /// A lane's label: the worker's thread name (`cpu-3`), with `+` for a
    /// second thread of the same worker (the seed demo's `print_numbers`).
    pub fn lane_label(&self, thread: ThreadTag) -> String {
        if self.ui_thread == Some(thread) {
            return "ui".to_string();
        }
        match self.worker_of(thread) {
            Some(row) if row.thread == Some(thread) => format!("{}-{}", row.kind, row.id),
            Some(row) => format!("{}-{}+", row.kind, row.id),
            None => format!("thread {thread}"),
        }
    }

    /// Lanes with anything to show in the last `span_us`, oldest first.
    pub fn visible_lanes(&self, span_us: u64) -> Vec<ThreadTag> {
        let horizon = self.gil_now_us.saturating_sub(span_us);
        let mut tags: Vec<ThreadTag> = self
            .lanes
            .iter()
            .filter(|(_, lane)| {
                !matches!(lane.changes.back(), Some((at, Transition::Exit)) if *at < horizon)
            })
            .map(|(tag, _)| *tag)
            .collect();
        tags.sort_unstable();
        tags
    }

    fn index_of(&self, id: WorkerId) -> Option<usize> {
        self.rows.binary_search_by_key(&id, |r| r.id).ok()
    }

    fn row(&self, id: WorkerId) -> Option<&WorkerRow> {
        self.index_of(id).map(|i| &self.rows[i])
    }

    fn row_mut(&mut self, id: WorkerId) -> Option<&mut WorkerRow> {
        self.index_of(id).map(|i| &mut self.rows[i])
    }

    /// Applies one event; returns the command a key action asks for.
    pub fn apply(&mut self, event: AppEvent) -> Option<Command> {
        self.dirty = true;
        match event {
            AppEvent::Action(action) => return self.on_action(action),
            AppEvent::Spawned { id, kind, at } => self.on_spawned(id, kind, at),
            AppEvent::SpawnFailed(message) => self.notice = Some(message),
            AppEvent::Worker(event) => self.on_worker(event),
            AppEvent::Gil(events) => self.on_gil(&events),
            AppEvent::KeyShown { latency } => {
                let micros = (latency.as_micros() as u64).clamp(1, 60_000_000);
                let _ = self.key_latency.record(micros);
                if self.recent_latency.len() == RECENT_LATENCIES {
                    self.recent_latency.pop_front();
                }
                self.recent_latency.push_back(micros);
                self.dirty = false;
            }
            AppEvent::FrameDrawn { draw_time, at } => {
                let micros = (draw_time.as_micros() as u64).clamp(1, 60_000_000);
                let _ = self.frame_time.record(micros);
                let started = *self.second_started.get_or_insert(at);
                if at.duration_since(started) >= Duration::from_secs(1) {
                    self.events_per_s = self.events_this_second;
                    self.events_this_second = 0;
                    self.second_started = Some(at);
                }
                self.dirty = false;
                return None;
            }
            AppEvent::Resized => {}
            AppEvent::Lab(event) => self.on_lab(event),
            AppEvent::Logs(lines) => {
                for line in lines {
                    if self.log_lines.len() == LOG_LINES {
                        self.log_lines.pop_front();
                    }
                    self.log_lines.push_back(line);
                }
            }
            AppEvent::ClickRow(index) => {
                if index < self.rows.len() {
                    self.selected = index;
                }
            }
            AppEvent::ScrollTable { down } => {
                return self.on_action(if down { Action::Down } else { Action::Up });
            }
            AppEvent::ScrollTimeline { down } => {
                self.timeline_scroll = if down {
                    self.timeline_scroll.saturating_add(1).min(self.lanes.len())
                } else {
                    self.timeline_scroll.saturating_sub(1)
                };
            }
        }
        self.events_this_second += 1;
        None
    }

    fn on_lab(&mut self, event: SuiteEvent) {
        let Some(pane) = self.experiment.as_mut() else {
            return;
        };
        match event {
            SuiteEvent::Progress { done, total } => {
                pane.done = done;
                pane.total = total;
            }
            SuiteEvent::Report(report) => pane.reports.push(report),
            SuiteEvent::Finished => pane.finished = true,
            SuiteEvent::Failed(error) => pane.error = Some(error),
        }
    }

    /// Keys while the experiment picker is open.
    fn on_picker(&mut self, selected: usize, action: Action) -> Option<Command> {
        let count = Experiment::EACH.len();
        match action {
            Action::Up => self.picker = Some(selected.saturating_sub(1)),
            Action::Down => self.picker = Some((selected + 1).min(count - 1)),
            Action::Confirm => {
                self.picker = None;
                let experiment = Experiment::EACH[selected];
                self.experiment = Some(ExperimentPane {
                    experiment,
                    done: 0,
                    total: 0,
                    reports: Vec::new(),
                    error: None,
                    finished: false,
                });
                return Some(Command::RunExperiment(experiment));
            }
            Action::Quit | Action::ForceQuit => {
                self.quit = true;
                return Some(Command::Quit);
            }
            _ => self.picker = None,
        }
        None
    }

    fn on_action(&mut self, action: Action) -> Option<Command> {
        if let Some(selected) = self.picker {
            return self.on_picker(selected, action);
        }
        if action == Action::CloseOverlay && !self.help {
            if let Some(pane) = self.experiment.take() {
                let running = !pane.finished && pane.error.is_none();
                return running.then_some(Command::CancelExperiment);
            }
            return None;
        }
        if self.help && !matches!(action, Action::Quit | Action::ForceQuit | Action::Help) {
            // Any other key closes the overlay first.
            self.help = false;
            if action == Action::CloseOverlay {
                return None;
            }
        }
        match action {
            Action::Spawn(kind) => Some(Command::Spawn(kind)),
            Action::ToggleGil => {
                let next = if self.mode == Mode::Free {
                    self.on_mode
                } else {
                    Mode::Free
                };
                self.mode = next;
                self.notice = Some(format!("GIL emulation: {}", self.mode_label()));
                Some(Command::SetMode(next))
            }
            Action::CycleGilKind => {
                self.on_mode = if self.on_mode == Mode::Gil {
                    Mode::Legacy
                } else {
                    Mode::Gil
                };
                if self.mode != Mode::Free {
                    self.mode = self.on_mode;
                }
                self.notice = Some(format!(
                    "GIL kind: {} ({})",
                    self.on_mode,
                    if self.mode == Mode::Free {
                        "press g to switch it on"
                    } else {
                        "in force"
                    }
                ));
                (self.mode != Mode::Free).then_some(Command::SetMode(self.mode))
            }
            Action::IntervalDown | Action::IntervalUp => {
                self.interval = if action == Action::IntervalDown {
                    self.interval.halved()
                } else {
                    self.interval.doubled()
                };
                self.notice = Some(format!(
                    "switch interval {:.1} ms",
                    self.interval.as_millis_f64()
                ));
                Some(Command::SetInterval(self.interval))
            }
            Action::Up => {
                self.selected = self.selected.saturating_sub(1);
                None
            }
            Action::Down => {
                if self.selected + 1 < self.rows.len() {
                    self.selected += 1;
                }
                None
            }
            Action::Top => {
                self.selected = 0;
                None
            }
            Action::Bottom => {
                self.selected = self.rows.len().saturating_sub(1);
                None
            }
            Action::Cancel => match self.selected_row() {
                Some(row) if row.life == Life::Live => Some(Command::Cancel(row.id)),
                Some(row) => {
                    self.notice = Some(format!("worker {} is not running", row.id));
                    None
                }
                None => {
                    self.notice = Some("no worker selected".into());
                    None
                }
            },
            Action::CancelAll => {
                self.notice = Some(format!("cancelling {} workers", self.live));
                Some(Command::CancelAll)
            }
            Action::Help => {
                self.help = !self.help;
                None
            }
            Action::ToggleLogs => {
                self.logs_visible = !self.logs_visible;
                None
            }
            Action::ToggleUiGil => {
                self.ui_under_gil = !self.ui_under_gil;
                self.notice = Some(if !self.ui_under_gil {
                    "UI under the GIL: off — the Rust UI runs free".to_string()
                } else if self.mode == Mode::Free {
                    "UI under the GIL: on — press g to switch the GIL on and feel it".to_string()
                } else {
                    "UI under the GIL: on — every key now waits for the GIL like a Python UI"
                        .to_string()
                });
                Some(Command::SetUiUnderGil(self.ui_under_gil))
            }
            Action::ZoomIn | Action::ZoomOut => {
                let (min, max) = SPAN_RANGE_MS;
                self.timeline_span_ms = if action == Action::ZoomIn {
                    (self.timeline_span_ms / 2).max(min)
                } else {
                    (self.timeline_span_ms * 2).min(max)
                };
                None
            }
            Action::CloseOverlay | Action::Confirm => None,
            Action::Experiments => {
                self.picker = Some(0);
                None
            }
            Action::Quit | Action::ForceQuit => {
                self.quit = true;
                Some(Command::Quit)
            }
        }
    }

    /// Text for the mode in the header: `off · free threads`, `on · gil · 5.0 ms`.
    pub fn mode_label(&self) -> String {
        match self.mode {
            Mode::Free => "off · free threads".to_string(),
            Mode::Gil => format!("on · gil · {:.1} ms", self.interval.as_millis_f64()),
            Mode::Legacy => "on · legacy (Python 2)".to_string(),
        }
    }

    fn on_spawned(&mut self, id: WorkerId, kind: WorkerKind, at: Instant) {
        let row = WorkerRow {
            id,
            kind,
            life: Life::Live,
            lane: Transition::Run,
            done: 0,
            total: None,
            started: at,
            last_progress: at,
            ended: None,
            message: None,
            thread: None,
        };
        // Ids only grow, so pushing keeps the rows sorted; insert if not.
        match self.rows.last() {
            Some(last) if last.id > id => {
                let at = self.rows.partition_point(|r| r.id < id);
                self.rows.insert(at, row);
            }
            _ => self.rows.push(row),
        }
        self.live += 1;
        self.selected = self.rows.len() - 1;
    }

    fn on_worker(&mut self, event: WorkerEvent) {
        let id = event.id();
        let Some(index) = self.index_of(id) else {
            return;
        };
        if self.rows[index].life != Life::Live {
            // Late progress after the end: the terminal event already has the final numbers.
            return;
        }
        match event {
            WorkerEvent::Started { thread, .. } => {
                // A worker may start more threads (the seed demo does); the first is its own.
                let row = &mut self.rows[index];
                row.thread.get_or_insert(thread);
                self.threads.insert(thread, id);
            }
            WorkerEvent::Progress {
                done, total, at, ..
            } => {
                let row = &mut self.rows[index];
                row.done = row.done.max(done);
                row.total = total;
                row.last_progress = at;
            }
            WorkerEvent::Console { side, text, .. } => {
                if self.console.len() == CONSOLE_LINES {
                    self.console.pop_front();
                }
                self.console.push_back((side, text));
            }
            WorkerEvent::Finished {
                done, summary, at, ..
            } => {
                self.end(index, Life::Done, at, Some(summary));
                self.rows[index].done = done;
            }
            WorkerEvent::Failed { message, at, .. } => {
                self.end(index, Life::Failed, at, Some(message));
            }
            WorkerEvent::Cancelled { at, .. } => {
                self.end(index, Life::Cancelled, at, None);
            }
        }
    }

    fn end(&mut self, index: usize, life: Life, at: Instant, message: Option<String>) {
        let row = &mut self.rows[index];
        row.life = life;
        row.ended = Some(at);
        row.lane = Transition::Exit;
        row.message = message;
        self.live = self.live.saturating_sub(1);
    }

    fn on_gil(&mut self, events: &[GilEvent]) {
        for event in events {
            self.gil_now_us = self.gil_now_us.max(event.at_us);
            let lane = self.lanes.entry(event.thread).or_default();
            if event.what.is_mark() {
                lane.marks.push_back((event.at_us, event.what));
            } else {
                if lane.changes.len() == LANE_CHANGES {
                    lane.changes.pop_front();
                }
                lane.changes.push_back((event.at_us, event.what));
                let holds = event.what == Transition::Hold;
                if holds || self.gil_holder == Some(event.thread) {
                    // Another thread may take the GIL before the old holder's
                    // own "released" is pushed: the newest taker counts.
                    self.gil_holder = holds.then_some(event.thread);
                    if self.gil_held.len() == LANE_CHANGES {
                        self.gil_held.pop_front();
                    }
                    self.gil_held.push_back((event.at_us, holds));
                }
                if let Some(id) = self.threads.get(&event.thread).copied()
                    && let Some(row) = self.row_mut(id).filter(|r| r.life == Life::Live)
                {
                    row.lane = event.what;
                }
            }
        }
        self.forget_old_history();
    }

    /// Advances the timeline clock (it moves even when nothing happens).
    pub fn set_gil_now(&mut self, now_us: u64) {
        self.gil_now_us = self.gil_now_us.max(now_us);
        self.forget_old_history();
    }

    fn forget_old_history(&mut self) {
        let horizon = self.gil_now_us.saturating_sub(TIMELINE_WINDOW_US);
        while self.gil_held.len() > 1 && self.gil_held[1].0 <= horizon {
            self.gil_held.pop_front();
        }
        self.lanes.retain(|_, lane| {
            // Keep one change before the horizon: it says what the lane was doing then.
            while lane.changes.len() > 1 && lane.changes[1].0 <= horizon {
                lane.changes.pop_front();
            }
            while lane.marks.front().is_some_and(|m| m.0 < horizon) {
                lane.marks.pop_front();
            }
            !matches!(lane.changes.back(), Some((at, Transition::Exit)) if *at < horizon)
        });
    }

    /// Frame time percentile `q` in ms, once measured.
    pub fn frame_ms(&self, q: f64) -> Option<f64> {
        (!self.frame_time.is_empty())
            .then(|| self.frame_time.value_at_percentile(q) as f64 / 1000.0)
    }

    /// Key-to-screen latency percentile `q` (0..=100) in ms, once measured.
    pub fn key_latency_ms(&self, q: f64) -> Option<f64> {
        (!self.key_latency.is_empty())
            .then(|| self.key_latency.value_at_percentile(q) as f64 / 1000.0)
    }
}
