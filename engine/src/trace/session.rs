//! A running trace: the probes, the reader thread that turns their records
//! into the timeline, and the traced program.
//!
//! The reader wakes every millisecond, drains every CPU's ring, samples the
//! scheduler state of threads that released the GIL, and applies what it
//! has in time order. A released thread's time between two samples is
//! native only for the part it ran on a CPU (`schedstat`); `R` alone also
//! means waiting for one ([`split_interval`]). Records of different CPUs
//! arrive unordered, so inputs younger than [`REORDER_WINDOW`] wait for the
//! next round. It never
//! blocks on anyone: a full ring drops records (counted), never the program.
//! A live view gets its rows from the reader's publications ([`LiveFeed`]),
//! never by locking the recorder.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::process::Child;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::launch::{self, ProgramOutput, RunAs};
use super::live::{LiveFeed, LivePublisher, live_channel};
use super::mode::{ModeWanted, SAMPLED_DEFAULT_HZ, TraceMode};
use super::procfs;
use super::procfs::SchedState;
use super::recorder::{Happening, Recorder, Stamped};
use super::report::TraceReport;
use super::sampler::{self, SamplerStatus, StackOptions, StackRound};
use super::uprobe::{ProbeKind, Probes};
use super::{Interpreter, TraceEnd, TraceError, monotonic_ns};
use crate::cancel::CancelToken;
use crate::gil::Timeline;

/// Inputs younger than this are held back so records from other CPUs can
/// still be sorted before them.
const REORDER_WINDOW: Duration = Duration::from_millis(4);
/// How often released threads' scheduler states are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(1);
/// How often all threads are checked for having exited.
const EXIT_SCAN_EVERY: Duration = Duration::from_millis(50);
/// How often the reader publishes rows for a live view (a frame is 33 ms).
const PUBLISH_EVERY: Duration = Duration::from_millis(10);

/// A live trace of one Python process.
#[derive(Debug)]
pub struct Trace {
    pid: u32,
    program: Vec<String>,
    python: Interpreter,
    mode: TraceMode,
    child: Option<Child>,
    recorder: Arc<Mutex<Recorder>>,
    epoch: Instant,
    epoch_ns: u64,
    lost: Arc<AtomicU64>,
    stop: CancelToken,
    reader: Option<JoinHandle<()>>,
    publisher: LivePublisher,
    feed: LiveFeed,
    /// Where a stack sampler sends its rounds (the reader takes them).
    stack_rounds: crossbeam_channel::Sender<StackRound>,
    sampler: Option<JoinHandle<()>>,
    sampler_status: Arc<Mutex<SamplerStatus>>,
}

/// Rounds of stacks waiting for the reader thread; past this the sampler
/// drops rounds (counted) rather than wait.
const STACK_ROUNDS_QUEUED: usize = 64;

impl Trace {
    /// Starts `program` (argv) as `run_as` (or as this user), following its
    /// execs until it runs Python, and traces it exactly from its first
    /// instruction (or refuses).
    pub fn launch(
        program: &[OsString],
        run_as: Option<&RunAs>,
        output: ProgramOutput,
    ) -> Result<Trace, TraceError> {
        Self::launch_as(program, run_as, output, ModeWanted::Exact)
    }

    /// [`Trace::launch`], exact or sampled as `wanted` allows
    /// ([`Trace::mode`] says which it is).
    pub fn launch_as(
        program: &[OsString],
        run_as: Option<&RunAs>,
        output: ProgramOutput,
        wanted: ModeWanted,
    ) -> Result<Trace, TraceError> {
        // Probes, and so the privilege and the kernel's uprobes, are checked
        // once the program is Python and needs them (a free-threaded build
        // does not): `launch` calls `preflight` there.
        let launched = launch::launch(program, run_as, output, wanted)?;
        // The clock starts with the probes: a launcher's time is not traced.
        let epoch = (Instant::now(), monotonic_ns());
        let pid = launched.child.id();
        let names = program
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        Ok(Self::start(
            pid,
            names,
            (launched.python, launched.mode),
            Some(launched.child),
            launched.probes,
            epoch,
        ))
    }

