//! `compare --trace`: the experiments' Python script run under the real-GIL
//! tracer ([`Trace`]), so each real row carries the interpreter's own hold
//! and wait distributions beside the emulated ones.
//!
//! Rows are told apart by thread: every measurement runs on fresh threads
//! and the script reports their OS thread ids (`threading.get_native_id`,
//! 3.8+) and which one is the I/O thread; the recorder's per-thread
//! histograms of those threads are merged into the row's percentiles.

mod table;

pub use table::render_distributions;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::compare::{Python, parse_report, read_in_background, script_args, script_timeout};
use super::{BenchConfig, BenchRow, Experiment, Report};
use crate::gil::{GilEvent, ThreadTag, Timeline};
use crate::trace::process::{self, StopSignal};
use crate::trace::recorder::{Recorder, TracedThread};
use crate::trace::{ProgramOutput, RunAs, Trace, TraceEnd, TraceError};

/// How often a traced run looks at its cancel token and its deadline.
const POLL: Duration = Duration::from_millis(50);

/// Waits shorter than this are left out of the real distributions: the
/// tracer times every `take_gil`, also one that finds the GIL free and
/// returns in a few µs (probe cost included), while the emulation records a
/// wait only when the GIL was held. 50 µs is far above an uncontended take
/// and far below any wait for a holder (the switch interval is ≥ 100 µs).
pub(crate) const CONTENDED_WAIT_US: u64 = 50;

/// Why this process cannot trace at all (no uprobe PMU, not root), or
/// `None` when it can.
pub fn unavailable() -> Option<TraceError> {
    if !crate::trace::uprobe::uprobes_available() {
        Some(TraceError::NoUprobes)
    } else if !crate::trace::permitted() {
        Some(TraceError::NotPermitted)
    } else {
        None
    }
}

/// Why `python`'s rows cannot carry traced distributions, if they cannot.
pub fn untraceable(python: &Python) -> Option<String> {
    let info = &python.info;
    let mut parts = info.version.split('.').map(|p| p.parse::<u32>().ok());
    let (major, minor) = (parts.next().flatten(), parts.next().flatten());
    if major == Some(2) {
        return Some("Python 2 has no take_gil to trace: its rows stay aggregate".into());
    }
    if !info.gil_enabled {
        return Some("a free-threaded build has no GIL to trace".into());
    }
    if major == Some(3) && minor.is_some_and(|m| m < 8) {
        return Some(
            "before 3.8 Python cannot tell its threads' OS ids (threading.get_native_id): its rows stay aggregate"
                .into(),
        );
    }
    None
}

/// Why a traced run gave no report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TracedRunError {
    /// The tracer refused this interpreter (stripped, no GIL symbols …):
    /// it can still be compared untraced.
    CannotTrace(String),
    /// The script failed, hung or printed no report.
    Failed(String),
}

/// Runs one experiment in `python` under the tracer and fills each row's
/// hold, wait and I/O-thread wait percentiles from the trace.
pub fn run_python_traced(
    python: &Python,
    script: &Path,
    experiment: Experiment,
    config: &BenchConfig,
    server_url: &str,
) -> Result<Report, TracedRunError> {
    run_traced(python, script, experiment, config, server_url, None).map(|(report, _)| report)
}

/// A traced run with everything the trace saw.
#[derive(Debug)]
pub(crate) struct TracedRun {
    /// The script's report, rows filled from the trace.
    pub report: Report,
    /// Every timeline event of the run, in order.
    pub events: Vec<GilEvent>,
    /// Each traced thread's `(tid, tag)`.
    pub threads: Vec<(u32, ThreadTag)>,
}

/// [`run_python_traced`], also keeping every timeline event the trace
/// produced (read while it runs, so a long run loses none to the ring) and
/// each traced thread's `(tid, tag)`: the real lanes of a side-by-side.
pub(crate) fn run_python_traced_keeping_timeline(
    python: &Python,
    script: &Path,
    experiment: Experiment,
    config: &BenchConfig,
    server_url: &str,
) -> Result<TracedRun, TracedRunError> {
    let mut events = Vec::new();
    let (report, threads) = run_traced(
        python,
        script,
        experiment,
        config,
        server_url,
        Some(&mut events),
    )?;
    Ok(TracedRun {
        report,
        events,
        threads,
    })
}

