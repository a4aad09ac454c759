//! `threadlab compare [--trace] [--json]`: the experiments in real Python
//! interpreters beside the emulation. With `--trace` (root) each Python 3
//! script runs under the real-GIL tracer and its hold and wait
//! distributions are shown beside the emulated ones; without root it says
//! so in one line and compares as usual.

use std::io::Write as _;
use std::process::ExitCode;

use threadlab::cli::CompareArgs;
use threadlab::gil::Mode;
use threadlab::lab::compare::{self, Python};
use threadlab::lab::compare_trace::{self, TracedRunError};
use threadlab::lab::{self, BenchConfig, Experiment, Report};
use threadlab::server::Server;

use crate::signals::watched_bench_config;
use crate::{fail, interrupted};

/// Writes one line to stdout, or (with `--json`, whose stdout is JSON only)
/// to stderr; never panics on a closed stream.
fn header(json: bool, line: &str) {
    let _ = if json {
        writeln!(std::io::stderr(), "{line}")
    } else {
        writeln!(std::io::stdout(), "{line}")
    };
}

/// Whether to trace at all: asked for, and possible here (else one line on
/// stderr saying why not).
fn tracing_wanted(args: &CompareArgs) -> bool {
    if !args.trace {
        return false;
    }
    match compare_trace::unavailable() {
        None => true,
        Some(why) => {
            let _ = writeln!(
                std::io::stderr(),
                "threadlab: compare --trace: {why}; comparing without the real GIL's distributions"
            );
            false
        }
    }
}

