//! Turns probe hits and scheduler samples, in time order, into the GIL
//! timeline the emulation also writes: one lane per thread, the same
//! [`Transition`]s, the same [`ThreadStats`], plus what only a real trace
//! has (hold and wait percentiles, the slices for an export).
//!
//! Lane mapping: `take_gil` entry → [`Transition::Wait`], its return →
//! [`Transition::Hold`], `drop_gil` entry → [`Transition::Wait`] too (after
//! a forced drop CPython waits in `drop_gil` until another thread has taken
//! the GIL: waiting, not released; counted in the wait share, not in the
//! wait-for-the-GIL histogram), `drop_gil` return → released, which is
//! [`Transition::Io`] while the thread is blocked or waits for a CPU and
//! [`Transition::Run`] for the time it ran on one (native code without the
//! GIL; the reader splits each sampled interval by `/proc/…/schedstat`).

use std::collections::HashMap;
use std::sync::Arc;

use hdrhistogram::Histogram;

use super::functions::GilState;
pub use super::procfs::SchedState;
use super::python_threads::PythonThreads;
use super::sampled::Observed;
use super::sampler::StackRound;
use crate::gil::{GilEvent, ThreadStats, ThreadTag, Timeline, Transition, micros_histogram};

/// What happened to a thread at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happening {
    /// Entered `take_gil`.
    TakeEntry,
    /// Returned from `take_gil`.
    TakeReturn,
    /// Entered `drop_gil`.
    Drop,
    /// Returned from `drop_gil`: released.
    DropReturn,
    /// Its scheduler state, sampled while it had released the GIL.
    Sampled(SchedState),
    /// The thread is gone.
    Exit,
    /// What a sampled trace saw it doing (no probes: the GIL holder read
    /// from the interpreter, the rest from the kernel). It holds, waits or
    /// runs from this sample until the next one says otherwise.
    Observed(Observed),
    /// A round of Python stacks was read at this instant (its number among
    /// the reader's pending rounds); the recorder joins it with each
    /// thread's lane now ([`Recorder::apply_stacks`]). Not a thread's event.
    Stacks(u64),
}

/// One input to the recorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamped {
    /// `CLOCK_MONOTONIC` nanoseconds.
    pub time_ns: u64,
    /// Thread id.
    pub tid: u32,
    /// What happened.
    pub what: Happening,
}

/// A finished lane interval, for the Chrome trace export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    /// The thread.
    pub tid: u32,
    /// Hold, Wait or Run (native).
    pub lane: Transition,
    /// Start, nanoseconds since the trace's epoch.
    pub start_ns: u64,
    /// Length in nanoseconds.
    pub len_ns: u64,
}

/// Most slices kept for an export (about 24 MB); past it the export says
/// where it stops ([`Recorder::slices_dropped`]).
pub const MAX_SLICES: usize = 1 << 20;

/// One traced thread.
#[derive(Debug)]
pub(crate) struct TracedThread {
    /// Its tag on the timeline.
    pub tag: ThreadTag,
    /// OS thread id.
    pub tid: u32,
    /// Its name (`comm`), as last read: a thread may name itself after it
    /// starts (the reader re-reads names every scan, [`Recorder::rename`]).
    pub name: String,
    /// Its Python name (`threading.Thread(name=…)`), from the latest stack
    /// sample, if the interpreter has one.
    pub python_name: Option<String>,
    /// Running totals, as the emulation keeps them.
    pub(crate) stats: Arc<ThreadStats>,
    /// Its lane now (`None` before its first event).
    pub lane: Option<Transition>,
    /// When the lane began, ns since epoch.
    since_ns: u64,
    /// Lengths of finished holds, in microseconds.
    pub(crate) holds_us: Histogram<u64>,
    /// Lengths of finished waits, in microseconds.
    pub(crate) waits_us: Histogram<u64>,
    /// Times it returned from `take_gil`.
    pub(crate) takes: u64,
    /// Whether it has exited.
    pub(crate) exited: bool,
    /// Its current wait is inside `drop_gil` (handing over), not a wait
    /// for the GIL: its length is not a take's wait.
    in_drop: bool,
}

