//! `threadlab trace` and `threadlab attach`: run or join a Python program
//! and trace its GIL until it ends (or Ctrl-C / `q`). On a terminal the
//! dashboard shows it live and stays on the final picture; otherwise (or
//! after the dashboard) a summary table is printed. `--json` prints one JSON
//! document instead, `--export` writes a Chrome trace.
//!
//! Exit codes: 0 when the trace worked (the program's own code is in the
//! summary), 2 for anything the user can fix (one line on stderr), 1 when
//! the machinery failed.

use std::fs::File;
use std::io::{BufWriter, IsTerminal as _, Read, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crossbeam_channel::{Receiver, after, bounded, select};
use signal_hook::consts::SIGINT;

use threadlab::cli::{AttachArgs, RunArgs, StackArgs, TraceArgs};
use threadlab::config::Config;
use threadlab::stop_signals::{self, SignalFeed, fail};
use threadlab::trace::check::{CheckReport, check_pid, check_program};
use threadlab::trace::console::ConsoleLog;
use threadlab::trace::flame;
use threadlab::trace::mode::SAMPLED_DEFAULT_HZ;
use threadlab::trace::process::{self, StopSignal};
use threadlab::trace::recorder::Recorder;
use threadlab::trace::sampler::StackOptions;
use threadlab::trace::{
    ModeWanted, ProgramOutput, RunAs, Trace, TraceEnd, TraceError, TraceMode, TraceReport,
    chrome_trace, truncation_note,
};
use threadlab::ui::UiOptions;
use threadlab::ui::theme::Theme;
use threadlab::ui::trace::{self, TraceClosed, TraceRun};

/// How long the program gets after each of SIGINT and SIGTERM before the next.
const GRACE: Duration = Duration::from_secs(2);

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
        let made = !path.exists();
        match File::create(path) {
            Ok(file) => Ok(Some({
                // Under sudo, a file made for the user is theirs, not
                // root's (one that was there keeps its owner).
                if made {
                    threadlab::trace::give_to_sudo_user(path);
                }
                Export {
                    path: path.to_path_buf(),
                    file: Some(file),
                }
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

/// SIGINT, SIGTERM and SIGHUP as a channel (registered before anything
/// starts), from the one signal thread every command uses.
fn signal_channel() -> Result<SignalFeed, ExitCode> {
    let signals =
        stop_signals::catch().map_err(|e| fail(1, format!("cannot handle signals: {e}")))?;
    stop_signals::forward(signals, |_| {})
        .map_err(|e| fail(1, format!("cannot start the signal thread: {e}")))
}

/// The dashboard's options, when stdout is a terminal and no `--json`, from
/// the command line over `config` (read once, by `main`).
fn dashboard_options(json: bool, run: &RunArgs, config: &Config) -> Option<UiOptions> {
    if json || !std::io::stdout().is_terminal() {
        return None;
    }
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    Some(UiOptions {
        fps: run.fps.unwrap_or(config.fps),
        fault_ui_panic: false,
        theme: Theme::resolve(run.theme.unwrap_or(config.theme), no_color),
        mouse: false,
        keys: config.keys.clone(),
        // The traced program's own GIL is real: no modelled UI cost.
        ..UiOptions::default()
    })
}

/// What `trace` and `attach` both set up before the probes: the dashboard's
/// options (none headless), the export file, and the signal channel.
type Prepared = (Option<UiOptions>, Option<Export>, SignalFeed);

fn prepare(
    json: bool,
    export: Option<&Path>,
    stacks: &StackArgs,
    run: &RunArgs,
    config: &Config,
) -> Result<Prepared, ExitCode> {
    if stacks.sampled && stacks.rate == 0 {
        return Err(fail(
            2,
            "--sampled reads the GIL holder --rate times a second: give a --rate from 1 to 1000 (or leave it out)",
        ));
    }
    if let Some(dir) = &stacks.flamegraph {
        if stacks.rate == 0 {
            return Err(fail(
                2,
                "--flamegraph needs stack samples: give a --rate from 1 to 1000 (or leave it out)",
            ));
        }
        flame::check_dir(dir).map_err(|why| fail(2, why))?;
    }
    Ok((
        dashboard_options(json, run, config),
        Export::create(export)?,
        signal_channel()?,
    ))
}

/// The sampler's options from the command line.
fn stack_options(stacks: &StackArgs) -> StackOptions {
    StackOptions {
        rate_hz: stacks.rate,
        blocking: stacks.blocking,
    }
}

/// `trace --check`: what tracing `args.program` would do, without tracing.
fn check_trace(args: &TraceArgs, run_as: Option<&RunAs>) -> ExitCode {
    if args.program.is_empty() {
        return trace_failed(&TraceError::NoProgram);
    }
    let wanted = mode_wanted(&args.stacks);
    let rate = sampled_rate(&args.stacks);
    checked(check_program(&args.program, run_as, wanted, rate))
}

/// `--check`'s screenful on stdout; when tracing would not work, the
/// reason also on stderr and exit code 2.
fn checked(report: CheckReport) -> ExitCode {
    print!("{}", report.render());
    match report.problem() {
        None => ExitCode::SUCCESS,
        Some(problem) => fail(2, &problem),
    }
}

/// The rate a sampled trace reads the GIL holder at: `--rate`, or the
/// default when `--rate 0` turned stacks off.
fn sampled_rate(stacks: &StackArgs) -> u32 {
    if stacks.rate == 0 {
        SAMPLED_DEFAULT_HZ
    } else {
        stacks.rate
    }
}

/// Exact when possible (or sampled, with `--sampled`).
fn mode_wanted(stacks: &StackArgs) -> ModeWanted {
    if stacks.sampled {
        ModeWanted::Sampled
    } else {
        ModeWanted::Auto
    }
}

/// Starts the stack (and, sampled, GIL) sampler; a sampled trace says why
/// in one line on stderr — not an error, the trace goes on.
fn start_sampling(trace: &mut Trace, stacks: &StackArgs) {
    trace.sample_stacks(stack_options(stacks));
    if let TraceMode::Sampled(why) = trace.mode() {
        let rate = trace.sampler_status().rate_hz;
        let _ = writeln!(std::io::stderr(), "threadlab: {}", why.note(rate));
    }
}

/// What to write once the trace is over.
struct Outputs<'a> {
    json: bool,
    export: Option<Export>,
    flamegraph: Option<&'a Path>,
    program: String,
}

/// `threadlab trace [--json] [--export FILE] [--as-root] -- PROGRAM ARGS...`
pub fn trace(args: &TraceArgs, run: &RunArgs, config: &Config) -> ExitCode {
    let run_as = if args.as_root {
        None
    } else {
        match RunAs::from_sudo() {
            Ok(run_as) => run_as,
            Err(error) => return trace_failed(&error),
        }
    };
    if args.check {
        return check_trace(args, run_as.as_ref());
    }
    let (dashboard, export, signals) =
        match prepare(args.json, args.export.as_deref(), &args.stacks, run, config) {
            Ok(prepared) => prepared,
            Err(code) => return code,
        };
    let output = if args.json {
        ProgramOutput::ToStderr
    } else if dashboard.is_some() {
        ProgramOutput::Piped
    } else {
        ProgramOutput::Inherit
    };
    let wanted = mode_wanted(&args.stacks);
    let mut trace = match Trace::launch_as(&args.program, run_as.as_ref(), output, wanted) {
        Ok(trace) => trace,
        Err(error) => return trace_failed(&error),
    };
    start_sampling(&mut trace, &args.stacks);
    let pid = trace.pid();
    let Some(mut child) = trace.take_child() else {
        return fail(1, "the launched program has no child handle");
    };
    let console = dashboard.is_some().then(|| capture_output(&mut child));
    let ended = match wait_for_exit(child) {
        Ok(ended) => ended,
        Err(code) => return code,
    };
    let recorder = trace.shared_recorder();
    let mut stopped_by = None;
    let report = if let Some(options) = dashboard {
        let run = TraceRun {
            trace,
            console,
            ended: ended.clone(),
            attached: false,
        };
        match trace::run(run, &options, signals.receiver()) {
            Ok(TraceClosed::Finished(report)) => report,
            // q while it runs: stop it, as Ctrl-C would.
            Ok(TraceClosed::Quit(trace)) => trace.finish(stop_program(pid, &ended)).0,
            Err(error) => return fail(1, error),
        }
    } else {
        let end = select! {
            recv(ended) -> end => end.unwrap_or(TraceEnd::Gone),
            recv(signals.receiver()) -> signal => {
                stopped_by = signal.ok();
                stop_program(pid, &ended)
            }
        };
        trace.finish(end).0
    };
    let program = args.program.iter().map(|a| a.to_string_lossy());
    let outputs = Outputs {
        json: args.json,
        export,
        flamegraph: args.stacks.flamegraph.as_deref(),
        program: program.collect::<Vec<_>>().join(" "),
    };
    let code = print_report(&report, &recorder, outputs);
    // Stopped by a signal: the summary so far is printed, and the exit code
    // says how it ended, as the shell expects (130 for SIGINT, 143 for SIGTERM).
    match stopped_by {
        Some(signal) if report_printed(&code) => crate::signals::exit_code_for(signal),
        _ => code,
    }
}

/// A `program-wait` thread that reaps the launched `child` and sends how it
/// ended.
fn wait_for_exit(mut child: std::process::Child) -> Result<Receiver<TraceEnd>, ExitCode> {
    let (end_tx, ended) = bounded::<TraceEnd>(1);
    std::thread::Builder::new()
        .name("program-wait".into())
        .spawn(move || {
            // Reap only once it has ended (its pidfd says so): a waitpid
            // before then would also take the ptrace stops of a --blocking
            // sampler's pauses (threadlab's own threads are its tracer),
            // and that sampler would wait forever for the stop it missed,
            // leaving the program stopped.
            process::wait_gone(child.id());
            if let Ok(status) = child.wait() {
                let _ = end_tx.send(TraceEnd::Exited(status));
            }
        })
        .map_err(|error| fail(1, format!("cannot start the waiter thread: {error}")))?;
    Ok(ended)
}

/// The program's stdout and stderr, read into the dashboard's console.
fn capture_output(child: &mut std::process::Child) -> Arc<ConsoleLog> {
    let mut streams: Vec<Box<dyn Read + Send>> = Vec::new();
    if let Some(out) = child.stdout.take() {
        streams.push(Box::new(out));
    }
    if let Some(err) = child.stderr.take() {
        streams.push(Box::new(err));
    }
    ConsoleLog::capture(streams)
}

/// Whether [`print_report`] succeeded.
fn report_printed(code: &ExitCode) -> bool {
    *code == ExitCode::SUCCESS
}

/// SIGINT, then SIGTERM, then SIGKILL, each after [`GRACE`], until it exits.
fn stop_program(pid: u32, ended: &Receiver<TraceEnd>) -> TraceEnd {
    // Our own child, not reaped until the waiter sees it exit: the pid
    // cannot name another process meanwhile.
    for signal in [StopSignal::Interrupt, StopSignal::Terminate] {
        process::send(pid, signal);
        select! {
            recv(ended) -> end => return end.unwrap_or(TraceEnd::Gone),
            recv(after(GRACE)) -> _ => {}
        }
    }
    process::send(pid, StopSignal::Kill);
    ended.recv().unwrap_or(TraceEnd::Gone)
}

/// `threadlab attach PID [--json] [--export FILE]`
pub fn attach(args: &AttachArgs, run: &RunArgs, config: &Config) -> ExitCode {
    if args.check {
        let rate = sampled_rate(&args.stacks);
        return checked(check_pid(args.pid, mode_wanted(&args.stacks), rate));
    }
    let (dashboard, export, signals) =
        match prepare(args.json, args.export.as_deref(), &args.stacks, run, config) {
            Ok(prepared) => prepared,
            Err(code) => return code,
        };
    let mut trace = match Trace::attach_as(args.pid, mode_wanted(&args.stacks)) {
        Ok(trace) => trace,
        Err(error) => return trace_failed(&error),
    };
    start_sampling(&mut trace, &args.stacks);
    let gone = exit_watch(args.pid);
    let recorder = trace.shared_recorder();
    let mut stopped_by = None;
    let report = if let Some(options) = dashboard {
        let run = TraceRun {
            trace,
            console: None,
            ended: gone,
            attached: true,
        };
        match trace::run(run, &options, signals.receiver()) {
            Ok(TraceClosed::Finished(report)) => report,
            // q detaches: the program runs on.
            Ok(TraceClosed::Quit(trace)) => trace.finish(TraceEnd::Detached).0,
            Err(error) => return fail(1, error),
        }
    } else {
        let end = select! {
            recv(gone) -> _ => TraceEnd::Gone,
            recv(signals.receiver()) -> signal => {
                stopped_by = signal.ok();
                TraceEnd::Detached
            }
        };
        trace.finish(end).0
    };
    let outputs = Outputs {
        json: args.json,
        export,
        flamegraph: args.stacks.flamegraph.as_deref(),
        program: format!("pid {}", args.pid),
    };
    let code = print_report(&report, &recorder, outputs);
    // Ctrl-C is how a headless attach detaches (exit 0, like `q`); SIGTERM or
    // SIGHUP from outside give the shell's 128 + signal.
    match stopped_by {
        Some(signal) if signal != SIGINT && report_printed(&code) => {
            crate::signals::exit_code_for(signal)
        }
        _ => code,
    }
}

/// A channel that gets a message when process `pid` (not our child) ends.
fn exit_watch(pid: u32) -> Receiver<TraceEnd> {
    let (tx, rx) = bounded(1);
    let _ = std::thread::Builder::new()
        .name("program-watch".into())
        .spawn(move || {
            process::wait_gone(pid);
            let _ = tx.send(TraceEnd::Gone);
        });
    rx
}

/// Writes the export and the flame graphs (if asked), then prints the JSON
/// document or the table.
fn print_report(
    report: &TraceReport,
    recorder: &Arc<Mutex<Recorder>>,
    outputs: Outputs<'_>,
) -> ExitCode {
    let json = outputs.json;
    if let Some(dir) = outputs.flamegraph {
        let recorder = recorder.lock().unwrap_or_else(PoisonError::into_inner);
        match flame::write_flamegraphs(recorder.python().functions(), dir, &outputs.program) {
            Ok(files) if !json => {
                let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
                let _ = writeln!(std::io::stderr(), "threadlab: wrote {}", names.join(", "));
            }
            Ok(_) => {}
            Err(error) => {
                return fail(
                    1,
                    format!(
                        "cannot write the flame graphs into {}: {error}",
                        dir.display()
                    ),
                );
            }
        }
    }
    if let Some(mut export) = outputs.export {
        let file = export.file.take().expect("export file held until written");
        let recorder = recorder.lock().unwrap_or_else(PoisonError::into_inner);
        let written = chrome_trace(report, &recorder, &mut BufWriter::new(file));
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
        // Said even with --json (stdout carries the JSON, not this).
        if let Some((note, _)) = truncation_note(&recorder) {
            let _ = writeln!(
                std::io::stderr(),
                "threadlab: {}: {note}",
                export.path.display()
            );
        }
    }
    let mut stdout = std::io::stdout().lock();
    let printed = if json {
        match serde_json::to_string(report) {
            Ok(text) => writeln!(stdout, "{text}"),
            Err(error) => return fail(1, error),
        }
    } else {
        write!(stdout, "{}", report.render_table())
    };
    let _ = printed.and_then(|()| stdout.flush());
    ExitCode::SUCCESS
}
