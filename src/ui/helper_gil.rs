//! The input and output threads' part in "UI under the GIL" (the output
//! side is in `frame_out.rs`). A Python TUI reads its
//! terminal on a thread of its own (Textual's `textual-input`), with the GIL
//! released while it waits for bytes, and takes the GIL to parse each key
//! and post it to the event loop. Beside CPU-bound threads that take waits
//! like any thread back from I/O: traced in the bench's Textual apps beside
//! two CPU threads, ~19–26 takes a second, p50 4 ms and p99 23 ms of waiting
//! (the tracer's probes shorten such waits; BENCHMARKS.md, "A thread back
//! from I/O beside two CPU threads"). So while `u` is on, threadlab's input
//! thread does the same with the emulated GIL before it hands a key on;
//! with `u` off it never touches the GIL.
//!
//! A quit never waits for the GIL: the input thread decides it while the
//! GIL is released, and the quit cancels this thread's re-take too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::gil::GilThread;

/// A helper thread's (input, output) membership in the GIL and whether
/// the UI is under it.
#[derive(Debug)]
pub struct HelperGil {
    thread: GilThread,
    under: Arc<AtomicBool>,
}

impl HelperGil {
    /// `thread` (registered with the quit token) takes the GIL around each
    /// read while `under` is true.
    pub fn new(thread: GilThread, under: Arc<AtomicBool>) -> Self {
        Self { thread, under }
    }

    /// The flag that says whether the UI is under the GIL.
    pub fn under(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.under)
    }

    /// Its lane on the GIL timeline.
    pub fn tag(&self) -> crate::gil::ThreadTag {
        self.thread.tag()
    }

    /// Runs `read` (which returns the next terminal event and decides
    /// whether it quits) with the GIL released; while the UI is under the
    /// GIL, takes it afterwards, as Python's input thread does to parse and
    /// post the key, and keeps it until the next read. Off, it lets go of it.
    pub fn around<T>(&mut self, read: impl FnOnce() -> T) -> T {
        if !self.under.load(Ordering::Relaxed) {
            if self.thread.is_holding() {
                self.thread.exit();
            }
            return read();
        }
        // A cancelled re-take (a quit) still hands the event on.
        self.thread.released(read).0
    }
}

impl Drop for HelperGil {
    fn drop(&mut self) {
        self.thread.exit();
    }
}
