//! The `stack-sampler` thread: reads every Python thread's stack
//! ([`super::stacks`]) `rate` times a second and hands each round, stamped
//! with the `CLOCK_MONOTONIC` instant in the middle of its read, to the
//! tracer's reader thread, which joins it with each thread's exact GIL state
//! at that instant (it sorts rounds among the probe records by time).
//!
//! It never blocks on the reader (a full channel drops the round, counted)
//! and never stops the trace: if the interpreter cannot be read (no
//! permission, an unknown layout) it keeps trying while the trace runs and
//! the report says why.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use serde::Serialize;

use super::monotonic_ns;
use super::sampled::{Observed, Observer};
use super::stacks::{StackReader, ThreadStack};
use crate::cancel::CancelToken;

/// How the stacks are sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackOptions {
    /// Rounds per second; 0: no stacks.
    pub rate_hz: u32,
    /// Pause the program for each read.
    pub blocking: bool,
}

impl StackOptions {
    /// No stack sampling.
    pub const OFF: StackOptions = StackOptions {
        rate_hz: 0,
        blocking: false,
    };
}

/// One sampling round.
#[derive(Debug, Clone)]
pub struct StackRound {
    /// `CLOCK_MONOTONIC` ns in the middle of the read.
    pub time_ns: u64,
    /// The sampling period, ns.
    pub period_ns: u64,
    /// Every Python thread.
    pub stacks: Vec<ThreadStack>,
    /// A sampled trace's reading of each thread's GIL state at this
    /// instant (`None` when the probes give it exactly).
    pub gil: Option<Vec<(u32, Observed)>>,
}

/// How the sampler is doing, for the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SamplerStatus {
    /// Rounds per second asked for (0: off).
    pub rate_hz: u32,
    /// Whether each read paused the program.
    pub blocking: bool,
    /// Rounds read.
    pub rounds: u64,
    /// Rounds dropped because the reader thread was behind.
    pub dropped: u64,
    /// Rounds whose read failed (the program changed under the read).
    pub failed: u64,
    /// Mean time one round's read took, µs.
    pub read_us_mean: f64,
    /// Why stacks could not be read, if they could not.
    pub error: Option<String>,
}

/// Starts the sampler for process `pid`, sending rounds to `rounds` until
/// `stop`; with `gil`, each round also reads every thread's GIL state (a
/// sampled trace). `None` if `options` asks for no stacks or the thread
/// cannot start.
pub(crate) fn spawn(
    pid: u32,
    options: StackOptions,
    gil: bool,
    rounds: Sender<StackRound>,
    status: Arc<Mutex<SamplerStatus>>,
    stop: CancelToken,
) -> Option<JoinHandle<()>> {
    if options.rate_hz == 0 {
        return None;
    }
    {
        let mut s = status.lock().unwrap_or_else(PoisonError::into_inner);
        s.rate_hz = options.rate_hz;
        s.blocking = options.blocking;
    }
    std::thread::Builder::new()
        .name("stack-sampler".into())
        .spawn(move || run(pid, (options, gil), &rounds, &status, &stop))
        .ok()
}

fn run(
    pid: u32,
    (options, gil): (StackOptions, bool),
    rounds: &Sender<StackRound>,
    status: &Mutex<SamplerStatus>,
    stop: &CancelToken,
) {
    let set = |f: &dyn Fn(&mut SamplerStatus)| {
        f(&mut status.lock().unwrap_or_else(PoisonError::into_inner))
    };
    // Keep trying while the trace runs: a launched interpreter needs a
    // moment before it can be read. Each try parses the binaries, so the
    // pause between tries doubles up to 2 s: an interpreter that cannot be
    // read costs next to nothing.
    let mut pause = Duration::from_millis(50);
    let mut reader = loop {
        match StackReader::connect(pid, options.blocking, Duration::from_secs(1), stop) {
            Ok(reader) => {
                set(&|s| s.error = None);
                break reader;
            }
            Err(error) => {
                set(&|s| s.error = Some(error.clone()));
                if stop.sleep(pause).is_err() {
                    return;
                }
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    };
    let mut observer = gil.then(|| Observer::new(pid, &reader.version()));
    let period = Duration::from_nanos(1_000_000_000 / u64::from(options.rate_hz));
    let mut next = Instant::now();
    let mut read_total = Duration::ZERO;
    let mut read_rounds = 0u64;
    while !stop.is_cancelled() {
        let start = monotonic_ns();
        let began = Instant::now();
        let sample = reader.sample();
        let took = began.elapsed();
        let time_ns = start + took.as_nanos() as u64 / 2;
        match sample {
            Ok(stacks) => {
                read_total += took;
                let round = StackRound {
                    time_ns,
                    period_ns: period.as_nanos() as u64,
                    gil: observer.as_mut().map(|o| o.observe(&stacks)),
                    stacks,
                };
                let sent = rounds.try_send(round);
                read_rounds += 1;
                if read_rounds == 1 {
                    tracing::info!(pid, version = %reader.version(), "stack sampler: first round read");
                }
                set(&|s| {
                    s.rounds += 1;
                    s.read_us_mean = read_total.as_secs_f64() * 1e6 / s.rounds as f64;
                    if matches!(sent, Err(TrySendError::Full(_))) {
                        s.dropped += 1;
                    }
                });
                if matches!(sent, Err(TrySendError::Disconnected(_))) {
                    return;
                }
            }
            Err(_) => set(&|s| s.failed += 1),
        }
        next += period;
        let now = Instant::now();
        if next <= now {
            // Behind (a slow read): start again from now, never burst.
            next = now;
        } else if stop.sleep(next - now).is_err() {
            return;
        }
    }
}
