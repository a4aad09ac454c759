//! The emulated dashboard as a [`Screen`]: the [`App`] and what its run
//! loop keeps beside it — the read positions in the GIL timeline and the
//! log ring, the UI thread's own `GilThread` for "UI under the GIL", the
//! modelled Python work, and a timeline export being written.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, never};
use crossterm::event::{Event, KeyCode};
use ratatui::Frame;
use ratatui::layout::Rect;

use super::screen::{Screen, Sources};
use super::{Feeds, Pacer, UiSide, Wake, execute};
use crate::cancel::CancelToken;
use crate::gil::{GilEvent, GilThread};
use crate::lab::python_cost::{PythonWork, steps_per_ms};
use crate::session::Session;
use crate::ui::app::{App, AppEvent, Command};
use crate::ui::keys::KeyMap;
use crate::ui::panes::race::RaceUpdate;
use crate::ui::view;
use crate::work::WorkerEvent;

/// The emulated dashboard's state and what its loop keeps between turns.
pub struct Dash {
    pub(super) app: App,
    gil_seq: u64,
    log_seq: u64,
    gil_events: Vec<GilEvent>,
    log_lines: Vec<String>,
    /// The UI thread's own membership in the GIL, used only while "UI under
    /// the GIL" is on: then it holds the GIL to handle events and draw, and
    /// releases it only while it waits, as a Python UI would.
    pub(super) ui_gil: GilThread,
    /// `ui_gil`'s cancel token, cancelled once a quit is decided: from then
    /// on the UI thread's GIL waits give up at once (see [`super::Quitter`]).
    pub(super) quit: CancelToken,
    /// The Python work the UI thread runs per key and per refresh while
    /// under the GIL (see [`crate::ui::python_cost`]).
    pub(super) python: PythonWork,
    /// Time this turn spent in modelled Python that a waiting key's frame
    /// waited for (its handler, a refresh before it): the frame's `drawn`
    /// instant is reckoned from the turn's `now`, so it adds this.
    key_work: Duration,
    fault_ui_panic: bool,
    /// A timeline export being written (`w`), until it reports.
    export: Option<Receiver<String>>,
    /// True while "UI under the GIL" is on, for the input thread
    /// ([`crate::ui::helper_gil`]).
    pub(super) under_gil: Arc<AtomicBool>,
}

