//! Reading a traced CPython's threads from outside: each thread's Python
//! name (`threading.Thread(name=…)`, `MainThread`) and current Python
//! stack, through the py-spy crate, without pausing the program unless
//! asked ([`StackReader::connect`]'s `blocking`).
//!
//! py-spy knows each thread's OS id only from 3.11 on (the thread state's
//! `native_thread_id`); before, it has the `pthread_t`, which on glibc is
//! the address of the thread's `struct pthread`, whose `tid` field sits at
//! a fixed offset. [`StackReader`] finds that offset once — the field that
//! holds the main thread's id (the pid) and, for every other thread, an id
//! of a live task — and reads each thread's id there.
//!
//! Names and frames come from the traced program: they are cleaned
//! ([`clean`]) before anything else sees them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use py_spy::config::{LineNo, LockingStrategy};
use py_spy::{Config, PythonSpy, StackTrace};
use remoteprocess::ProcessMemory;

use crate::cancel::CancelToken;

/// Longest function, file or thread name kept (in characters); longer ones
/// are cut with `…`.
pub const MAX_NAME: usize = 120;

/// How often Python thread names are read again (a thread renamed after
/// it started is renamed within this).
const RENAME_EVERY: Duration = Duration::from_secs(1);

/// How soon the names are read again while a new thread has none: a
/// thread runs (and is sampled) before `threading` puts it in `_active`,
/// and py-spy keeps "no name" for a second, so a thread first seen in that
/// window stayed unnamed through a whole one-second trace.
const UNNAMED_RETRY: Duration = Duration::from_millis(100);

/// Quick re-reads per unnamed thread; after them it waits for
/// [`RENAME_EVERY`] like the rest. A thread that never gets a name (one
/// started with `_thread`) must not make every tenth of a second walk the
/// program's modules again.
const UNNAMED_TRIES: u8 = 5;

/// Offsets of glibc's `struct pthread.tid` to try first (x86-64 glibc
/// 2.28-2.40: 0x2d0); the rest of the first 4 KiB is searched after.
const TID_OFFSET_GUESSES: [usize; 1] = [0x2d0];

/// One Python frame: a function, its file and the line it is at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PyFrame {
    /// The function (qualified from 3.11 on: `Thread.run`).
    pub function: String,
    /// The file, as the interpreter has it.
    pub file: String,
    /// The line being run (0 if unknown).
    pub line: u32,
}

impl PyFrame {
    /// `function (file:line)`, with the file cut to its last two parts.
    pub fn label(&self) -> String {
        format!(
            "{} ({}:{})",
            self.function,
            short_file(&self.file),
            self.line
        )
    }
}

/// The last two parts of a path (`pkg/mod.py`), or all of a short one.
pub fn short_file(file: &str) -> &str {
    let mut cut = file.len();
    for _ in 0..2 {
        match file[..cut].rfind('/') {
            Some(i) => cut = i,
            None => return file,
        }
    }
    &file[cut + 1..]
}

/// One thread as read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadStack {
    /// OS thread id (`None` if it could not be found).
    pub tid: Option<u32>,
    /// The Python thread's name, if the interpreter has one for it.
    pub name: Option<String>,
    /// Whether the interpreter's GIL record named this thread its holder.
    pub owns_gil: bool,
    /// Its Python frames, innermost first (empty: no Python running).
    pub frames: Vec<PyFrame>,
}

/// A connected reader of one process's Python threads.
pub struct StackReader {
    spy: PythonSpy,
    /// Where glibc keeps a thread's id in its `struct pthread`, once found
    /// (interpreters older than 3.11 only).
    tid_offset: Option<usize>,
    names_read: Instant,
    /// Python 2.7's thread names by ident, read by [`python27_names`]
    /// (py-spy reads names from 3.6 on only).
    py27_names: HashMap<u64, String>,
    /// Quick re-reads made for each thread still unnamed (by ident).
    unnamed_tries: HashMap<u64, u8>,
}

impl std::fmt::Debug for StackReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackReader")
            .field("pid", &self.spy.pid)
            .field("version", &self.spy.version.to_string())
            .field("tid_offset", &self.tid_offset)
            .finish()
    }
}