/// Everything a trace has recorded so far.
pub struct Recorder {
    epoch_ns: u64,
    timeline: Arc<Timeline>,
    threads: Vec<TracedThread>,
    by_tid: HashMap<u32, usize>,
    last_holder: Option<u32>,
    switches: u64,
    held_ns: u64,
    events: u64,
    slices: Vec<Slice>,
    /// Slices past [`MAX_SLICES`], not kept, and when the first of them began.
    dropped: (u64, Option<u64>),
    name_of: Box<dyn Fn(u32) -> String + Send>,
    /// No probes (a free-threaded build): threads appear with their first
    /// scheduler sample, and their lanes are only running or blocked.
    states_only: bool,
    /// Python names, stacks and GIL time by function, from stack samples.
    python: PythonThreads,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("threads", &self.threads.len())
            .field("events", &self.events)
            .field("switches", &self.switches)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder whose clock starts at `epoch_ns` (`CLOCK_MONOTONIC`),
    /// pushing into `timeline`, naming threads with `name_of(tid)`.
    pub fn new(
        epoch_ns: u64,
        timeline: Arc<Timeline>,
        name_of: impl Fn(u32) -> String + Send + 'static,
    ) -> Self {
        Self {
            epoch_ns,
            timeline,
            threads: Vec::new(),
            by_tid: HashMap::new(),
            last_holder: None,
            switches: 0,
            held_ns: 0,
            events: 0,
            slices: Vec::new(),
            dropped: (0, None),
            name_of: Box::new(name_of),
            states_only: false,
            python: PythonThreads::default(),
        }
    }

    /// This recorder for a program without a GIL (a free-threaded build):
    /// scheduler samples alone make its threads' lanes.
    pub fn states_only(mut self) -> Self {
        self.states_only = true;
        self
    }

    /// Applies one input; inputs must come in time order per thread.
    pub fn apply(&mut self, input: Stamped) {
        let at = input.time_ns.saturating_sub(self.epoch_ns);
        if matches!(
            input.what,
            Happening::TakeEntry | Happening::TakeReturn | Happening::Drop | Happening::DropReturn
        ) {
            self.events += 1;
        }
        if matches!(input.what, Happening::Stacks(_)) {
            // Rounds are joined by `apply_stacks`, not a thread's event.
            return;
        }
        let index = match self.by_tid.get(&input.tid) {
            Some(&i) if self.threads[i].exited => {
                // A thread's exit is seen in /proc, its last probe hits in a
                // ring read a moment later: a hit stamped before the exit,
                // or a release (the exiting thread's final drop_gil), is
                // late news of the thread that ended. Only a new take after
                // the exit is a recycled thread id: a new thread.
                let exited_at = self.threads[i].since_ns;
                let starts = matches!(input.what, Happening::TakeEntry | Happening::TakeReturn);
                if !starts || at <= exited_at {
                    return;
                }
                self.add_thread(input.tid, at)
            }
            Some(&i) => i,
            None => {
                let announces = match input.what {
                    Happening::Sampled(_) => self.states_only,
                    Happening::Observed(_) => true,
                    Happening::Exit => false,
                    _ => true,
                };
                if !announces {
                    return;
                }
                self.add_thread(input.tid, at)
            }
        };
        match input.what {
            Happening::TakeEntry => self.set_lane(index, Transition::Wait, at),
            Happening::TakeReturn => {
                if self.last_holder != Some(input.tid) {
                    self.last_holder = Some(input.tid);
                    self.switches += 1;
                    self.threads[index].stats.count_switch();
                }
                self.threads[index].takes += 1;
                self.set_lane(index, Transition::Hold, at);
            }
            Happening::Drop => {
                // Released, but a forced drop waits here for the hand-over.
                self.set_lane(index, Transition::Wait, at);
                self.threads[index].in_drop = true;
            }
            Happening::DropReturn => {
                // Released; samples tell blocked from native from here.
                self.set_lane(index, Transition::Io, at);
            }
            Happening::Sampled(state) => {
                let lane = self.threads[index].lane;
                let free = self.states_only && lane.is_none();
                if free || matches!(lane, Some(Transition::Io | Transition::Run)) {
                    let next = match state {
                        SchedState::Running => Transition::Run,
                        SchedState::Blocked => Transition::Io,
                    };
                    self.set_lane(index, next, at);
                }
            }
            Happening::Exit => {
                self.set_lane(index, Transition::Exit, at);
                self.threads[index].exited = true;
            }
            Happening::Observed(seen) => self.observed(index, seen, at),
            Happening::Stacks(_) => {}
        }
    }

