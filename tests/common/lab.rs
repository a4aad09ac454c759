//! The engine harness shared by `tests/workers.rs` and the `tests/faults_*.rs`: a
//! [`Lab`] is one worker [`Pool`] wired to its own embedded loopback server
//! and a temp root holding the work dir (`work/`) and a sibling
//! (`outside/`) that no worker may ever touch.
//!
//! Nothing waits with a fixed sleep: every wait is a `recv` on a pool
//! channel with a deadline ([`HANG`]), so a hang fails the test instead of
//! stalling it.

// Each test crate uses its own subset of the harness.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, select};
use tempfile::TempDir;
use threadlab::gil::{Gil, GilEvent, Mode, SwitchInterval, ThreadTag, Transition};
use threadlab::server::Server;

use super::entries;
use threadlab::work::{
    FetchTarget, Pool, PoolReceivers, WorkSettings, WorkerEvent, WorkerId, WorkerKind,
};

/// Upper bound for anything that should happen "soon": only a hang gets here.
pub const HANG: Duration = Duration::from_secs(30);

/// The product's promise: a cancelled worker stops within 100 ms.
pub const CANCEL_PROMISE: Duration = Duration::from_millis(100);

/// Steps no test ever finishes.
pub const HUGE_STEPS: u64 = u64::MAX / 2;

/// A download that streams slowly (1 MB/s) for far longer than any test.
pub const SLOW_BYTES: &str = "/bytes/100000000?rate=1000000";

/// What `outside/precious.txt` holds: no worker may ever change it.
pub const PRECIOUS: &[u8] = b"precious: written by the test, never by a worker\n";

/// One pool wired to its own server and a temp root holding the work dir
/// (`work/`) and a sibling (`outside/`) that no worker may ever touch.
/// Field order is drop order: the pool (and its workers) first, then the
/// server, then the dirs.
pub struct Lab {
    /// The pool under test.
    pub pool: Pool,
    /// The pool's event channels.
    pub rx: PoolReceivers,
    /// Lifecycle events read while waiting for something else.
    pub stash: RefCell<VecDeque<WorkerEvent>>,
    _server: Server,
    root: TempDir,
    /// Where the file workers write.
    workdir: PathBuf,
}

impl Lab {
    /// A lab whose fetch workers download `path` from the embedded server.
    pub fn new(path: &str, mode: Mode, tweak: impl FnOnce(&mut WorkSettings)) -> Self {
        Self::with_workdir(path, mode, None, tweak)
    }

    /// A lab whose file workers write in `workdir` (default: `root/work`).
    pub fn with_workdir(
        path: &str,
        mode: Mode,
        workdir: Option<PathBuf>,
        tweak: impl FnOnce(&mut WorkSettings),
    ) -> Self {
        let server = Server::start_loopback().expect("embedded server starts");
        let root = tempfile::tempdir().expect("temp dir");
        fs::create_dir(root.path().join("work")).expect("work dir");
        fs::create_dir(root.path().join("outside")).expect("outside dir");
        fs::write(root.path().join("outside/precious.txt"), PRECIOUS).expect("outside file");
        let fetch = FetchTarget::parse(&server.url(path)).expect("server URL parses");
        let workdir = workdir.unwrap_or_else(|| root.path().join("work"));
        let mut settings = WorkSettings::new(fetch, workdir.clone());
        settings.file_bytes = 256 << 10;
        settings.cpu_steps = 200_000;
        settings.seed_sleep = Duration::from_millis(20);
        settings.read_timeout = Duration::from_secs(10);
        tweak(&mut settings);
        let (pool, rx) = Pool::new(settings, Gil::new(mode, SwitchInterval::DEFAULT));
        Self {
            pool,
            rx,
            stash: RefCell::default(),
            _server: server,
            root,
            workdir,
        }
    }

    /// The pool's GIL.
    pub fn gil(&self) -> &Gil {
        self.pool.gil()
    }

    /// `root/work`, the default work dir.
    pub fn work(&self) -> PathBuf {
        self.root.path().join("work")
    }

    /// `root/outside`, beside the work dir: no worker may touch it.
    pub fn outside(&self) -> PathBuf {
        self.root.path().join("outside")
    }

    /// The paths in the work dir the file workers write in.
    pub fn workdir_entries(&self) -> Vec<PathBuf> {
        entry_paths(&self.workdir)
    }

    /// Spawns a worker of `kind`; panics if the pool refuses.
    pub fn spawn(&mut self, kind: WorkerKind) -> WorkerId {
        self.pool
            .spawn(kind)
            .unwrap_or_else(|e| panic!("spawn {kind}: {e}"))
    }

