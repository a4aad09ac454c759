//! GIL by function: Python stack samples joined with each thread's exact
//! GIL state at the sample's instant (from the probe timeline), summed per
//! function and kept as folded stacks for flame graphs.
//!
//! A sample stands for the time since the previous sampling round (capped
//! at [`MAX_WEIGHT_PERIODS`] sampling periods, so a stall of the sampler is
//! not charged to whatever ran at its end). It is charged to the innermost
//! Python function of the thread's stack: the one running while it holds
//! the GIL, the one that asked for it while it waits, the one that called
//! out while it has released it. The state is exact; the split between
//! functions is statistical, as in any sampling profiler.
//!
//! A sample whose interpreter record of the GIL's holder disagrees with
//! the probes at that instant (a read that raced a hand-over) is counted
//! in [`GilByFunction::disagreed`], not hidden.

use std::collections::HashMap;

use super::stacks::{PyFrame, ThreadStack, short_file};
use crate::gil::Transition;

/// Most sampling periods one sample may stand for.
pub const MAX_WEIGHT_PERIODS: u64 = 3;

/// What a thread was doing with the GIL at a sample's instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GilState {
    /// It held the GIL.
    Holding,
    /// It waited for the GIL.
    Waiting,
    /// It had released the GIL in a blocking call (I/O, sleep, a lock).
    Blocked,
    /// It had released the GIL and ran native code.
    Native,
}

impl GilState {
    /// The state a timeline lane stands for (`None` for marks and exits).
    pub fn from_lane(lane: Transition) -> Option<GilState> {
        match lane {
            Transition::Hold => Some(GilState::Holding),
            Transition::Wait => Some(GilState::Waiting),
            Transition::Io | Transition::Blocked => Some(GilState::Blocked),
            Transition::Run => Some(GilState::Native),
            _ => None,
        }
    }
}

/// One function's time, by GIL state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionTime {
    /// Nanoseconds it ran holding the GIL.
    pub hold_ns: u64,
    /// Nanoseconds it waited for the GIL.
    pub wait_ns: u64,
    /// Nanoseconds it was in a call with the GIL released.
    pub released_ns: u64,
    /// Samples taken in it.
    pub samples: u64,
    /// How often each line was seen (the row shows the commonest).
    lines: HashMap<u32, u64>,
}

impl FunctionTime {
    /// The line most samples were at.
    pub fn line(&self) -> u32 {
        self.lines
            .iter()
            .max_by_key(|(line, n)| (**n, std::cmp::Reverse(**line)))
            .map_or(0, |(line, _)| *line)
    }

    fn add(&mut self, state: GilState, line: u32, weight_ns: u64) {
        match state {
            GilState::Holding => self.hold_ns += weight_ns,
            GilState::Waiting => self.wait_ns += weight_ns,
            GilState::Blocked | GilState::Native => self.released_ns += weight_ns,
        }
        self.samples += 1;
        *self.lines.entry(line).or_default() += 1;
    }

    fn merge(&mut self, other: &FunctionTime) {
        self.hold_ns += other.hold_ns;
        self.wait_ns += other.wait_ns;
        self.released_ns += other.released_ns;
        self.samples += other.samples;
        for (line, n) in &other.lines {
            *self.lines.entry(*line).or_default() += n;
        }
    }
}

/// A function: its name and file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionKey {
    /// The function's name.
    pub function: String,
    /// Its file.
    pub file: String,
}

/// A row of the GIL-by-function table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRow {
    /// The function and file.
    pub key: FunctionKey,
    /// Its times.
    pub time: FunctionTime,
}

impl FunctionRow {
    /// `function (file:line)`, the file cut to its last two parts.
    pub fn label(&self) -> String {
        format!(
            "{} ({}:{})",
            self.key.function,
            short_file(&self.key.file),
            self.time.line()
        )
    }
}

/// How rows are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    /// Most GIL hold first.
    #[default]
    Hold,
    /// Most GIL wait first.
    Wait,
}

/// Which flame graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flame {
    /// Stacks that held the GIL.
    Hold,
    /// Stacks that waited for it.
    Wait,
}

/// Stack samples joined with GIL states, summed.
#[derive(Debug, Default, Clone)]
pub struct GilByFunction {
    per_thread: HashMap<u32, HashMap<FunctionKey, FunctionTime>>,
    folded_hold: HashMap<String, u64>,
    folded_wait: HashMap<String, u64>,
    /// Thread samples joined with a state.
    pub samples: u64,
    /// Sampling rounds in which the interpreter's record of the GIL holder
    /// disagreed with the probes (a read that raced a hand-over).
    pub disagreed: u64,
    /// Sampling rounds.
    pub rounds: u64,
    /// Thread samples that could not be joined (no OS thread id, or a
    /// thread the probes had not seen yet).
    pub unjoined: u64,
    last_round_ns: Option<u64>,
}