    /// A sampled thread's lane from one sample: a new holder counts a take
    /// (and a switch if the GIL changed hands since the last sample: two
    /// hand-overs between samples are one, or none).
    fn observed(&mut self, index: usize, seen: Observed, at: u64) {
        let lane = match seen {
            Observed::Holds => {
                let tid = self.threads[index].tid;
                if self.threads[index].lane != Some(Transition::Hold) {
                    self.threads[index].takes += 1;
                    if self.last_holder != Some(tid) {
                        self.last_holder = Some(tid);
                        self.switches += 1;
                        self.threads[index].stats.count_switch();
                    }
                }
                Transition::Hold
            }
            Observed::WaitsForGil => Transition::Wait,
            Observed::Native => Transition::Run,
            Observed::Blocked => Transition::Io,
        };
        self.set_lane(index, lane, at);
    }

    /// Joins a round of Python stacks, read at `round.time_ns`, with each
    /// thread's lane at that instant: the inputs before it must have been
    /// applied, and none after it (the reader applies all in time order).
    pub fn apply_stacks(&mut self, round: &StackRound) {
        let at = round.time_ns.saturating_sub(self.epoch_ns);
        let (threads, by_tid) = (&self.threads, &self.by_tid);
        let live = |tid: u32| by_tid.get(&tid).map(|&i| &threads[i]).filter(|t| !t.exited);
        self.python.add_round(
            at,
            round,
            |tid| live(tid)?.lane.and_then(GilState::from_lane),
            |tid| live(tid).map(|t| t.name.clone()),
        );
        for thread in &mut self.threads {
            if let Some(name) = self.python.name(thread.tid)
                && thread.python_name.as_deref() != Some(name)
            {
                thread.python_name = Some(name.to_string());
            }
        }
    }

    /// The Python side: names, stacks, GIL time by function.
    pub fn python(&self) -> &PythonThreads {
        &self.python
    }

    fn add_thread(&mut self, tid: u32, at: u64) -> usize {
        let index = self.threads.len();
        self.threads.push(TracedThread {
            tag: index as ThreadTag + 1,
            tid,
            name: (self.name_of)(tid),
            python_name: self.python.name(tid).map(str::to_string),
            stats: Arc::new(ThreadStats::default()),
            lane: None,
            since_ns: at,
            holds_us: micros_histogram(),
            waits_us: micros_histogram(),
            takes: 0,
            exited: false,
            in_drop: false,
        });
        self.by_tid.insert(tid, index);
        index
    }

    fn set_lane(&mut self, index: usize, lane: Transition, at: u64) {
        let thread = &mut self.threads[index];
        if thread.lane == Some(lane) {
            return;
        }
        let at = at.max(thread.since_ns);
        if let Some(previous) = thread.lane {
            let len = at - thread.since_ns;
            thread.stats.add_time(previous, len);
            match previous {
                Transition::Hold => {
                    thread.holds_us.saturating_record((len / 1000).max(1));
                    self.held_ns += len;
                }
                Transition::Wait if !thread.in_drop => {
                    thread.waits_us.saturating_record((len / 1000).max(1));
                }
                _ => {}
            }
            // Past MAX_SLICES the export keeps what it has and counts the rest.
            if matches!(
                previous,
                Transition::Hold | Transition::Wait | Transition::Run
            ) {
                if self.slices.len() < MAX_SLICES {
                    self.slices.push(Slice {
                        tid: thread.tid,
                        lane: previous,
                        start_ns: thread.since_ns,
                        len_ns: len,
                    });
                } else {
                    self.dropped.0 += 1;
                    self.dropped.1.get_or_insert(thread.since_ns);
                }
            }
        }
        thread.lane = Some(lane);
        thread.in_drop = false;
        thread.since_ns = at;
        self.timeline.push(GilEvent {
            at_us: at / 1000,
            thread: thread.tag,
            what: lane,
        });
    }

