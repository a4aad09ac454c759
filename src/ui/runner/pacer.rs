//! Frame pacing and the key-first catch-up: when the next frame is due
//! (full rate while anything moves, [`STILL_FRAME_GAP`] once the screen has
//! held still for [`STILL_AFTER`], no timer at all when nothing can change —
//! the runner's call), and whether progress and the GIL timeline may be
//! applied while keys wait for their frames ([`CATCH_UP`]).

use std::time::{Duration, Instant};

/// The longest a run of key frames may put off applying progress and GIL
/// events (so a held-down key never freezes the workers' display).
pub const CATCH_UP: Duration = Duration::from_millis(50);

/// The frame gap while workers live but nothing on screen has changed for
/// [`STILL_AFTER`] (sleeping or blocked workers: only clocks move, and the
/// time column has 0.1 s resolution).
pub const STILL_FRAME_GAP: Duration = Duration::from_millis(100);

/// How long after the last change the frame rate drops to [`STILL_FRAME_GAP`].
pub const STILL_AFTER: Duration = Duration::from_millis(250);

/// Frame pacing: full rate while anything moves, a few frames a second
/// while workers only wait, and no timer at all when nothing can change.
#[derive(Debug, Clone)]
pub struct Pacer {
    frame_gap: Duration,
    next_frame: Instant,
    last_frame: Instant,
    last_change: Instant,
    last_catch_up: Instant,
}

impl Pacer {
    /// Pacing at `fps` frames a second at most, starting at `now`.
    pub fn new(fps: u32, now: Instant) -> Self {
        Self {
            frame_gap: Duration::from_secs(1) / fps.max(1),
            next_frame: now,
            last_frame: now,
            last_change: now,
            last_catch_up: now,
        }
    }

    /// When the next frame is due (whether a timer is armed is the runner's call).
    pub fn next_frame(&self) -> Instant {
        self.next_frame
    }

    /// When the last frame went out.
    pub fn last_frame(&self) -> Instant {
        self.last_frame
    }

    /// Whether background updates may be applied now: no key is waiting
    /// for its frame, or keys have kept them waiting for [`CATCH_UP`].
    pub(super) fn catch_up(&self, keys_waiting: bool, now: Instant) -> bool {
        !keys_waiting || now >= self.last_catch_up + CATCH_UP
    }

    /// The screen changed at `now` (a key, a dirty state, GIL events).
    pub(super) fn changed(&mut self, now: Instant) {
        self.last_change = now;
    }

    /// Background updates were applied at `now`: keys may hold them back
    /// for another [`CATCH_UP`] from here.
    pub(super) fn caught_up(&mut self, now: Instant) {
        self.last_catch_up = now;
    }

    /// A frame went out at `drawn`; the screen last changed at `last_change`.
    pub(super) fn drawn(&mut self, drawn: Instant) {
        self.last_frame = drawn;
        self.next_frame = drawn
            + if drawn.duration_since(self.last_change) < STILL_AFTER {
                self.frame_gap
            } else {
                STILL_FRAME_GAP.max(self.frame_gap)
            };
    }
}
