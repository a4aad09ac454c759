//! The run loop as a value: [`Runner`] owns the terminal, the frame pacing,
//! the read positions in the GIL timeline and the log ring, and the keys
//! whose frames are still owed. It is generic over the ratatui backend, so
//! tests drive it on a `TestBackend` with channels they fill themselves.
//!
//! One turn: [`Runner::wait`] blocks in one `select!` over input, worker
//! lifecycle, signals, the experiment and a frame timer that is armed only
//! while something changed or workers are alive; [`Runner::step`] applies
//! what woke it and everything else pending, then draws once if a frame is
//! due. A key's frame goes out at once; progress and the timeline wait for
//! the next frame unless keys kept them waiting for [`CATCH_UP`].
//!
//! Beside it: `pacer.rs` ([`Pacer`]: frame pacing and catch-up),
//! `feeds.rs` (what wakes the loop, and the [`Quitter`]), `execute.rs`
//! ([`execute`]: the reducer's commands carried out on the session).

mod execute;
mod feeds;
mod pacer;

use std::mem::ManuallyDrop;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, after, never, select};
use crossterm::event::{Event, KeyCode};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::layout::Rect;

use super::app::{App, AppEvent, Command};
use super::view;
use crate::cancel::CancelToken;
use crate::gil::{GilEvent, GilThread};
use crate::lab::python_cost::{PythonWork, steps_per_ms};
use crate::session::Session;
use crate::ui::lab_runs;
use crate::ui::panes::race::RaceUpdate;
use crate::work::WorkerEvent;

pub(crate) use execute::execute;
pub use feeds::{Feeds, Flow, Input, Quitter, Wake};
pub use pacer::Pacer;
pub use pacer::{CATCH_UP, STILL_AFTER, STILL_FRAME_GAP};

/// The dashboard's run loop and everything it keeps between turns.
pub struct Runner<B: Backend> {
    /// Never dropped: ratatui's own drop writes to the terminal (and panics
    /// if it is gone after a hang-up); the terminal guard restores instead.
    terminal: ManuallyDrop<Terminal<B>>,
    app: App,
    pacer: Pacer,
    gil_seq: u64,
    log_seq: u64,
    gil_events: Vec<GilEvent>,
    log_lines: Vec<String>,
    /// When each key whose frame is still owed was read.
    keys_waiting: Vec<Instant>,
    /// The UI thread's own membership in the GIL, used only while "UI under
    /// the GIL" is on: then it holds the GIL to handle events and draw, and
    /// releases it only while it waits, as a Python UI would.
    ui_gil: GilThread,
    /// `ui_gil`'s cancel token, cancelled once a quit is decided: from then
    /// on the UI thread's GIL waits give up at once (see [`Quitter`]).
    quit: CancelToken,
    /// The Python work the UI thread runs per key and per refresh while
    /// under the GIL (see [`crate::lab::python_cost`]).
    python: PythonWork,
    /// Time this turn spent in modelled Python that a waiting key's frame
    /// waited for (its handler, a refresh before it): the frame's `drawn`
    /// instant is reckoned from the turn's `now`, so it adds this.
    key_work: Duration,
    fault_ui_panic: bool,
    /// A timeline export being written (`w`), until it reports.
    export: Option<Receiver<String>>,
}

impl<B: Backend> Runner<B> {
    /// A runner drawing on `terminal`, pacing at `fps`, for `session`'s GIL.
    /// `fault_ui_panic`: the `!` key panics the UI thread (a testing switch).
    pub fn new(
        terminal: Terminal<B>,
        mut app: App,
        session: &Session,
        fps: u32,
        fault_ui_panic: bool,
    ) -> Self {
        let quit = CancelToken::new();
        let ui_gil = session.gil.register(quit.clone());
        app.apply(AppEvent::UiLane(ui_gil.tag()));
        let python = PythonWork::new(app.python_cost(), steps_per_ms());
        Self {
            terminal: ManuallyDrop::new(terminal),
            app,
            pacer: Pacer::new(fps, Instant::now()),
            gil_seq: 0,
            log_seq: 0,
            gil_events: Vec::new(),
            log_lines: Vec::new(),
            keys_waiting: Vec::new(),
            ui_gil,
            quit,
            python,
            key_work: Duration::ZERO,
            fault_ui_panic,
            export: None,
        }
    }

    /// The dashboard state.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The terminal drawn on (tests read its buffer).
    pub fn terminal(&self) -> &Terminal<B> {
        &self.terminal
    }

    /// The modelled Python work: steps per key and per refresh, and how
    /// many ran (none while the UI is not under the GIL).
    pub fn python_work(&self) -> &PythonWork {
        &self.python
    }

    /// A handle that ends this runner's GIL waits from another thread.
    pub fn quitter(&self) -> Quitter {
        Quitter::new(self.quit.clone(), self.ui_gil.gil().clone())
    }