    /// Ends every live lane at `end_ns` (the trace is over): their time is
    /// counted and each thread is marked gone.
    pub(crate) fn finish(&mut self, end_ns: u64) {
        for tid in self.threads.iter().map(|t| t.tid).collect::<Vec<_>>() {
            self.apply(Stamped {
                time_ns: end_ns,
                tid,
                what: Happening::Exit,
            });
        }
    }

    /// Thread `tid`'s name is now `name` (it named itself after it was
    /// first seen); unknown threads are left to be named when they appear.
    pub(crate) fn rename(&mut self, tid: u32, name: String) {
        if let Some(&index) = self.by_tid.get(&tid) {
            self.threads[index].name = name;
        }
    }

    /// The threads seen so far, in order of first appearance.
    pub(crate) fn threads(&self) -> &[TracedThread] {
        &self.threads
    }

    /// The timeline being written.
    pub fn timeline(&self) -> &Arc<Timeline> {
        &self.timeline
    }

    /// Hand-overs of the GIL between threads.
    pub(crate) fn switches(&self) -> u64 {
        self.switches
    }

    /// Total time anyone held the GIL (finished holds), nanoseconds.
    pub(crate) fn held_ns(&self) -> u64 {
        self.held_ns
    }

    /// Probe records applied.
    pub(crate) fn events(&self) -> u64 {
        self.events
    }

    /// Finished slices (hold, wait, native) for the export, oldest first.
    pub fn slices(&self) -> &[Slice] {
        &self.slices
    }

    /// Slices not kept because [`MAX_SLICES`] were, and the start of the
    /// first of them (ns since epoch): where an export stops.
    pub fn slices_dropped(&self) -> (u64, Option<u64>) {
        self.dropped
    }
}

impl TracedThread {
    /// The name to show: its Python name, else its OS name.
    pub fn display_name(&self) -> &str {
        self.python_name.as_deref().unwrap_or(&self.name)
    }

    /// When its current lane began, ns since the trace's epoch.
    pub(crate) fn lane_since_ns(&self) -> u64 {
        self.since_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64, tid: u32, what: Happening) -> Stamped {
        Stamped {
            time_ns: 1_000_000_000 + ms * 1_000_000,
            tid,
            what,
        }
    }

    #[test]
    fn two_threads_taking_turns_give_lanes_stats_and_switches() {
        let timeline = Arc::new(Timeline::default());
        let mut rec = Recorder::new(1_000_000_000, Arc::clone(&timeline), |tid| {
            format!("t{tid}")
        });
        use Happening::*;
        for input in [
            at(0, 1, TakeEntry),
            at(0, 1, TakeReturn),
            at(1, 2, TakeEntry),
            at(5, 1, Drop),
            at(5, 1, DropReturn),
            at(5, 2, TakeReturn),
            at(5, 1, TakeEntry),
            at(10, 2, Drop),
            at(10, 2, DropReturn),
            at(10, 1, TakeReturn),
            at(10, 2, Sampled(SchedState::Running)),
            at(12, 2, Sampled(SchedState::Blocked)),
            at(15, 1, Drop),
            at(15, 1, DropReturn),
        ] {
            rec.apply(input);
        }
        rec.finish(1_000_000_000 + 20_000_000);
        let threads = rec.threads();
        assert_eq!(threads.len(), 2);
        assert_eq!(threads[0].name, "t1");
        let one = threads[0].stats.snapshot();
        let two = threads[1].stats.snapshot();
        assert_eq!(one.holding.as_millis(), 10);
        assert_eq!(one.waiting.as_millis(), 5);
        assert_eq!(two.holding.as_millis(), 5);
        assert_eq!(two.waiting.as_millis(), 4);
        assert_eq!(
            two.running.as_millis(),
            2,
            "native time while released and R"
        );
        assert_eq!(two.io.as_millis(), 8);
        assert_eq!(rec.switches(), 3);
        assert_eq!(rec.held_ns(), 15_000_000);
        assert_eq!(rec.events(), 12);
        assert_eq!(threads[0].holds_us.value_at_quantile(0.5) / 1000, 5);
        let mut events = Vec::new();
        timeline.read_since(0, &mut events);
        let lanes: Vec<_> = events
            .iter()
            .filter(|e| e.thread == 2)
            .map(|e| e.what)
            .collect();
        assert_eq!(
            lanes,
            vec![
                Transition::Wait,
                Transition::Hold,
                // drop_gil, returning at once: no hand-over wait.
                Transition::Wait,
                Transition::Io,
                Transition::Run,
                Transition::Io,
                Transition::Exit
            ]
        );
        assert!(
            rec.slices()
                .iter()
                .any(|s| s.tid == 2 && s.lane == Transition::Run)
        );
    }