    /// Traces the running process `pid` exactly from now on (or refuses).
    pub fn attach(pid: u32) -> Result<Trace, TraceError> {
        Self::attach_as(pid, ModeWanted::Exact)
    }

    /// [`Trace::attach`], exact or sampled as `wanted` allows.
    pub fn attach_as(pid: u32, wanted: ModeWanted) -> Result<Trace, TraceError> {
        let (python, mode) = super::attach::attach_plan(pid, wanted)?;
        let read_path = std::path::PathBuf::from(format!("/proc/{pid}/exe"));
        let epoch = (Instant::now(), monotonic_ns());
        let probes = if python.gil_disabled || mode.is_sampled() {
            // Free-threaded: no GIL to probe, the threads' states only.
            None
        } else {
            super::preflight()?;
            let probe_file = if python.library.is_some() {
                python.probe_file.clone()
            } else {
                read_path
            };
            Some(Probes::open(
                &probe_file,
                &python.take_gil,
                &python.drop_gil,
            )?)
        };
        if !procfs::process_alive(pid) {
            return Err(TraceError::ExitedWhileAttaching { pid });
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let program = cmdline
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        Ok(Self::start(
            pid,
            program,
            (python, mode),
            None,
            probes,
            epoch,
        ))
    }

    fn start(
        pid: u32,
        program: Vec<String>,
        (python, mode): (Interpreter, TraceMode),
        child: Option<Child>,
        probes: Option<Probes>,
        (epoch, epoch_ns): (Instant, u64),
    ) -> Trace {
        let mut recorder = Recorder::new(epoch_ns, Arc::new(Timeline::default()), move |tid| {
            procfs::thread_name(pid, tid)
        });
        if probes.is_none() {
            recorder = recorder.states_only();
        }
        let (publisher, feed) = live_channel(Arc::clone(recorder.timeline()));
        let recorder = Arc::new(Mutex::new(recorder));
        let lost = Arc::new(AtomicU64::new(0));
        let stop = CancelToken::new();
        let (stack_rounds, rounds_in) = crossbeam_channel::bounded(STACK_ROUNDS_QUEUED);
        let sampler_status = publisher.sampler_status();
        let reader = {
            let shared = Shared {
                recorder: Arc::clone(&recorder),
                lost: Arc::clone(&lost),
                publisher: publisher.clone(),
                epoch_ns,
            };
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("gil-tracer".into())
                .spawn(move || read_loop(probes, pid, &shared, &rounds_in, &stop))
                .ok()
        };
        Trace {
            pid,
            program,
            python,
            mode,
            child,
            recorder,
            epoch,
            epoch_ns,
            lost,
            stop,
            reader,
            publisher,
            feed,
            stack_rounds,
            sampler: None,
            sampler_status,
        }
    }

    /// Samples the program's Python stacks as `options` asks, joining each
    /// sample with the thread's GIL state at that instant (names, GIL time
    /// by function, flame graphs). A sampled trace reads the GIL holder in
    /// the same rounds, so it samples at [`SAMPLED_DEFAULT_HZ`] even when
    /// `options` asks for no stacks. Call once, right after start.
    pub fn sample_stacks(&mut self, mut options: StackOptions) {
        let gil = self.mode.is_sampled();
        if gil && options.rate_hz == 0 {
            options.rate_hz = SAMPLED_DEFAULT_HZ;
        }
        if self.sampler.is_none() {
            self.sampler = sampler::spawn(
                self.pid,
                options,
                gil,
                self.stack_rounds.clone(),
                Arc::clone(&self.sampler_status),
                self.stop.clone(),
            );
        }
    }

    /// How the stack sampler is doing.
    pub fn sampler_status(&self) -> SamplerStatus {
        self.sampler_status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What a live view reads: the rows the reader publishes and the GIL
    /// lanes. Reading it never locks the recorder.
    pub fn live_feed(&self) -> LiveFeed {
        self.feed.clone()
    }

    /// The traced process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The interpreter traced.
    pub fn python(&self) -> &Interpreter {
        &self.python
    }

    /// Exact or sampled, and why.
    pub fn mode(&self) -> &TraceMode {
        &self.mode
    }

    /// The launched child (for waiting and its output pipes); `None` for an
    /// attached process or once taken.
    pub fn take_child(&mut self) -> Option<Child> {
        self.child.take()
    }

    /// The instant the timeline's clock counts from.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// The recorder, locked: threads, stats, switches so far.
    pub(crate) fn recorder(&self) -> MutexGuard<'_, Recorder> {
        self.recorder.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The recorder itself, for a view that outlives [`Trace::finish`].
    pub fn shared_recorder(&self) -> Arc<Mutex<Recorder>> {
        Arc::clone(&self.recorder)
    }

    /// Records dropped by the kernel so far.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Stops tracing (the probes close), ends every lane now, and sums up.
    pub fn finish(mut self, end: TraceEnd) -> (TraceReport, Arc<Mutex<Recorder>>) {
        // The trace ends now, not once the reader has caught up.
        let end_ns = monotonic_ns();
        self.stop.cancel();
        if let Some(sampler) = self.sampler.take() {
            let _ = sampler.join();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let mut recorder = self.recorder();
        recorder.finish(end_ns);
        // The final picture: every lane ended, as the summary counts them.
        let at_ns = end_ns.saturating_sub(self.epoch_ns);
        self.publisher.publish_fresh(&recorder, at_ns, self.lost());
        let report = TraceReport::new(
            &self.program,
            self.pid,
            &self.python,
            &recorder,
            end_ns.saturating_sub(self.epoch_ns),
            self.lost(),
            end,
        )
        .with_stacks(self.sampler_status())
        .with_mode(&self.mode);
        drop(recorder);
        (report, Arc::clone(&self.recorder))
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(sampler) = self.sampler.take() {
            let _ = sampler.join();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// What the reader thread shares with the [`Trace`]: the recorder it alone
/// writes while the trace runs, the lost count, and where it publishes rows.
struct Shared {
    recorder: Arc<Mutex<Recorder>>,
    lost: Arc<AtomicU64>,
    publisher: LivePublisher,
    epoch_ns: u64,
}

/// The reader thread: drain, sample, sort, apply, until stopped; then once
/// more with nothing held back.
fn read_loop(
    mut probes: Option<Probes>,
    pid: u32,
    shared: &Shared,
    rounds: &crossbeam_channel::Receiver<StackRound>,
    stop: &CancelToken,
) {
    let mut reader = Reader::new(pid, probes.is_none());
    loop {
        let stopping = stop.is_cancelled();
        if let Some(probes) = probes.as_mut() {
            reader.take_hits(probes);
        }
        reader.take_stacks(rounds);
        let now = monotonic_ns();
        let mut gone = reader.sample(now);
        let names = reader.scan(now, &mut gone);
        for tid in gone {
            reader.released.remove(&tid);
            reader.known.remove(&tid);
        }
        let cutoff = if stopping {
            u64::MAX
        } else {
            now.saturating_sub(REORDER_WINDOW.as_nanos() as u64)
        };
        if let Some(probes) = &probes {
            shared.lost.store(probes.lost(), Ordering::Relaxed);
        }
        reader.apply(shared, cutoff.min(now), cutoff, names);
        if stopping {
            break;
        }
        // Cancelled while asleep: the next round is the final one.
        let _ = stop.sleep(SAMPLE_EVERY);
    }
}

/// A released thread's lane over one sampling interval, from its time on a
/// CPU at both ends (`(when, cpu_ns)`): native ([`SchedState::Running`])
/// from the interval's start for as long as it ran, then not
/// ([`SchedState::Blocked`]: asleep, or runnable but waiting for a CPU).
/// The instants returned lie inside the interval, whose inputs the reader
/// still holds back (it is younger than [`REORDER_WINDOW`]). Also returns
/// the CPU time counted: the kernel adds a running thread's time at its
/// ticks, so a sample can see up to a tick's worth late; what does not fit
/// this interval is carried into the next (the caller keeps `cpu_from` +
/// the time counted), so the totals add up.
fn split_interval(
    (from, cpu_from): (u64, u64),
    (to, cpu_to): (u64, u64),
) -> (Vec<(u64, SchedState)>, u64) {
    let span = to.saturating_sub(from);
    let ran = cpu_to.saturating_sub(cpu_from).min(span);
    let lanes = match ran {
        0 => vec![(from, SchedState::Blocked)],
        ran if ran == span => vec![(from, SchedState::Running)],
        ran => vec![
            (from, SchedState::Running),
            (from + ran, SchedState::Blocked),
        ],
    };
    (lanes, ran)
}

/// What the reader thread keeps between rounds.
struct Reader {
    pid: u32,
    states_only: bool,
    hits: Vec<super::uprobe::ProbeHit>,
    pending: Vec<Stamped>,
    /// Threads that released the GIL: their scheduler state is sampled.
    released: HashSet<u32>,
    /// A released thread's last sample: when, and its time on a CPU then.
    readings: HashMap<u32, (u64, u64)>,
    /// Threads the probes have seen.
    known: HashSet<u32>,
    last_scan: Instant,
    last_publish: Option<Instant>,
    /// Rounds of stacks waiting to be applied in time order, by number.
    rounds: HashMap<u64, StackRound>,
    next_round: u64,
}

impl Reader {
    fn new(pid: u32, states_only: bool) -> Self {
        let mut released = HashSet::new();
        if states_only {
            // No probes announce threads: every thread is sampled, found by
            // listing the process's tasks (again at each exit scan).
            released.extend(procfs::thread_ids(pid));
        }
        Self {
            pid,
            states_only,
            hits: Vec::new(),
            pending: Vec::new(),
            released,
            readings: HashMap::new(),
            known: HashSet::new(),
            last_scan: Instant::now(),
            last_publish: None,
            rounds: HashMap::new(),
            next_round: 0,
        }
    }

    /// The stack sampler's new rounds, as inputs at their instants.
    fn take_stacks(&mut self, rounds: &crossbeam_channel::Receiver<StackRound>) {
        for round in rounds.try_iter() {
            let id = self.next_round;
            self.next_round += 1;
            // A sampled trace's GIL states first: the stacks of the same
            // instant are joined with the lanes they set (a stable sort).
            for &(tid, seen) in round.gil.iter().flatten() {
                self.known.insert(tid);
                self.pending.push(Stamped {
                    time_ns: round.time_ns,
                    tid,
                    what: Happening::Observed(seen),
                });
            }
            self.pending.push(Stamped {
                time_ns: round.time_ns,
                tid: 0,
                what: Happening::Stacks(id),
            });
            self.rounds.insert(id, round);
        }
    }

    /// The probes' new records for this process, as inputs.
    fn take_hits(&mut self, probes: &mut Probes) {
        self.hits.clear();
        probes.drain(&mut self.hits);
        for hit in self.hits.iter().filter(|h| h.pid == self.pid) {
            let what = match hit.kind {
                ProbeKind::TakeEntry => Happening::TakeEntry,
                ProbeKind::TakeReturn => Happening::TakeReturn,
                ProbeKind::DropEntry => Happening::Drop,
                ProbeKind::DropReturn => Happening::DropReturn,
            };
            self.known.insert(hit.tid);
            // Released from drop_gil's return: its wait for the hand-over
            // (after a forced drop) is not released time.
            if what == Happening::DropReturn {
                self.released.insert(hit.tid);
            } else {
                self.released.remove(&hit.tid);
            }
            self.readings.remove(&hit.tid);
            self.pending.push(Stamped {
                time_ns: hit.time_ns,
                tid: hit.tid,
                what,
            });
        }
    }

    /// Released threads' scheduler states at `now`; returns those gone.
    /// The first sample of a release gives its state from `now`; each next
    /// one splits the interval since the last by the time the thread ran
    /// on a CPU in it ([`split_interval`]).
    fn sample(&mut self, now: u64) -> Vec<u32> {
        let mut gone = Vec::new();
        for &tid in &self.released {
            let Some(state) = procfs::thread_state(self.pid, tid) else {
                gone.push(tid);
                self.pending.push(Stamped {
                    time_ns: now,
                    tid,
                    what: Happening::Exit,
                });
                continue;
            };
            let cpu = procfs::thread_cpu_ns(self.pid, tid);
            let last = self.readings.get(&tid).copied();
            let counted = match (last, cpu) {
                (Some(last), Some(cpu_ns)) => {
                    let (lanes, ran) = split_interval(last, (now, cpu_ns));
                    for (time_ns, state) in lanes {
                        self.pending.push(Stamped {
                            time_ns,
                            tid,
                            what: Happening::Sampled(state),
                        });
                    }
                    Some(last.1 + ran)
                }
                _ => {
                    self.pending.push(Stamped {
                        time_ns: now,
                        tid,
                        what: Happening::Sampled(state),
                    });
                    cpu
                }
            };
            match counted {
                Some(cpu_ns) => self.readings.insert(tid, (now, cpu_ns)),
                None => self.readings.remove(&tid),
            };
        }
        for tid in &gone {
            self.readings.remove(tid);
        }
        gone
    }

    /// Every [`EXIT_SCAN_EVERY`]: threads that exited (added to `gone`),
    /// new threads of a GIL-less program, and every thread's name again.
    fn scan(&mut self, now: u64, gone: &mut Vec<u32>) -> Vec<(u32, String)> {
        if self.last_scan.elapsed() < EXIT_SCAN_EVERY {
            return Vec::new();
        }
        let pid = self.pid;
        self.last_scan = Instant::now();
        if self.states_only {
            self.released.extend(procfs::thread_ids(pid));
        }
        // Names again: a thread may name itself after it was first seen.
        let names = self
            .known
            .union(&self.released)
            .map(|&tid| (tid, procfs::thread_name(pid, tid)))
            .filter(|(_, name)| name != "?")
            .collect();
        for &tid in self.known.difference(&self.released) {
            if procfs::thread_state(pid, tid).is_none() {
                gone.push(tid);
                self.pending.push(Stamped {
                    time_ns: now,
                    tid,
                    what: Happening::Exit,
                });
            }
        }
        names
    }

    /// Applies the inputs up to `cutoff` in time order and the `names`,
    /// and every [`PUBLISH_EVERY`] publishes the rows at `rows_ns`
    /// (`CLOCK_MONOTONIC`): where the applied inputs end, never a guess.
    fn apply(&mut self, shared: &Shared, rows_ns: u64, cutoff: u64, names: Vec<(u32, String)>) {
        self.pending.sort_by_key(|s| s.time_ns);
        let ready = self.pending.partition_point(|s| s.time_ns <= cutoff);
        let publish = self
            .last_publish
            .is_none_or(|at| at.elapsed() >= PUBLISH_EVERY);
        if ready == 0 && names.is_empty() && !publish {
            return;
        }
        let mut recorder = shared
            .recorder
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for input in self.pending.drain(..ready) {
            match input.what {
                Happening::Stacks(id) => {
                    if let Some(round) = self.rounds.remove(&id) {
                        recorder.apply_stacks(&round);
                    }
                }
                _ => recorder.apply(input),
            }
        }
        for (tid, name) in names {
            recorder.rename(tid, name);
        }
        if publish {
            let at_ns = rows_ns.saturating_sub(shared.epoch_ns);
            let lost = shared.lost.load(Ordering::Relaxed);
            shared.publisher.publish(&recorder, at_ns, lost);
            self.last_publish = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_is_native_only_for_the_time_on_a_cpu() {
        use SchedState::{Blocked, Running};
        // 1 ms between samples; ran 0.1 ms of it (starved or asleep).
        assert_eq!(
            split_interval((1_000_000, 50), (2_000_000, 100_050)),
            (vec![(1_000_000, Running), (1_100_000, Blocked)], 100_000)
        );
        assert_eq!(split_interval((0, 7), (1_000, 7)), (vec![(0, Blocked)], 0));
        // A tick's worth counted late: the interval is native throughout and
        // the rest (200) is left for the next one.
        assert_eq!(
            split_interval((0, 0), (1_000, 1_200)),
            (vec![(0, Running)], 1_000)
        );
    }
}