fn run_traced(
    python: &Python,
    script: &Path,
    experiment: Experiment,
    config: &BenchConfig,
    server_url: &str,
    keep: Option<&mut Vec<GilEvent>>,
) -> Result<(Report, Vec<(u32, ThreadTag)>), TracedRunError> {
    let label = format!("{} ({})", python.info.label(), python.path.display());
    let mut program: Vec<OsString> = vec![python.path.clone().into_os_string()];
    program.extend(script_args(script, experiment, config, server_url));
    let run_as = RunAs::from_sudo().map_err(|e| TracedRunError::Failed(format!("{label}: {e}")))?;
    let trace = match Trace::launch(&program, run_as.as_ref(), ProgramOutput::Piped) {
        Ok(trace) => trace,
        Err(error) if error.is_usage() => {
            return Err(TracedRunError::CannotTrace(error.to_string()));
        }
        Err(error) => {
            return Err(TracedRunError::Failed(format!(
                "{label}: cannot trace it: {error}"
            )));
        }
    };
    finish_traced(python, trace, experiment, config, keep).map_err(TracedRunError::Failed)
}

/// Copies what the timeline got since `seq` into `keep` (if keeping).
fn drain(timeline: &Timeline, seq: &mut u64, keep: &mut Option<&mut Vec<GilEvent>>) {
    if let Some(keep) = keep.as_deref_mut() {
        *seq = timeline.read_since(*seq, keep);
    }
}

/// Waits (bounded, cancellable) for the traced script, then parses its
/// report and fills the rows from the trace.
fn finish_traced(
    python: &Python,
    mut trace: Trace,
    experiment: Experiment,
    config: &BenchConfig,
    mut keep: Option<&mut Vec<GilEvent>>,
) -> Result<(Report, Vec<(u32, ThreadTag)>), String> {
    let label = format!("{} ({})", python.info.label(), python.path.display());
    let pid = trace.pid();
    let mut child = trace
        .take_child()
        .ok_or_else(|| format!("{label}: the launched script has no child handle"))?;
    let out = read_in_background(child.stdout.take());
    let err = read_in_background(child.stderr.take());
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    let timeline = std::sync::Arc::clone(trace.recorder().timeline());
    let mut seq = 0;
    let (status, stopped) = wait_or_kill(
        &label,
        pid,
        &done_rx,
        script_timeout(experiment, config),
        config,
        || drain(&timeline, &mut seq, &mut keep),
    )?;
    let status = status.map_err(|e| format!("{label}: cannot wait for it: {e}"))?;
    let (_, recorder) = trace.finish(TraceEnd::Exited(status));
    // The lanes' ends, pushed when the trace finished.
    drain(&timeline, &mut seq, &mut keep);
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    let err = err.trim();
    let stderr_note = if err.is_empty() {
        String::new()
    } else {
        format!("; stderr: {err}")
    };
    if let Some(why) = stopped {
        return Err(format!("{label}: {why}{stderr_note}"));
    }
    if !status.success() {
        return Err(format!("{label}: exited with {status}{stderr_note}"));
    }
    let mut report = parse_report(python, experiment, &out)?;
    let recorder = recorder
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for row in &mut report.rows {
        fill_row(row, &recorder);
    }
    let threads = recorder.threads().iter().map(|t| (t.tid, t.tag)).collect();
    Ok((report, threads))
}

/// Waits for the script `pid` to end (its status arrives on `done`),
/// calling `tick` every [`POLL`]; kills it, once, when the run is cancelled
/// or `limit` has passed, and goes on waiting for it to end. Returns the
/// wait's outcome and why the script was stopped, if it was.
fn wait_or_kill(
    label: &str,
    pid: u32,
    done: &crossbeam_channel::Receiver<std::io::Result<ExitStatus>>,
    limit: Duration,
    config: &BenchConfig,
    mut tick: impl FnMut(),
) -> Result<(std::io::Result<ExitStatus>, Option<String>), String> {
    let deadline = Instant::now() + limit;
    let mut stopped = None;
    let status = loop {
        tick();
        match done.recv_timeout(POLL) {
            Ok(status) => break status,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                return Err(format!("{label}: waiting for the script failed"));
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
        }
        if stopped.is_none() {
            if config.cancel.is_cancelled() {
                stopped = Some("cancelled".to_string());
            } else if Instant::now() >= deadline {
                stopped = Some(format!(
                    "timed out after {:.0} s and was killed",
                    limit.as_secs_f64()
                ));
            }
            if stopped.is_some() {
                // Our own unreaped child: the pid names no other process.
                // Its helper processes end when its sockets close.
                process::send(pid, StopSignal::Kill);
            }
        }
    };
    Ok((status, stopped))
}