    /// The frame pacing.
    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    /// When the frame timer fires, or `None` when no timer is armed:
    /// nothing changed and no worker is alive, so nothing can move.
    pub fn deadline(&self) -> Option<Instant> {
        let frame = (self.app.dirty() || self.app.live() > 0 || self.animating())
            .then_some(self.pacer.next_frame());
        // A Python UI's refresh timer runs whether or not anything moves.
        let refresh = self
            .python
            .next_refresh()
            .filter(|_| self.app.ui_under_gil());
        frame.into_iter().chain(refresh).min()
    }

    /// Runs turns until the user quits or the terminal goes away.
    pub fn run(&mut self, session: &mut Session, feeds: &Feeds) {
        loop {
            let wake = self.wait(session, feeds);
            if self.step(wake, session, feeds, Instant::now()) == Flow::Quit {
                return;
            }
        }
    }

    /// Blocks until something happens: the UI thread's only wait. Progress
    /// is not waited on: it is drained every turn, and the frame timer runs
    /// while any worker is alive, so waking per progress message would only
    /// cost context switches.
    pub fn wait(&mut self, session: &Session, feeds: &Feeds) -> Wake {
        let timer = match self.deadline() {
            Some(at) => after(at.saturating_duration_since(Instant::now())),
            None => never(),
        };
        let lab = session
            .suite
            .as_ref()
            .map_or_else(never, |suite| suite.events.clone());
        let export = self.export.clone().unwrap_or_else(never);
        let wait = || {
            select! {
                recv(lab) -> msg => msg.map_or(Wake::LabDone, Wake::Lab),
                recv(export) -> msg => Wake::Exported(msg.unwrap_or_else(|_| "the export stopped".into())),
                recv(feeds.input) -> msg => msg.map_or(Wake::Quit, Wake::Input),
                recv(feeds.lifecycle) -> msg => msg.map_or(Wake::Timer, Wake::Worker),
                recv(feeds.signals) -> _ => Wake::Quit,
                recv(timer) -> _ => Wake::Timer,
            }
        };
        if self.app.ui_under_gil() {
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
        } else {
            wait()
        }
    }

    /// One turn at `now`: applies `wake` and everything pending, then draws
    /// if a key waits for its frame or a frame is due.
    pub fn step(&mut self, wake: Wake, session: &mut Session, feeds: &Feeds, now: Instant) -> Flow {
        match wake {
            Wake::Input(input) => self.on_input(session, input),
            Wake::Worker(event) => self.on_worker(session, event),
            Wake::Lab(event) => {
                self.app.apply(AppEvent::Lab(event));
            }
            Wake::LabDone => session.suite = None, // joins the finished thread
            Wake::Exported(line) => {
                self.export = None;
                self.app.apply(AppEvent::Exported(line));
            }
            Wake::Quit => {
                self.app.apply(AppEvent::InputClosed);
            }
            Wake::Timer => {}
        }
        self.drain(session, feeds, now);
        if self.quit.is_cancelled() && !self.app.quit() {
            // The input or signal thread decided to quit while this thread
            // waited for the GIL; its key or signal may still be queued.
            self.app.apply(AppEvent::InputClosed);
        }
        if self.app.quit() {
            self.ui_gil.exit();
            return Flow::Quit;
        }
        if !self.app.ui_under_gil() && self.ui_gil.is_holding() {
            self.ui_gil.exit();
        }
        self.refresh(now);
        let animate = self.app.live() > 0 || self.animating();
        let due = (self.app.dirty() || animate) && now >= self.pacer.next_frame();
        if (!self.keys_waiting.is_empty() || due) && !self.frame(session, now) {
            self.ui_gil.exit();
            return Flow::Quit;
        }
        Flow::Continue
    }

    /// Applies everything pending before drawing once. Lifecycle events
    /// always; progress only when [`Pacer::catch_up`] allows.
    fn drain(&mut self, session: &mut Session, feeds: &Feeds, now: Instant) {
        for input in feeds.input.try_iter().take(1024) {
            self.on_input(session, input);
        }
        for event in feeds.lifecycle.try_iter().take(65_536) {
            self.on_worker(session, event);
        }
        if self.pacer.catch_up(!self.keys_waiting.is_empty(), now) {
            for event in feeds.progress.try_iter().take(65_536) {
                self.on_worker(session, event);
            }
        }
        let lab = session.suite.as_ref().map(|suite| suite.events.clone());
        for event in lab.iter().flat_map(Receiver::try_iter) {
            self.app.apply(AppEvent::Lab(event));
        }
        self.poll_race(session);
        lab_runs::poll(&mut self.app, session);
    }

    /// A race or a lab scenario runs: frames keep coming to show it.
    fn animating(&self) -> bool {
        self.app.races().running() || self.app.labs().running()
    }

