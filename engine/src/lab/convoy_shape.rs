//! The one-CPU convoy's shape (#25 §4), counted per release: each round
//! trip of the convoy's I/O thread releases the GIL twice (around its send,
//! around its receive), and beside one CPU thread it may wait a switch
//! interval after either. Read from the measurement's timeline, whose `Io`
//! lanes alternate send, receive, and where a wait is a `Wait` lane right
//! after one. `benches/convoy_shape.rs` prints it beside CPython's;
//! `tests/emulation.rs` asserts on it.

use crossbeam_channel::unbounded;

use super::{BenchConfig, convoy};
use crate::gil::{Mode, Transition};

/// One emulated convoy beside one CPU thread, counted per release.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvoyShape {
    /// Round trips a second.
    pub round_trips_per_s: f64,
    /// Round trips counted (two releases each).
    pub round_trips: u64,
    /// Waits after a send's release.
    pub after_send: u64,
    /// Waits after a receive's release.
    pub after_recv: u64,
    /// Round trips that waited after both.
    pub both: u64,
}

impl ConvoyShape {
    /// Round trips that waited at least once.
    pub fn waited(&self) -> u64 {
        self.after_send + self.after_recv - self.both
    }
}

/// Runs `convoy` in `gil` with one CPU thread for `config`'s duration (its
/// thread counts are ignored) and counts it; `None` if the timeline's ring
/// wrapped, so which release came first is unknown.
pub fn convoy_shape(config: &BenchConfig) -> Option<ConvoyShape> {
    let (tx, rx) = unbounded();
    let mut config = config.clone();
    config.threads = vec![1];
    config.gils = Some(tx);
    let rows = convoy(Mode::Gil, &config).ok()?;
    let round_trips_per_s = rows
        .iter()
        .find(|r| r.cpu_threads == Some(1))
        .and_then(|r| r.round_trips_per_s)
        .unwrap_or(0.0);
    let (_, gil) = rx.try_iter().find(|(n, _)| *n == 1)?;
    let mut events = Vec::new();
    let next = gil.timeline().read_since(0, &mut events);
    if next as usize > events.len() {
        return None;
    }
    let io = events
        .iter()
        .find(|e| e.what == Transition::Io)
        .map(|e| e.thread);
    let (mut releases, mut waits, mut both) = (0u64, [0u64; 2], 0u64);
    let (mut last_io, mut send_waited) = (None, false);
    for e in events.iter().filter(|e| Some(e.thread) == io) {
        match e.what {
            Transition::Io => {
                let which = (releases % 2) as usize;
                if which == 0 {
                    send_waited = false;
                }
                last_io = Some(which);
                releases += 1;
            }
            Transition::Wait => {
                if let Some(which) = last_io.take() {
                    waits[which] += 1;
                    send_waited |= which == 0;
                    both += u64::from(which == 1 && send_waited);
                }
            }
            _ => last_io = None,
        }
    }
    Some(ConvoyShape {
        round_trips_per_s,
        round_trips: releases / 2,
        after_send: waits[0],
        after_recv: waits[1],
        both,
    })
}
