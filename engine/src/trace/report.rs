//! A finished trace summed up: the JSON document of `trace --json`, the
//! human table, and the Chrome Trace Event export (opens in Perfetto).

use std::io::Write;

use serde::Serialize;

use super::Interpreter;
use super::TraceEnd;
use super::functions::{FunctionRow, GilByFunction, SortBy};
use super::mode::TraceMode;
use super::recorder::{Recorder, Slice, TracedThread};
use super::sampler::SamplerStatus;
use super::symbols::SymbolSource;
use crate::gil::Transition;

/// The interpreter traced, as reported.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct PythonReport {
    /// e.g. `3.11.7`.
    pub version: String,
    /// The program's executable.
    pub executable: String,
    /// The shared library probed, for a shared build.
    pub(crate) library: Option<String>,
    /// A free-threaded build: no GIL, so the trace holds thread states only
    /// (every thread 100 % released, split into native and blocked).
    pub gil_disabled: bool,
}

/// Functions listed per thread and for the whole program in `--json`.
pub const TOP_FUNCTIONS: usize = 20;

/// Widest the summary's `function (file:line)` column grows (characters).
const FUNCTION_COLUMN: usize = 72;

/// Widest the summary's thread-name column grows (characters).
const NAME_COLUMN: usize = 32;

/// A text column's width: its longest entry's, within `min..=max`.
fn column_width<'a>(entries: impl Iterator<Item = &'a str>, min: usize, max: usize) -> usize {
    entries
        .map(|e| e.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(min, max)
}

/// `text` as is if it fits `width` characters, else its head and `…`.
fn cut(text: &str, width: usize) -> std::borrow::Cow<'_, str> {
    if text.chars().count() <= width {
        std::borrow::Cow::Borrowed(text)
    } else {
        let head: String = text.chars().take(width.saturating_sub(1)).collect();
        std::borrow::Cow::Owned(format!("{head}…"))
    }
}

/// One function's GIL time, from stack samples joined with exact states.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FunctionReport {
    /// The function (qualified from 3.11 on).
    pub function: String,
    /// Its file.
    pub file: String,
    /// The line most samples were at.
    pub line: u32,
    /// Time it ran holding the GIL, ms.
    pub hold_ms: f64,
    /// Time it waited for the GIL, ms.
    pub wait_ms: f64,
    /// Time it was in a call with the GIL released, ms.
    pub released_ms: f64,
    /// Samples taken in it.
    pub samples: u64,
}

impl FunctionReport {
    fn from_row(row: &FunctionRow) -> Self {
        let ms = |ns: u64| (ns as f64 / 1e4).round() / 100.0;
        FunctionReport {
            function: row.key.function.clone(),
            file: row.key.file.clone(),
            line: row.time.line(),
            hold_ms: ms(row.time.hold_ns),
            wait_ms: ms(row.time.wait_ns),
            released_ms: ms(row.time.released_ns),
            samples: row.time.samples,
        }
    }

    fn top(by: &GilByFunction, tid: Option<u32>) -> Vec<FunctionReport> {
        by.top(tid, SortBy::Hold, TOP_FUNCTIONS)
            .iter()
            .map(FunctionReport::from_row)
            .collect()
    }
}

/// How the stacks were sampled and joined.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct StacksReport {
    /// The sampler's own account: rate, rounds, drops, read cost, error.
    #[serde(flatten)]
    pub sampler: SamplerStatus,
    /// Thread samples joined with a GIL state.
    pub samples: u64,
    /// Rounds in which the interpreter's record of the GIL holder
    /// disagreed with the probes (a read that raced a hand-over).
    pub disagreed: u64,
    /// Thread samples that could not be joined with a state.
    pub unjoined: u64,
}

/// One thread's share of the trace.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ThreadReport {
    /// OS thread id.
    pub tid: u32,
    /// Its Python name (`threading.Thread(name=…)`), else its OS name.
    pub name: String,
    /// Its OS name (`comm`).
    pub os_name: String,
    /// % of its observed time holding the GIL.
    pub hold_pct: f64,
    /// % waiting for it.
    pub wait_pct: f64,
    /// % with it released (blocked or native); hold + wait + released = 100.
    pub(crate) released_pct: f64,
    /// The part of `released_pct` spent running (native code without the GIL).
    pub(crate) native_pct: f64,
    /// Times it took the GIL.
    pub(crate) takes: u64,
    /// Median hold, ms.
    pub hold_ms_p50: f64,
    /// 99th percentile hold, ms.
    pub hold_ms_p99: f64,
    /// Median wait, ms.
    pub wait_ms_p50: f64,
    /// 99th percentile wait, ms.
    pub wait_ms_p99: f64,
    /// Longest wait, ms.
    pub(crate) wait_ms_max: f64,
    /// Its top functions by GIL hold (from stack samples).
    pub functions: Vec<FunctionReport>,
}