/// Runs `threadlab compare` (not `compare race`).
pub fn compare(args: &CompareArgs) -> ExitCode {
    let tracing = tracing_wanted(args);
    let pythons = match find_pythons(args) {
        Ok(pythons) => pythons,
        Err(code) => return code,
    };
    let notes = announce(args.json, tracing, &pythons);
    let server = match Server::start_loopback() {
        Ok(server) => server,
        Err(error) => return fail(1, error),
    };
    let script = match compare::ScriptFile::write() {
        Ok(script) => script,
        Err(error) => return fail(1, format!("cannot write the Python script: {error}")),
    };
    let (config, signals) = match watched_bench_config(&args.threads, args.interval, args.seconds) {
        Ok(watched) => watched,
        Err(error) => return fail(1, error),
    };
    let mut run = Comparison {
        pythons,
        tracing,
        url: server.url("/"),
        script,
        config,
        notes,
        failures: 0,
    };
    for experiment in args.experiment.expand() {
        let reports = run.measure(experiment);
        if !reports.is_empty() {
            let shown = if args.json {
                print_json(experiment, tracing, &reports, &run.notes)
            } else {
                print_tables(experiment, tracing, &reports, &run.notes)
            };
            if let Err(error) = shown {
                return fail(1, error);
            }
        }
        if run.config.cancel.is_cancelled() {
            interrupted(if reports.is_empty() {
                "nothing was measured yet"
            } else {
                "the comparison above shows what was measured"
            });
            break;
        }
    }
    let failures = run.failures;
    // The server, the script's temp file and every child are gone before
    // the exit code is returned.
    drop(run.script);
    drop(server);
    signals.exit_code(if failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The interpreters to compare with (`--python`, or those found on the
/// machine); `Err` with the usage exit code when there is none.
fn find_pythons(args: &CompareArgs) -> Result<Vec<Python>, ExitCode> {
    let (pythons, skipped) = compare::find_interpreters(&args.pythons);
    if !pythons.is_empty() {
        return Ok(pythons);
    }
    let looked = if args.pythons.is_empty() {
        "python3, python3.X and python2.7 on PATH, and pyenv's versions".to_string()
    } else {
        skipped.join("; ")
    };
    Err(fail(
        2,
        format!(
            "compare: no usable Python interpreter found (tried {looked}); give one with --python PATH"
        ),
    ))
}

/// One header line per interpreter (what it is, what it is compared with);
/// returns the notes on those the tracer cannot trace.
fn announce(json: bool, tracing: bool, pythons: &[Python]) -> Vec<String> {
    let mut notes = Vec::new();
    for python in pythons {
        header(
            json,
            &format!(
                "{:<8} {} {} ({}), GIL {}: compared with emulated {}",
                python.info.label(),
                python.info.implementation,
                python.info.version,
                python.path.display(),
                if python.info.gil_enabled {
                    "enabled"
                } else {
                    "disabled"
                },
                python.info.mode()
            ),
        );
        if tracing && let Some(why) = compare_trace::untraceable(python) {
            notes.push(format!("{}: not traced: {why}", python.info.label()));
        }
    }
    notes
}

/// What every measurement of one `compare` shares: the interpreters, the
/// script they run against the loopback server's URL, the bench config
/// (whose token a stop signal trips), the notes on untraced interpreters and
/// the count of failed measurements.
struct Comparison {
    pythons: Vec<Python>,
    tracing: bool,
    url: String,
    script: compare::ScriptFile,
    config: BenchConfig,
    notes: Vec<String>,
    failures: u32,
}

impl Comparison {
    /// Every emulated mode and every interpreter on one experiment,
    /// interleaved; a failed measurement is reported on stderr and counted,
    /// a stop signal ends the round with what was measured.
    fn measure(&mut self, experiment: Experiment) -> Vec<Report> {
        let mut reports = Vec::new();
        for step in compare::interleave(&Mode::ALL, &self.pythons) {
            if self.config.cancel.is_cancelled() {
                break;
            }
            let result = match step {
                Ok(mode) => lab::run(experiment, mode, &self.config),
                Err(i) => self.run_python(i, experiment),
            };
            match result {
                Ok(report) if report.rows.is_empty() => {}
                Ok(report) => reports.push(report),
                // Stopped by a signal: the child's group is already killed.
                Err(_) if self.config.cancel.is_cancelled() => break,
                Err(error) => {
                    self.failures += 1;
                    let _ = writeln!(
                        std::io::stderr(),
                        "threadlab: compare {experiment}: {error}"
                    );
                }
            }
        }
        reports
    }

    /// The experiment in interpreter `i`: traced when tracing and the tracer
    /// can, else (with a note saying why) untraced.
    fn run_python(&mut self, i: usize, experiment: Experiment) -> Result<Report, String> {
        let python = &self.pythons[i];
        let plain = || {
            compare::run_python(
                python,
                self.script.path(),
                experiment,
                &self.config,
                &self.url,
            )
        };
        if !self.tracing || compare_trace::untraceable(python).is_some() {
            return plain();
        }
        let traced = compare_trace::run_python_traced(
            python,
            self.script.path(),
            experiment,
            &self.config,
            &self.url,
        );
        match traced {
            Ok(report) => Ok(report),
            // The tracer refuses this build (stripped …): compare it untraced.
            Err(TracedRunError::CannotTrace(why)) => {
                let note = format!("{}: not traced: {why}", python.info.label());
                if !self.notes.contains(&note) {
                    self.notes.push(note);
                }
                plain()
            }
            Err(TracedRunError::Failed(error)) => Err(error),
        }
    }
}

/// The human tables of one experiment.
fn print_tables(
    experiment: Experiment,
    tracing: bool,
    reports: &[Report],
    notes: &[String],
) -> Result<(), String> {
    let mut text = format!("\n{}", compare::render_comparison(experiment, reports));
    if experiment == Experiment::Throughput
        && let Some(line) = compare::calibration(reports)
    {
        text.push_str(&format!("{line}\n"));
    }
    if tracing && let Some(table) = compare_trace::render_distributions(experiment, reports, notes)
    {
        text.push_str(&format!("\n{table}"));
    }
    // A closed stdout (`| head`) drops the rest, as elsewhere.
    let _ = std::io::stdout().write_all(text.as_bytes());
    Ok(())
}

/// One JSON object for one experiment: every report with its rows (traced
/// rows carry the real distributions) and the notes on untraced ones.
fn print_json(
    experiment: Experiment,
    tracing: bool,
    reports: &[Report],
    notes: &[String],
) -> Result<(), String> {
    let doc = serde_json::json!({
        "experiment": experiment.name(),
        "traced": tracing,
        "reports": reports,
        "notes": if tracing { notes } else { &[] },
    });
    let text = serde_json::to_string(&doc).map_err(|e| e.to_string())?;
    let _ = writeln!(std::io::stdout(), "{text}");
    Ok(())
}
