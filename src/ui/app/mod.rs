//! The dashboard's state and its reducer.
//!
//! [`App::apply`] is the only place state changes: worker events, GIL
//! timeline batches, key actions, resizes and frame reports all go through
//! it, and key actions come back out as [`Command`]s for the run loop to
//! carry out on the pool and the GIL. The state itself lives with the pane
//! that shows it (see [`super::panes`]); tests drive it without a terminal.
//! What each key action does is in `actions.rs`.

mod actions;

use crate::gil::{Mode, SwitchInterval, ThreadTag};
use crate::work::WorkerEvent;

use super::keys::KeyMap;
use super::panes::PaneId;
use super::panes::bars::{BarsView, WorkerCounts};
use super::panes::console::Console;
use super::panes::experiment::Experiments;
use super::panes::lab::Labs;
use super::panes::logs::Logs;
use super::panes::meter::Meter;
use super::panes::race::Races;
use super::panes::timeline::Timeline;
use super::panes::workers::Workers;
use super::theme::Theme;
use crate::lab::python_cost::PythonCost;

pub use super::event::{AppEvent, Command};
pub use super::panes::experiment::ExperimentPane;
pub use super::panes::timeline::{LANE_CHANGES, SPAN_RANGE_MS};
pub use super::panes::workers::Life;
pub use super::panes::workers::WorkerRow;

/// The whole dashboard state: settings, the panes' states, and flags.
#[derive(Debug)]
pub struct App {
    mode: Mode,
    on_mode: Mode,
    interval: SwitchInterval,
    workers: Workers,
    timeline: Timeline,
    meter: Meter,
    console: Console,
    logs: Logs,
    experiments: Experiments,
    races: Races,
    labs: Labs,
    help: bool,
    focus: PaneId,
    zoomed: bool,
    quit: bool,
    notice: Option<String>,
    /// Where `w` writes the GIL timeline (`--export FILE`; default: a
    /// time-stamped file in the current directory).
    export_path: Option<std::path::PathBuf>,
    /// Where the last `w` asked the timeline to go.
    export_target: Option<std::path::PathBuf>,
    cores: usize,
    ui_under_gil: bool,
    python_cost: PythonCost,
    python_version: crate::gil::model::PythonVersion,
    keys: KeyMap,
    theme: Theme,
    dirty: bool,
    needs_clear: bool,
}

impl App {
    /// A fresh dashboard in `mode` with `interval`, default keys and theme.
    pub fn new(mode: Mode, interval: SwitchInterval) -> Self {
        Self {
            mode,
            on_mode: if mode == Mode::Legacy {
                Mode::Legacy
            } else {
                Mode::Gil
            },
            interval,
            workers: Workers::default(),
            timeline: Timeline::default(),
            meter: Meter::default(),
            console: Console::default(),
            logs: Logs::default(),
            experiments: Experiments::default(),
            races: Races::default(),
            labs: Labs::default(),
            help: false,
            focus: PaneId::default(),
            zoomed: false,
            quit: false,
            notice: None,
            export_path: None,
            export_target: None,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            ui_under_gil: false,
            python_cost: PythonCost::default(),
            python_version: crate::gil::model::PythonVersion::DEFAULT,
            keys: KeyMap::default(),
            theme: Theme::default(),
            dirty: true,
            needs_clear: false,
        }
    }

    /// The same with this key map.
    pub(crate) fn with_keys(mut self, keys: KeyMap) -> Self {
        self.keys = keys;
        self
    }

    /// The same, modelling `cost` of Python per key while the UI is under the GIL.
    pub fn with_python_cost(mut self, cost: PythonCost) -> Self {
        self.python_cost = cost;
        self
    }

    /// The same, with the race run on `version`'s eval-breaker model.
    pub(crate) fn with_python_version(mut self, version: crate::gil::model::PythonVersion) -> Self {
        self.python_version = version;
        self
    }

    /// Whose eval-breaker model the race runs.
    pub fn python_version(&self) -> crate::gil::model::PythonVersion {
        self.python_version
    }

    /// The Python work modelled per key while the UI is under the GIL.
    pub fn python_cost(&self) -> PythonCost {
        self.python_cost
    }

    /// The same with this theme.
    pub(crate) fn with_theme(mut self, theme: Theme) -> Self {
        self.theme = theme;
        self
    }

    /// The same, writing the GIL timeline to `path` on `w` (`--export`).
    pub fn with_export_path(mut self, path: Option<std::path::PathBuf>) -> Self {
        self.export_path = path;
        self
    }

    /// The same, showing `cores` logical cores (tests pin it for snapshots).
    pub fn with_cores(mut self, cores: usize) -> Self {
        self.cores = cores;
        self
    }

    /// The GIL mode in force.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The switch interval in force.
    pub fn interval(&self) -> SwitchInterval {
        self.interval
    }

    /// The worker table's state.
    pub fn workers(&self) -> &Workers {
        &self.workers
    }

    /// The timeline's state.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The responsiveness meter's state.
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// The console's state.
    pub fn console(&self) -> &Console {
        &self.console
    }

    /// The log pane's state.
    pub fn logs(&self) -> &Logs {
        &self.logs
    }

    /// The experiment picker's and pane's state.
    pub fn experiments(&self) -> &Experiments {
        &self.experiments
    }

    /// The race pane's state.
    pub fn races(&self) -> &Races {
        &self.races
    }

    /// The lab pane's and the toolbox picker's state.
    pub fn labs(&self) -> &Labs {
        &self.labs
    }