/// The summary `trace --json` prints.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TraceReport {
    /// The traced program's argv.
    pub(crate) program: Vec<String>,
    /// Its process id.
    pub(crate) pid: u32,
    /// Its interpreter.
    pub(crate) python: PythonReport,
    /// Where `take_gil`/`drop_gil` were found: `symtab`, `debug-file`,
    /// `debuginfod`, `minidebuginfo` or `disassembly` (`null`: nothing
    /// probed, a free-threaded build).
    pub symbols: Option<SymbolSource>,
    /// `"exact"` (probes: every hand-over) or `"sampled"` (the GIL holder
    /// read `rate_hz` times a second; see docs/trace.md for what that
    /// cannot know).
    pub mode: &'static str,
    /// A sampled trace's rate; `null` when exact.
    pub rate_hz: Option<u32>,
    /// Why sampled (`not_root`, `no_uprobes`, `python2`, `no_gil_symbols`,
    /// `asked`); `null` when exact.
    pub sampled_because: Option<&'static str>,
    /// Seconds traced.
    pub(crate) duration_s: f64,
    /// Fraction of the time someone held the GIL (0–1).
    pub(crate) gil_load: f64,
    /// Hand-overs between threads per second.
    pub switches_per_s: f64,
    /// Probe records applied.
    pub events: u64,
    /// Probe records the kernel dropped because a ring was full (records of
    /// other processes of the same interpreter fill the rings too).
    pub(crate) lost_events: u64,
    /// The program's exit code (128 + signal if killed); `null` when
    /// attached or detached.
    pub exit_code: Option<i32>,
    /// Every thread that touched the GIL, in order of first appearance.
    pub threads: Vec<ThreadReport>,
    /// The whole program's top functions by GIL hold.
    pub functions: Vec<FunctionReport>,
    /// How stacks were sampled (rate 0: not sampled).
    pub stacks: StacksReport,
    /// The header's word for the GIL (`real GIL`, `sampled GIL · …`).
    #[serde(skip)]
    gil_label: String,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        (part / whole * 1000.0).round() / 10.0
    } else {
        0.0
    }
}

impl ThreadReport {
    /// One traced thread summed up, with its top functions from `by`.
    fn of(t: &TracedThread, by: &GilByFunction) -> Self {
        let s = t.stats.snapshot();
        let (hold, wait) = (s.holding.as_secs_f64(), s.waiting.as_secs_f64());
        let (io, native) = (s.io.as_secs_f64(), s.running.as_secs_f64());
        let total = hold + wait + io + native;
        let quantile = |h: &hdrhistogram::Histogram<u64>, q: f64| {
            if h.is_empty() {
                0.0
            } else {
                ms(h.value_at_quantile(q))
            }
        };
        ThreadReport {
            tid: t.tid,
            name: t.display_name().to_string(),
            os_name: t.name.clone(),
            hold_pct: pct(hold, total),
            wait_pct: pct(wait, total),
            released_pct: pct(io + native, total),
            native_pct: pct(native, total),
            takes: t.takes,
            hold_ms_p50: quantile(&t.holds_us, 0.5),
            hold_ms_p99: quantile(&t.holds_us, 0.99),
            wait_ms_p50: quantile(&t.waits_us, 0.5),
            wait_ms_p99: quantile(&t.waits_us, 0.99),
            wait_ms_max: if t.waits_us.is_empty() {
                0.0
            } else {
                ms(t.waits_us.max())
            },
            functions: FunctionReport::top(by, Some(t.tid)),
        }
    }
}

