//! The real-GIL tracer: watch a running CPython take and drop its GIL.
//!
//! [`Trace::launch`] starts a program (following a launcher such as pyenv's
//! shim until it becomes Python), [`Trace::attach`] joins a running one.
//! Either way uprobes on `take_gil`/`drop_gil` ([`uprobe`]) report every
//! hand-over with a timestamp; one engine thread reads them, samples the
//! scheduler state of threads that released the GIL, and writes the same
//! [`Timeline`](crate::gil::Timeline) and [`ThreadStats`](crate::gil::ThreadStats)
//! the emulation writes ([`recorder`]). [`TraceReport`] sums it up (JSON, a
//! table) and exports Chrome trace JSON.
//!
//! Needs root (or `CAP_SYS_ADMIN`/`CAP_PERFMON`) for the probes only; the
//! traced program runs as the user behind `sudo`.

pub(crate) mod attach;
pub mod check;
pub mod console;
pub mod flame;
pub mod functions;
pub(crate) mod interp;
pub(crate) mod launch;
pub mod live;
pub mod mode;
pub mod process;
pub(crate) mod procfs;
pub mod python_threads;
pub mod recorder;
mod report;
pub mod sampled;
pub mod sampler;
mod session;
pub mod stacks;
pub mod symbols;
pub(crate) mod uprobe;

pub use interp::Interpreter;
pub use launch::{ProgramOutput, RunAs, give_to_sudo_user};
pub use mode::{ModeWanted, SampledWhy, TraceMode};
pub use report::{ThreadReport, TraceReport, Track, chrome_trace, truncation_note, write_chrome};
pub use session::Trace;
pub use symbols::SymbolSource;

use std::path::PathBuf;
use std::process::ExitStatus;

/// Why a trace could not start. Each message is one line saying what was
/// wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// No permission to open uprobes.
    #[error(
        "tracing needs root: uprobes can only be opened by root or with CAP_SYS_ADMIN/CAP_PERFMON; run it with sudo"
    )]
    NotPermitted,
    /// The kernel has no uprobe PMU.
    #[error(
        "this kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe): it needs CONFIG_UPROBE_EVENTS"
    )]
    NoUprobes,
    /// A stripped interpreter whose `take_gil` no other way found.
    #[error(
        "{file} has no symbol table (stripped) and take_gil was found no other way ({tried}): {hint}"
    )]
    NoSymbolTable {
        /// The stripped file.
        file: PathBuf,
        /// Each way tried and why it found nothing (`symbols::find`).
        tried: String,
        /// What would help (`symbols::hint::debug_symbols_hint`).
        hint: String,
    },
    /// `take_gil`/`drop_gil` absent (inlined by the compiler).
    #[error(
        "{file} has a symbol table but no take_gil/drop_gil (inlined by the compiler?): use a build that keeps them — pyenv's, python.org's or uv's"
    )]
    NoGilSymbols {
        /// The interpreter file.
        file: PathBuf,
    },
    /// Python 2 has no `take_gil`.
    #[error(
        "{file} is Python 2, whose GIL is a plain lock without take_gil: `threadlab compare` covers 2.7; trace needs Python 3.2 or later"
    )]
    Python2 {
        /// The interpreter file.
        file: PathBuf,
    },
    /// The shared library the interpreter needs could not be found.
    #[error("{exe} needs {library}, which was not found on its library path")]
    LibraryNotFound {
        /// The executable.
        exe: PathBuf,
        /// The missing library.
        library: String,
    },
    /// The program mapped another libpython than the one found for it.
    #[error(
        "the program loaded {mapped}, not {probed} where the probes would go; nothing was traced and the program was stopped: make both the same (LD_LIBRARY_PATH, LD_PRELOAD)"
    )]
    LibraryMismatch {
        /// The library found by the loader's search order, to be probed.
        probed: PathBuf,
        /// The libpython the program actually mapped.
        mapped: PathBuf,
    },
    /// No process with that id.
    #[error("no process with pid {pid}")]
    NoSuchProcess {
        /// The pid asked for.
        pid: u32,
    },
    /// The process's memory may not be read (sampling needs it).
    #[error("cannot read process {pid}: {why}")]
    NotReadable {
        /// The pid.
        pid: u32,
        /// Whose it is and what would allow it.
        why: String,
    },
    /// The process is not running Python.
    #[error(
        "pid {pid} ({exe}) is not a Python process: no libpython or python binary with take_gil is mapped"
    )]
    NotPython {
        /// The pid.
        pid: u32,
        /// Its executable.
        exe: PathBuf,
    },
    /// The process exited while the probes were being set up.
    #[error("pid {pid} exited while attaching")]
    ExitedWhileAttaching {
        /// The pid.
        pid: u32,
    },
    /// The launched program ended without ever running Python.
    #[error(
        "the program ended ({status}) without running a Python interpreter; trace needs `-- python3 script.py`"
    )]
    NeverPython {
        /// How it ended.
        status: ExitStatus,
    },
    /// No program given.
    #[error("no program given: use `threadlab trace -- python3 script.py`")]
    NoProgram,
    /// The program could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// argv[0].
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// `SUDO_UID`/`SUDO_GID` unreadable.
    #[error("{var}={value} is not a number; unset it or run through sudo")]
    BadSudoId {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// `SUDO_UID` names no known user and `SUDO_GID` is unset.
    #[error(
        "SUDO_UID={uid} is no user in the passwd database and SUDO_GID is unset: set SUDO_GID to the group the program should run in"
    )]
    SudoGroupUnknown {
        /// The uid.
        uid: u32,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// perf_event_open, mmap or an ioctl failed.
    #[error("cannot set up the uprobes: {0}")]
    Probe(std::io::Error),
}

