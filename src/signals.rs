//! Stopping headless commands on a signal: the first SIGINT, SIGTERM or
//! SIGHUP cancels the command's [`CancelToken`] (and runs its own stop, e.g.
//! stopping a server), so it can wind down — kill its children, remove its
//! temp files, print what it measured — and exit `128 + signal` (130 for
//! SIGINT, 143 for SIGTERM). A second signal exits at once.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use threadlab::cancel::CancelToken;
use threadlab::gil::SwitchInterval;
use threadlab::lab::BenchConfig;
use threadlab::stop_signals::{self, STOP_SIGNALS, SignalFeed};

/// Watches for stop signals while a command runs (on the one signal
/// thread, [`stop_signals::forward`]); stops watching on drop.
pub struct SignalStop {
    received: Arc<AtomicI32>,
    _feed: SignalFeed,
}

impl SignalStop {
    /// Watches for SIGINT, SIGTERM and SIGHUP: the first one cancels
    /// `cancel` and calls `also`; a second one exits the process at once.
    pub fn watch(
        cancel: CancelToken,
        also: impl Fn() + Send + 'static,
    ) -> std::io::Result<SignalStop> {
        let received = Arc::new(AtomicI32::new(0));
        let seen = Arc::clone(&received);
        let feed = stop_signals::forward(stop_signals::catch()?, move |signal| {
            if seen.swap(signal, Ordering::SeqCst) != 0 {
                // Asked twice: the user does not want to wait.
                std::process::exit(128 + signal);
            }
            tracing::info!(signal, "stopping on a signal");
            cancel.cancel();
            also();
        })?;
        Ok(SignalStop {
            received,
            _feed: feed,
        })
    }

    /// The signal that stopped the command, if one did.
    pub(crate) fn received(&self) -> Option<i32> {
        match self.received.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(signal),
        }
    }

    /// `128 + signal` if a signal stopped the command, else `otherwise`.
    pub fn exit_code(&self, otherwise: ExitCode) -> ExitCode {
        self.received().map_or(otherwise, exit_code_for)
    }
}

/// A headless measurement's configuration (`bench`, `compare`) whose
/// cancel token the first stop signal trips, and the watch that does it;
/// the error is the one line to print (exit 1).
pub(crate) fn watched_bench_config(
    threads: &[u32],
    interval: SwitchInterval,
    seconds: f64,
) -> Result<(BenchConfig, SignalStop), String> {
    let config = BenchConfig::new(threads.to_vec(), interval, Duration::from_secs_f64(seconds));
    let signals = SignalStop::watch(config.cancel.clone(), || {})
        .map_err(|error| format!("cannot watch for signals: {error}"))?;
    Ok((config, signals))
}

/// The shell's exit code for a process ended by `signal`.
pub(crate) fn exit_code_for(signal: i32) -> ExitCode {
    ExitCode::from(u8::try_from(128 + signal).unwrap_or(1))
}

/// Records the last stop signal delivered while the dashboard runs, beside
/// the dashboard's own handling (which ends it): a dashboard ended by a
/// signal from outside exits `128 + signal`, one ended by a key exits 0.
pub struct SignalRecord {
    received: Arc<std::sync::atomic::AtomicUsize>,
    ids: Vec<signal_hook::SigId>,
}

impl SignalRecord {
    /// Starts recording.
    pub fn start() -> SignalRecord {
        let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let ids = STOP_SIGNALS
            .iter()
            .filter_map(|&signal| {
                signal_hook::flag::register_usize(
                    signal,
                    Arc::clone(&received),
                    usize::try_from(signal).unwrap_or(0),
                )
                .ok()
            })
            .collect();
        SignalRecord { received, ids }
    }

    /// `128 + signal` if a signal arrived, else `otherwise`.
    pub fn exit_code(&self, otherwise: ExitCode) -> ExitCode {
        match self.received.load(Ordering::SeqCst) {
            0 => otherwise,
            signal => exit_code_for(i32::try_from(signal).unwrap_or(0)),
        }
    }
}

impl Drop for SignalRecord {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}