impl TraceReport {
    /// Sums up `recorder` after a trace of `duration_ns`.
    pub fn new(
        program: &[String],
        pid: u32,
        python: &Interpreter,
        recorder: &Recorder,
        duration_ns: u64,
        lost_events: u64,
        end: TraceEnd,
    ) -> Self {
        let seconds = duration_ns as f64 / 1e9;
        let threads = recorder
            .threads()
            .iter()
            .map(|t| ThreadReport::of(t, recorder.python().functions()))
            .collect();
        let exit_code = match end {
            TraceEnd::Exited(status) => {
                use std::os::unix::process::ExitStatusExt;
                status.code().or_else(|| status.signal().map(|s| 128 + s))
            }
            TraceEnd::Gone | TraceEnd::Detached => None,
        };
        TraceReport {
            program: program.to_vec(),
            pid,
            python: PythonReport {
                version: python.version.clone(),
                executable: python.executable.display().to_string(),
                library: python.library.as_ref().map(|p| p.display().to_string()),
                gil_disabled: python.gil_disabled,
            },
            symbols: python.symbols,
            mode: TraceMode::Exact.name(),
            rate_hz: None,
            sampled_because: None,
            gil_label: TraceMode::Exact.label(),
            duration_s: (seconds * 1000.0).round() / 1000.0,
            gil_load: if seconds > 0.0 {
                ((recorder.held_ns() as f64 / duration_ns as f64) * 1000.0).round() / 1000.0
            } else {
                0.0
            },
            switches_per_s: if seconds > 0.0 {
                (recorder.switches() as f64 / seconds * 10.0).round() / 10.0
            } else {
                0.0
            },
            events: recorder.events(),
            lost_events,
            exit_code,
            threads,
            functions: FunctionReport::top(recorder.python().functions(), None),
            stacks: {
                let by = recorder.python().functions();
                StacksReport {
                    sampler: SamplerStatus::default(),
                    samples: by.samples,
                    disagreed: by.disagreed,
                    unjoined: by.unjoined,
                }
            },
        }
    }

    /// This report with the stack sampler's account.
    pub fn with_stacks(mut self, sampler: SamplerStatus) -> Self {
        self.stacks.sampler = sampler;
        self
    }

    /// This report labelled with how it was traced (after
    /// [`TraceReport::with_stacks`]: a sampled trace's rate is the sampler's).
    pub fn with_mode(mut self, mode: &TraceMode) -> Self {
        self.mode = mode.name();
        self.gil_label = mode.label();
        if let TraceMode::Sampled(why) = mode {
            self.rate_hz = Some(self.stacks.sampler.rate_hz);
            self.sampled_because = Some(why.key());
            self.gil_label = format!(
                "sampled GIL at {} Hz · {}",
                self.stacks.sampler.rate_hz,
                why.short()
            );
        }
        self
    }

