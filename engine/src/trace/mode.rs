//! Exact or sampled: how a trace knows who holds the GIL.
//!
//! Exact tracing puts uprobes on `take_gil`/`drop_gil`: every hand-over,
//! to the nanosecond, but only as root (or with `CAP_PERFMON`), on a kernel
//! with the uprobe PMU, and on an interpreter whose symbols name those
//! functions. Without any of these, a trace is *sampled* instead
//! ([`TraceMode::Sampled`]): `rate` times a second the interpreter's own
//! record of the GIL holder is read from its memory (py-spy's `owns_gil`),
//! which works on one's own processes without root, on stripped builds and
//! on Python 2. [`SampledWhy`] says why, in the header and in `--json`.

use std::path::{Path, PathBuf};

use super::TraceError;
use super::interp::{self, Interpreter};

/// The GIL sampling rate when sampled mode is needed but `--rate 0` asked
/// for no stacks: the holder still has to be read.
pub const SAMPLED_DEFAULT_HZ: u32 = 100;

/// Which mode a trace may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeWanted {
    /// Exact or nothing (`compare --trace`: its figures are exact ones).
    Exact,
    /// Exact when possible, else sampled (`trace`, `attach`).
    Auto,
    /// Sampled even where exact would work (`--sampled`).
    Sampled,
}

/// How a trace reads the GIL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceMode {
    /// Probes on `take_gil`/`drop_gil`: every hand-over.
    Exact,
    /// The interpreter's GIL holder read `rate` times a second.
    Sampled(SampledWhy),
}

/// Why a trace is sampled rather than exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampledWhy {
    /// Not root (no `CAP_SYS_ADMIN`/`CAP_PERFMON`): no uprobes.
    NotPermitted,
    /// The kernel has no uprobe PMU.
    NoUprobes,
    /// Python 2: its GIL is a plain lock, there is no `take_gil`.
    Python2 {
        /// e.g. `2.7`.
        version: String,
    },
    /// The interpreter's symbols do not name `take_gil`/`drop_gil`
    /// (stripped, or inlined by the compiler).
    NoGilSymbols {
        /// The file without them.
        file: PathBuf,
        /// The symbol lookup's own account: each way tried and why it
        /// found nothing, and what would help (the refusal it replaces).
        account: String,
    },
    /// `--sampled` asked for it.
    Asked,
}

impl TraceMode {
    /// `"exact"` or `"sampled"`, as `--json` says it.
    pub fn name(&self) -> &'static str {
        match self {
            TraceMode::Exact => "exact",
            TraceMode::Sampled(_) => "sampled",
        }
    }

    /// True when sampled.
    pub fn is_sampled(&self) -> bool {
        matches!(self, TraceMode::Sampled(_))
    }

    /// What the header says about the GIL: `real GIL`, or
    /// `sampled GIL · run with sudo for exact`.
    pub fn label(&self) -> String {
        match self {
            TraceMode::Exact => "real GIL".to_string(),
            TraceMode::Sampled(why) => format!("sampled GIL · {}", why.short()),
        }
    }
}

impl SampledWhy {
    /// A word for `--json` (`"sampled_because"`).
    pub fn key(&self) -> &'static str {
        match self {
            SampledWhy::NotPermitted => "not_root",
            SampledWhy::NoUprobes => "no_uprobes",
            SampledWhy::Python2 { .. } => "python2",
            SampledWhy::NoGilSymbols { .. } => "no_gil_symbols",
            SampledWhy::Asked => "asked",
        }
    }

    /// The header's few words: what would make it exact, or why it cannot.
    pub fn short(&self) -> String {
        match self {
            SampledWhy::NotPermitted => "run with sudo for exact".to_string(),
            SampledWhy::NoUprobes => "no uprobes in this kernel".to_string(),
            SampledWhy::Python2 { version } => format!("Python {version} has no take_gil"),
            SampledWhy::NoGilSymbols { file, .. } => {
                format!("no take_gil symbol in {}", file_name(file))
            }
            SampledWhy::Asked => "--sampled".to_string(),
        }
    }

    /// The one line printed to stderr as a sampled trace starts.
    pub fn note(&self, rate_hz: u32) -> String {
        let why = match self {
            SampledWhy::NotPermitted => {
                "exact tracing needs root for its uprobes (or CAP_PERFMON); run with sudo for exact"
                    .to_string()
            }
            SampledWhy::NoUprobes => {
                "this kernel has no uprobe PMU for exact tracing (it needs CONFIG_UPROBE_EVENTS)"
                    .to_string()
            }
            SampledWhy::Python2 { version } => {
                format!("Python {version}'s GIL is a plain lock with no take_gil to probe")
            }
            SampledWhy::NoGilSymbols { account, .. } => {
                format!("{account}; sampled instead of exact")
            }
            SampledWhy::Asked => "--sampled asked for it".to_string(),
        };
        format!("sampled GIL: reading the GIL holder {rate_hz} times a second: {why}")
    }
}

fn file_name(file: &Path) -> String {
    file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// For an interpreter `classify` refused because it has no GIL functions
/// to probe (Python 2, stripped, inlined): the interpreter, to be traced
/// sampled, and why. `None` for every other error.
pub(crate) fn sampled_instead(exe: &Path, error: &TraceError) -> Option<(Interpreter, SampledWhy)> {
    let (file, why) = match error {
        TraceError::Python2 { file } => {
            let version = interp::version_hint(file)
                .or_else(|| interp::version_hint(exe))
                .unwrap_or_else(|| "2".to_string());
            (file, SampledWhy::Python2 { version })
        }
        TraceError::NoSymbolTable { file, .. } | TraceError::NoGilSymbols { file, .. } => {
            let why = SampledWhy::NoGilSymbols {
                file: file.clone(),
                account: error.to_string(),
            };
            (file, why)
        }
        _ => return None,
    };
    let library = (file != exe).then(|| file.clone());
    let version = interp::version_hint(file)
        .or_else(|| interp::version_hint(exe))
        .unwrap_or_else(|| "3.?".to_string());
    Some((
        Interpreter {
            executable: exe.to_path_buf(),
            library,
            version,
            probe_file: file.clone(),
            take_gil: Vec::new(),
            drop_gil: Vec::new(),
            gil_disabled: false,
            symbols: None,
        },
        why,
    ))
}

/// For an interpreter that has the probes' symbols but whose probes cannot
/// open here (no root, no uprobes): why it is sampled; `None` for errors
/// sampling would not get around.
pub(crate) fn sampled_for_probe_error(error: &TraceError) -> Option<SampledWhy> {
    match error {
        TraceError::NotPermitted => Some(SampledWhy::NotPermitted),
        TraceError::NoUprobes => Some(SampledWhy::NoUprobes),
        TraceError::Probe(io) if matches!(io.raw_os_error(), Some(libc::EPERM | libc::EACCES)) => {
            Some(SampledWhy::NotPermitted)
        }
        _ => None,
    }
}

/// `kernel.yama.ptrace_scope`, if this kernel has Yama.
pub fn ptrace_scope() -> Option<u8> {
    std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether this process may read process `pid`'s memory (what sampling
/// needs): opening `/proc/PID/mem` asks the kernel the same ptrace-attach
/// question `process_vm_readv` does.
pub(crate) fn may_read(pid: u32) -> bool {
    match std::fs::File::open(format!("/proc/{pid}/mem")) {
        Ok(_) => true,
        Err(error) => !matches!(error.raw_os_error(), Some(libc::EPERM | libc::EACCES)),
    }
}
