//! `trace --check` and `attach --check`: what a trace would find and how
//! it would trace, without tracing.
//!
//! For `trace`, the program is started exactly as a trace starts it (as
//! the user behind `sudo`, stopped at every exec) and killed at the moment
//! it becomes Python, before it has run any Python. For `attach`, the
//! process is only read. Either way the same code decides as a real trace
//! does ([`launch::python_of`], [`attach::attach_plan`]), so the check
//! cannot say yes where the trace would say no.

use std::ffi::OsString;
use std::fmt::Write as _;

use super::launch::{self, RunAs};
use super::mode::{self, ModeWanted, SampledWhy, TraceMode};
use super::{Interpreter, TraceError, attach, uprobe};

/// What a check found: one screenful, and whether tracing would work.
#[derive(Debug)]
pub struct CheckReport {
    /// What was checked: the program's argv, or `pid N (argv)`.
    target: String,
    /// The interpreter found, when one was.
    python: Option<Interpreter>,
    /// How it would be traced, or why it could not be.
    mode: Result<TraceMode, TraceError>,
    /// The sampling rate a sampled trace would use.
    rate_hz: u32,
}

/// Checks `threadlab trace -- program` as `wanted` allows.
pub fn check_program(
    program: &[OsString],
    run_as: Option<&RunAs>,
    wanted: ModeWanted,
    rate_hz: u32,
) -> CheckReport {
    let target = program
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let mut report = CheckReport {
        target,
        python: None,
        mode: Err(TraceError::NoProgram),
        rate_hz,
    };
    match launch::python_of(program, run_as, wanted) {
        Err(error) => report.mode = Err(error),
        Ok((_, Ok(python))) => {
            report.mode = mode_for(&python, wanted);
            report.python = Some(python);
        }
        Ok((exe, Err(error))) => match mode::sampled_instead(&exe, &error) {
            // The lookup's account travels in `why` (NoGilSymbols).
            Some((python, why)) if wanted != ModeWanted::Exact => {
                report.python = Some(python);
                report.mode = Ok(TraceMode::Sampled(why));
            }
            _ => report.mode = Err(error),
        },
    }
    report
}

/// Checks `threadlab attach PID` as `wanted` allows.
pub fn check_pid(pid: u32, wanted: ModeWanted, rate_hz: u32) -> CheckReport {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv: Vec<String> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let target = if argv.is_empty() {
        format!("pid {pid}")
    } else {
        format!("pid {pid} ({})", argv.join(" "))
    };
    let mut report = CheckReport {
        target,
        python: None,
        mode: Err(TraceError::NoSuchProcess { pid }),
        rate_hz,
    };
    match attach::attach_plan(pid, wanted) {
        Ok((python, mode)) => {
            report.python = Some(python);
            report.mode = Ok(mode);
        }
        Err(error) => report.mode = Err(error),
    }
    report
}

/// The mode a launched trace of `python` would get: as
/// [`launch::how_to_trace`] decides, without opening the probes.
fn mode_for(python: &Interpreter, wanted: ModeWanted) -> Result<TraceMode, TraceError> {
    if python.gil_disabled {
        return Ok(TraceMode::Exact);
    }
    if wanted == ModeWanted::Sampled {
        return Ok(TraceMode::Sampled(SampledWhy::Asked));
    }
    match super::preflight() {
        Ok(()) => Ok(TraceMode::Exact),
        Err(error) => match mode::sampled_for_probe_error(&error) {
            Some(why) if wanted == ModeWanted::Auto => Ok(TraceMode::Sampled(why)),
            _ => Err(error),
        },
    }
}

impl CheckReport {
    /// True when tracing would work (exact or sampled): exit code 0.
    pub fn works(&self) -> bool {
        self.mode.is_ok()
    }

    /// The one line saying why tracing would not work, if it would not.
    pub fn problem(&self) -> Option<String> {
        self.mode.as_ref().err().map(ToString::to_string)
    }

    /// The screenful: what would be traced and how, then the verdict.
    pub fn render(&self) -> String {
        let mut out = format!("threadlab check: {}\n", self.target);
        let mut line = |label: &str, text: &str| {
            let _ = writeln!(out, "  {label:<13}{text}");
        };
        if let Some(python) = &self.python {
            line(
                "interpreter",
                &format!(
                    "CPython {} · {}",
                    python.version,
                    python.executable.display()
                ),
            );
            if let Some(library) = &python.library {
                line("library", &library.display().to_string());
            }
            line("symbols", &self.symbols_line(python));
        }
        line("uprobes", &uprobes_line());
        line("ptrace", &ptrace_line());
        match &self.mode {
            Ok(mode) => line("mode", &self.mode_line(mode)),
            Err(_) => line("mode", "none: it cannot be traced (below)"),
        }
        match &self.mode {
            Ok(TraceMode::Exact) => out.push_str("ok: tracing would work, exactly\n"),
            Ok(TraceMode::Sampled(_)) => out.push_str("ok: tracing would work, sampled\n"),
            Err(error) => {
                let _ = writeln!(out, "no: {error}");
            }
        }
        out
    }

    fn symbols_line(&self, python: &Interpreter) -> String {
        if python.gil_disabled {
            return "not needed: a free-threaded build has no GIL to probe".into();
        }
        if let Some(source) = python.symbols {
            return format!(
                "{source}: take_gil at {}, drop_gil at {} in {}",
                offsets(&python.take_gil),
                offsets(&python.drop_gil),
                file_name(python.library.as_ref().unwrap_or(&python.executable))
            );
        }
        match &self.mode {
            Ok(TraceMode::Sampled(SampledWhy::NoGilSymbols { account, .. })) => {
                format!("none: {account}")
            }
            Ok(TraceMode::Sampled(SampledWhy::Python2 { .. })) => {
                "none: Python 2 has no take_gil".into()
            }
            _ => "not looked for (sampled)".into(),
        }
    }

    fn mode_line(&self, mode: &TraceMode) -> String {
        match mode {
            TraceMode::Exact if self.python.as_ref().is_some_and(|p| p.gil_disabled) => {
                "GIL disabled: thread states only, no probes".into()
            }
            TraceMode::Exact => {
                "exact: every GIL hand-over, from uprobes on take_gil/drop_gil".into()
            }
            TraceMode::Sampled(why) => format!(
                "sampled: the GIL holder read {} times a second ({})",
                self.rate_hz,
                why.short()
            ),
        }
    }
}

fn offsets(list: &[u64]) -> String {
    list.iter()
        .map(|o| format!("{o:#x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn uprobes_line() -> String {
    let pmu = if uprobe::uprobes_available() {
        "the kernel has them"
    } else {
        "this kernel has none (it needs CONFIG_UPROBE_EVENTS)"
    };
    let who = if super::permitted() {
        "this user may open them"
    } else {
        "this user may not open them (root, CAP_PERFMON or CAP_SYS_ADMIN)"
    };
    format!("{pmu}; {who}")
}

fn ptrace_line() -> String {
    let root = super::permitted_to_read_all();
    match (mode::ptrace_scope(), root) {
        (_, true) => "may read any process (root or CAP_SYS_PTRACE)".into(),
        (Some(0), false) => "kernel.yama.ptrace_scope = 0: may read this user's processes".into(),
        (Some(n), false) => format!(
            "kernel.yama.ptrace_scope = {n}: may read its own child processes only (attach needs sudo)"
        ),
        (None, false) => "no Yama: may read this user's processes".into(),
    }
}