impl StackReader {
    /// Connects to process `pid`, retrying while its interpreter starts up
    /// (a program traced from its first instruction has no interpreter
    /// state for some milliseconds) until `patience` runs out or `cancel`.
    /// `blocking`: pause the program for each read (consistent stacks, at
    /// a cost); otherwise read it running.
    pub fn connect(
        pid: u32,
        blocking: bool,
        patience: Duration,
        cancel: &CancelToken,
    ) -> Result<StackReader, String> {
        let config = Config {
            blocking: if blocking {
                LockingStrategy::Lock
            } else {
                LockingStrategy::NonBlocking
            },
            include_idle: true,
            collect_thread_names: true,
            lineno: LineNo::LastInstruction,
            ..Config::default()
        };
        let pid = i32::try_from(pid).map_err(|_| format!("no such process id {pid}"))?;
        let deadline = Instant::now() + patience;
        loop {
            let error = match PythonSpy::new(pid, &config) {
                Ok(mut spy) => match spy.get_stack_traces() {
                    Ok(_) => {
                        return Ok(StackReader {
                            spy,
                            tid_offset: None,
                            names_read: Instant::now(),
                            py27_names: HashMap::new(),
                            unnamed_tries: HashMap::new(),
                        });
                    }
                    Err(error) => error,
                },
                Err(error) => error,
            };
            if Instant::now() >= deadline || cancel.sleep(Duration::from_millis(20)).is_err() {
                return Err(format!(
                    "cannot read the Python stacks of process {pid}: {error}"
                ));
            }
        }
    }

    /// The interpreter's version, as py-spy read it (`3.11.7`).
    pub fn version(&self) -> String {
        self.spy.version.to_string()
    }

    /// Every Python thread of the process now: its id, name, whether the
    /// interpreter's record says it holds the GIL, and its stack.
    pub fn sample(&mut self) -> Result<Vec<ThreadStack>, String> {
        let py27 = self.spy.version.major == 2;
        if self.names_read.elapsed() >= RENAME_EVERY {
            // py-spy keeps a name once it has one; forget them so a
            // renamed thread is renamed (2.7's are read here: below).
            self.spy.python_thread_names.clear();
            if py27 {
                self.py27_names = python27_names(&self.spy).unwrap_or_default();
            }
            self.names_read = Instant::now();
        }
        let traces = self
            .spy
            .get_stack_traces()
            .map_err(|error| format!("reading the Python stacks: {error}"))?;
        let names = &self.py27_names;
        let unnamed: Vec<u64> = traces
            .iter()
            .filter(|t| t.thread_name.is_none() && !names.contains_key(&t.thread_id))
            .map(|t| t.thread_id)
            .collect();
        // Only threads unnamed now are counted (no growth over a long trace).
        self.unnamed_tries.retain(|id, _| unnamed.contains(id));
        let retry = unnamed
            .iter()
            .any(|id| self.unnamed_tries.get(id).copied().unwrap_or(0) < UNNAMED_TRIES);
        if retry && self.names_read.elapsed() >= UNNAMED_RETRY {
            for id in unnamed {
                *self.unnamed_tries.entry(id).or_default() += 1;
            }
            if py27 {
                self.py27_names = python27_names(&self.spy).unwrap_or_default();
            } else {
                // Looked up again at the next sample.
                self.spy.python_thread_names.clear();
            }
            self.names_read = Instant::now();
        }
        if self.tid_offset.is_none() && traces.iter().any(|t| t.os_thread_id.is_none()) {
            self.tid_offset = self.find_tid_offset(&traces);
        }
        Ok(traces
            .iter()
            .map(|trace| ThreadStack {
                tid: self.os_tid(trace),
                name: trace
                    .thread_name
                    .as_deref()
                    .or_else(|| self.py27_names.get(&trace.thread_id).map(String::as_str))
                    .map(clean),
                owns_gil: trace.owns_gil,
                frames: trace
                    .frames
                    .iter()
                    .map(|frame| PyFrame {
                        function: clean(&frame.name),
                        file: clean(&frame.filename),
                        line: u32::try_from(frame.line).unwrap_or(0),
                    })
                    .collect(),
            })
            .collect())
    }

    /// A trace's OS thread id: py-spy's (3.11+), else read from glibc's
    /// `struct pthread` at the offset found.
    fn os_tid(&self, trace: &StackTrace) -> Option<u32> {
        if let Some(tid) = trace.os_thread_id {
            return u32::try_from(tid).ok();
        }
        let offset = self.tid_offset?;
        self.read_u32(trace.thread_id, offset)
    }

    fn read_u32(&self, pthread: u64, offset: usize) -> Option<u32> {
        let addr = usize::try_from(pthread).ok()?.checked_add(offset)?;
        let bytes = self.spy.process.copy(addr, 4).ok()?;
        Some(u32::from_ne_bytes(bytes.try_into().ok()?))
    }

    /// The offset in `struct pthread` at which every Python thread's value
    /// is a live task of the process, and the main thread's is the pid.
    fn find_tid_offset(&self, traces: &[StackTrace]) -> Option<usize> {
        let pid = u32::try_from(self.spy.pid).ok()?;
        let tasks = live_tasks(pid);
        let fits = |offset: usize| {
            let ids: Vec<Option<u32>> = traces
                .iter()
                .map(|t| self.read_u32(t.thread_id, offset))
                .collect();
            ids.contains(&Some(pid))
                && ids
                    .iter()
                    .all(|id| id.is_some_and(|id| tasks.contains(&id)))
        };
        TID_OFFSET_GUESSES
            .into_iter()
            .chain((0..4096).step_by(4))
            .find(|&offset| fits(offset))
    }
}