impl TraceError {
    /// Process `pid` may not be read by this user: what would allow it.
    pub(crate) fn not_readable(pid: u32) -> TraceError {
        let why = match mode::ptrace_scope() {
            Some(scope) => format!(
                "it runs as another user, or is not threadlab's child while kernel.yama.ptrace_scope is {scope}: run with sudo, set kernel.yama.ptrace_scope to 0, or give threadlab CAP_SYS_PTRACE"
            ),
            None => "it runs as another user (kernel.yama.ptrace_scope does not apply: no Yama here): run with sudo, or give threadlab CAP_SYS_PTRACE".to_string(),
        };
        TraceError::NotReadable { pid, why }
    }

    /// True for errors in what the user asked (exit code 2), false for the
    /// machinery failing (exit code 1).
    pub fn is_usage(&self) -> bool {
        !matches!(self, TraceError::Probe(_))
    }
}

/// Whether this process may open uprobes: root, or `CAP_SYS_ADMIN` or
/// `CAP_PERFMON` in its effective set. Checked before starting anything.
/// How a trace ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceEnd {
    /// The traced program exited this way.
    Exited(ExitStatus),
    /// The attached program exited (its status belongs to its parent).
    Gone,
    /// threadlab detached (or was stopped) with the program still running.
    Detached,
}

/// Whether probes can be opened here: the kernel has the uprobe PMU and
/// this process the privilege. Checked where probes open (`launch`,
/// `Trace::attach`), below both so neither imports the other for it.
pub(crate) fn preflight() -> Result<(), TraceError> {
    if !uprobe::uprobes_available() {
        return Err(TraceError::NoUprobes);
    }
    if !permitted() {
        return Err(TraceError::NotPermitted);
    }
    Ok(())
}

pub(crate) fn permitted() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let caps = effective_caps();
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_PERFMON: u32 = 38;
    caps & (1 << CAP_SYS_ADMIN | 1 << CAP_PERFMON) != 0
}

/// Whether this process may read any process's memory: root, or
/// `CAP_SYS_PTRACE` in its effective set (Yama's scope then does not bind).
pub(crate) fn permitted_to_read_all() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    const CAP_SYS_PTRACE: u32 = 19;
    effective_caps() & (1 << CAP_SYS_PTRACE) != 0
}

/// This process's effective capability set (`CapEff` in its status).
fn effective_caps() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0)
}

/// `CLOCK_MONOTONIC` now, in nanoseconds: the clock the probes stamp with.
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-parameter.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
