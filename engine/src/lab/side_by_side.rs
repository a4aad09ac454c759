//! Emulated beside real: one experiment run in the emulation (`gil` mode)
//! and in a real interpreter under the tracer, every measurement kept with
//! its own timeline, so the two can be drawn on one time scale with their
//! distributions under each.
//!
//! Both sides produce the same [`GilEvent`]s — the emulation from its
//! [`Gil`], the real interpreter from the tracer's recorder — so the
//! dashboard draws them with the timeline it already has.

use std::collections::HashMap;
use std::path::PathBuf;

use crossbeam_channel::Sender;

use super::compare::{self, Python, ScriptFile};
use super::compare_trace::{self, TracedRunError};
use super::{BenchConfig, BenchRow, Experiment, ProgressSink, SuiteEvent};
use crate::gil::{Gil, GilEvent, Mode, ThreadTag, Transition};

/// One measurement (one thread count) of one side: its row, and what its
/// threads did.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// The thread count (CPU threads beside the I/O thread for `latency`
    /// and `convoy`).
    pub threads: u32,
    /// The measurement's figures and distributions.
    pub row: BenchRow,
    /// What the measurement's own threads did, in time order.
    pub events: Vec<GilEvent>,
    /// A label for each lane (`cpu-1`, `io`).
    pub names: Vec<(ThreadTag, String)>,
    /// Where a window on this measurement should end: the last moment all
    /// of its threads were still at work (where the first of them ended its
    /// last hold of the GIL).
    pub end_us: u64,
}

/// One side: what ran and its measurements, one per thread count.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// What it was: `emulated gil` or `real CPython 3.11.7 (traced)`.
    pub label: String,
    /// One per thread count, in the order measured.
    pub measured: Vec<Measured>,
}

/// An experiment's emulated and real sides.
#[derive(Debug, Clone, PartialEq)]
pub struct SideBySide {
    /// Which experiment.
    pub experiment: Experiment,
    /// The switch interval both ran with, ms.
    pub interval_ms: f64,
    /// The emulation in `gil` mode.
    pub emulated: Side,
    /// The real interpreter under the tracer, or why there is none.
    pub real: Result<Side, String>,
}

impl SideBySide {
    /// The thread counts either side measured, ascending.
    pub fn thread_counts(&self) -> Vec<u32> {
        let mut counts: Vec<u32> = self.emulated.measured.iter().map(|m| m.threads).collect();
        if let Ok(real) = &self.real {
            counts.extend(real.measured.iter().map(|m| m.threads));
        }
        counts.sort_unstable();
        counts.dedup();
        counts
    }
}

/// Lane labels for a measurement whose threads are `tags` in the order
/// they were started; `io` is the I/O (or responder) thread, if any.
fn lane_names(
    experiment: Experiment,
    tags: &[ThreadTag],
    io: Option<ThreadTag>,
) -> Vec<(ThreadTag, String)> {
    let worker = match experiment {
        Experiment::Io => "io",
        _ => "cpu",
    };
    let mut n = 0;
    tags.iter()
        .map(|tag| {
            if Some(*tag) == io {
                let name = if experiment == Experiment::Latency {
                    "responder"
                } else {
                    "io"
                };
                (*tag, name.to_string())
            } else {
                n += 1;
                (*tag, format!("{worker}-{n}"))
            }
        })
        .collect()
}

/// Keeps only `tags`' events and finds the window's end (the earliest
/// end of a lane's last hold).
fn measured(
    threads: u32,
    row: BenchRow,
    events: &[GilEvent],
    names: Vec<(ThreadTag, String)>,
) -> Measured {
    let tags: Vec<ThreadTag> = names.iter().map(|(tag, _)| *tag).collect();
    let events: Vec<GilEvent> = events
        .iter()
        .filter(|e| tags.contains(&e.thread))
        .copied()
        .collect();
    // Where each lane's last hold ended: after it a thread only winds down
    // (a traced thread may show released until the whole trace ends).
    let mut last_hold_end: HashMap<ThreadTag, u64> = HashMap::new();
    let mut holding: HashMap<ThreadTag, bool> = HashMap::new();
    for event in events.iter().filter(|e| !e.what.is_mark()) {
        let held = holding.insert(event.thread, event.what == Transition::Hold);
        if event.what == Transition::Hold || held == Some(true) {
            last_hold_end.insert(event.thread, event.at_us);
        }
    }
    let end_us = last_hold_end
        .values()
        .copied()
        .min()
        .or_else(|| events.last().map(|e| e.at_us))
        .unwrap_or(0);
    Measured {
        threads,
        row,
        events,
        names,
        end_us,
    }
}

/// Runs `experiment` in the emulation's `gil` mode, keeping each
/// measurement's timeline.
fn emulated(experiment: Experiment, config: &BenchConfig) -> Result<Side, String> {
    let (tx, rx) = crossbeam_channel::unbounded::<(u32, Gil)>();
    let mut config = config.clone();
    config.gils = Some(tx);
    let report = super::run(experiment, Mode::Gil, &config)?;
    let gils: Vec<(u32, Gil)> = rx.try_iter().collect();
    let mut side = Side {
        label: format!(
            "emulated gil ({:.1} ms interval)",
            config.interval.as_millis_f64()
        ),
        measured: Vec::new(),
    };
    for (threads, gil) in gils {
        let Some(row) = report.rows.iter().find(|r| r.key() == threads) else {
            continue;
        };
        let mut events = Vec::new();
        gil.timeline().read_since(0, &mut events);
        // Tags are handed out in registration order; the experiments
        // register the I/O or responder thread after the CPU threads.
        let mut tags: Vec<ThreadTag> = events.iter().map(|e| e.thread).collect();
        tags.sort_unstable();
        tags.dedup();
        let io = matches!(experiment, Experiment::Latency | Experiment::Convoy)
            .then(|| tags.last().copied())
            .flatten();
        let names = lane_names(experiment, &tags, io);
        side.measured
            .push(measured(threads, row.clone(), &events, names));
    }
    Ok(side)
}

