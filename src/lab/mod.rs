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

mod experiments;
mod report;

pub use experiments::{convoy, io, latency, throughput};
pub use report::{BenchRow, Report, render_table};

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::gil::{Mode, SwitchInterval};

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
    /// Thread counts (CPU threads for latency and convoy, where 0 is added).
    pub threads: Vec<u32>,
    /// Switch interval for `gil` mode.
    pub interval: SwitchInterval,
    /// Length of each measurement.
    pub duration: Duration,
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
        experiment: experiment.name(),
        mode,
        interval_ms: config.interval.as_millis_f64(),
        rows,
    })
}