    /// Whether the help overlay is open.
    pub fn help_open(&self) -> bool {
        self.help
    }

    /// The pane with the keyboard focus.
    pub fn focus(&self) -> PaneId {
        self.focus
    }

    /// Whether the focused pane fills the screen.
    pub fn zoomed(&self) -> bool {
        self.zoomed
    }

    /// Whether the user asked to quit.
    pub fn quit(&self) -> bool {
        self.quit
    }

    /// Where the last `w` asked the GIL timeline to be written.
    pub(crate) fn export_target(&self) -> Option<&std::path::Path> {
        self.export_target.as_deref()
    }

    /// The last notice for the footer.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Logical CPU cores shown in the header.
    pub fn cores(&self) -> usize {
        self.cores
    }

    /// Whether the UI thread itself must take the GIL to handle input and draw.
    pub fn ui_under_gil(&self) -> bool {
        self.ui_under_gil
    }

    /// The key map in force.
    pub fn keys(&self) -> &KeyMap {
        &self.keys
    }

    /// The colour theme.
    pub fn theme(&self) -> &Theme {
        &self.theme
    }

    /// Whether something visible changed since the last frame.
    pub(crate) fn dirty(&self) -> bool {
        self.dirty
    }

    /// Whether the next frame must repaint the whole screen (after a resize).
    pub fn needs_clear(&self) -> bool {
        self.needs_clear
    }

    /// Workers still running.
    pub fn live(&self) -> usize {
        self.workers.tally().live
    }

    /// Counts of (live, done, failed, cancelled) workers, from the tallies.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let t = self.workers.tally();
        (t.live, t.done, t.failed, t.cancelled)
    }

    /// A lane's label (`cpu-3`, `seed-6+`, `ui`).
    pub fn lane_label(&self, thread: ThreadTag) -> String {
        super::panes::timeline::draw::lane_label(&self.timeline, &self.workers, thread)
    }

    /// Applies one event; returns the command a key action asks for.
    pub fn apply(&mut self, event: AppEvent) -> Option<Command> {
        if let AppEvent::Clock(now_us) = event {
            // The clock moves every frame: that alone is no change to count
            // or to draw for (live workers keep frames coming anyway).
            self.timeline.set_now(now_us);
            return None;
        }
        self.dirty = true;
        match event {
            AppEvent::Action(action) => return self.on_action(action),
            AppEvent::Spawned { id, kind, at } => self.workers.spawned(id, kind, at),
            AppEvent::SpawnFailed(message) => self.notice = Some(message),
            AppEvent::Worker(event) => self.on_worker(event),
            AppEvent::Gil(events) => {
                let workers = &mut self.workers;
                self.timeline
                    .apply(&events, |thread, what| workers.set_lane(thread, what));
            }
            AppEvent::Clock(_) => {}
            AppEvent::UiLane(tag) => self.timeline.set_ui_thread(tag),
            AppEvent::KeyShown { latency } => {
                self.meter.key_shown(latency);
                self.dirty = false;
            }
            AppEvent::FrameDrawn { draw_time, at } => {
                self.meter.frame_drawn(draw_time, at);
                self.dirty = false;
                self.needs_clear = false;
                return None;
            }
            AppEvent::Resized => self.needs_clear = true,
            AppEvent::InputClosed => self.quit = true,
            AppEvent::Lab(event) => self.experiments.on_lab(event),
            AppEvent::Race(update) => self.races.apply(update),
            AppEvent::Scenario(update) => self.labs.apply(update),
            AppEvent::LaneNames(lanes) => self.timeline.name_lanes(&lanes),
            AppEvent::Exported(line) => self.notice = Some(line),
            AppEvent::Logs(lines) => self.logs.extend(lines),
            AppEvent::Focus(pane) => self.focus = pane,
            AppEvent::ClickRow(index) => {
                self.focus = PaneId::Workers;
                if index < self.workers.rows().len() {
                    self.workers.select(index);
                }
            }
            AppEvent::ScrollTable { down } => self.workers.step(down),
            AppEvent::ScrollTimeline { down } => self.timeline.scroll_by_one(down),
        }
        self.meter.count_event();
        None
    }

    fn on_worker(&mut self, event: WorkerEvent) {
        if !self.workers.is_live(event.id()) {
            return;
        }
        match event {
            WorkerEvent::Console { side, text, .. } => self.console.push(side, text),
            event => self.workers.apply(event),
        }
    }

    /// Text for the mode in the header: `off · free threads`, `on · gil · 5.0 ms`.
    pub(crate) fn mode_label(&self) -> String {
        match self.mode {
            Mode::Free => "off · free threads".to_string(),
            Mode::Gil => format!("on · gil · {:.1} ms", self.interval.as_millis_f64()),
            Mode::Legacy => "on · legacy (Python 2)".to_string(),
        }
    }

    /// What the header and the footer draw, copied out of the app.
    pub(crate) fn bars(&self) -> BarsView<'_> {
        let tally = self.workers.tally();
        BarsView {
            mode: self.mode,
            mode_label: self.mode_label(),
            ui_under_gil: self.ui_under_gil,
            workers: WorkerCounts {
                live: tally.live,
                done: tally.done,
                failed: tally.failed,
                cancelled: tally.cancelled,
            },
            cores: self.cores,
            key_p99_ms: self.meter.key_latency_ms(99.0),
            keys: &self.keys,
            theme: &self.theme,
            focus: self.focus,
            zoomed: self.zoomed,
            notice: self.notice.as_deref(),
        }
    }
}
