//! Headless experiments, modelled on CPython's `Tools/ccbench`: they reuse the
//! engine's GIL, CPU step and embedded server — no second implementation —
//! and measure what the dashboard shows.
//!
//! * `throughput` — N CPU-bound threads for S seconds: iterations/s and the
//!   speedup over one thread.
//! * `io` — N threads each doing blocking waits (sleeps and HTTP GETs with a
//!   server-side delay): waits/s and the speedup over one thread.
//! * `latency` — a responder thread answers pings sent every 100 ms while N
//!   CPU threads run.
//! * `convoy` — an I/O thread does small loopback TCP round trips while N CPU
//!   threads run: round trips/s and their RTT.

mod back_from_io;
pub mod compare;
pub mod compare_trace;
mod convoy_shape;
mod experiments;
pub mod python_cost;
pub mod race;
mod report;
pub mod side_by_side;

pub use back_from_io::back_from_io_waits;
pub use convoy_shape::{ConvoyShape, convoy_shape};
pub use experiments::{convoy, io, latency, throughput};
pub use report::{BenchRow, Interpreter, Report, render_table};

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::cancel::CancelToken;
use crate::gil::{Gil, Mode, SwitchInterval};

/// One of the experiments, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Experiment {
    /// CPU-bound threads: iterations/s.
    Throughput,
    /// I/O-bound threads: waits/s.
    Io,
    /// Ping latency beside CPU threads.
    Latency,
    /// Loopback round trips beside CPU threads.
    Convoy,
    /// Every experiment.
    All,
}

impl Experiment {
    /// The single experiments, in report order.
    pub const EACH: [Experiment; 4] = [
        Experiment::Throughput,
        Experiment::Io,
        Experiment::Latency,
        Experiment::Convoy,
    ];

    /// The single experiments this one stands for (`all`: every one).
    pub fn expand(self) -> Vec<Experiment> {
        match self {
            Experiment::All => Self::EACH.to_vec(),
            one => vec![one],
        }
    }

    /// The name as typed.
    pub fn name(self) -> &'static str {
        match self {
            Experiment::Throughput => "throughput",
            Experiment::Io => "io",
            Experiment::Latency => "latency",
            Experiment::Convoy => "convoy",
            Experiment::All => "all",
        }
    }
}

impl fmt::Display for Experiment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Experiment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::EACH
            .into_iter()
            .chain([Experiment::All])
            .find(|e| e.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                format!(
                    "unknown experiment '{s}': expected one of throughput, io, latency, convoy, all"
                )
            })
    }
}

/// What to measure and how long.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Thread counts (CPU threads for latency and convoy). Throughput and io
    /// always measure 1 thread too, latency and convoy 0 CPU threads: the
    /// baselines their results are read against.
    pub threads: Vec<u32>,
    /// Switch interval for `gil` mode.
    pub interval: SwitchInterval,
    /// Length of each measurement.
    pub(crate) duration: Duration,
    /// Cancelling it ends the current measurement early and skips the rest.
    pub cancel: CancelToken,
    /// Told after each finished measurement (progress from the work).
    pub(crate) progress: Option<ProgressSink>,
    /// Gets each finished measurement's thread count and [`Gil`], whose
    /// timeline shows everything its threads did.
    pub gils: Option<Sender<(u32, Gil)>>,
}

/// Where a running suite reports each finished measurement.
#[derive(Debug, Clone)]
pub(crate) struct ProgressSink {
    events: Sender<SuiteEvent>,
    done: Arc<AtomicUsize>,
    total: usize,
}

impl ProgressSink {
    /// A sink that counts `total` measurements onto `events`.
    pub(crate) fn new(events: Sender<SuiteEvent>, total: usize) -> Self {
        Self {
            events,
            done: Arc::default(),
            total,
        }
    }
}

impl BenchConfig {
    /// A configuration with no cancel and no progress reports.
    pub fn new(threads: Vec<u32>, interval: SwitchInterval, duration: Duration) -> Self {
        Self {
            threads,
            interval,
            duration,
            cancel: CancelToken::new(),
            progress: None,
            gils: None,
        }
    }

    /// How many measurements one mode of `experiment` takes.
    pub(crate) fn measurements(&self, experiment: Experiment) -> usize {
        match experiment {
            Experiment::Throughput | Experiment::Io => experiments::thread_counts(self).len(),
            Experiment::Latency | Experiment::Convoy => experiments::cpu_counts(self).len(),
            Experiment::All => Experiment::EACH.iter().map(|e| self.measurements(*e)).sum(),
        }
    }

    /// Reports a finished measurement of `threads` threads run under `gil`.
    pub(crate) fn measured(&self, threads: u32, gil: &Gil) {
        if let Some(gils) = &self.gils {
            let _ = gils.send((threads, gil.clone()));
        }
        self.count_measurement();
    }

    /// Counts a finished measurement towards the progress.
    pub(crate) fn count_measurement(&self) {
        if let Some(sink) = &self.progress {
            let done = sink.done.fetch_add(1, Ordering::Relaxed) + 1;
            let _ = sink.events.send(SuiteEvent::Progress {
                done,
                total: sink.total,
            });
        }
    }

