//! One priority for one Python process: while the UI is under the GIL, the
//! threads that take the emulated GIL run at the UI thread's OS priority.
//!
//! Every thread of a CPython process runs at one nice value, so when one
//! releases the GIL (an event loop's `select`, a blocking call) the kernel
//! treats the waiter it woke as its equal: it may run the waiter first, and
//! the releasing thread queues for the GIL behind it. threadlab's workers
//! normally run `[workers] nice` (19) steps below its UI thread, so that the
//! Rust dashboard stays responsive however many there are; with the UI under
//! the GIL (`u`) that head start would let the emulated Python UI take the
//! GIL straight back at every release, which no Python UI can.
//!
//! So the emulated Python threads (the workers, the race's and the lab's
//! threads, the lab's pools: every thread that called
//! [`GilThread::lower_priority`]) join a registry here, under one mutex,
//! with their thread id and the nice value they run at apart. The UI thread
//! calls [`GilThread::share_priority`]: on, every member is set (by thread
//! id) to the UI thread's nice; off, each goes back to its own. A thread
//! that joins while the priority is shared lands at the shared level; one
//! that ends leaves first (on drop of its [`GilThread`]). Joining, leaving
//! and each change hold the registry's mutex, so no thread is ever missed
//! or set after it left.
//!
//! Raising a thread's priority (a lower nice) needs `CAP_SYS_NICE` or an
//! `RLIMIT_NICE` that allows it; lowering never does. Without it, sharing
//! lowers the UI thread to the members' level instead (one priority all the
//! same), and when the UI leaves the GIL it stays there, since it cannot be
//! raised back: a line in the log says so.

use std::sync::{Mutex, MutexGuard, PoisonError};

use rustix::process::{Pid, getpriority_process, setpriority_process};

/// A member: an emulated Python thread and the nice it runs at apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Member {
    tid: i32,
    apart: i32,
}

/// The UI thread while it shares its priority.
#[derive(Debug, Clone, Copy)]
struct Leader {
    tid: i32,
    /// Its nice before it shared.
    own: i32,
    /// The level every member and it run at now.
    level: i32,
}

#[derive(Debug, Default)]
struct State {
    members: Vec<Member>,
    leader: Option<Leader>,
}

/// The registry of one GIL's Python threads and the priority they share.
#[derive(Debug, Default)]
pub(super) struct Priorities {
    state: Mutex<State>,
}

/// The nice `nice` steps below the process's main thread, clamped at 19:
/// where a Python thread runs while the UI keeps its head start.
pub(super) fn apart(nice: u8) -> i32 {
    use rustix::process::{getpid, getpriority_process};
    let base = getpriority_process(Some(getpid())).unwrap_or(0);
    (base + i32::from(nice)).min(19)
}

/// The calling thread's id.
pub(crate) fn current_tid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// `tid`'s nice value (0 if it cannot be read).
pub fn nice_of(tid: i32) -> i32 {
    Pid::from_raw(tid)
        .and_then(|pid| getpriority_process(Some(pid)).ok())
        .unwrap_or(0)
}

/// Sets `tid`'s nice; false if the kernel refused (raising without the
/// privilege) or the thread is gone.
fn set_nice(tid: i32, nice: i32) -> bool {
    Pid::from_raw(tid).is_some_and(|pid| setpriority_process(Some(pid), nice).is_ok())
}

impl Priorities {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The calling thread joins, running `apart` when the priority is not
    /// shared; while it is, it runs at the shared level at once.
    pub(super) fn join(&self, tid: i32, apart: i32) {
        let mut state = self.lock();
        state.members.retain(|m| m.tid != tid);
        state.members.push(Member { tid, apart });
        match state.leader {
            None => {
                if nice_of(tid) < apart {
                    set_nice(tid, apart);
                }
            }
            Some(leader) => {
                if !set_nice(tid, leader.level) {
                    // Cannot come up to the shared level: all go down to it.
                    Self::level_down(&mut state, apart);
                }
            }
        }
    }

