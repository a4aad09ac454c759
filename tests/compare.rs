//! `threadlab compare`: the Python scripts speak the same JSON as
//! `bench --json`, and broken or hanging interpreters are reported and
//! killed, never left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use threadlab::gil::{Mode, SwitchInterval};
use threadlab::lab::compare::{self, Python, ScriptFile};
use threadlab::lab::{BenchConfig, BenchRow, Experiment, Interpreter, Report};
use threadlab::server::Server;

fn python3() -> Option<Python> {
    let (found, skipped) = compare::find_interpreters(&[PathBuf::from("python3")]);
    if found.is_empty() {
        threadlab_test_support::skip::skip(format!(
            "no usable python3 on PATH ({skipped:?}); install CPython 3"
        ));
    }
    found.into_iter().next()
}

/// A fake interpreter: a shell script that answers the probe like Python
/// and then does `body` when asked to run an experiment.
fn fake_python(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = \"-c\" ]; then\n  echo '{{\"version\": \"3.99.0\", \"implementation\": \"FakePython\", \"gil_enabled\": true, \"executable\": \"fake\"}}'\n  exit 0\nfi\n{body}\n"
    );
    // Written by another process: while this test process holds a file
    // open for writing, a fork by a test running beside it copies that
    // descriptor, and executing the file then fails with "Text file busy"
    // (ETXTBSY) until that child has exec'd. `install` writes and closes it
    // in a process of its own.
    let source = dir.join(format!("{name}.src"));
    std::fs::write(&source, script).unwrap();
    let status = std::process::Command::new("install")
        .arg("-m")
        .arg("755")
        .arg(&source)
        .arg(&path)
        .status()
        .expect("run install");
    assert!(status.success(), "install {} failed", path.display());
    path
}

#[test]
fn every_script_experiment_parses_into_the_bench_report_type() {
    let Some(python) = python3() else { return };
    let server = Server::start_loopback().unwrap();
    let script = ScriptFile::write().unwrap();
    let config = BenchConfig::new(vec![2], SwitchInterval::DEFAULT, Duration::from_millis(100));
    for experiment in Experiment::EACH {
        let report = compare::run_python(
            &python,
            script.path(),
            experiment,
            &config,
            &server.url("/"),
        )
        .unwrap_or_else(|e| panic!("{experiment}: {e}"));
        assert_eq!(report.experiment, experiment.name());
        assert_eq!(report.mode, python.info.mode());
        assert_eq!(report.interval_ms, 5.0);
        let interpreter = report.interpreter.as_ref().expect("interpreter described");
        assert_eq!(interpreter.version, python.info.version);
        assert!(!report.rows.is_empty(), "{experiment}: no rows");
        // The baselines are measured whatever --threads says: 1 thread for
        // throughput and io, 0 CPU threads for latency and convoy.
        let keys: Vec<Option<u32>> = report
            .rows
            .iter()
            .map(|r| r.threads.or(r.cpu_threads))
            .collect();
        match experiment {
            Experiment::Throughput | Experiment::Io => assert_eq!(keys, [Some(1), Some(2)]),
            _ => assert_eq!(keys, [Some(0), Some(2)]),
        }
        for row in &report.rows {
            // Measured, not the configured seconds copied.
            assert!(
                row.wall_s > 0.0 && row.wall_s != 0.1,
                "{experiment}: wall_s {} is not a measured time",
                row.wall_s
            );
            match experiment {
                Experiment::Throughput | Experiment::Io => {
                    assert!(row.threads.is_some() && row.iterations_per_s.unwrap() > 0.0);
                    assert!(row.speedup.is_some());
                }
                Experiment::Latency => assert!(row.latency_ms_p50.unwrap() > 0.0),
                Experiment::Convoy => {
                    assert!(row.round_trips_per_s.unwrap() > 0.0);
                    assert!(row.rtt_ms_p99.is_some());
                }
                Experiment::All => unreachable!(),
            }
        }
        // The same rows render in the comparison table beside an emulated report.
        let emulated = threadlab::lab::run(experiment, Mode::Free, &config).unwrap();
        let table = compare::render_comparison(experiment, &[emulated, report]);
        assert!(table.contains(&python.info.label()), "{table}");
    }
}

