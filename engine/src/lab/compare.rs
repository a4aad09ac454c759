//! Side by side with the real thing: the same experiments run in real Python
//! interpreters (the script in `assets/python/threadlab_bench.py`, embedded
//! in the binary) and in the emulation, interleaved so machine noise hits
//! both alike.
//!
//! Each script runs as a child process in its own process group, bounded by
//! a timeout; on timeout, cancel or error the whole group is killed, so no
//! process is ever left behind, and a crash is reported with its stderr.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;

use super::{BenchConfig, BenchRow, Experiment, Interpreter, Report};
use crate::gil::Mode;

/// The Python side of the experiments, shipped inside the binary.
pub(crate) const SCRIPT: &str = include_str!("../../../assets/python/threadlab_bench.py");

/// How often a waiting child run looks at its cancel token.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// Interpreter names looked up on PATH when none is given.
pub(crate) const DEFAULT_NAMES: &[&str] = &[
    "python3",
    "python3.14",
    "python3.14t",
    "python3.13",
    "python3.13t",
    "python3.12",
    "python3.11",
    "python3.10",
    "python3.9",
    "python3.8",
    "python2.7",
];

/// A usable interpreter: where it is and what it says it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Python {
    /// The path it was run by.
    pub path: PathBuf,
    /// Its own description.
    pub info: Interpreter,
}

/// Runs `command` in its own process group with a timeout; returns stdout
/// on success, or a message with the exit status and stderr.
pub fn run_bounded(command: Command, timeout: Duration) -> Result<String, String> {
    run_cancellable(command, timeout, &CancelToken::new())
}

/// [`run_bounded`], also killed (within ~50 ms) when `cancel` fires.
pub(crate) fn run_cancellable(
    mut command: Command,
    timeout: Duration,
    cancel: &CancelToken,
) -> Result<String, String> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let pid = child.id() as i32;
    // Readers on their own threads, so a chatty child never blocks on a full pipe.
    let out_reader = read_in_background(child.stdout.take());
    let err_reader = read_in_background(child.stderr.take());
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    let waiter = thread::spawn(move || {
        let status = child.wait();
        let _ = done_tx.send(());
        status
    });
    let end = wait_bounded(&done_rx, timeout, cancel);
    if end != End::Exited {
        // The whole group: the script and any helper processes it started.
        if let Some(group) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
    let status = waiter
        .join()
        .map_err(|_| "waiting for the child failed".to_string())?
        .map_err(|e| format!("cannot wait for it: {e}"))?;
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    let err = err.trim();
    let stderr_note = if err.is_empty() {
        String::new()
    } else {
        format!("; stderr: {err}")
    };
    match end {
        End::Cancelled => Err("cancelled".to_string()),
        End::TimedOut => Err(format!(
            "timed out after {:.0} s and was killed{stderr_note}",
            timeout.as_secs_f64(),
        )),
        End::Exited if !status.success() => Err(format!("exited with {status}{stderr_note}")),
        End::Exited => Ok(out),
    }
}

/// Reads `stream` (if any) to its end on a thread of its own; the handle
/// gives what it read.
pub(crate) fn read_in_background(
    stream: Option<impl Read + Send + 'static>,
) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stream) = stream {
            let _ = stream.read_to_string(&mut text);
        }
        text
    })
}

/// How waiting for a bounded child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// It exited by itself.
    Exited,
    /// Its time ran out.
    TimedOut,
    /// The run was cancelled.
    Cancelled,
}

/// Waits until `done` says the child exited, `timeout` has passed or
/// `cancel` fires, looking at the token every [`CANCEL_POLL`].
fn wait_bounded(
    done: &crossbeam_channel::Receiver<()>,
    timeout: Duration,
    cancel: &CancelToken,
) -> End {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if done.recv_timeout(left.min(CANCEL_POLL)).is_ok() {
            return End::Exited;
        }
        if cancel.is_cancelled() {
            return End::Cancelled;
        }
        if left.is_zero() {
            return End::TimedOut;
        }
    }
}

const PROBE: &str = "import sys, json, platform\n\
check = getattr(sys, '_is_gil_enabled', None)\n\
sys.stdout.write(json.dumps({'version': platform.python_version(), \
'implementation': platform.python_implementation(), \
'gil_enabled': True if check is None else bool(check()), \
'executable': sys.executable}))\n";

/// Asks an interpreter what it is.
pub(crate) fn probe(path: &Path) -> Result<Interpreter, String> {
    let mut command = Command::new(path);
    command.arg("-c").arg(PROBE);
    let out = run_bounded(command, Duration::from_secs(15))?;
    serde_json::from_str(out.trim()).map_err(|e| format!("unreadable answer ({e}): {out}"))
}