    /// The human summary: a header line and one row per thread.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        let exit = self
            .exit_code
            .map_or_else(|| "still running".to_string(), |c| format!("exit code {c}"));
        if self.python.gil_disabled {
            out.push_str(&format!(
                "python {} · pid {} · GIL disabled (free-threaded build): thread states only · {:.2} s · {}\n",
                self.python.version, self.pid, self.duration_s, exit
            ));
        } else if self.mode == "sampled" {
            // No probe records to count; switches are holder changes seen.
            out.push_str(&format!(
                "python {} · pid {} · {} · {:.2} s · GIL load {:.0}% · {:.0} holder changes/s seen · {}\n",
                self.python.version,
                self.pid,
                self.gil_label,
                self.duration_s,
                self.gil_load * 100.0,
                self.switches_per_s,
                exit
            ));
        } else {
            out.push_str(&format!(
                "python {} · pid {} · {}{} · {:.2} s · GIL load {:.0}% · {:.0} switches/s · {} events, {} lost · {}\n",
                self.python.version,
                self.pid,
                self.gil_label,
                match (self.mode, self.symbols) {
                    ("exact", Some(source)) => format!(" · symbols: {}", source.name()),
                    _ => String::new(),
                },
                self.duration_s,
                self.gil_load * 100.0,
                self.switches_per_s,
                self.events,
                self.lost_events,
                exit
            ));
        }
        // As wide as the longest name (`ThreadPoolExecutor-0_0` ran past
        // a fixed 16), up to NAME_COLUMN.
        let name_width = column_width(
            self.threads.iter().map(|t| t.name.as_str()),
            16,
            NAME_COLUMN,
        );
        out.push_str(&format!(
            "{:>8}  {:<name_width$} {:>6} {:>6} {:>9} {:>7} {:>7} {:>15} {:>22}\n",
            "tid",
            "name",
            "hold%",
            "wait%",
            "released%",
            "native%",
            "takes",
            "hold p50/p99 ms",
            "wait p50/p99/max ms"
        ));
        for t in &self.threads {
            out.push_str(&format!(
                "{:>8}  {:<name_width$} {:>6.1} {:>6.1} {:>9.1} {:>7.1} {:>7} {:>15} {:>22}\n",
                t.tid,
                cut(&t.name, name_width),
                t.hold_pct,
                t.wait_pct,
                t.released_pct,
                t.native_pct,
                t.takes,
                format!("{:.2}/{:.2}", t.hold_ms_p50, t.hold_ms_p99),
                format!(
                    "{:.2}/{:.2}/{:.2}",
                    t.wait_ms_p50, t.wait_ms_p99, t.wait_ms_max
                ),
            ));
        }
        if self.threads.is_empty() {
            out.push_str("(no thread took or dropped the GIL while traced)\n");
        }
        out.push_str(&self.render_functions());
        out
    }

    /// The GIL-by-function part of the human summary: the whole program's
    /// top functions, or why there are none.
    fn render_functions(&self) -> String {
        let stacks = &self.stacks;
        if stacks.sampler.rate_hz == 0 {
            return String::new();
        }
        let mut out = format!(
            "\nGIL by function · {} samples at {} Hz ({} rounds, {} raced a hand-over, {} dropped)\n",
            stacks.samples,
            stacks.sampler.rate_hz,
            stacks.sampler.rounds,
            stacks.disagreed,
            stacks.sampler.dropped
        );
        if let Some(error) = &stacks.sampler.error {
            out.push_str(&format!("(no Python stacks: {error})\n"));
            return out;
        }
        let hold_total: f64 = self
            .functions
            .iter()
            .map(|f| f.hold_ms)
            .sum::<f64>()
            .max(1e-9);
        let rows: Vec<(String, &FunctionReport)> = self
            .functions
            .iter()
            .take(10)
            .map(|f| {
                let label = format!(
                    "{} ({}:{})",
                    f.function,
                    super::stacks::short_file(&f.file),
                    f.line
                );
                (label, f)
            })
            .collect();
        // As wide as the longest label (a qualified method with its file
        // ran past a fixed 48 and pushed its numbers out of their columns),
        // up to FUNCTION_COLUMN.
        let width = column_width(
            rows.iter().map(|(label, _)| label.as_str()),
            20,
            FUNCTION_COLUMN,
        );
        out.push_str(&format!(
            "{:<width$} {:>10} {:>10} {:>12} {:>6}\n",
            "function (file:line)", "hold ms", "wait ms", "released ms", "hold%"
        ));
        for (label, f) in rows {
            out.push_str(&format!(
                "{:<width$} {:>10.1} {:>10.1} {:>12.1} {:>6.1}\n",
                cut(&label, width),
                f.hold_ms,
                f.wait_ms,
                f.released_ms,
                f.hold_ms / hold_total * 100.0
            ));
        }
        out
    }
}

/// One track of a Chrome trace: a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    /// The thread's id (a traced thread's OS id, or an emulated lane's tag).
    pub tid: u32,
    /// Its name, shown on the track.
    pub name: String,
}

/// The slice name for a lane state, or `None` for states not exported.
fn slice_name(lane: Transition) -> Option<&'static str> {
    match lane {
        Transition::Hold => Some("holds GIL"),
        Transition::Wait => Some("waits for GIL"),
        Transition::Run => Some("runs without the GIL"),
        Transition::Io => Some("blocked, GIL released"),
        Transition::Blocked => Some("waits on a lock, GIL released"),
        _ => None,
    }
}

/// Writes Chrome Trace Event JSON (opens in Perfetto and
/// `chrome://tracing`): a process named `process`, one track per thread,
/// a slice per lane interval. The traced (`trace --export`) and the
/// emulated (the dashboard's `w`) timelines both go through here, so the
/// two open side by side with the same names.
pub fn write_chrome(
    out: &mut impl Write,
    process: &str,
    pid: u32,
    tracks: &[Track],
    slices: impl IntoIterator<Item = Slice>,
    marks: impl IntoIterator<Item = serde_json::Value>,
) -> std::io::Result<()> {
    let mut first = true;
    let mut item = |out: &mut dyn Write, value: serde_json::Value| -> std::io::Result<()> {
        if !first {
            out.write_all(b",\n")?;
        }
        first = false;
        serde_json::to_writer(&mut *out, &value).map_err(std::io::Error::other)
    };
    out.write_all(b"{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n")?;
    item(
        out,
        serde_json::json!({"ph": "M", "name": "process_name", "pid": pid,
            "args": {"name": process}}),
    )?;
    for track in tracks {
        item(
            out,
            serde_json::json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": track.tid,
                "args": {"name": track.name}}),
        )?;
    }
    for slice in slices {
        let Some(name) = slice_name(slice.lane) else {
            continue;
        };
        item(
            out,
            serde_json::json!({"ph": "X", "name": name, "cat": "gil", "pid": pid, "tid": slice.tid,
                "ts": slice.start_ns as f64 / 1000.0, "dur": slice.len_ns as f64 / 1000.0}),
        )?;
    }
    for mark in marks {
        item(out, mark)?;
    }
    out.write_all(b"\n]}\n")?;
    out.flush()
}