#[test]
fn an_interpreter_that_prints_garbage_is_reported_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = fake_python(dir.path(), "garbage-python", "echo 'this is not json'");
    let (found, _) = compare::find_interpreters(std::slice::from_ref(&path));
    let python = found
        .into_iter()
        .next()
        .expect("the fake answers the probe");
    let config = BenchConfig::new(vec![1], SwitchInterval::DEFAULT, Duration::from_millis(50));
    let error = compare::run_python(
        &python,
        Path::new("x.py"),
        Experiment::Throughput,
        &config,
        "http://127.0.0.1:1/",
    )
    .expect_err("garbage is not a report");
    assert!(error.contains("not a threadlab report"), "{error}");
    assert!(error.contains("this is not json"), "{error}");
}

#[test]
fn a_crashing_script_is_reported_with_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let path = fake_python(
        dir.path(),
        "crashing-python",
        "echo 'Traceback: boom' >&2\nexit 3",
    );
    let output = Command::new(env!("CARGO_BIN_EXE_threadlab"))
        .args([
            "compare",
            "throughput",
            "--threads",
            "1",
            "--seconds",
            "0.05",
            "--python",
        ])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Traceback: boom"), "{stderr}");
    assert!(stderr.contains("exit status: 3"), "{stderr}");
    // The emulation's side still ran and printed.
    assert!(stdout.contains("emu gil"), "{stdout}");
}

fn alive(pid: u32) -> bool {
    // A zombie no longer runs: count only processes that are not 'Z'.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn a_hanging_script_is_killed_with_everything_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    let body = format!("sleep 1000 &\necho $! > {}\nsleep 1000", pidfile.display());
    let path = fake_python(dir.path(), "hanging-python", &body);
    let mut command = Command::new(&path);
    command.arg("script.py");
    let started = Instant::now();
    let error = compare::run_bounded(command, Duration::from_millis(500)).expect_err("it hangs");
    assert!(error.contains("timed out"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the timeout holds"
    );
    let grandchild: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(grandchild) {
        assert!(
            Instant::now() < deadline,
            "process {grandchild} was left behind"
        );
        std::thread::yield_now();
    }
}

#[test]
fn no_python_at_all_is_one_line_and_exit_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_threadlab"))
        .args(["compare", "throughput"])
        .env("PATH", "")
        .env("HOME", "/nonexistent")
        .env_remove("PYENV_ROOT")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no usable Python interpreter"), "{stderr}");
    assert!(stderr.contains("--python"), "{stderr}");
}

/// Runs a fake interpreter that prints `report` for a throughput run.
fn fake_report_error(name: &str, report: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = fake_python(dir.path(), name, &format!("echo '{report}'"));
    let (found, _) = compare::find_interpreters(std::slice::from_ref(&path));
    let python = found
        .into_iter()
        .next()
        .expect("the fake answers the probe");
    let config = BenchConfig::new(vec![1], SwitchInterval::DEFAULT, Duration::from_millis(50));
    compare::run_python(
        &python,
        Path::new("x.py"),
        Experiment::Throughput,
        &config,
        "http://127.0.0.1:1/",
    )
    .expect_err("not a real interpreter's throughput report")
}

#[test]
fn a_report_that_names_no_interpreter_is_refused() {
    let error = fake_report_error(
        "anonymous-python",
        r#"{"experiment": "throughput", "mode": "gil", "interval_ms": 5.0, "rows": [{"threads": 1, "iterations_per_s": 5.0, "speedup": 1.0, "wall_s": 0.05}]}"#,
    );
    assert!(error.contains("interpreter"), "{error}");
    assert!(error.contains("anonymous-python"), "{error}");
}

