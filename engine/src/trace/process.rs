//! Signalling a traced program and waiting for one that is not our child.

use std::time::Duration;

use super::procfs;

/// The signals `trace` escalates through when asked to stop a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT: Python raises KeyboardInterrupt.
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGKILL.
    Kill,
}

/// Sends `signal` to process `pid` (errors ignored: it may be gone already).
pub fn send(pid: u32, signal: StopSignal) {
    let number = match signal {
        StopSignal::Interrupt => libc::SIGINT,
        StopSignal::Terminate => libc::SIGTERM,
        StopSignal::Kill => libc::SIGKILL,
    };
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(pid as libc::pid_t, number) };
}

/// Blocks until process `pid` (any process, not only a child) has ended:
/// its pidfd turns readable then; without pidfds, `/proc` is polled.
pub fn wait_gone(pid: u32) {
    // SAFETY: pidfd_open takes a pid and flags; the returned fd is ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) } as i32;
    if fd >= 0 {
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; retried only on EINTR-like failures.
        while unsafe { libc::poll(&mut poll, 1, -1) } < 0 {}
        // SAFETY: closing the fd opened above.
        unsafe { libc::close(fd) };
    } else {
        while procfs::process_alive(pid) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