    /// Sleeps for the measurement's duration, or less if cancelled.
    pub(crate) fn measure_sleep(&self) {
        let _ = self.cancel.sleep(self.duration);
    }
}

/// What a suite running in the background reports.
#[derive(Debug, Clone)]
pub enum SuiteEvent {
    /// `done` of `total` measurements finished.
    Progress {
        /// Measurements finished.
        done: usize,
        /// Measurements in all.
        total: usize,
    },
    /// One mode's report.
    Report(Report),
    /// An experiment's emulated and real sides, each measurement with its
    /// timeline ([`Suite::spawn_side_by_side`]).
    SideBySide(Box<side_by_side::SideBySide>),
    /// Every mode ran.
    Finished,
    /// It stopped on an error.
    Failed(String),
}

/// A suite running on its own thread: one experiment in several modes.
pub struct Suite {
    /// Its events.
    pub events: Receiver<SuiteEvent>,
    cancel: CancelToken,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Suite {
    /// Starts `experiment` in each of `modes` on a thread named `lab`.
    /// With `with_python`, the suite then runs the same experiment in the
    /// `python3` on PATH, if there is a usable one (else it is left out).
    pub fn spawn(
        experiment: Experiment,
        modes: Vec<Mode>,
        mut config: BenchConfig,
        with_python: bool,
    ) -> std::io::Result<Self> {
        let (tx, events) = crossbeam_channel::unbounded();
        let cancel = config.cancel.clone();
        let handle = std::thread::Builder::new()
            .name("lab".into())
            .spawn(move || {
                // Probing python3 starts a process: done here, off the UI thread.
                let python = if with_python {
                    compare::find_interpreters(&[std::path::PathBuf::from("python3")])
                        .0
                        .into_iter()
                        .next()
                } else {
                    None
                };
                let per_run = config.measurements(experiment);
                let total = per_run * (modes.len() + usize::from(python.is_some()));
                config.progress = Some(ProgressSink::new(tx.clone(), total));
                let _ = tx.send(SuiteEvent::Progress { done: 0, total });
                for mode in modes {
                    if config.cancel.is_cancelled() {
                        return;
                    }
                    match run(experiment, mode, &config) {
                        Ok(report) => {
                            let _ = tx.send(SuiteEvent::Report(report));
                        }
                        Err(error) => {
                            let _ = tx.send(SuiteEvent::Failed(error));
                            return;
                        }
                    }
                }
                if let Some(python) = python {
                    let outcome = compare::ScriptFile::write()
                        .map_err(|e| format!("cannot write the Python script: {e}"))
                        .and_then(|script| {
                            let server = crate::server::Server::start_loopback()
                                .map_err(|e| e.to_string())?;
                            compare::run_python(
                                &python,
                                script.path(),
                                experiment,
                                &config,
                                &server.url("/"),
                            )
                        });
                    if config.cancel.is_cancelled() {
                        return;
                    }
                    for _ in 0..per_run {
                        config.count_measurement();
                    }
                    let _ = tx.send(match outcome {
                        Ok(report) => SuiteEvent::Report(report),
                        Err(error) => SuiteEvent::Failed(error),
                    });
                }
                if !config.cancel.is_cancelled() {
                    let _ = tx.send(SuiteEvent::Finished);
                }
            })?;
        Ok(Self {
            events,
            cancel,
            handle: Some(handle),
        })
    }

    /// Starts `experiment` in the emulation's `gil` mode and then in a real
    /// interpreter under the tracer (`python`, default `python3` on PATH),
    /// on a thread named `lab`; sends one [`SuiteEvent::SideBySide`] with
    /// every measurement's timeline. When the real side cannot be traced
    /// (not root, no uprobes, an interpreter without `take_gil`) it says
    /// why instead.
    pub fn spawn_side_by_side(
        experiment: Experiment,
        config: BenchConfig,
        python: Option<std::path::PathBuf>,
    ) -> std::io::Result<Self> {
        let (tx, events) = crossbeam_channel::unbounded();
        let cancel = config.cancel.clone();
        let handle = std::thread::Builder::new()
            .name("lab".into())
            .spawn(move || side_by_side::run_both(experiment, config, python, &tx))?;
        Ok(Self {
            events,
            cancel,
            handle: Some(handle),
        })
    }

    /// Stops the suite and waits for its thread.
    pub fn cancel(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.cancel.cancel();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Suite {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs one experiment in one mode.
pub fn run(experiment: Experiment, mode: Mode, config: &BenchConfig) -> Result<Report, String> {
    let rows = match experiment {
        Experiment::Throughput => throughput(mode, config),
        Experiment::Io => io(mode, config)?,
        Experiment::Latency => latency(mode, config).map_err(|e| e.to_string())?,
        Experiment::Convoy => convoy(mode, config).map_err(|e| e.to_string())?,
        Experiment::All => return Err("run each experiment of 'all' on its own".into()),
    };
    Ok(Report {
        experiment: experiment.name().to_string(),
        mode,
        interval_ms: config.interval.as_millis_f64(),
        rows,
        interpreter: None,
    })
}