impl GilByFunction {
    /// Adds one sampling round taken at `time_ns`; `state_of` gives each
    /// thread's GIL state at that instant, `name_of` its display name;
    /// `period_ns` is the sampling period.
    pub fn add_round(
        &mut self,
        time_ns: u64,
        period_ns: u64,
        stacks: &[ThreadStack],
        state_of: &dyn Fn(u32) -> Option<GilState>,
        name_of: impl Fn(u32) -> String,
    ) {
        let weight = match self.last_round_ns {
            Some(last) => time_ns
                .saturating_sub(last)
                .min(period_ns * MAX_WEIGHT_PERIODS),
            None => period_ns,
        };
        self.last_round_ns = Some(time_ns);
        self.rounds += 1;
        let probe_holder = stacks
            .iter()
            .filter_map(|s| s.tid)
            .find(|&tid| state_of(tid) == Some(GilState::Holding));
        let read_holder = stacks.iter().find(|s| s.owns_gil).and_then(|s| s.tid);
        if let (Some(probe), Some(read)) = (probe_holder, read_holder)
            && probe != read
        {
            self.disagreed += 1;
        }
        for stack in stacks {
            let Some(tid) = stack.tid else {
                self.unjoined += 1;
                continue;
            };
            let Some(state) = state_of(tid) else {
                self.unjoined += 1;
                continue;
            };
            let Some(leaf) = stack.frames.first() else {
                continue;
            };
            self.samples += 1;
            self.per_thread
                .entry(tid)
                .or_default()
                .entry(key_of(leaf))
                .or_default()
                .add(state, leaf.line, weight);
            let folded = match state {
                GilState::Holding => &mut self.folded_hold,
                GilState::Waiting => &mut self.folded_wait,
                GilState::Blocked | GilState::Native => continue,
            };
            *folded
                .entry(folded_line(&name_of(tid), &stack.frames))
                .or_default() += 1;
        }
    }

    /// The top `n` functions of thread `tid` (or of the whole program),
    /// ordered by `by`.
    pub fn top(&self, tid: Option<u32>, by: SortBy, n: usize) -> Vec<FunctionRow> {
        let mut sum: HashMap<&FunctionKey, FunctionTime> = HashMap::new();
        for (thread, functions) in &self.per_thread {
            if tid.is_some_and(|t| t != *thread) {
                continue;
            }
            for (key, time) in functions {
                sum.entry(key).or_default().merge(time);
            }
        }
        let mut rows: Vec<FunctionRow> = sum
            .into_iter()
            .map(|(key, time)| FunctionRow {
                key: key.clone(),
                time,
            })
            .collect();
        rows.sort_by(|a, b| {
            let (x, y) = match by {
                SortBy::Hold => (a.time.hold_ns, b.time.hold_ns),
                SortBy::Wait => (a.time.wait_ns, b.time.wait_ns),
            };
            y.cmp(&x)
                .then(b.time.samples.cmp(&a.time.samples))
                .then(a.key.cmp(&b.key))
        });
        rows.truncate(n);
        rows
    }

    /// The GIL hold of all sampled functions of thread `tid` (or all), ns.
    pub fn hold_ns(&self, tid: Option<u32>) -> u64 {
        self.per_thread
            .iter()
            .filter(|(thread, _)| tid.is_none_or(|t| t == **thread))
            .flat_map(|(_, functions)| functions.values())
            .map(|t| t.hold_ns)
            .sum()
    }

    /// Folded stacks (`thread;outer;…;inner COUNT` per line, sorted), the
    /// input of flamegraph.pl, inferno and speedscope.
    pub fn folded(&self, which: Flame) -> String {
        let map = match which {
            Flame::Hold => &self.folded_hold,
            Flame::Wait => &self.folded_wait,
        };
        let mut lines: Vec<String> = map.iter().map(|(s, n)| format!("{s} {n}")).collect();
        lines.sort();
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        text
    }

    /// Threads with samples.
    pub fn threads(&self) -> impl Iterator<Item = u32> + '_ {
        self.per_thread.keys().copied()
    }
}

fn key_of(frame: &PyFrame) -> FunctionKey {
    FunctionKey {
        function: frame.function.clone(),
        file: frame.file.clone(),
    }
}

