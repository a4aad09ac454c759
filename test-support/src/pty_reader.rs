//! The one pty reader loop, shared by the tests' harness
//! (`tests/common/pty.rs`) and the benchmarks' (`benches/common/pty.rs`,
//! which includes this file by path): a thread reads the pty's master side
//! and feeds every chunk, under the output's lock, to a [`Sink`] — the
//! tests' keeps the raw bytes, the benchmarks' stamps the instant a watched
//! condition first holds — and wakes waiters after each chunk and at the
//! close.

use std::io::Read;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};

/// What the reader feeds.
pub trait Sink: Send + 'static {
    /// A chunk of output arrived.
    fn feed(&mut self, bytes: &[u8]);
    /// The pty closed (the program and its children are gone).
    fn close(&mut self);
}

/// A sink with the condvar its waiters wait on.
pub type Shared<S> = Arc<(Mutex<S>, Condvar)>;

/// Locks `shared`, surviving a panicked holder.
pub fn lock<S>(shared: &Shared<S>) -> MutexGuard<'_, S> {
    shared.0.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts the `pty-reader` thread: reads `reader` in chunks of `chunk`
/// bytes into `shared` until the pty closes. `setup` runs first, on the
/// reader thread.
pub fn spawn_reader<S: Sink>(
    mut reader: Box<dyn Read + Send>,
    shared: &Shared<S>,
    chunk: usize,
    setup: impl FnOnce() + Send + 'static,
) -> JoinHandle<()> {
    let pump = Arc::clone(shared);
    thread::Builder::new()
        .name("pty-reader".into())
        .spawn(move || {
            setup();
            let mut buf = vec![0u8; chunk];
            loop {
                let n = reader.read(&mut buf).unwrap_or(0);
                let mut out = lock(&pump);
                if n == 0 {
                    out.close();
                    pump.1.notify_all();
                    break;
                }
                out.feed(&buf[..n]);
                pump.1.notify_all();
            }
        })
        .expect("spawn the pty reader")
}