#[test]
fn a_report_of_another_experiment_is_refused() {
    let error = fake_report_error(
        "confused-python",
        r#"{"experiment": "convoy", "mode": "gil", "interval_ms": 5.0, "rows": [{"cpu_threads": 0, "round_trips_per_s": 5.0, "wall_s": 0.05}], "interpreter": {"version": "3.99.0", "implementation": "FakePython", "gil_enabled": true}}"#,
    );
    assert!(error.contains("'convoy'"), "{error}");
    assert!(error.contains("'throughput'"), "{error}");
}

fn throughput_report(mode: Mode, version: Option<&str>, rates: &[(u32, f64)]) -> Report {
    let base = rates.iter().find(|(n, _)| *n == 1).map(|(_, r)| *r);
    Report {
        experiment: "throughput".into(),
        mode,
        interval_ms: 5.0,
        rows: rates
            .iter()
            .map(|&(n, rate)| BenchRow {
                threads: Some(n),
                iterations_per_s: Some(rate),
                speedup: base.map(|b| rate / b),
                wall_s: 0.5,
                ..BenchRow::default()
            })
            .collect(),
        interpreter: version.map(|v| Interpreter {
            version: v.into(),
            implementation: "CPython".into(),
            gil_enabled: true,
            executable: String::new(),
        }),
    }
}

#[test]
fn the_ratio_column_divides_each_interpreter_by_its_emulated_twin() {
    let reports = [
        throughput_report(Mode::Free, None, &[(1, 100.0), (2, 190.0)]),
        throughput_report(Mode::Gil, None, &[(1, 100.0), (2, 80.0)]),
        // CPython 3.11 is compared with gil: 0.90 / 0.80 = 1.125.
        throughput_report(Mode::Gil, Some("3.11.7"), &[(1, 10.0), (2, 9.0)]),
        // Python 2 is compared with legacy, which did not run: no ratio.
        throughput_report(Mode::Legacy, Some("2.7.18"), &[(1, 10.0), (2, 6.0)]),
    ];
    let table = compare::render_comparison(Experiment::Throughput, &reports);
    let header = table.lines().nth(1).expect("a header line");
    let cells: Vec<&str> = header
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        cells,
        [
            "threads",
            "emu free",
            "emu gil",
            "py3.11",
            "÷ emu gil",
            "py2.7",
            "÷ emu legacy"
        ],
        "{table}"
    );
    let row = |threads: &str| -> Vec<String> {
        table
            .lines()
            .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
            .find(|cells| cells.first().map(String::as_str) == Some(threads))
            .unwrap_or_else(|| panic!("no row for {threads} threads in\n{table}"))
    };
    assert_eq!(
        row("1"),
        ["1", "1.00", "1.00", "1.00", "1.00", "1.00", "–"],
        "{table}"
    );
    assert_eq!(
        row("2"),
        ["2", "1.90", "0.80", "0.90", "1.12", "0.60", "–"],
        "{table}"
    );
}

#[test]
fn calibration_says_how_many_emulated_steps_one_python_step_is_worth() {
    let reports = [
        throughput_report(Mode::Free, None, &[(1, 90e6), (2, 170e6)]),
        throughput_report(Mode::Gil, None, &[(1, 100e6), (2, 99e6)]),
        throughput_report(Mode::Gil, Some("3.11.7"), &[(1, 800e3), (2, 790e3)]),
    ];
    let line = compare::calibration(&reports).expect("a calibration line");
    // The fastest emulated 1-thread rate, and 100 M / 800 k = 125.
    assert!(line.contains("100.0 M steps/s"), "{line}");
    assert!(
        line.contains("py3.11 runs the same step at 800 k/s"),
        "{line}"
    );
    assert!(
        line.contains("1 Python step = 125 emulated steps"),
        "{line}"
    );
    // Without an emulated 1-thread row there is nothing to calibrate against.
    assert_eq!(compare::calibration(&reports[2..]), None);
}
