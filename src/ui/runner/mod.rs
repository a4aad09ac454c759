//! The run loop as a value: [`Runner`] owns the terminal, the frame pacing
//! and the keys whose frames are still owed, and drives one [`Screen`]: the
//! emulated dashboard ([`Dash`], the default) or the trace dashboard
//! ([`TraceDash`](crate::ui::trace::TraceDash)). It is generic over the
//! ratatui backend, so tests drive it on a `TestBackend` with channels they
//! fill themselves.
//!
//! One turn: [`Runner::wait`] blocks in one `select!` over input, worker
//! lifecycle, signals, the screen's own [`Sources`] (the experiment, an
//! export, the traced program's end) and a frame timer that is armed only
//! while something changed or moves; [`Runner::step`] applies what woke it
//! and everything else pending, then draws once if a frame is due. A key's
//! frame goes out at once; background data (progress, the timeline, a
//! trace's rows) waits for the next frame unless keys kept it waiting for
//! [`CATCH_UP`].
//!
//! Beside it: `screen.rs` ([`Screen`]: what a screen provides), `dash.rs`
//! ([`Dash`]: the emulated dashboard's screen), `pacer.rs` ([`Pacer`]:
//! frame pacing and catch-up), `feeds.rs` (what wakes the loop, and the
//! [`Quitter`]), `execute.rs` ([`execute`]: the reducer's commands carried
//! out on the session).

mod dash;
mod execute;
mod feeds;
mod pacer;
mod screen;

use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{after, never, select};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::layout::Rect;

use super::app::App;
use super::event::AppEvent;
use super::helper_gil::HelperGil;
use crate::lab::python_cost::PythonWork;
use crate::session::Session;

pub use dash::Dash;
pub(crate) use execute::{UiSide, execute};
pub use feeds::{Feeds, Flow, Input, Quitter, Wake};
pub use pacer::Pacer;
pub use pacer::{CATCH_UP, STILL_AFTER, STILL_FRAME_GAP};
pub use screen::{Screen, Sources};

/// The run loop and everything it keeps between turns, for one screen.
pub struct Runner<B: Backend, S: Screen = Dash> {
    /// Never dropped: ratatui's own drop writes to the terminal (and panics
    /// if it is gone after a hang-up); the terminal guard restores instead.
    terminal: ManuallyDrop<Terminal<B>>,
    screen: S,
    pacer: Pacer,
    /// When each key whose frame is still owed was read.
    keys_waiting: Vec<Instant>,
}

impl<B: Backend> Runner<B, Dash> {
    /// The emulated dashboard's runner, drawing on `terminal`, pacing at
    /// `fps`, for `session`'s GIL. `fault_ui_panic`: the `!` key panics
    /// the UI thread (a testing switch).
    pub fn new(
        terminal: Terminal<B>,
        app: App,
        session: &Session,
        fps: u32,
        fault_ui_panic: bool,
    ) -> Self {
        Self::with_screen(terminal, Dash::new(app, session, fault_ui_panic), fps)
    }

    /// The dashboard state.
    pub fn app(&self) -> &App {
        &self.screen.app
    }

    /// The modelled Python work: steps per key and per refresh, and how
    /// many ran (none while the UI is not under the GIL).
    pub fn python_work(&self) -> &PythonWork {
        &self.screen.python
    }

    /// A handle that ends this runner's GIL waits from another thread.
    pub fn quitter(&self) -> Quitter {
        Quitter::new(self.screen.quit.clone(), self.screen.ui_gil.gil().clone())
    }

    /// A helper thread's (input, output) membership in this runner's GIL,
    /// used while the UI is under it (see [`crate::ui::helper_gil`]); its
    /// lane on the timeline is `lane`. A quit cancels its re-takes as it
    /// cancels the UI thread's.
    pub fn helper_gil(&mut self, lane: &str) -> HelperGil {
        let thread = self.screen.ui_gil.gil().register(self.screen.quit.clone());
        self.screen
            .app
            .apply(AppEvent::LaneNames(vec![(thread.tag(), lane.to_string())]));
        HelperGil::new(thread, Arc::clone(&self.screen.under_gil))
    }
}

impl<B: Backend, S: Screen> Runner<B, S> {
    /// A runner for `screen`, drawing on `terminal`, pacing at `fps`.
    pub fn with_screen(terminal: Terminal<B>, screen: S, fps: u32) -> Self {
        Self {
            terminal: ManuallyDrop::new(terminal),
            screen,
            pacer: Pacer::new(fps, Instant::now()),
            keys_waiting: Vec::new(),
        }
    }

    /// The screen driven.
    pub fn screen(&self) -> &S {
        &self.screen
    }

    /// The terminal drawn on (tests read its buffer).
    pub fn terminal(&self) -> &Terminal<B> {
        &self.terminal
    }

    /// The frame pacing.
    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    /// When the frame timer fires, or `None` when no timer is armed:
    /// nothing changed and nothing moves, so nothing can change.
    pub fn deadline(&self) -> Option<Instant> {
        self.screen.deadline(&self.pacer)
    }