/// The merged histograms (holds, waits) of the traced threads whose ids are
/// in `tids`; `None` when the trace saw none of them.
fn merged(recorder: &Recorder, tids: &[u32]) -> Option<(Histogram<u64>, Histogram<u64>)> {
    let mut threads = recorder
        .threads()
        .iter()
        .filter(|t: &&TracedThread| tids.contains(&t.tid));
    let first = threads.next()?;
    let (mut holds, mut waits) = (first.holds_us.clone(), first.waits_us.clone());
    for thread in threads {
        // Same bounds everywhere (the recorder makes them all alike).
        let _ = holds.add(&thread.holds_us);
        let _ = waits.add(&thread.waits_us);
    }
    Some((holds, waits))
}

/// `waits` without those shorter than [`CONTENDED_WAIT_US`].
fn contended(waits: &Histogram<u64>) -> Histogram<u64> {
    let mut out = waits.clone();
    out.reset();
    for bucket in waits.iter_recorded() {
        let value = bucket.value_iterated_to();
        if value >= CONTENDED_WAIT_US {
            // Same bounds as the source: recording its own values cannot fail.
            let _ = out.record_n(value, bucket.count_at_value());
        }
    }
    out
}

/// A percentile of a histogram of microseconds, in ms; `None` when empty.
fn quantile_ms(histogram: &Histogram<u64>, q: f64) -> Option<f64> {
    (!histogram.is_empty()).then(|| histogram.value_at_quantile(q) as f64 / 1000.0)
}

/// Fills one real row's distributions from the trace, by its thread ids
/// (waits: only those of at least [`CONTENDED_WAIT_US`]).
pub(crate) fn fill_row(row: &mut BenchRow, recorder: &Recorder) {
    if let Some((holds, waits)) = row.thread_ids.as_deref().and_then(|t| merged(recorder, t)) {
        row.hold_ms_p50 = quantile_ms(&holds, 0.5);
        row.hold_ms_p99 = quantile_ms(&holds, 0.99);
        let waits = contended(&waits);
        row.wait_ms_p50 = quantile_ms(&waits, 0.5);
        row.wait_ms_p99 = quantile_ms(&waits, 0.99);
    }
    if let Some((_, waits)) = row.io_thread_id.and_then(|t| merged(recorder, &[t])) {
        let waits = contended(&waits);
        row.io_wait_ms_p50 = quantile_ms(&waits, 0.5);
        row.io_wait_ms_p99 = quantile_ms(&waits, 0.99);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gil::Timeline;
    use crate::trace::recorder::{Happening, Stamped};
    use std::sync::Arc;

    fn at(ms: u64, tid: u32, what: Happening) -> Stamped {
        Stamped {
            time_ns: ms * 1_000_000,
            tid,
            what,
        }
    }

    #[test]
    fn a_row_gets_the_histograms_of_its_own_threads_only() {
        let mut rec = Recorder::new(0, Arc::new(Timeline::default()), |_| String::new());
        use Happening::*;
        // Threads 1 and 2 take turns every 5 ms; thread 3 (another row)
        // holds for 40 ms at a stretch.
        for input in [
            at(0, 1, TakeEntry),
            at(0, 1, TakeReturn),
            at(1, 2, TakeEntry),
            at(5, 1, Drop),
            at(5, 2, TakeReturn),
            at(6, 1, TakeEntry),
            at(10, 2, Drop),
            at(10, 1, TakeReturn),
            at(15, 1, Drop),
            at(20, 3, TakeEntry),
            at(20, 3, TakeReturn),
            at(60, 3, Drop),
        ] {
            rec.apply(input);
        }
        let mut row = BenchRow {
            threads: Some(2),
            thread_ids: Some(vec![1, 2]),
            io_thread_id: Some(2),
            ..BenchRow::default()
        };
        fill_row(&mut row, &rec);
        // The histograms keep three significant digits.
        let near = |v: Option<f64>, want: f64| v.is_some_and(|v| (v - want).abs() < want * 0.01);
        assert!(near(row.hold_ms_p50, 5.0), "{row:?}");
        assert!(
            near(row.hold_ms_p99, 5.0),
            "thread 3's 40 ms hold is not this row's: {row:?}"
        );
        assert!(near(row.wait_ms_p50, 4.0), "{row:?}");
        assert!(near(row.io_wait_ms_p50, 4.0), "{row:?}");
        let mut unknown = BenchRow {
            thread_ids: Some(vec![99]),
            ..BenchRow::default()
        };
        fill_row(&mut unknown, &rec);
        assert_eq!(
            unknown.hold_ms_p50, None,
            "threads the trace never saw give nothing"
        );
    }
}
