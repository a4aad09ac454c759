//! Deciding an attach: which interpreter process `pid` runs, and whether
//! it can be traced exactly here or only sampled — shared by
//! [`Trace::attach_as`](super::Trace::attach_as) and `attach --check`, so
//! the check cannot disagree with the trace.

use super::mode::{self, ModeWanted, SampledWhy, TraceMode};
use super::{Interpreter, TraceError, interp, procfs};

/// What attaching to `pid` as `wanted` allows would trace: its
/// interpreter and the mode (exact only if the probes may open here),
/// after checking that a sampled trace may read the process. Shared by
/// [`Trace::attach_as`] and `attach --check`.
pub(crate) fn attach_plan(
    pid: u32,
    wanted: ModeWanted,
) -> Result<(Interpreter, TraceMode), TraceError> {
    if !procfs::process_alive(pid) {
        return Err(TraceError::NoSuchProcess { pid });
    }
    let exe = procfs::exe(pid).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => TraceError::NoSuchProcess { pid },
        std::io::ErrorKind::PermissionDenied if wanted != ModeWanted::Exact => {
            TraceError::not_readable(pid)
        }
        std::io::ErrorKind::PermissionDenied => TraceError::NotPermitted,
        _ => TraceError::Read {
            path: format!("/proc/{pid}/exe").into(),
            source,
        },
    })?;
    let gone = |_| TraceError::ExitedWhileAttaching { pid };
    let maps = procfs::mapped_executables(pid).map_err(gone)?;
    let read_path = std::path::PathBuf::from(format!("/proc/{pid}/exe"));
    let resolve = |name: &str, _: &[std::path::PathBuf], _: bool| {
        maps.iter()
            .find(|p| p.file_name().is_some_and(|f| f == name))
            .cloned()
    };
    let (python, mode) = match interp::classify(&exe, &read_path, &resolve) {
        Ok(Some(python)) => {
            let mode = attach_mode(&python, wanted);
            (python, mode)
        }
        Ok(None) => return Err(TraceError::NotPython { pid, exe }),
        Err(TraceError::Read { .. }) if !procfs::process_alive(pid) => {
            return Err(TraceError::ExitedWhileAttaching { pid });
        }
        Err(error) if wanted == ModeWanted::Exact => return Err(error),
        Err(error) => match mode::sampled_instead(&exe, &error) {
            Some((python, why)) => (python, TraceMode::Sampled(why)),
            None => return Err(error),
        },
    };
    if mode.is_sampled() && !mode::may_read(pid) {
        return Err(TraceError::not_readable(pid));
    }
    Ok((python, mode))
}

/// The mode for attaching to `python` as `wanted` allows: exact when the
/// probes can open here, else sampled (the probes themselves open later).
fn attach_mode(python: &Interpreter, wanted: ModeWanted) -> TraceMode {
    if python.gil_disabled {
        return TraceMode::Exact;
    }
    match wanted {
        ModeWanted::Sampled => TraceMode::Sampled(SampledWhy::Asked),
        ModeWanted::Exact => TraceMode::Exact,
        ModeWanted::Auto => match super::preflight() {
            Ok(()) => TraceMode::Exact,
            Err(error) => {
                mode::sampled_for_probe_error(&error).map_or(TraceMode::Exact, TraceMode::Sampled)
            }
        },
    }
}