    /// `tid` leaves (its thread ends, or stops taking part).
    pub(super) fn leave(&self, tid: i32) {
        self.lock().members.retain(|m| m.tid != tid);
    }

    /// The calling thread (`tid`, the UI) shares its priority with every
    /// member (`on`), or stops sharing it.
    pub(super) fn share(&self, tid: i32, on: bool) {
        let mut state = self.lock();
        if on {
            if state.leader.is_some() {
                return;
            }
            let own = nice_of(tid);
            state.leader = Some(Leader {
                tid,
                own,
                level: own,
            });
            let members = state.members.clone();
            if let Some(lowest) = members
                .iter()
                .filter(|m| !set_nice(m.tid, own))
                .map(|m| m.apart)
                .max()
            {
                Self::level_down(&mut state, lowest);
            }
        } else if let Some(leader) = state.leader.take() {
            for member in &state.members {
                set_nice(member.tid, member.apart.max(leader.level));
            }
            if leader.level != leader.own && !set_nice(leader.tid, leader.own) {
                tracing::info!(
                    nice = leader.level,
                    "the UI thread stays at its Python threads' nice {}: raising it back to {} needs CAP_SYS_NICE",
                    leader.level,
                    leader.own
                );
            }
        }
    }

    /// Raising was refused: the leader and every member go down to `level`
    /// (or the lowest level already shared), which needs no privilege.
    fn level_down(state: &mut State, level: i32) {
        let Some(leader) = state.leader.as_mut() else {
            return;
        };
        if level > leader.level {
            leader.level = level;
            set_nice(leader.tid, level);
            tracing::info!(
                nice = level,
                "UI under the GIL: the Python threads cannot be raised to the UI's nice {} (needs CAP_SYS_NICE); the UI thread runs at theirs, {level}, instead",
                leader.own
            );
        }
        let level = leader.level;
        for member in &state.members {
            set_nice(member.tid, level);
        }
    }