    /// The next lifecycle event (stashed ones first), or panic at `deadline`.
    pub fn next_lifecycle(&self, deadline: Instant, waiting_for: &str) -> WorkerEvent {
        if let Some(event) = self.stash.borrow_mut().pop_front() {
            return event;
        }
        match self.rx.lifecycle.recv_deadline(deadline) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => panic!("timed out waiting for {waiting_for}"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("lifecycle channel closed while waiting for {waiting_for}")
            }
        }
    }

    /// Puts `events` back at the front of the stash, in order.
    fn restash(&self, events: Vec<WorkerEvent>) {
        let mut stash = self.stash.borrow_mut();
        for event in events.into_iter().rev() {
            stash.push_front(event);
        }
    }

    /// The terminal event of each of `ids`. Other workers' terminal events
    /// stay stashed for later; other events are dropped.
    pub fn ends(&self, ids: &[WorkerId]) -> BTreeMap<WorkerId, WorkerEvent> {
        let deadline = Instant::now() + HANG;
        let mut ends = BTreeMap::new();
        let mut keep = Vec::new();
        while ends.len() < ids.len() {
            let event = self.next_lifecycle(deadline, &format!("workers {ids:?} to end"));
            if event.is_terminal() {
                if ids.contains(&event.id()) {
                    ends.insert(event.id(), event);
                } else {
                    keep.push(event);
                }
            }
        }
        self.restash(keep);
        ends
    }

    /// The terminal event of worker `id` (see [`Lab::ends`]).
    pub fn until_terminal(&self, id: WorkerId) -> WorkerEvent {
        self.ends(&[id]).remove(&id).expect("the end of the worker")
    }

    /// Every lifecycle event of worker `id` up to its terminal one, and that
    /// terminal one. Other workers' terminal events stay stashed for later;
    /// their other events are dropped.
    pub fn events_until_terminal(&self, id: WorkerId) -> (Vec<WorkerEvent>, WorkerEvent) {
        let deadline = Instant::now() + HANG;
        let mut seen = Vec::new();
        let mut keep = Vec::new();
        let end = loop {
            let event = self.next_lifecycle(deadline, &format!("worker {id} to end"));
            if event.id() != id {
                if event.is_terminal() {
                    keep.push(event);
                }
                continue;
            }
            if event.is_terminal() {
                break event;
            }
            seen.push(event);
        };
        self.restash(keep);
        (seen, end)
    }

    /// Waits for a `Started` of worker `id` (keeps its other events stashed).
    pub fn wait_started(&self, id: WorkerId) -> ThreadTag {
        let deadline = Instant::now() + HANG;
        let mut keep = Vec::new();
        let tag = loop {
            let event = self.next_lifecycle(deadline, &format!("worker {id} to start"));
            match event {
                WorkerEvent::Started {
                    id: got, thread, ..
                } if got == id => break thread,
                other if other.id() == id && other.is_terminal() => {
                    panic!("worker {id} ended before it started: {other:?}")
                }
                other => keep.push(other),
            }
        };
        self.restash(keep);
        tag
    }

    /// Waits for a progress report of worker `id` with `done >= min_done`,
    /// failing at once if the worker ends first.
    pub fn wait_progress(&self, id: WorkerId, min_done: u64) -> u64 {
        let deadline = Instant::now() + HANG;
        loop {
            if let Some(end) = self
                .stash
                .borrow()
                .iter()
                .find(|e| e.id() == id && e.is_terminal())
            {
                panic!("worker {id} ended before reaching {min_done}: {end:?}");
            }
            let left = deadline.saturating_duration_since(Instant::now());
            select! {
                recv(self.rx.progress) -> msg => match msg.expect("progress channel open") {
                    WorkerEvent::Progress { id: got, done, .. } if got == id && done >= min_done => {
                        return done;
                    }
                    _ => {}
                },
                recv(self.rx.lifecycle) -> msg => {
                    self.stash.borrow_mut().push_back(msg.expect("lifecycle channel open"));
                }
                default(left) => panic!("timed out waiting for worker {id} to reach {min_done}"),
            }
        }
    }

    /// Waits for worker `id`'s first console line and returns it.
    pub fn wait_console(&self, id: WorkerId) -> String {
        let deadline = Instant::now() + HANG;
        let mut keep = Vec::new();
        let text = loop {
            let event = self.next_lifecycle(deadline, &format!("worker {id} to print"));
            match event {
                WorkerEvent::Console { id: got, text, .. } if got == id => break text,
                other if other.id() == id && other.is_terminal() => {
                    panic!("worker {id} ended before printing: {other:?}")
                }
                other => keep.push(other),
            }
        };
        self.stash.borrow_mut().extend(keep);
        text
    }

    /// Cancels worker `id` and returns how long its `Cancelled` event took to
    /// arrive, measured from the cancel call to its receipt.
    pub fn cancel_and_time(&mut self, id: WorkerId) -> Duration {
        let start = Instant::now();
        assert!(self.pool.cancel(id), "worker {id} is live");
        let end = self.until_terminal(id);
        let took = start.elapsed();
        assert!(
            matches!(end, WorkerEvent::Cancelled { .. }),
            "worker {id} should end cancelled, got {end:?}"
        );
        self.pool.reap(id);
        took
    }

    /// Runs one worker of `kind` to its end and returns its events and end.
    pub fn run_one(&mut self, kind: WorkerKind) -> (WorkerId, Vec<WorkerEvent>, WorkerEvent) {
        let id = self.spawn(kind);
        let (events, end) = self.events_until_terminal(id);
        self.pool.reap(id);
        (id, events, end)
    }

    /// Starts a cpu worker that never finishes (with [`HUGE_STEPS`]) and
    /// waits until it holds the GIL (it has made progress).
    pub fn start_hog(&mut self) -> WorkerId {
        let hog = self.spawn(WorkerKind::Cpu);
        self.wait_progress(hog, 1);
        hog
    }

    /// Waits until thread `tag`'s current lane is `lane`, ticking on the
    /// progress channel (with a short timeout as the only tick when nothing
    /// reports).
    pub fn wait_for_lane(&self, tag: ThreadTag, lane: Transition) {
        let deadline = Instant::now() + HANG;
        let mut timeline = Vec::new();
        let mut seq = 0;
        loop {
            seq = self.gil().timeline().read_since(seq, &mut timeline);
            if last_lane(&timeline, tag).map(|(what, _)| what) == Some(lane) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "thread {tag} never reached {lane:?}"
            );
            let _ = self.rx.progress.recv_timeout(Duration::from_millis(5));
        }
    }
}

