//! What a screen run by the [`Runner`](super::Runner) provides: its key
//! map, the channels of its own it waits on ([`Sources`]), how its state
//! takes a wake, an input or the pending backlog (through its reducer),
//! and how it draws. The emulated dashboard ([`Dash`](super::Dash)) and the
//! trace dashboard ([`TraceDash`](crate::ui::trace::TraceDash)) are the two.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, never};
use crossterm::event::Event;
use ratatui::Frame;
use ratatui::layout::Rect;

use super::{Feeds, Pacer, Wake};
use crate::lab::SuiteEvent;
use crate::trace::TraceEnd;
use crate::ui::keys::KeyMap;

/// A screen's own channels the one wait selects on beside the [`Feeds`]
/// (`never()` for those it does not have).
#[derive(Debug)]
pub struct Sources {
    /// The running experiment's news.
    pub lab: Receiver<SuiteEvent>,
    /// A timeline export's outcome.
    pub export: Receiver<String>,
    /// The traced program's end.
    pub program: Receiver<TraceEnd>,
}

impl Default for Sources {
    fn default() -> Self {
        Self {
            lab: never(),
            export: never(),
            program: never(),
        }
    }
}

/// A screen the runner drives: its state changes only through its
/// reducer, called from these hooks; the runner owns the terminal, the
/// frame pacing and the keys whose frames are owed.
pub trait Screen {
    /// What the screen's commands act on (the emulation's session, a live trace).
    type World;

    /// The key map in force.
    fn keys(&self) -> &KeyMap;

    /// The channels of its own the wait selects on.
    fn sources(&self, world: &Self::World) -> Sources;

    /// When the frame timer fires, `None` when nothing can move.
    fn deadline(&self, pacer: &Pacer) -> Option<Instant>;

    /// Runs the wait as this screen must (a Python-like UI releases its
    /// GIL around it); by default just waits.
    fn around_wait(&mut self, wait: &dyn Fn() -> Wake) -> Wake {
        wait()
    }

    /// A wake other than input (a worker, the experiment, the program's end, a quit).
    fn on_wake(&mut self, world: &mut Self::World, wake: Wake);

    /// The terminal is gone, or asked to close: a quit.
    fn input_closed(&mut self);

    /// A terminal event on a screen of `area`: mapped and applied. True
    /// if it changed something a frame must show at once (a key).
    fn on_event(&mut self, world: &mut Self::World, event: Event, area: Rect) -> bool;

    /// Everything pending besides input, applied before a frame; background
    /// updates only when `catch_up` (no key waits, or keys waited long enough).
    fn drain(&mut self, world: &mut Self::World, feeds: &Feeds, catch_up: bool);

    /// After the drain, before any frame: true if the screen quits now.
    fn settle(&mut self, now: Instant, keys_waiting: bool) -> bool;

    /// Something changed that the next frame must show.
    fn dirty(&self) -> bool;

    /// Things move on their own (live workers, a race, a running program):
    /// frames keep coming.
    fn animating(&self) -> bool;

    /// Background data read for a frame (GIL lanes, rows): true if any came.
    fn catch_up(&mut self, world: &Self::World, now: Instant) -> bool;

    /// What every frame reads just before drawing (clocks, logs).
    fn before_draw(&mut self, world: &Self::World, now: Instant);

    /// The next frame must repaint everything (after a resize).
    fn needs_clear(&self) -> bool;

    /// Draws the screen.
    fn draw(&self, frame: &mut Frame, now: Instant);

    /// Time spent this turn in work a waiting key's frame waited for,
    /// beyond drawing (taken: the next turn starts at zero).
    fn take_key_work(&mut self) -> Duration {
        Duration::ZERO
    }

    /// A frame went out: drawn in `draw_time`, finished at `drawn`; the
    /// keys it showed waited `latencies`.
    fn drawn(&mut self, draw_time: Duration, drawn: Instant, latencies: &[Duration]);

    /// The loop ends (a quit, or the terminal is gone).
    fn closing(&mut self) {}
}