    /// The shared level while the priority is shared.
    pub(super) fn shared_level(&self) -> Option<i32> {
        self.lock().leader.map(|leader| leader.level)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use crate::cancel::CancelToken;
    use crate::gil::{Gil, Mode, SwitchInterval, nice_of};

    /// A thread's nice as the kernel reports it in
    /// `/proc/self/task/TID/stat` (field 19).
    fn proc_nice(tid: i32) -> i32 {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
            .expect("the thread's stat");
        // The fields after the command name, which ends with the last ')'.
        let after = &stat[stat.rfind(')').expect("a stat line") + 2..];
        after
            .split_whitespace()
            .nth(16)
            .and_then(|n| n.parse().ok())
            .expect("a nice field")
    }

    /// A Python thread of `gil` at `nice` below the main thread, parked
    /// until `go` fires; sends its tid once it has joined.
    fn python_thread(
        gil: &Gil,
        nice: u8,
        tids: mpsc::Sender<i32>,
        go: crossbeam_channel::Receiver<()>,
    ) -> std::thread::JoinHandle<()> {
        let mut thread = gil.register(CancelToken::new());
        std::thread::spawn(move || {
            thread.lower_priority(nice);
            tids.send(super::current_tid()).expect("the test waits");
            let _ = go.recv();
            drop(thread);
        })
    }

    /// While the UI thread shares its priority, every Python thread runs at
    /// its nice — those there before and one that starts meanwhile — and
    /// after, each is back at 19. Without the privilege to raise them, the
    /// UI thread comes down to theirs: one priority either way.
    #[test]
    fn python_threads_run_at_the_ui_threads_nice_while_it_shares_it() {
        let gil = Gil::new(Mode::Gil, SwitchInterval::DEFAULT);
        let (go, gate) = crossbeam_channel::bounded::<()>(0);
        let (tids_tx, tids) = mpsc::channel();
        // The test thread is the UI; its own nice is the main thread's or
        // higher, and the workers go 19 below the main thread (clamped).
        let ui = std::thread::spawn(move || {
            let mut ui = gil.register(CancelToken::new());
            let ui_tid = super::current_tid();
            let handles: Vec<_> = (0..2)
                .map(|_| python_thread(&gil, 19, tids_tx.clone(), gate.clone()))
                .collect();
            let mut members: Vec<i32> = (0..2).map(|_| tids.recv().expect("a tid")).collect();
            for &tid in &members {
                assert_eq!(proc_nice(tid), 19, "apart: 19 below");
            }
            ui.share_priority(true);
            let shared = gil.shared_nice().expect("shared");
            assert_eq!(proc_nice(ui_tid), shared);
            let late = python_thread(&gil, 19, tids_tx.clone(), gate.clone());
            members.push(tids.recv().expect("a tid"));
            for &tid in &members {
                assert_eq!(proc_nice(tid), proc_nice(ui_tid), "shared: the UI's nice");
            }
            ui.share_priority(false);
            assert_eq!(gil.shared_nice(), None);
            for &tid in &members {
                assert_eq!(proc_nice(tid), 19, "apart again: 19");
            }
            assert_eq!(nice_of(ui_tid), proc_nice(ui_tid));
            drop(go);
            for handle in handles.into_iter().chain([late]) {
                handle.join().expect("a Python thread");
            }
        });
        ui.join().expect("the UI thread");
    }

    /// The HTTP runtime thread that drives the fetch workers' sockets is one
    /// of them: 19 below while the UI keeps its head start, the UI's nice
    /// while it shares it (it stayed at 19 while the workers it serves ran
    /// at the UI's nice: no thread of one Python process runs apart), and
    /// it leaves the registry when the client is dropped.
    #[test]
    fn the_http_io_thread_shares_the_workers_priority() {
        let gil = Gil::new(Mode::Gil, SwitchInterval::DEFAULT);
        let client = crate::work::HttpClient::with_nice(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(1),
            19,
            Some(gil.clone()),
        )
        .expect("a client");
        let members = |gil: &Gil| -> Vec<i32> {
            gil.shared
                .priorities
                .lock()
                .members
                .iter()
                .map(|m| m.tid)
                .collect()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while members(&gil).is_empty() {
            assert!(std::time::Instant::now() < deadline, "http-io never joined");
            std::thread::yield_now();
        }
        let io = members(&gil)[0];
        assert_eq!(proc_nice(io), 19, "apart: 19 below");
        let ui_gil = gil.clone();
        std::thread::spawn(move || {
            let mut ui = ui_gil.register(CancelToken::new());
            ui.share_priority(true);
            assert_eq!(proc_nice(io), proc_nice(super::current_tid()), "shared");
            ui.share_priority(false);
            assert_eq!(proc_nice(io), 19, "apart again");
        })
        .join()
        .expect("the UI thread");
        drop(client);
        while members(&gil).contains(&io) {
            assert!(std::time::Instant::now() < deadline, "http-io never left");
            std::thread::yield_now();
        }
    }

    /// A thread that ended left the registry: sharing never touches a
    /// thread id that may be reused.
    #[test]
    fn an_ended_python_thread_leaves_the_registry() {
        let gil = Gil::new(Mode::Gil, SwitchInterval::DEFAULT);
        let (go, gate) = crossbeam_channel::bounded::<()>(0);
        let (tids_tx, tids) = mpsc::channel();
        let handle = python_thread(&gil, 19, tids_tx, gate);
        let tid = tids.recv().expect("a tid");
        assert_eq!(gil.shared.priorities.lock().members.len(), 1);
        drop(go);
        handle.join().expect("the Python thread");
        assert!(
            gil.shared
                .priorities
                .lock()
                .members
                .iter()
                .all(|m| m.tid != tid)
        );
    }
}