    #[test]
    fn a_sample_changes_only_a_released_thread() {
        let mut rec = Recorder::new(0, Arc::new(Timeline::default()), |_| String::new());
        rec.apply(Stamped {
            time_ns: 10,
            tid: 7,
            what: Happening::TakeEntry,
        });
        rec.apply(Stamped {
            time_ns: 20,
            tid: 7,
            what: Happening::Sampled(SchedState::Running),
        });
        assert_eq!(rec.threads()[0].lane, Some(Transition::Wait));
        rec.apply(Stamped {
            time_ns: 30,
            tid: 9,
            what: Happening::Sampled(SchedState::Running),
        });
        assert_eq!(
            rec.threads().len(),
            1,
            "a sample alone does not invent a thread"
        );
        for (time_ns, what) in [(40, Happening::Exit), (50, Happening::TakeEntry)] {
            rec.apply(Stamped {
                time_ns,
                tid: 7,
                what,
            });
        }
        assert_eq!(rec.threads().len(), 2, "a recycled tid is a new thread");
        assert_eq!(rec.threads()[1].lane, Some(Transition::Wait));
    }

    /// After a forced drop CPython waits in `drop_gil` until the other
    /// thread has the GIL: that is waiting, not released (native or not),
    /// and not a wait for the GIL either (its histogram keeps the takes').
    #[test]
    fn the_wait_inside_a_forced_drop_is_waiting_not_released() {
        let mut rec = Recorder::new(1_000_000_000, Arc::new(Timeline::default()), |_| {
            "t".to_string()
        });
        use Happening::*;
        for input in [
            at(0, 1, TakeEntry),
            at(0, 1, TakeReturn),
            // Forced to drop at 5; the other thread gets a CPU at 8.
            at(5, 1, Drop),
            at(6, 1, Sampled(SchedState::Running)),
            at(8, 1, DropReturn),
            at(8, 1, TakeEntry),
            at(12, 1, TakeReturn),
        ] {
            rec.apply(input);
        }
        rec.finish(1_000_000_000 + 15_000_000);
        let one = rec.threads()[0].stats.snapshot();
        assert_eq!(one.waiting.as_millis(), 7, "3 in drop_gil + 4 in take_gil");
        assert_eq!(one.running.as_millis(), 0, "nothing native");
        assert_eq!(one.io.as_millis(), 0);
        let waits = &rec.threads()[0].waits_us;
        assert_eq!(waits.len(), 2, "the waits for the GIL: at 0 and 8-12");
        assert_eq!(waits.max() / 1000, 4, "the hand-over is not in them");
    }

    #[test]
    fn a_late_hit_of_an_exited_thread_is_not_a_new_thread() {
        let mut rec = Recorder::new(0, Arc::new(Timeline::default()), |_| "t".to_string());
        for (time_ns, what) in [
            (10, Happening::TakeEntry),
            (20, Happening::TakeReturn),
            (40, Happening::Exit),
            // Stamped before the exit, read after it.
            (30, Happening::Drop),
            // The exiting thread's final release, read after the exit.
            (45, Happening::Drop),
        ] {
            rec.apply(Stamped {
                time_ns,
                tid: 7,
                what,
            });
        }
        assert_eq!(rec.threads().len(), 1, "{:?}", rec.threads());
        assert_eq!(rec.threads()[0].lane, Some(Transition::Exit));
    }
}