/// One folded-stack line's frames: the thread, then outermost to innermost
/// `function (file)`; `;` and spaces-before-the-count cannot be confused
/// (a `;` in a name becomes `:`).
fn folded_line(thread: &str, frames: &[PyFrame]) -> String {
    let part = |s: &str| s.replace(';', ":");
    let mut line = part(thread);
    for frame in frames.iter().rev() {
        line.push(';');
        line.push_str(&part(&format!(
            "{} ({})",
            frame.function,
            short_file(&frame.file)
        )));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, line: u32) -> PyFrame {
        PyFrame {
            function: function.into(),
            file: "/app/job.py".into(),
            line,
        }
    }

    fn stack(tid: u32, owns_gil: bool, frames: &[PyFrame]) -> ThreadStack {
        ThreadStack {
            tid: Some(tid),
            name: None,
            owns_gil,
            frames: frames.to_vec(),
        }
    }

    #[test]
    fn samples_are_charged_to_the_leaf_by_state_and_weighted_by_the_gap() {
        let mut by = GilByFunction::default();
        let outer = frame("work", 10);
        let three = frame("three", 3);
        let one = frame("one", 1);
        let period = 5_000_000;
        let name = |tid: u32| format!("t{tid}");
        // Thread 1 holds in `three` three rounds, in `one` one round;
        // thread 2 waits in `rival` throughout.
        for (i, leaf) in [&three, &three, &one, &three].into_iter().enumerate() {
            let t = (i as u64 + 1) * period;
            let stacks = [
                stack(1, true, &[leaf.clone(), outer.clone()]),
                stack(2, false, &[frame("rival", 7)]),
            ];
            by.add_round(
                t,
                period,
                &stacks,
                &|tid| {
                    Some(if tid == 1 {
                        GilState::Holding
                    } else {
                        GilState::Waiting
                    })
                },
                name,
            );
        }
        let rows = by.top(Some(1), SortBy::Hold, 10);
        assert_eq!(rows[0].key.function, "three");
        assert_eq!(rows[0].time.hold_ns, 3 * period);
        assert_eq!(rows[0].label(), "three (app/job.py:3)");
        assert_eq!(rows[1].time.hold_ns, period);
        assert_eq!(by.hold_ns(Some(1)), 4 * period);
        let waits = by.top(None, SortBy::Wait, 1);
        assert_eq!(waits[0].key.function, "rival");
        assert_eq!(waits[0].time.wait_ns, 4 * period);
        assert_eq!(by.disagreed, 0);
        assert_eq!(
            by.folded(Flame::Hold),
            "t1;work (app/job.py);one (app/job.py) 1\nt1;work (app/job.py);three (app/job.py) 3\n"
        );
        assert_eq!(by.folded(Flame::Wait), "t2;rival (app/job.py) 4\n");
    }

    #[test]
    fn a_stalled_sampler_charges_at_most_three_periods() {
        let mut by = GilByFunction::default();
        let stacks = [stack(1, true, &[frame("f", 1)])];
        let holding = |_| Some(GilState::Holding);
        by.add_round(1_000, 1_000, &stacks, &holding, |_| "t".into());
        by.add_round(1_000_000, 1_000, &stacks, &holding, |_| "t".into());
        assert_eq!(by.hold_ns(None), 1_000 + 3_000);
    }

    #[test]
    fn a_read_that_raced_a_hand_over_is_counted() {
        let mut by = GilByFunction::default();
        // The interpreter's record names thread 2; the probes say thread 1 holds.
        let stacks = [
            stack(1, false, &[frame("a", 1)]),
            stack(2, true, &[frame("b", 1)]),
        ];
        by.add_round(
            10,
            10,
            &stacks,
            &|tid| {
                Some(if tid == 1 {
                    GilState::Holding
                } else {
                    GilState::Waiting
                })
            },
            |_| "t".into(),
        );
        assert_eq!(by.disagreed, 1);
        assert_eq!(by.rounds, 1);
    }

    #[test]
    fn threads_without_a_state_are_counted_not_charged() {
        let mut by = GilByFunction::default();
        let stacks = [stack(9, false, &[frame("a", 1)])];
        by.add_round(10, 10, &stacks, &|_| None, |_| "t".into());
        assert_eq!(by.unjoined, 1);
        assert_eq!(by.samples, 0);
    }

    #[test]
    fn semicolons_in_names_do_not_split_frames() {
        let line = folded_line("a;b", &[frame("f;g", 1)]);
        assert_eq!(line, "a:b;f:g (app/job.py)");
    }
}
