//! What the stack samples add to a trace, kept by the recorder: each
//! thread's Python name and current stack, GIL time by function
//! ([`GilByFunction`]), and the recent samples a timeline cursor looks up.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::functions::{GilByFunction, GilState};
use super::sampler::StackRound;
use super::stacks::PyFrame;

/// Most recent samples kept for cursor look-ups (about 20 s of 4 threads
/// at 100 Hz).
const MAX_RECENT: usize = 8192;

/// Most samples kept for the Chrome trace export (about 40 minutes of one
/// thread at 100 Hz); past it the export keeps what it has.
const MAX_EXPORTED: usize = 1 << 18;

/// One thread's sample, for the export: which stack (an index into
/// [`PythonThreads::stack_texts`]) in which state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportedSample {
    /// When, ns since the trace's epoch.
    pub at_ns: u64,
    /// The thread.
    pub tid: u32,
    /// Its GIL state then.
    pub state: GilState,
    /// Its stack.
    pub stack: u32,
}

/// One thread's sample, for the timeline cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentSample {
    /// When, ns since the trace's epoch.
    pub at_ns: u64,
    /// The thread.
    pub tid: u32,
    /// Its GIL state then.
    pub state: GilState,
    /// Its innermost Python function then (`function (file:line)`).
    pub function: Arc<str>,
}

/// The Python side of a trace.
#[derive(Debug, Default)]
pub struct PythonThreads {
    /// Python thread names by OS thread id.
    pub(crate) names: HashMap<u32, String>,
    /// Each thread's stack at the latest sample, innermost first.
    pub(crate) stacks: HashMap<u32, Vec<PyFrame>>,
    /// Samples joined with GIL states, summed.
    pub(crate) functions: GilByFunction,
    /// The latest samples, oldest first.
    pub(crate) recent: VecDeque<RecentSample>,
    /// Every sample (up to [`MAX_EXPORTED`]) for the export.
    exported: Vec<ExportedSample>,
    /// Distinct stacks seen: each stack's number, and its text (one frame
    /// a line, innermost first) and innermost label by number.
    stack_ids: HashMap<Vec<PyFrame>, u32>,
    stack_texts: Vec<(Arc<str>, Arc<str>)>,
}

impl PythonThreads {
    /// Adds a round taken `at_ns` after the epoch; `state_of` gives each
    /// thread's GIL state at that instant and `os_name_of` its OS name.
    pub(crate) fn add_round(
        &mut self,
        at_ns: u64,
        round: &StackRound,
        state_of: impl Fn(u32) -> Option<GilState>,
        os_name_of: impl Fn(u32) -> Option<String>,
    ) {
        for stack in &round.stacks {
            let Some(tid) = stack.tid else { continue };
            // A thread keeps its last Python name when a round has none: a
            // thread whose `run()` has returned leaves `threading._active`
            // (where names are read) before its OS thread exits, and a
            // read racing the dict can miss it. A rename arrives as a name.
            if let Some(name) = &stack.name {
                self.names.insert(tid, name.clone());
            }
            self.stacks.insert(tid, stack.frames.clone());
            if let (Some(state), Some(leaf)) = (state_of(tid), stack.frames.first()) {
                if self.exported.len() < MAX_EXPORTED {
                    let id = self.stack_id(&stack.frames);
                    self.exported.push(ExportedSample {
                        at_ns,
                        tid,
                        state,
                        stack: id,
                    });
                }
                if self.recent.len() == MAX_RECENT {
                    self.recent.pop_front();
                }
                self.recent.push_back(RecentSample {
                    at_ns,
                    tid,
                    state,
                    function: leaf.label().into(),
                });
            }
        }
        let names = &self.names;
        self.functions
            .add_round(at_ns, round.period_ns, &round.stacks, &state_of, |tid| {
                names
                    .get(&tid)
                    .cloned()
                    .or_else(|| os_name_of(tid))
                    .unwrap_or_else(|| tid.to_string())
            });
    }

    /// The number of a stack, giving it one if it is new.
    fn stack_id(&mut self, frames: &[PyFrame]) -> u32 {
        if let Some(&id) = self.stack_ids.get(frames) {
            return id;
        }
        let id = self.stack_texts.len() as u32;
        let text: String = frames
            .iter()
            .map(PyFrame::label)
            .collect::<Vec<_>>()
            .join("\n");
        let leaf = frames.first().map(PyFrame::label).unwrap_or_default();
        self.stack_texts.push((leaf.into(), text.into()));
        self.stack_ids.insert(frames.to_vec(), id);
        id
    }

    /// Every sample kept for the export, oldest first.
    pub fn exported(&self) -> &[ExportedSample] {
        &self.exported
    }

    /// Stack number `id`'s innermost frame and whole text (one frame a
    /// line, innermost first).
    pub fn stack_text(&self, id: u32) -> Option<(&str, &str)> {
        self.stack_texts
            .get(id as usize)
            .map(|(leaf, text)| (&**leaf, &**text))
    }

    /// Thread `tid`'s Python name, if it has one.
    pub fn name(&self, tid: u32) -> Option<&str> {
        self.names.get(&tid).map(String::as_str)
    }

    /// Thread `tid`'s stack at the latest sample, innermost first.
    pub fn stack(&self, tid: u32) -> &[PyFrame] {
        self.stacks.get(&tid).map_or(&[], Vec::as_slice)
    }

    /// GIL time by function so far.
    pub fn functions(&self) -> &GilByFunction {
        &self.functions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::sampler::StackRound;
    use crate::trace::stacks::ThreadStack;

    fn round(name: Option<&str>) -> StackRound {
        StackRound {
            time_ns: 0,
            period_ns: 10_000_000,
            stacks: vec![ThreadStack {
                tid: Some(7),
                name: name.map(String::from),
                owns_gil: false,
                frames: Vec::new(),
            }],
            gil: None,
        }
    }

    /// A thread past its `run()` has left `threading._active`, so its last
    /// rounds carry no name: it keeps the one it had (a CI run reported a
    /// CPU thread under its OS name, `python3.11`, for that); a rename is
    /// taken.
    #[test]
    fn a_thread_keeps_its_name_through_rounds_without_one() {
        let mut threads = PythonThreads::default();
        let (state, os_name) = (|_| None, |_| None);
        threads.add_round(0, &round(Some("cpu-1")), state, os_name);
        threads.add_round(1, &round(None), state, os_name);
        assert_eq!(threads.name(7), Some("cpu-1"));
        threads.add_round(2, &round(Some("renamed")), state, os_name);
        assert_eq!(threads.name(7), Some("renamed"));
    }
}