    /// Runs turns until the user quits or the terminal goes away.
    pub fn run(&mut self, world: &mut S::World, feeds: &Feeds) {
        loop {
            let wake = self.wait(world, feeds);
            if self.step(wake, world, feeds, Instant::now()) == Flow::Quit {
                return;
            }
        }
    }

    /// Blocks until something happens: the UI thread's only wait. Progress
    /// is not waited on: it is drained every turn, and the frame timer runs
    /// while anything moves, so waking per progress message would only
    /// cost context switches.
    pub fn wait(&mut self, world: &S::World, feeds: &Feeds) -> Wake {
        let timer = match self.deadline() {
            Some(at) => after(at.saturating_duration_since(Instant::now())),
            None => never(),
        };
        let sources = self.screen.sources(world);
        let wait = || {
            select! {
                recv(sources.lab) -> msg => msg.map_or(Wake::LabDone, Wake::Lab),
                recv(sources.export) -> msg => Wake::Exported(msg.unwrap_or_else(|_| "the export stopped".into())),
                recv(sources.program) -> msg => Wake::Program(msg.ok()),
                recv(feeds.input) -> msg => msg.map_or(Wake::Quit, Wake::Input),
                recv(feeds.lifecycle) -> msg => msg.map_or(Wake::Timer, Wake::Worker),
                recv(feeds.signals) -> _ => Wake::Quit,
                recv(timer) -> _ => Wake::Timer,
            }
        };
        self.screen.around_wait(&wait)
    }

    /// One turn at `now`: applies `wake` and everything pending, then draws
    /// if a key waits for its frame or a frame is due.
    pub fn step(&mut self, wake: Wake, world: &mut S::World, feeds: &Feeds, now: Instant) -> Flow {
        match wake {
            Wake::Input(input) => self.on_input(world, input),
            wake => self.screen.on_wake(world, wake),
        }
        for input in feeds.input.try_iter().take(1024) {
            self.on_input(world, input);
        }
        let catch_up = self.pacer.catch_up(!self.keys_waiting.is_empty(), now);
        self.screen.drain(world, feeds, catch_up);
        if self.screen.settle(now, !self.keys_waiting.is_empty()) {
            return Flow::Quit;
        }
        let moving = self.screen.dirty() || self.screen.animating();
        let due = moving && now >= self.pacer.next_frame();
        if (!self.keys_waiting.is_empty() || due) && !self.frame(world, now) {
            self.screen.closing();
            return Flow::Quit;
        }
        Flow::Continue
    }

    /// Reads background data (unless a key's frame goes first), draws, and
    /// books the frame. `false`: the terminal is gone.
    fn frame(&mut self, world: &S::World, now: Instant) -> bool {
        let keys = !self.keys_waiting.is_empty();
        if self.screen.dirty() || keys {
            self.pacer.changed(now);
        }
        if self.pacer.catch_up(keys, now) {
            self.pacer.caught_up(now);
            if self.screen.catch_up(world, now) {
                self.pacer.changed(now);
            }
        }
        self.screen.before_draw(world, now);
        let started = Instant::now();
        if let Err(error) = self.draw(now) {
            // The terminal is gone (closed window, hang-up): quit and clean
            // up like any other quit.
            tracing::info!(%error, "cannot write to the terminal; quitting");
            return false;
        }
        let draw_time = started.elapsed();
        let drawn = now + self.screen.take_key_work() + draw_time;
        let latencies: Vec<_> = self
            .keys_waiting
            .drain(..)
            .map(|read_at| drawn.saturating_duration_since(read_at))
            .collect();
        self.screen.drawn(draw_time, drawn, &latencies);
        self.pacer.drawn(drawn);
        true
    }

    fn draw(&mut self, now: Instant) -> Result<(), B::Error> {
        if self.screen.needs_clear() {
            // resize() clears the screen and forgets the last frame without
            // querying the cursor (clear() would).
            let size = self.terminal.size()?;
            self.terminal
                .resize(Rect::new(0, 0, size.width, size.height))?;
        }
        let screen = &self.screen;
        self.terminal.draw(|frame| screen.draw(frame, now))?;
        Ok(())
    }

    fn area(&self) -> Rect {
        self.terminal
            .size()
            .map_or(Rect::new(0, 0, 80, 24), |size| {
                Rect::new(0, 0, size.width, size.height)
            })
    }

    fn on_input(&mut self, world: &mut S::World, input: Input) {
        let event = match input.event {
            Ok(event) => event,
            Err(error) => {
                // The terminal is gone (hang-up): that is a quit, not a failure.
                tracing::info!(%error, "terminal input closed; quitting");
                self.screen.input_closed();
                return;
            }
        };
        let area = self.area();
        if self.screen.on_event(world, event, area) {
            self.keys_waiting.push(input.read_at);
        }
    }
}