/// Paths to try: `explicit` ones, or the default names found on PATH plus
/// pyenv's installed versions.
pub(crate) fn candidates(explicit: &[PathBuf]) -> Vec<PathBuf> {
    if !explicit.is_empty() {
        return explicit.to_vec();
    }
    let mut found = Vec::new();
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in DEFAULT_NAMES {
        if let Some(hit) = std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
        {
            found.push(hit);
        }
    }
    let pyenv = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
    if let Some(Ok(entries)) = pyenv.map(|root| std::fs::read_dir(root.join("versions"))) {
        let mut versions: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("bin").join("python"))
            .filter(|p| p.is_file())
            .collect();
        versions.sort();
        found.extend(versions);
    }
    found
}

/// Probes the candidates; returns the usable interpreters (one per distinct
/// version and build) and, for the others, why they were skipped.
pub fn find_interpreters(explicit: &[PathBuf]) -> (Vec<Python>, Vec<String>) {
    let mut pythons = Vec::new();
    let mut skipped = Vec::new();
    let mut seen = BTreeSet::new();
    for path in candidates(explicit) {
        match probe(&path) {
            Ok(info) => {
                let key = (
                    info.implementation.clone(),
                    info.version.clone(),
                    info.gil_enabled,
                );
                if seen.insert(key) {
                    pythons.push(Python { path, info });
                }
            }
            Err(why) => skipped.push(format!("{}: {why}", path.display())),
        }
    }
    (pythons, skipped)
}

/// The script written to a temp file for the interpreters to run.
pub struct ScriptFile {
    file: tempfile::NamedTempFile,
}

