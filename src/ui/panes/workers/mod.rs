//! The worker table's state: every worker the dashboard has seen, the
//! selection, and running tallies for the header. The widget is in `table`.
//!
//! The tallies move when a worker starts or ends, so the header reads four
//! numbers instead of walking every row each frame.

mod table;

pub use table::bar;
pub(crate) use table::{WorkerTable, first_visible_row};

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::gil::{ThreadTag, Transition};
use crate::work::{WorkerEvent, WorkerId, WorkerKind};

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

/// How many workers are in each stage of life, kept as they change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Running.
    pub live: usize,
    /// Finished.
    pub done: usize,
    /// Failed.
    pub failed: usize,
    /// Cancelled.
    pub cancelled: usize,
}

impl Tally {
    fn slot(&mut self, life: Life) -> &mut usize {
        match life {
            Life::Live => &mut self.live,
            Life::Done => &mut self.done,
            Life::Failed => &mut self.failed,
            Life::Cancelled => &mut self.cancelled,
        }
    }
}

/// The worker table's state.
#[derive(Debug, Default)]
pub struct Workers {
    rows: Vec<WorkerRow>,
    selected: usize,
    tally: Tally,
    threads: HashMap<ThreadTag, WorkerId>,
}

impl Workers {
    /// Every worker ever spawned, by ascending id.
    pub fn rows(&self) -> &[WorkerRow] {
        &self.rows
    }

    /// Index of the selected row.
    pub fn selected(&self) -> usize {
        self.selected
    }

    /// The selected worker, if any.
    pub(crate) fn selected_row(&self) -> Option<&WorkerRow> {
        self.rows.get(self.selected)
    }

    /// Workers in each stage of life.
    pub(crate) fn tally(&self) -> Tally {
        self.tally
    }

    /// The worker a timeline lane belongs to.
    pub(crate) fn worker_of(&self, thread: ThreadTag) -> Option<&WorkerRow> {
        let id = self.threads.get(&thread)?;
        self.index_of(*id).map(|i| &self.rows[i])
    }

    /// Whether worker `id` is known and running.
    pub(crate) fn is_live(&self, id: WorkerId) -> bool {
        self.index_of(id)
            .is_some_and(|i| self.rows[i].life == Life::Live)
    }

    fn index_of(&self, id: WorkerId) -> Option<usize> {
        self.rows.binary_search_by_key(&id, |r| r.id).ok()
    }

    /// Moves the selection to `index`, clamped to the rows there are.
    pub(in crate::ui) fn select(&mut self, index: usize) {
        self.selected = index.min(self.rows.len().saturating_sub(1));
    }

    /// Moves the selection one row up or down.
    pub(in crate::ui) fn step(&mut self, down: bool) {
        if down {
            if self.selected + 1 < self.rows.len() {
                self.selected += 1;
            }
        } else {
            self.selected = self.selected.saturating_sub(1);
        }
    }

    /// A new worker: appended (ids only grow) and selected.
    pub(in crate::ui) fn spawned(&mut self, id: WorkerId, kind: WorkerKind, at: Instant) {
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
        match self.rows.last() {
            Some(last) if last.id > id => {
                let at = self.rows.partition_point(|r| r.id < id);
                self.rows.insert(at, row);
            }
            _ => self.rows.push(row),
        }
        self.tally.live += 1;
        self.selected = self.rows.len() - 1;
    }

    /// A worker's news; late news after its end is ignored (the terminal
    /// event already had the final numbers). Console lines go elsewhere.
    pub(in crate::ui) fn apply(&mut self, event: WorkerEvent) {
        let Some(index) = self.index_of(event.id()) else {
            return;
        };
        if self.rows[index].life != Life::Live {
            return;
        }
        let row = &mut self.rows[index];
        match event {
            WorkerEvent::Started { thread, id, .. } => {
                // A worker may start more threads (the seed demo does); the first is its own.
                row.thread.get_or_insert(thread);
                self.threads.insert(thread, id);
            }
            WorkerEvent::Progress {
                done, total, at, ..
            } => {
                row.done = row.done.max(done);
                row.total = total;
                row.last_progress = at;
            }
            WorkerEvent::Console { .. } => {}
            WorkerEvent::Finished {
                done, summary, at, ..
            } => {
                row.done = done;
                self.end(index, Life::Done, at, Some(summary));
            }
            WorkerEvent::Failed { message, at, .. } => {
                self.end(index, Life::Failed, at, Some(message));
            }
            WorkerEvent::Cancelled { at, .. } => self.end(index, Life::Cancelled, at, None),
        }
    }

    fn end(&mut self, index: usize, life: Life, at: Instant, message: Option<String>) {
        let row = &mut self.rows[index];
        *self.tally.slot(row.life) -= 1;
        *self.tally.slot(life) += 1;
        row.life = life;
        row.ended = Some(at);
        row.lane = Transition::Exit;
        row.message = message;
    }

    /// A lane changed state: the live worker it belongs to shows it.
    pub(in crate::ui) fn set_lane(&mut self, thread: ThreadTag, what: Transition) {
        let Some(index) = self.threads.get(&thread).and_then(|id| self.index_of(*id)) else {
            return;
        };
        let row = &mut self.rows[index];
        if row.life == Life::Live {
            row.lane = what;
        }
    }
}

impl crate::ui::panes::LaneOwners for Workers {
    fn worker_label(&self, thread: ThreadTag) -> Option<String> {
        let row = self.worker_of(thread)?;
        Some(if row.thread == Some(thread) {
            format!("{}-{}", row.kind, row.id)
        } else {
            format!("{}-{}+", row.kind, row.id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_follow_spawns_and_ends() {
        let mut workers = Workers::default();
        let t0 = Instant::now();
        for id in 1..=3 {
            workers.spawned(id, WorkerKind::Cpu, t0);
        }
        workers.apply(WorkerEvent::Cancelled { id: 2, at: t0 });
        workers.apply(WorkerEvent::Cancelled { id: 2, at: t0 });
        assert_eq!(
            workers.tally(),
            Tally {
                live: 2,
                done: 0,
                failed: 0,
                cancelled: 1
            }
        );
    }
}