/// Runs `experiment` in `python` under the tracer; each row's threads
/// (the script reports their OS ids) become that measurement's lanes.
fn real(python: &Python, experiment: Experiment, config: &BenchConfig) -> Result<Side, String> {
    let script = ScriptFile::write().map_err(|e| format!("cannot write the Python script: {e}"))?;
    let server = crate::server::Server::start_loopback().map_err(|e| e.to_string())?;
    let traced = compare_trace::run_python_traced_keeping_timeline(
        python,
        script.path(),
        experiment,
        config,
        &server.url("/"),
    );
    let traced = match traced {
        Ok(traced) => traced,
        Err(TracedRunError::CannotTrace(why) | TracedRunError::Failed(why)) => return Err(why),
    };
    let (report, events) = (traced.report, traced.events);
    let tag_of: HashMap<u32, ThreadTag> = traced.threads.into_iter().collect();
    let mut side = Side {
        label: format!("real {} (traced)", python.info.label()),
        measured: Vec::new(),
    };
    for row in &report.rows {
        let Some(tids) = &row.thread_ids else {
            continue;
        };
        let tags: Vec<ThreadTag> = tids.iter().filter_map(|t| tag_of.get(t).copied()).collect();
        let io = row.io_thread_id.and_then(|t| tag_of.get(&t).copied());
        let names = lane_names(experiment, &tags, io);
        side.measured
            .push(measured(row.key(), row.clone(), &events, names));
    }
    Ok(side)
}

/// Why the real side cannot be shown here, checked before any run.
fn real_unavailable(python: Option<&PathBuf>) -> Result<Python, String> {
    if let Some(why) = compare_trace::unavailable() {
        return Err(format!(
            "{why} — the real GIL needs the tracer: run `sudo threadlab` to see it here"
        ));
    }
    let path = python.cloned().unwrap_or_else(|| PathBuf::from("python3"));
    let (found, skipped) = compare::find_interpreters(std::slice::from_ref(&path));
    let python = found.into_iter().next().ok_or_else(|| {
        skipped
            .into_iter()
            .next()
            .unwrap_or_else(|| format!("{}: no usable Python", path.display()))
    })?;
    if let Some(why) = compare_trace::untraceable(&python) {
        return Err(format!("{}: {why}", python.info.label()));
    }
    Ok(python)
}

/// Runs both sides, reporting progress on `tx`, then the result (or the
/// failure) and `Finished`. `python`: the interpreter (default: `python3`
/// on PATH).
pub(super) fn run_both(
    experiment: Experiment,
    mut config: BenchConfig,
    python: Option<PathBuf>,
    tx: &Sender<SuiteEvent>,
) {
    let real_python = real_unavailable(python.as_ref());
    let per_run = config.measurements(experiment);
    let total = per_run * (1 + usize::from(real_python.is_ok()));
    config.progress = Some(ProgressSink::new(tx.clone(), total));
    let _ = tx.send(SuiteEvent::Progress { done: 0, total });
    let emulated = match emulated(experiment, &config) {
        Ok(side) => side,
        Err(error) => {
            let _ = tx.send(SuiteEvent::Failed(error));
            return;
        }
    };
    if config.cancel.is_cancelled() {
        return;
    }
    let real = real_python.and_then(|python| real(&python, experiment, &config));
    if config.cancel.is_cancelled() {
        return;
    }
    if real.is_ok() {
        for _ in 0..per_run {
            config.count_measurement();
        }
    }
    let _ = tx.send(SuiteEvent::SideBySide(Box::new(SideBySide {
        experiment,
        interval_ms: config.interval.as_millis_f64(),
        emulated,
        real,
    })));
    let _ = tx.send(SuiteEvent::Finished);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at_us: u64, thread: ThreadTag, what: Transition) -> GilEvent {
        GilEvent {
            at_us,
            thread,
            what,
        }
    }

    #[test]
    fn the_io_thread_is_named_and_the_others_numbered() {
        let names = lane_names(Experiment::Convoy, &[7, 8, 9], Some(9));
        assert_eq!(
            names,
            vec![(7, "cpu-1".into()), (8, "cpu-2".into()), (9, "io".into())]
        );
        let names = lane_names(Experiment::Io, &[3, 4], None);
        assert_eq!(names, vec![(3, "io-1".into()), (4, "io-2".into())]);
    }

    #[test]
    fn a_measurement_keeps_its_own_threads_and_ends_where_the_first_stopped() {
        use Transition::*;
        let events = [
            ev(0, 1, Hold),
            ev(1, 2, Wait),
            ev(5, 1, ForcedDrop),
            ev(5, 2, Hold),
            ev(5, 1, Wait),
            ev(6, 3, Hold), // another measurement's thread
            ev(9, 2, Io),   // thread 2's last hold ends here …
            ev(10, 1, Hold),
            ev(12, 1, Io),
            ev(40, 2, Exit), // … though it is seen to exit only much later
            ev(41, 1, Exit),
        ];
        let m = measured(
            2,
            BenchRow::default(),
            &events,
            vec![(1, "cpu-1".into()), (2, "cpu-2".into())],
        );
        assert!(m.events.iter().all(|e| e.thread != 3), "{:?}", m.events);
        assert_eq!(m.events.len(), 10);
        // Thread 2 ended its last hold at 9, thread 1 at 12: the window ends
        // where the first of them stopped working.
        assert_eq!(m.end_us, 9);
    }
}
