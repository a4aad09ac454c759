//! Where the dashboard's frames go: straight to the terminal, or, while the
//! UI is under the GIL, through an output thread that takes the GIL first,
//! as a Python TUI's writer thread does (Textual's `textual-output`: the
//! main thread queues each frame, the writer wakes with the GIL released,
//! takes it, and writes). Beside CPU-bound threads that thread waits for
//! the GIL like any thread back from I/O (sampled beside two CPU threads:
//! waiting 28 % of the time), and each frame reaches the screen only after
//! that wait; so with `u` on, threadlab's frames do too.
//!
//! Frames stay in order: while frames are queued, a direct write waits for
//! the output thread to finish them (it stops taking the GIL as soon as
//! `u` is off, so that is quick). Restoring the terminal takes the same
//! output lock as a write, and the output thread drops whatever it had once
//! the terminal is restored, so a late frame never lands on the main screen.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::helper_gil::HelperGil;

/// Held while bytes go to the terminal, by a frame write and by the
/// terminal's restore, so neither cuts into the other.
pub(crate) static OUTPUT: Mutex<()> = Mutex::new(());

/// How long a direct write waits for queued frames before writing anyway.
const DRAIN_PATIENCE: Duration = Duration::from_secs(1);

/// The way to the output thread while it runs (one terminal per process).
static LINK: Mutex<Option<Link>> = Mutex::new(None);

/// A frame buffer (ratatui writes a frame into it, then flushes once): the
/// flush writes the frame, or hands it to the output thread while the UI is
/// under the GIL.
#[derive(Debug)]
pub(crate) struct FrameOut {
    buf: Vec<u8>,
    capacity: usize,
    active: fn() -> bool,
}

/// The way to the output thread.
#[derive(Debug)]
struct Link {
    frames: Sender<Vec<u8>>,
    pending: Arc<AtomicUsize>,
    under: Arc<AtomicBool>,
}

/// The output thread, to be stopped when the dashboard ends.
#[derive(Debug)]
pub(crate) struct OutputThread {
    handle: Option<JoinHandle<()>>,
}

impl FrameOut {
    /// A buffer of `capacity` bytes writing frames directly, or through the
    /// output thread once [`spawn_output_thread`] started it; `active` says
    /// whether the terminal is still ours (false once restored).
    pub(crate) fn new(capacity: usize, active: fn() -> bool) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
            capacity,
            active,
        }
    }
}

/// Starts the output thread: while `gil`'s UI is under the GIL, frames go
/// through it and it takes the GIL before writing each; `active` as for
/// [`FrameOut::new`].
pub(crate) fn spawn_output_thread(
    gil: HelperGil,
    active: fn() -> bool,
) -> io::Result<OutputThread> {
    let (frames, queued) = crossbeam_channel::unbounded();
    let pending = Arc::new(AtomicUsize::new(0));
    let under = gil.under();
    let handle = {
        let pending = Arc::clone(&pending);
        thread::Builder::new()
            .name("output".into())
            .spawn(move || write_frames(gil, &queued, &pending, active))?
    };
    *lock(&LINK) = Some(Link {
        frames,
        pending,
        under,
    });
    Ok(OutputThread {
        handle: Some(handle),
    })
}

impl Write for FrameOut {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        {
            let link = lock(&LINK);
            match link.as_ref() {
                Some(link) if link.under.load(Ordering::Relaxed) => {
                    // The output thread owns this frame; the next gets a
                    // buffer of its own.
                    let frame = std::mem::replace(&mut self.buf, Vec::with_capacity(self.capacity));
                    link.pending.fetch_add(1, Ordering::SeqCst);
                    match link.frames.send(frame) {
                        Ok(()) => return Ok(()),
                        Err(unsent) => {
                            link.pending.fetch_sub(1, Ordering::SeqCst);
                            self.buf = unsent.into_inner();
                        }
                    }
                }
                Some(link) => drain(&link.pending),
                None => {}
            }
        }
        // Written from the buffer itself, which is kept for the next frame.
        let written = write_frame(&self.buf, self.active);
        self.buf.clear();
        written
    }
}

impl OutputThread {
    /// Stops the output thread once it has written (or, the terminal gone,
    /// dropped) what it had; later frames are written directly.
    pub(crate) fn stop(mut self) {
        lock(&LINK).take();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// The output thread: each frame waits for the GIL while the UI is under
/// it (the wait for the next frame, and the write itself, release it).
fn write_frames(
    mut gil: HelperGil,
    queued: &Receiver<Vec<u8>>,
    pending: &AtomicUsize,
    active: fn() -> bool,
) {
    loop {
        let Ok(frame) = gil.around(|| queued.recv()) else {
            return;
        };
        gil.around(|| {
            let _ = write_frame(&frame, active);
            pending.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Writes one frame to the terminal in one piece, unless it was restored.
fn write_frame(frame: &[u8], active: fn() -> bool) -> io::Result<()> {
    let _output = lock(&OUTPUT);
    if !active() {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    out.write_all(frame)?;
    out.flush()
}

/// Waits until the output thread has written every queued frame, up to
/// [`DRAIN_PATIENCE`].
fn drain(pending: &AtomicUsize) {
    let began = Instant::now();
    while pending.load(Ordering::SeqCst) > 0 && began.elapsed() < DRAIN_PATIENCE {
        thread::sleep(Duration::from_micros(100));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