    /// The running race's numbers, or its outcome once its threads ended.
    fn poll_race(&mut self, session: &mut Session) {
        let Some(race) = session.race.as_ref() else {
            return;
        };
        let update = if race.is_finished() {
            let race = session.race.take().expect("the race was just seen");
            RaceUpdate::Finished(race.wait())
        } else {
            RaceUpdate::Progress(race.progress())
        };
        self.app.apply(AppEvent::Race(update));
    }

    /// Reads the GIL timeline (unless a key's frame goes first) and the
    /// log ring, draws, and books the frame. `false`: the terminal is gone.
    fn frame(&mut self, session: &Session, now: Instant) -> bool {
        if self.app.dirty() || !self.keys_waiting.is_empty() {
            self.pacer.changed(now);
        }
        if self.pacer.catch_up(!self.keys_waiting.is_empty(), now) {
            self.pacer.caught_up(now);
            self.read_timeline(session, now);
        }
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
        let started = Instant::now();
        if let Err(error) = self.draw(now) {
            // The terminal is gone (closed window, hang-up): quit and clean
            // up like any other quit.
            tracing::info!(%error, "cannot write to the terminal; quitting");
            return false;
        }
        let draw_time = started.elapsed();
        let drawn = now + std::mem::take(&mut self.key_work) + draw_time;
        self.app.apply(AppEvent::FrameDrawn {
            draw_time,
            at: drawn,
        });
        for read_at in self.keys_waiting.drain(..) {
            self.app.apply(AppEvent::KeyShown {
                latency: drawn.saturating_duration_since(read_at),
            });
        }
        self.pacer.drawn(drawn);
        true
    }

    /// The modelled Python UI's timer-driven refresh, while the UI is
    /// under the GIL: its data update and repaint, in Python, whether or
    /// not keys come. A key read before it waits for it, as a key waits
    /// behind a running `set_interval` callback in a Python UI.
    fn refresh(&mut self, now: Instant) {
        if !self.app.ui_under_gil() {
            self.python.stop_refreshes();
            return;
        }
        self.python.start_refreshes(now);
        let started = Instant::now();
        if self.python.refresh_if_due(&mut self.ui_gil, now) && !self.keys_waiting.is_empty() {
            self.key_work += started.elapsed();
        }
    }

    fn read_timeline(&mut self, session: &Session, now: Instant) {
        self.gil_events.clear();
        if let Some(next) = session
            .gil
            .timeline()
            .try_read_since(self.gil_seq, &mut self.gil_events)
        {
            self.gil_seq = next;
        }
        if !self.gil_events.is_empty() {
            self.pacer.changed(now);
            let events = std::mem::take(&mut self.gil_events);
            self.app.apply(AppEvent::Gil(events));
        }
    }

    fn draw(&mut self, now: Instant) -> Result<(), B::Error> {
        if self.app.needs_clear() {
            // resize() clears the screen and forgets the last frame without
            // querying the cursor (clear() would).
            let size = self.terminal.size()?;
            self.terminal
                .resize(Rect::new(0, 0, size.width, size.height))?;
        }
        let app = &self.app;
        self.terminal.draw(|frame| view::draw(frame, app, now))?;
        Ok(())
    }

    fn screen(&self) -> Rect {
        self.terminal
            .size()
            .map_or(Rect::new(0, 0, 80, 24), |size| {
                Rect::new(0, 0, size.width, size.height)
            })
    }

    fn on_input(&mut self, session: &mut Session, input: Input) {
        let event = match input.event {
            Ok(event) => event,
            Err(error) => {
                // The terminal is gone (hang-up): that is a quit, not a failure.
                tracing::info!(%error, "terminal input closed; quitting");
                self.app.apply(AppEvent::InputClosed);
                return;
            }
        };
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
            Event::Mouse(mouse) => view::mouse_event(&self.app, self.screen(), &mouse),
            _ => None,
        };
        if let Some(event) = reduced {
            self.keys_waiting.push(input.read_at);
            match self.app.apply(event) {
                Some(Command::ExportTimeline) => {
                    if let Some(path) = self.app.export_target() {
                        let export = super::export::snapshot(&self.app);
                        self.export = Some(super::export::spawn(export, path.to_path_buf()));
                    }
                }
                Some(command) => execute(&mut self.app, session, command),
                None => {}
            }
            if self.app.quit() {
                // No Python for a quit: nothing more waits for the GIL.
                self.quit.cancel();
                return;
            }
            if self.app.ui_under_gil() {
                // The key's handler, as Python would run it.
                let started = Instant::now();
                self.python.key(&mut self.ui_gil);
                self.key_work += started.elapsed();
            }
        }
    }

    fn on_worker(&mut self, session: &mut Session, event: WorkerEvent) {
        if event.is_terminal() {
            session.pool.reap(event.id());
        }
        self.app.apply(AppEvent::Worker(event));
    }
}
