//! Owning the terminal: raw mode, the alternate screen, and putting it all
//! back on every way out — normal exit, error, signal, or a panic.
//!
//! The panic hook is global and runs on the panicking thread. A panic on the
//! UI thread restores the terminal before the message prints (as ratatui's
//! `init` does). A panic on a worker thread must not: that worker's
//! `catch_unwind` turns it into a failed worker and the dashboard lives on,
//! so the hook only logs it instead of printing over the screen.

use std::io::{self, stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Once, OnceLock};
use std::thread::{self, ThreadId};

use crossterm::cursor::Show;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use super::frame_out::FrameOut;

/// Whether the terminal is still set up (not yet restored).
pub(crate) fn is_active() -> bool {
    ACTIVE.load(Ordering::SeqCst)
}

/// The dashboard's terminal type. Frames go through a 64 KiB buffer, so a
/// frame reaches the terminal in one `write(2)` when ratatui flushes, not in
/// the 1 KiB pieces std's line-buffered `Stdout` would send (a terminal
/// could show half a frame, and each piece is a syscall); while the UI is
/// under the GIL, an output thread writes it ([`super::frame_out`]).
pub(crate) type Tui = Terminal<CrosstermBackend<FrameOut>>;

/// Size of the frame buffer.
const FRAME_BUFFER: usize = 64 << 10;

static UI_THREAD: OnceLock<ThreadId> = OnceLock::new();
static ACTIVE: AtomicBool = AtomicBool::new(false);
static MOUSE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// Puts the terminal back: raw mode off, main screen, cursor shown.
/// Safe to call more than once and when the terminal was never set up.
pub(crate) fn restore() {
    // After a frame being written, and before any the output thread still
    // has (it drops them once this has run).
    let _output = super::frame_out::OUTPUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if ACTIVE.swap(false, Ordering::SeqCst) {
        if MOUSE.swap(false, Ordering::SeqCst) {
            let _ = execute!(stdout(), DisableMouseCapture);
        }
        let _ = disable_raw_mode();
        let _ = execute!(stdout(), LeaveAlternateScreen, Show);
    }
}

fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_ui_thread = UI_THREAD.get() == Some(&thread::current().id());
            if on_ui_thread || !ACTIVE.load(Ordering::SeqCst) {
                restore();
                previous(info);
            } else {
                // A worker: its catch_unwind reports it; keep the screen clean.
                tracing::error!(
                    thread = thread::current().name().unwrap_or("?"),
                    "worker panicked: {info}"
                );
            }
        }));
    });
}

/// Restores the terminal when dropped.
pub(crate) struct TerminalGuard {
    _private: (),
}

impl TerminalGuard {
    /// Takes over the terminal for the calling (UI) thread, with mouse
    /// reporting if `mouse`, and returns the terminal to draw on. Never
    /// drop that terminal: ratatui's own drop writes to the terminal (and
    /// panics if it is gone after a hang-up); [`restore`] does everything
    /// needed instead.
    pub fn enter(mouse: bool) -> io::Result<(Self, Tui)> {
        let _ = UI_THREAD.set(thread::current().id());
        install_panic_hook();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let guard = Self { _private: () };
        execute!(stdout(), EnterAlternateScreen)?;
        if mouse {
            MOUSE.store(true, Ordering::SeqCst);
            execute!(stdout(), EnableMouseCapture)?;
        }
        let terminal = Terminal::new(CrosstermBackend::new(FrameOut::new(
            FRAME_BUFFER,
            is_active,
        )))?;
        Ok((guard, terminal))
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}
