//! The one signal-forwarding thread every command uses: SIGINT, SIGTERM
//! and SIGHUP, caught before anything starts, each shown to the command's
//! own `seen` (cancel a token, end the UI's GIL wait) and then sent on a
//! channel the command may wait on (the dashboards' run loop, a headless
//! trace). Dropping the [`SignalFeed`] stops the thread.
//!
//! Also here: [`fail`], the one way a command reports a failure (one line
//! on stderr, an exit code).

use std::io::Write as _;
use std::process::ExitCode;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

/// The signals that end a command.
pub const STOP_SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// Registers for the stop signals (early: one that comes before
/// [`forward`] starts waits in the returned `Signals`).
pub fn catch() -> std::io::Result<Signals> {
    Signals::new(STOP_SIGNALS)
}

/// The running signal thread and the channel it sends each signal on.
#[derive(Debug)]
pub struct SignalFeed {
    signals: Receiver<i32>,
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl SignalFeed {
    /// Each signal, in the order they came (a few are kept if nobody reads).
    pub fn receiver(&self) -> Receiver<i32> {
        self.signals.clone()
    }

    /// Stops forwarding (and joins the thread).
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for SignalFeed {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the `signals` thread over `signals`: each one is shown to
/// `seen`, then sent (never blocking: a full channel drops it).
pub fn forward(
    signals: Signals,
    seen: impl Fn(i32) + Send + 'static,
) -> std::io::Result<SignalFeed> {
    let mut signals = signals;
    let handle = signals.handle();
    let (tx, rx) = crossbeam_channel::bounded(4);
    let thread = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                seen(signal);
                let _ = tx.try_send(signal);
            }
        })?;
    Ok(SignalFeed {
        signals: rx,
        handle,
        thread: Some(thread),
    })
}

/// Prints `threadlab: MESSAGE` on stderr (long quoted values shortened, see
/// [`crate::cli::shorten_quoted`]) and returns exit code `code`.
pub fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    // Not eprintln!: after a hang-up stderr is gone, and that must not panic.
    // Long quoted values (a pasted blob, /dev/zero) are cut to stay one line.
    let message = crate::cli::shorten_quoted(&message.to_string());
    let _ = writeln!(std::io::stderr(), "threadlab: {message}");
    ExitCode::from(code)
}
