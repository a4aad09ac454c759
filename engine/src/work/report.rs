//! The worker's side of the progress protocol.
//!
//! Progress is absolute (done of total), so the reporter may coalesce at the
//! producer — at most one message per [`Reporter::GAP`] — and drop a message
//! when the bounded channel is full: the next one carries the same truth.
//! Console lines travel on the unbounded lifecycle channel and are never
//! dropped.

use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::{ConsoleSide, WorkerEvent, WorkerId};

/// Sends one worker's progress and console lines.
#[derive(Debug, Clone)]
pub(crate) struct Reporter {
    id: WorkerId,
    progress: Sender<WorkerEvent>,
    lifecycle: Sender<WorkerEvent>,
    total: Option<u64>,
    last_sent: Option<Instant>,
}

impl Reporter {
    /// The shortest gap between two progress messages of one worker.
    pub(crate) const GAP: Duration = Duration::from_millis(8);

    /// A reporter for worker `id`.
    pub fn new(
        id: WorkerId,
        progress: Sender<WorkerEvent>,
        lifecycle: Sender<WorkerEvent>,
    ) -> Self {
        Self {
            id,
            progress,
            lifecycle,
            total: None,
            last_sent: None,
        }
    }

    /// Sets the total, once known (e.g. from Content-Length), and reports it.
    pub(crate) fn set_total(&mut self, total: Option<u64>) {
        self.total = total;
        self.send_progress(0, Instant::now());
    }

    /// Reports `done` units, unless one was sent less than [`GAP`](Self::GAP) ago.
    pub(crate) fn progress(&mut self, done: u64) {
        let now = Instant::now();
        let due = self
            .last_sent
            .is_none_or(|last| now.duration_since(last) >= Self::GAP);
        if due || self.total == Some(done) {
            self.send_progress(done, now);
        }
    }

    fn send_progress(&mut self, done: u64, now: Instant) {
        self.last_sent = Some(now);
        // Full channel: drop it; the next message says the same, only newer.
        let _ = self.progress.try_send(WorkerEvent::Progress {
            id: self.id,
            done,
            total: self.total,
            at: now,
        });
    }

    /// Prints a console line (never dropped).
    pub(crate) fn console(&self, side: ConsoleSide, text: impl Into<String>) {
        let _ = self.lifecycle.send(WorkerEvent::Console {
            id: self.id,
            side,
            text: text.into(),
        });
    }

    /// Sends a lifecycle event (never dropped).
    pub(crate) fn lifecycle(&self, event: WorkerEvent) {
        let _ = self.lifecycle.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_coalesced_and_never_blocks_on_a_full_channel() {
        let (ptx, prx) = crossbeam_channel::bounded(2);
        let (ltx, _lrx) = crossbeam_channel::unbounded();
        let mut reporter = Reporter::new(7, ptx, ltx);
        reporter.set_total(Some(1000));
        for done in 1..=999 {
            reporter.progress(done); // far more calls than the channel holds
        }
        reporter.progress(1000);
        let got: Vec<_> = prx.try_iter().collect();
        assert!(got.len() <= 2, "bounded channel never grows: {got:?}");
        assert!(matches!(got[0], WorkerEvent::Progress { done: 0, .. }));
    }
}