/// The last lane (marks skipped) of `tag` in `events`, with its time.
pub fn last_lane(events: &[GilEvent], tag: ThreadTag) -> Option<(Transition, u64)> {
    events
        .iter()
        .rev()
        .find(|e| e.thread == tag && !e.what.is_mark())
        .map(|e| (e.what, e.at_us))
}

/// The paths of a directory's entries, in directory order.
pub fn entry_paths(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .collect()
}

/// The message of a `Failed` end; panics on any other.
pub fn failed_message(end: &WorkerEvent) -> &str {
    match end {
        WorkerEvent::Failed { message, .. } => message,
        other => panic!("expected Failed, got {other:?}"),
    }
}

/// Prints a cancel latency and asserts it is within [`CANCEL_PROMISE`].
pub fn assert_within_promise(what: &str, took: Duration) {
    eprintln!(
        "cancel latency [{what}]: {:.3} ms",
        took.as_secs_f64() * 1e3
    );
    assert!(
        took < CANCEL_PROMISE,
        "{what}: Cancelled arrived {took:?} after cancel (promise: {CANCEL_PROMISE:?})"
    );
}

/// A message for a person: one line, not empty, not a wall of text.
pub fn assert_readable(message: &str) {
    assert!(!message.trim().is_empty(), "empty message");
    assert!(!message.contains('\n'), "more than one line: {message:?}");
    assert!(message.len() < 400, "too long: {message:?}");
}

/// Asserts that nothing outside the work dir was touched and no `.part`
/// file is left in it.
pub fn assert_contained(lab: &Lab) {
    assert_eq!(
        entries(&lab.outside()),
        ["precious.txt"],
        "outside dir changed"
    );
    assert_eq!(
        fs::read(lab.outside().join("precious.txt")).expect("outside file"),
        PRECIOUS,
        "outside file changed"
    );
    if lab.work().is_dir() {
        let parts: Vec<String> = entries(&lab.work())
            .into_iter()
            .filter(|name| name.ends_with(".part") || name.ends_with(".bin"))
            .collect();
        // A symlink a test planted is not a file a worker left.
        let left: Vec<&String> = parts
            .iter()
            .filter(|name| {
                !fs::symlink_metadata(lab.work().join(name)).is_ok_and(|m| m.is_symlink())
            })
            .collect();
        assert!(left.is_empty(), "worker files left behind: {left:?}");
    }
}