impl ScriptFile {
    /// Writes the embedded script to a fresh temp file (removed on drop).
    pub fn write() -> std::io::Result<Self> {
        let mut file = tempfile::Builder::new()
            .prefix("threadlab_bench-")
            .suffix(".py")
            .tempfile()?;
        file.write_all(SCRIPT.as_bytes())?;
        file.flush()?;
        // Readable by all: under `sudo compare --trace` the script runs as
        // the user behind sudo. Its text is the binary's own, nothing secret.
        std::fs::set_permissions(
            file.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )?;
        Ok(Self { file })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

/// How long one script run may take before it is killed.
pub(crate) fn script_timeout(experiment: Experiment, config: &BenchConfig) -> Duration {
    let measurements = config.measurements(experiment) as u32;
    config.duration * measurements * 3 + Duration::from_secs(30)
}

/// The script's command-line arguments for one experiment.
pub(crate) fn script_args(
    script: &Path,
    experiment: Experiment,
    config: &BenchConfig,
    server_url: &str,
) -> Vec<std::ffi::OsString> {
    let threads: Vec<String> = config.threads.iter().map(u32::to_string).collect();
    let mut args = vec![script.as_os_str().to_owned()];
    for arg in [
        experiment.name().to_string(),
        "--threads".to_string(),
        threads.join(","),
        "--seconds".to_string(),
        format!("{}", config.duration.as_secs_f64()),
        "--interval".to_string(),
        format!("{}", config.interval.as_millis_f64()),
        "--url".to_string(),
        server_url.to_string(),
    ] {
        args.push(arg.into());
    }
    args
}

/// Runs one experiment in a real interpreter and parses its report.
pub fn run_python(
    python: &Python,
    script: &Path,
    experiment: Experiment,
    config: &BenchConfig,
    server_url: &str,
) -> Result<Report, String> {
    let mut command = Command::new(&python.path);
    command.args(script_args(script, experiment, config, server_url));
    let out = run_cancellable(command, script_timeout(experiment, config), &config.cancel)
        .map_err(|e| format!("{} ({}): {e}", python.info.label(), python.path.display()))?;
    parse_report(python, experiment, &out)
}

/// Parses and checks what the script printed for `experiment`.
pub(crate) fn parse_report(
    python: &Python,
    experiment: Experiment,
    out: &str,
) -> Result<Report, String> {
    let label = python.info.label();
    let report: Report = serde_json::from_str(out.trim()).map_err(|e| {
        format!(
            "{label} ({}): its output is not a threadlab report ({e}): {}",
            python.path.display(),
            out.chars().take(200).collect::<String>()
        )
    })?;
    check_report(&report, experiment)
        .map_err(|why| format!("{label} ({}): {why}", python.path.display()))?;
    Ok(report)
}

/// Whether `report` is what a real interpreter running `experiment` must
/// print: that experiment, a description of the interpreter, and at least
/// one row. Anything else would be shown beside the emulation as if it had
/// been measured.
pub(crate) fn check_report(report: &Report, experiment: Experiment) -> Result<(), String> {
    if report.experiment != experiment.name() {
        return Err(format!(
            "it reported experiment '{}' when asked for '{experiment}'",
            report.experiment
        ));
    }
    let Some(interpreter) = &report.interpreter else {
        return Err(
            "its report does not say which interpreter measured it (no \"interpreter\")"
                .to_string(),
        );
    };
    if interpreter.version.trim().is_empty() {
        return Err("its report names no interpreter version".to_string());
    }
    if report.rows.is_empty() {
        return Err(format!("its {experiment} report has no rows"));
    }
    Ok(())
}

/// The number a comparison table shows for one row, and what it means.
pub(crate) fn metric(experiment: Experiment) -> (&'static str, fn(&BenchRow) -> Option<f64>) {
    match experiment {
        Experiment::Latency => ("ping latency p50 (ms)", |r| r.latency_ms_p50),
        Experiment::Convoy => ("round trips/s", |r| r.round_trips_per_s),
        _ => ("speedup over 1 thread", |r| r.speedup),
    }
}

/// Renders one experiment's emulated and real reports side by side, with
/// each interpreter's ratio to the emulation mode it corresponds to.
pub fn render_comparison(experiment: Experiment, reports: &[Report]) -> String {
    let (what, pick) = metric(experiment);
    let emulated: Vec<&Report> = reports.iter().filter(|r| r.interpreter.is_none()).collect();
    let real: Vec<&Report> = reports.iter().filter(|r| r.interpreter.is_some()).collect();
    let mut keys: Vec<u32> = reports
        .iter()
        .flat_map(|r| r.rows.iter().map(BenchRow::key))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let key_name = match experiment {
        Experiment::Latency | Experiment::Convoy => "cpu threads",
        _ => "threads",
    };
    let mut header = vec![key_name.to_string()];
    header.extend(emulated.iter().map(|r| format!("emu {}", r.mode)));
    for report in &real {
        header.push(report.label());
        header.push(format!("÷ emu {}", report.mode));
    }
    let value = |report: &Report, key: u32| {
        report
            .rows
            .iter()
            .find(|row| row.key() == key)
            .and_then(pick)
    };
    let fmt = |v: Option<f64>| match v {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
        None => "–".to_string(),
    };
    let mut lines = vec![header];
    for key in keys {
        let mut line = vec![key.to_string()];
        line.extend(emulated.iter().map(|r| fmt(value(r, key))));
        for report in &real {
            let actual = value(report, key);
            let twin = emulated.iter().find(|r| r.mode == report.mode);
            let expected = twin.and_then(|r| value(r, key));
            line.push(fmt(actual));
            line.push(match (actual, expected) {
                (Some(a), Some(e)) if e > 0.0 => format!("{:.2}", a / e),
                _ => "–".to_string(),
            });
        }
        lines.push(line);
    }
    let interval = reports.first().map_or(5.0, |r| r.interval_ms);
    super::report::aligned_table(
        &format!("{experiment}: {what} (switch interval {interval:.1} ms)"),
        &lines,
        false,
    )
}

/// Single-thread CPU steps per second of the emulation and of each real
/// interpreter, and how many emulated steps one Python step is worth.
pub fn calibration(reports: &[Report]) -> Option<String> {
    let one_thread = |r: &Report| {
        r.rows
            .iter()
            .find(|row| row.threads == Some(1))
            .and_then(|row| row.iterations_per_s)
    };
    let emulated = reports
        .iter()
        .filter(|r| r.interpreter.is_none())
        .filter_map(one_thread)
        .fold(0.0f64, f64::max);
    if emulated <= 0.0 {
        return None;
    }
    let mut out = format!(
        "calibration: one emulated step runs at {:.1} M steps/s on one thread",
        emulated / 1e6
    );
    for report in reports.iter().filter(|r| r.interpreter.is_some()) {
        if let Some(rate) = one_thread(report).filter(|r| *r > 0.0) {
            out.push_str(&format!(
                "; {} runs the same step at {:.0} k/s: 1 Python step = {:.0} emulated steps",
                report.label(),
                rate / 1e3,
                emulated / rate
            ));
        }
    }
    Some(out)
}

/// The order to run things in: emulation modes and interpreters alternate,
/// so a burst of machine noise hits both sides.
pub fn interleave(modes: &[Mode], pythons: &[Python]) -> Vec<Result<Mode, usize>> {
    let mut order = Vec::new();
    let longest = modes.len().max(pythons.len());
    for i in 0..longest {
        if let Some(mode) = modes.get(i) {
            order.push(Ok(*mode));
        }
        if i < pythons.len() {
            order.push(Err(i));
        }
    }
    order
}