impl Dash {
    /// The dashboard `app` for `session`'s GIL; `fault_ui_panic`: the `!`
    /// key panics the UI thread (a testing switch).
    pub(super) fn new(mut app: App, session: &Session, fault_ui_panic: bool) -> Self {
        let quit = CancelToken::new();
        let ui_gil = session.gil.register(quit.clone());
        app.apply(AppEvent::UiLane(ui_gil.tag()));
        let python = PythonWork::new(app.python_cost(), steps_per_ms());
        Self {
            app,
            gil_seq: 0,
            log_seq: 0,
            gil_events: Vec::new(),
            log_lines: Vec::new(),
            ui_gil,
            quit,
            python,
            key_work: Duration::ZERO,
            fault_ui_panic,
            export: None,
            under_gil: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A race or a lab scenario runs: frames keep coming to show it.
    fn running_lab(&self) -> bool {
        self.app.races().running() || self.app.labs().running()
    }

    /// The running race's numbers, or its outcome once its threads ended.
    fn poll_race(&mut self, session: &mut Session) {
        let Some(race) = session.race.as_ref() else {
            return;
        };
        let update = if race.is_finished() {
            let Some(race) = session.race.take() else {
                return;
            };
            RaceUpdate::Finished(race.wait())
        } else {
            RaceUpdate::Progress(race.progress())
        };
        self.app.apply(AppEvent::Race(update));
    }

    /// The modelled Python UI's timer-driven refresh, while the UI is
    /// under the GIL: its data update and repaint, in Python, whether or
    /// not keys come. A key read before it waits for it, as a key waits
    /// behind a running `set_interval` callback in a Python UI.
    fn refresh(&mut self, now: Instant, keys_waiting: bool) {
        if !self.app.ui_under_gil() {
            self.python.stop_refreshes();
            return;
        }
        self.python.start_refreshes(now);
        let started = Instant::now();
        if self.python.refresh_if_due(&mut self.ui_gil, now) && keys_waiting {
            self.key_work += started.elapsed();
        }
    }

    fn on_worker(&mut self, session: &mut Session, event: WorkerEvent) {
        if event.is_terminal() {
            session.pool.reap(event.id());
        }
        self.app.apply(AppEvent::Worker(event));
    }

    /// A key's command carried out, by [`execute`].
    fn carry_out(&mut self, session: &mut Session, command: Command) {
        let ui = UiSide {
            ui_gil: &mut self.ui_gil,
            quit: &self.quit,
            export: &mut self.export,
            under_gil: &self.under_gil,
        };
        execute(&mut self.app, session, ui, command);
    }
}

impl Screen for Dash {
    type World = Session;

    fn keys(&self) -> &KeyMap {
        self.app.keys()
    }

    fn sources(&self, session: &Session) -> Sources {
        Sources {
            lab: session
                .suite
                .as_ref()
                .map_or_else(never, |suite| suite.events.clone()),
            export: self.export.clone().unwrap_or_else(never),
            ..Sources::default()
        }
    }

    fn deadline(&self, pacer: &Pacer) -> Option<Instant> {
        let frame = (self.app.dirty() || self.app.live() > 0 || self.running_lab())
            .then_some(pacer.next_frame());
        // A Python UI's refresh timer runs whether or not anything moves.
        let refresh = self
            .python
            .next_refresh()
            .filter(|_| self.app.ui_under_gil());
        frame.into_iter().chain(refresh).min()
    }

    fn around_wait(&mut self, wait: &dyn Fn() -> Wake) -> Wake {
        if !self.app.ui_under_gil() {
            return wait();
        }
        // Py_BEGIN_ALLOW_THREADS around the wait; re-taking the GIL after
        // it is where a Python UI loses its time behind CPU-bound threads.
        // A wake that quits cancels the re-take: quitting never waits for
        // the GIL (nor does a quit the input or signal thread decided
        // while the re-take waits: that cancels it too).
        let (keys, quit) = (self.app.keys(), &self.quit);
        let mut woke = None;
        let _ = self.ui_gil.blocking(|| {
            let wake = wait();
            if wake.quits(keys) {
                quit.cancel();
            }
            woke = Some(wake);
        });
        woke.unwrap_or(Wake::Quit)
    }

    fn on_wake(&mut self, session: &mut Session, wake: Wake) {
        match wake {
            Wake::Worker(event) => self.on_worker(session, event),
            Wake::Lab(event) => {
                self.app.apply(AppEvent::Lab(event));
            }
            Wake::LabDone => session.suite = None, // joins the finished thread
            Wake::Exported(line) => {
                self.export = None;
                self.app.apply(AppEvent::Exported(line));
            }
            Wake::Quit => self.input_closed(),
            Wake::Input(_) | Wake::Program(_) | Wake::Timer => {}
        }
    }

    fn input_closed(&mut self) {
        self.app.apply(AppEvent::InputClosed);
    }

    fn on_event(&mut self, session: &mut Session, event: Event, area: Rect) -> bool {
        let reduced = match event {
            Event::Key(key) => {
                if self.fault_ui_panic && key.code == KeyCode::Char('!') {
                    panic!("fault injection: UI thread panic requested with --fault ui-panic");
                }
                self.app.keys().action_for(&key).map(AppEvent::Action)
            }
            Event::Resize(_, _) => {
                // The terminal may have reflowed what it showed; the next
                // frame repaints everything (ratatui alone would not when a
                // quick shrink-and-back ends at the old size).
                self.app.apply(AppEvent::Resized);
                None
            }
            Event::Mouse(mouse) => view::mouse_event(&self.app, area, &mouse),
            _ => None,
        };
        let Some(event) = reduced else {
            return false;
        };
        if let Some(command) = self.app.apply(event) {
            self.carry_out(session, command);
        }
        if self.app.quit() {
            // No Python for a quit: nothing more waits for the GIL.
            self.quit.cancel();
        } else if self.app.ui_under_gil() {
            // The key's handler, as Python would run it.
            let started = Instant::now();
            self.python.key(&mut self.ui_gil);
            self.key_work += started.elapsed();
        }
        true
    }

    fn drain(&mut self, session: &mut Session, feeds: &Feeds, catch_up: bool) {
        for event in feeds.lifecycle.try_iter().take(65_536) {
            self.on_worker(session, event);
        }
        if catch_up {
            for event in feeds.progress.try_iter().take(65_536) {
                self.on_worker(session, event);
            }
        }
        let lab = session.suite.as_ref().map(|suite| suite.events.clone());
        for event in lab.iter().flat_map(Receiver::try_iter) {
            self.app.apply(AppEvent::Lab(event));
        }
        self.poll_race(session);
        crate::ui::lab_runs::poll(&mut self.app, session);
    }

    fn settle(&mut self, now: Instant, keys_waiting: bool) -> bool {
        if self.quit.is_cancelled() && !self.app.quit() {
            // The input or signal thread decided to quit while this thread
            // waited for the GIL; its key or signal may still be queued.
            self.app.apply(AppEvent::InputClosed);
        }
        if self.app.quit() {
            self.ui_gil.exit();
            return true;
        }
        if !self.app.ui_under_gil() && self.ui_gil.is_holding() {
            self.ui_gil.exit();
        }
        self.refresh(now, keys_waiting);
        false
    }

    fn dirty(&self) -> bool {
        self.app.dirty()
    }

    fn animating(&self) -> bool {
        self.app.live() > 0 || self.running_lab()
    }

    fn catch_up(&mut self, session: &Session, _now: Instant) -> bool {
        self.gil_events.clear();
        if let Some(next) = session
            .gil
            .timeline()
            .try_read_since(self.gil_seq, &mut self.gil_events)
        {
            self.gil_seq = next;
        }
        if self.gil_events.is_empty() {
            return false;
        }
        let events = std::mem::take(&mut self.gil_events);
        self.app.apply(AppEvent::Gil(events));
        true
    }

    fn before_draw(&mut self, session: &Session, _now: Instant) {
        self.app.apply(AppEvent::Clock(session.gil.now_us()));
        self.log_lines.clear();
        // A logging worker holding the ring's lock never delays a frame: its
        // lines wait for the next one.
        if let Some(seq) = crate::logs::ring().try_read_since(self.log_seq, &mut self.log_lines) {
            self.log_seq = seq;
        }
        if !self.log_lines.is_empty() {
            let lines = std::mem::take(&mut self.log_lines);
            self.app.apply(AppEvent::Logs(lines));
        }
    }

    fn needs_clear(&self) -> bool {
        self.app.needs_clear()
    }

    fn draw(&self, frame: &mut Frame, now: Instant) {
        view::draw(frame, &self.app, now);
    }

    fn take_key_work(&mut self) -> Duration {
        std::mem::take(&mut self.key_work)
    }

    fn drawn(&mut self, draw_time: Duration, drawn: Instant, latencies: &[Duration]) {
        self.app.apply(AppEvent::FrameDrawn {
            draw_time,
            at: drawn,
        });
        for &latency in latencies {
            self.app.apply(AppEvent::KeyShown { latency });
        }
    }

    fn closing(&mut self) {
        self.ui_gil.exit();
    }
}