/// Writes the trace as Chrome Trace Event JSON: one track per thread,
/// slices "holds GIL", "waits for GIL" and "runs without the GIL" (native
/// code that released it).
pub fn chrome_trace(
    report: &TraceReport,
    recorder: &Recorder,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let pid = report.pid;
    let tracks: Vec<Track> = recorder
        .threads()
        .iter()
        .map(|thread| Track {
            tid: thread.tid,
            name: match &thread.python_name {
                Some(python) => format!("{python} ({} {})", thread.name, thread.tid),
                None => format!("{} ({})", thread.name, thread.tid),
            },
        })
        .collect();
    let python = recorder.python();
    // Past MAX_SLICES the file says where it stops: a global instant event
    // at the first slice not kept, named so it shows in Perfetto.
    let truncated = truncation_note(recorder).map(|(note, at_ns)| {
        serde_json::json!({"ph": "i", "s": "g", "name": note, "cat": "threadlab",
            "pid": pid, "tid": 0, "ts": at_ns as f64 / 1000.0})
    });
    // Each stack sample: an instant event on its thread's track, named for
    // the innermost function, with the state and the whole stack in its
    // arguments (Perfetto shows them under the slice it falls in).
    let marks = python.exported().iter().filter_map(|sample| {
        let (leaf, stack) = python.stack_text(sample.stack)?;
        Some(
            serde_json::json!({"ph": "i", "s": "t", "name": leaf, "cat": "python-stack",
            "pid": pid, "tid": sample.tid, "ts": sample.at_ns as f64 / 1000.0,
            "args": {"state": state_word(sample.state), "stack": stack}}),
        )
    });
    write_chrome(
        out,
        &format!("python {} (pid {pid})", report.python.version),
        pid,
        &tracks,
        recorder.slices().iter().copied(),
        truncated.into_iter().chain(marks),
    )
}

/// What an export past [`MAX_SLICES`](super::recorder::MAX_SLICES) says
/// (one line, for stderr and the file) and where it stops (ns since the
/// epoch); `None` when every slice was kept.
pub fn truncation_note(recorder: &Recorder) -> Option<(String, u64)> {
    let (dropped, Some(at_ns)) = recorder.slices_dropped() else {
        return None;
    };
    Some((
        format!(
            "export truncated: the first {} slices are kept, the {dropped} after {:.3} s are not",
            super::recorder::MAX_SLICES,
            at_ns as f64 / 1e9
        ),
        at_ns,
    ))
}