/// Python 2.7's thread names, by ident (`thread.get_ident()`, which is
/// the `thread_id` py-spy reports): `threading._active` read from the
/// process, each `Thread`'s `_Thread__name`. py-spy reads names from 3.6
/// on only, so a sampled 2.7's threads were shown by their OS name. The
/// offsets are CPython 2.7's on x86-64 (checked with ctypes against
/// 2.7.18: `tests/trace_sampled.rs` names 2.7's threads). `None` if
/// anything read is not what 2.7 has there (no `threading` imported yet).
fn python27_names(spy: &PythonSpy) -> Option<HashMap<u64, String>> {
    let process = &spy.process;
    let word = |addr: usize| -> Option<usize> {
        let bytes = process.copy(addr, 8).ok()?;
        Some(usize::from_ne_bytes(bytes.try_into().ok()?))
    };
    // The name of `obj`'s type (`tp_name`, a C string, at +24).
    let type_name = |obj: usize| -> Option<String> {
        let name = word(word(obj + 8)? + 24)?;
        let bytes = process.copy(name, 16).ok()?;
        let end = bytes.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
    };
    // A `str`: its size at +16, its bytes at +36.
    let string = |obj: usize| -> Option<String> {
        if type_name(obj)? != "str" {
            return None;
        }
        let len = word(obj + 16)?.min(MAX_NAME * 4);
        let bytes = process.copy(obj + 36, len).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    };
    // A dict's live entries (key, value): `ma_mask` at +32, `ma_table` at
    // +40, entries of hash, key, value.
    let entries = |dict: usize| -> Option<Vec<(usize, usize)>> {
        if type_name(dict)? != "dict" {
            return None;
        }
        let slots = word(dict + 32)?.checked_add(1)?.min(1 << 16);
        let table = process.copy(word(dict + 40)?, slots * 24).ok()?;
        Some(
            table
                .chunks_exact(24)
                .filter_map(|e| {
                    let key = usize::from_ne_bytes(e[8..16].try_into().ok()?);
                    let value = usize::from_ne_bytes(e[16..24].try_into().ok()?);
                    (key != 0 && value != 0).then_some((key, value))
                })
                .collect(),
        )
    };
    let find = |dict: usize, name: &str| -> Option<usize> {
        entries(dict)?
            .into_iter()
            .find(|&(key, _)| string(key).is_some_and(|k| k == name))
            .map(|(_, value)| value)
    };
    let modules = word(spy.addresses.imports_modules_address)?;
    // A module's dict at +16.
    let threading = word(find(modules, "threading")? + 16)?;
    let active = find(threading, "_active")?;
    let mut names = HashMap::new();
    for (ident, thread) in entries(active)? {
        // An `int` ident: its value at +16.
        if type_name(ident)? != "int" {
            continue;
        }
        // The instance dict at the type's `tp_dictoffset` (+288).
        let offset = word(word(thread + 8)? + 288)?;
        let Some(dict) = thread.checked_add(offset).and_then(word) else {
            continue;
        };
        if let Some(name) = find(dict, "_Thread__name").and_then(string) {
            names.insert(word(ident + 16)? as u64, name);
        }
    }
    Some(names)
}

/// The ids of process `pid`'s live threads.
fn live_tasks(pid: u32) -> Vec<u32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A name from the traced program made safe to show: control characters
/// (escape sequences, newlines) become `?`, and it is cut to [`MAX_NAME`]
/// characters with `…`.
pub fn clean(name: &str) -> String {
    let mut out = String::with_capacity(name.len().min(MAX_NAME * 4));
    for (i, c) in name.chars().enumerate() {
        if i == MAX_NAME {
            out.pop();
            out.push('…');
            break;
        }
        out.push(if c.is_control() { '?' } else { c });
    }
    out
}

/// Python names of the threads in `stacks`, by OS thread id.
pub fn names_by_tid(stacks: &[ThreadStack]) -> HashMap<u32, String> {
    stacks
        .iter()
        .filter_map(|s| Some((s.tid?, s.name.clone()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_control_characters_and_length() {
        assert_eq!(clean("a\x1b[2Jb\nc"), "a?[2Jb?c");
        let long = "x".repeat(500);
        let cut = clean(&long);
        assert_eq!(cut.chars().count(), MAX_NAME);
        assert!(cut.ends_with('…'));
        assert_eq!(clean("MainThread"), "MainThread");
    }

    #[test]
    fn short_files_keep_the_last_two_parts() {
        assert_eq!(
            short_file("/usr/lib/python3.11/threading.py"),
            "python3.11/threading.py"
        );
        assert_eq!(short_file("app.py"), "app.py");
        assert_eq!(short_file("/app.py"), "/app.py");
    }
}
