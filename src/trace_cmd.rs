//! `threadlab trace` and `threadlab attach`, headless: run or join a Python
//! program, trace its GIL until it ends (or Ctrl-C), then print a summary
//! table, one JSON document (`--json`) and/or write a Chrome trace
//! (`--export`).
//!
//! Exit codes: 0 when the trace worked (the program's own code is in the
//! summary), 2 for anything the user can fix (one line on stderr), 1 when
//! the machinery failed.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::process::{ExitCode, ExitStatus};
use std::time::Duration;

use crossbeam_channel::{Receiver, after, bounded, select};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use threadlab::cli::{AttachArgs, TraceArgs};
use threadlab::trace::process::{self, StopSignal};
use threadlab::trace::{ProgramOutput, RunAs, Trace, TraceEnd, TraceError, chrome_trace};

/// How long the program gets after each of SIGINT and SIGTERM before the next.
const GRACE: Duration = Duration::from_secs(2);

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "threadlab: {message}");
    ExitCode::from(code)
}

fn trace_failed(error: &TraceError) -> ExitCode {
    fail(if error.is_usage() { 2 } else { 1 }, error)
}

/// An export file, created before tracing starts (so a bad path is refused
/// at once) and removed again if the trace fails.
struct Export {
    path: std::path::PathBuf,
    file: Option<File>,
}

impl Export {
    fn create(path: Option<&Path>) -> Result<Option<Export>, ExitCode> {
        let Some(path) = path else { return Ok(None) };
        match File::create(path) {
            Ok(file) => Ok(Some(Export {
                path: path.to_path_buf(),
                file: Some(file),
            })),
            Err(error) => Err(fail(
                2,
                format!("cannot write the export file {}: {error}", path.display()),
            )),
        }
    }
}

impl Drop for Export {
    fn drop(&mut self) {
        // Still holding the file: never written, so leave nothing behind.
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP as a channel (registered before anything starts).
fn signal_channel() -> Result<Receiver<i32>, ExitCode> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| fail(1, format!("cannot handle signals: {e}")))?;
    let (tx, rx) = bounded(4);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if tx.send(signal).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| fail(1, format!("cannot start the signal thread: {e}")))?;
    Ok(rx)
}

/// `threadlab trace [--json] [--export FILE] [--as-root] -- PROGRAM ARGS...`
pub fn trace(args: &TraceArgs) -> ExitCode {
    let run_as = if args.as_root {
        None
    } else {
        match RunAs::from_sudo() {
            Ok(run_as) => run_as,
            Err(error) => return trace_failed(&error),
        }
    };
    let export = match Export::create(args.export.as_deref()) {
        Ok(export) => export,
        Err(code) => return code,
    };
    let signals = match signal_channel() {
        Ok(rx) => rx,
        Err(code) => return code,
    };
    let output = if args.json {
        ProgramOutput::ToStderr
    } else {
        ProgramOutput::Inherit
    };
    let mut trace = match Trace::launch(&args.program, run_as.as_ref(), output) {
        Ok(trace) => trace,
        Err(error) => return trace_failed(&error),
    };
    let pid = trace.pid();
    let Some(mut child) = trace.take_child() else {
        return fail(1, "the launched program has no child handle");
    };
    let (exit_tx, exited) = bounded::<ExitStatus>(1);
    let waiter = std::thread::Builder::new()
        .name("program-wait".into())
        .spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(status);
            }
        });
    if let Err(error) = waiter {
        return fail(1, format!("cannot start the waiter thread: {error}"));
    }
    let status = select! {
        recv(exited) -> status => status.ok(),
        recv(signals) -> _ => stop_program(pid, &exited),
    };
    let end = status.map_or(TraceEnd::Gone, TraceEnd::Exited);
    finish(trace, end, args.json, export)
}

/// SIGINT, then SIGTERM, then SIGKILL, each after [`GRACE`], until it exits.
fn stop_program(pid: u32, exited: &Receiver<ExitStatus>) -> Option<ExitStatus> {
    // Our own child, not reaped until the waiter sees it exit: the pid
    // cannot name another process meanwhile.
    for signal in [StopSignal::Interrupt, StopSignal::Terminate] {
        process::send(pid, signal);
        select! {
            recv(exited) -> status => return status.ok(),
            recv(after(GRACE)) -> _ => {}
        }
    }
    process::send(pid, StopSignal::Kill);
    exited.recv().ok()
}

/// `threadlab attach PID [--json] [--export FILE]`
pub fn attach(args: &AttachArgs) -> ExitCode {
    let export = match Export::create(args.export.as_deref()) {
        Ok(export) => export,
        Err(code) => return code,
    };
    let signals = match signal_channel() {
        Ok(rx) => rx,
        Err(code) => return code,
    };
    let trace = match Trace::attach(args.pid) {
        Ok(trace) => trace,
        Err(error) => return trace_failed(&error),
    };
    let gone = exit_watch(args.pid);
    let end = select! {
        recv(gone) -> _ => TraceEnd::Gone,
        recv(signals) -> _ => TraceEnd::Detached,
    };
    finish(trace, end, args.json, export)
}

/// A channel that gets a message when process `pid` (not our child) ends.
fn exit_watch(pid: u32) -> Receiver<()> {
    let (tx, rx) = bounded(1);
    let _ = std::thread::Builder::new()
        .name("program-watch".into())
        .spawn(move || {
            process::wait_gone(pid);
            let _ = tx.send(());
        });
    rx
}

fn finish(trace: Trace, end: TraceEnd, json: bool, export: Option<Export>) -> ExitCode {
    let (report, recorder) = trace.finish(end);
    if let Some(mut export) = export {
        let file = export.file.take().expect("export file held until written");
        let recorder = recorder
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let written = chrome_trace(&report, &recorder, &mut BufWriter::new(file));
        if let Err(error) = written {
            let _ = std::fs::remove_file(&export.path);
            return fail(
                1,
                format!("cannot write {}: {error}", export.path.display()),
            );
        }
        if !json {
            let _ = writeln!(
                std::io::stderr(),
                "threadlab: wrote {} ({} slices); open it in Perfetto",
                export.path.display(),
                recorder.slices().len()
            );
        }
    }
    let mut stdout = std::io::stdout().lock();
    let printed = if json {
        match serde_json::to_string(&report) {
            Ok(text) => writeln!(stdout, "{text}"),
            Err(error) => return fail(1, error),
        }
    } else {
        write!(stdout, "{}", report.render_table())
    };
    let _ = printed.and_then(|()| stdout.flush());
    ExitCode::SUCCESS
}