/// How a sample's GIL state reads in an export.
fn state_word(state: super::functions::GilState) -> &'static str {
    use super::functions::GilState;
    match state {
        GilState::Holding => "holding the GIL",
        GilState::Waiting => "waiting for the GIL",
        GilState::Blocked => "blocked, GIL released",
        GilState::Native => "native code, GIL released",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::gil::Timeline;
    use crate::trace::recorder::{Happening, MAX_SLICES, Stamped};

    fn report_of(recorder: &Recorder) -> TraceReport {
        let python = Interpreter {
            executable: "/usr/bin/python3".into(),
            library: None,
            version: "3.11.7".into(),
            probe_file: "/usr/bin/python3".into(),
            take_gil: vec![1],
            drop_gil: vec![2],
            gil_disabled: false,
            symbols: Some(SymbolSource::Symtab),
        };
        TraceReport::new(&[], 1, &python, recorder, 1, 0, TraceEnd::Detached)
    }

    /// The GIL-by-function table keeps its numbers in their columns when a
    /// label is longer than the header (a fixed 48 did not: a qualified
    /// method with its file pushed its row out), and cuts a label past
    /// `FUNCTION_COLUMN` with `…`.
    #[test]
    fn function_rows_keep_their_columns_however_long_the_label() {
        let recorder = Recorder::new(0, Arc::new(Timeline::default()), |_| "t".into());
        let mut report = report_of(&recorder);
        report.stacks.sampler.rate_hz = 100;
        let row = |function: &str, hold_ms: f64| FunctionReport {
            function: function.into(),
            file: "/usr/lib/python3.11/threading.py".into(),
            line: 1132,
            hold_ms,
            wait_ms: 2.0,
            released_ms: 289.6,
            samples: 3,
        };
        report.functions = vec![
            row("spin", 300.0),
            row("Thread._wait_for_tstate_lock", 1.5),
            row(&"x".repeat(200), 0.5),
        ];
        let text = report.render_functions();
        let lines: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("function"))
            .collect();
        assert_eq!(lines.len(), 4, "{text}");
        // Every row as wide as the header: the numbers end where theirs do.
        let width = |line: &str| line.chars().count();
        assert!(lines.iter().all(|l| width(l) == width(lines[0])), "{text}");
        assert!(lines[3].contains('…'), "{text}");
        assert_eq!(
            width(lines[0]),
            FUNCTION_COLUMN + 1 + 10 + 1 + 10 + 1 + 12 + 1 + 6
        );
    }

    /// The thread table keeps its columns with a name longer than 16
    /// (`ThreadPoolExecutor-0_0`), and cuts one past `NAME_COLUMN`.
    #[test]
    fn thread_rows_keep_their_columns_however_long_the_name() {
        let recorder = Recorder::new(0, Arc::new(Timeline::default()), |_| "t".into());
        let mut report = report_of(&recorder);
        let thread = |name: &str| ThreadReport {
            tid: 4242,
            name: name.into(),
            os_name: "python3.11".into(),
            hold_pct: 50.0,
            wait_pct: 40.0,
            released_pct: 10.0,
            native_pct: 1.0,
            takes: 12,
            hold_ms_p50: 5.0,
            hold_ms_p99: 5.5,
            wait_ms_p50: 5.0,
            wait_ms_p99: 9.0,
            wait_ms_max: 10.0,
            functions: Vec::new(),
        };
        report.threads = vec![
            thread("MainThread"),
            thread("ThreadPoolExecutor-0_0"),
            thread(&"y".repeat(100)),
        ];
        let text = report.render_table();
        let lines: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("tid"))
            .take(4)
            .collect();
        let width = |line: &str| line.chars().count();
        assert!(lines.iter().all(|l| width(l) == width(lines[0])), "{text}");
        assert!(lines[2].contains("ThreadPoolExecutor-0_0"), "{text}");
        assert!(lines[3].contains('…'), "{text}");
    }

    #[test]
    fn an_export_past_its_slice_limit_says_where_it_stops() {
        let mut recorder = Recorder::new(0, Arc::new(Timeline::default()), |_| "t".into());
        // One thread alternating wait and hold: a slice per change.
        let changes = MAX_SLICES as u64 + 10;
        for i in 0..=changes {
            let what = if i % 2 == 0 {
                Happening::TakeEntry
            } else {
                Happening::TakeReturn
            };
            recorder.apply(Stamped {
                time_ns: 1000 * (i + 1),
                tid: 7,
                what,
            });
        }
        assert_eq!(recorder.slices().len(), MAX_SLICES);
        assert_eq!(
            recorder.slices_dropped(),
            (10, Some(1000 * (MAX_SLICES as u64 + 1)))
        );
        let (note, _) = truncation_note(&recorder).expect("truncated");
        assert!(note.contains("1048576") && note.contains(" 10 "), "{note}");
        let mut out = Vec::new();
        chrome_trace(&report_of(&recorder), &recorder, &mut out).expect("written");
        let json: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        let events = json["traceEvents"].as_array().expect("events");
        let marks: Vec<_> = events
            .iter()
            .filter(|e| {
                e["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("export truncated"))
            })
            .collect();
        assert_eq!(marks.len(), 1, "the file says so once");
        assert_eq!(marks[0]["s"], "g");
    }

    #[test]
    fn an_export_within_its_limit_says_nothing() {
        let mut recorder = Recorder::new(0, Arc::new(Timeline::default()), |_| "t".into());
        for (time_ns, what) in [(1, Happening::TakeEntry), (2, Happening::TakeReturn)] {
            recorder.apply(Stamped {
                time_ns,
                tid: 7,
                what,
            });
        }
        assert_eq!(recorder.slices_dropped(), (0, None));
        assert!(truncation_note(&recorder).is_none());
    }
}
