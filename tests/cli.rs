//! The `threadlab` binary without a terminal: `bench` (JSON and table),
//! usage errors (exit code 2 and one line on stderr), `serve` end to end,
//! and `--help` / `--version`.
//!
//! Every run has stdin null and a deadline: a child that does not exit in
//! time is killed and the test fails with what it printed so far.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_threadlab");

/// A bench run or a usage error (CI machines are small: be generous).
const RUN: Duration = Duration::from_secs(60);
/// Waiting for `serve` to print its address, or to exit after SIGTERM.
const SERVE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------

/// What a finished run left behind.
struct Run {
    args: Vec<String>,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "threadlab {:?}: {}\n---- stdout ----\n{}\n---- stderr ----\n{}\n----",
            self.args, self.status, self.stdout, self.stderr
        )
    }

    fn assert_success(&self) {
        assert!(
            self.status.success(),
            "expected success\n{}",
            self.describe()
        );
    }
}

/// Reads all of `pipe` on a thread of its own, so a full pipe never blocks the child.
fn drain(pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut pipe = pipe;
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child` to exit; kills it and returns `None` after `timeout`.
fn wait_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait on threadlab") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs threadlab with `args` to the end (stdin null), within [`RUN`].
fn run(args: &[&str]) -> Run {
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("THREADLAB_LOG")
        .spawn()
        .expect("start threadlab");
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let status = wait_deadline(&mut child, RUN);
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    let Some(status) = status else {
        panic!(
            "threadlab {args:?} did not exit within {RUN:?} (killed after {:?})\n---- stdout ----\n{stdout}\n---- stderr ----\n{stderr}",
            started.elapsed()
        );
    };
    Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        status,
        stdout,
        stderr,
    }
}

// ---------------------------------------------------------------------------
// bench --json
// ---------------------------------------------------------------------------

/// Runs a bench with `--json`; every stdout line must be one JSON document.
fn bench_json(args: &[&str]) -> (Run, Vec<Value>) {
    let run = run(args);
    run.assert_success();
    let docs: Vec<Value> = run
        .stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("line {line:?} is not JSON: {e}\n{}", run.describe()))
        })
        .collect();
    assert!(!docs.is_empty(), "no JSON on stdout\n{}", run.describe());
    (run, docs)
}

/// The one document of a single-experiment, single-mode run, checked for
/// its experiment, mode and interval; returns its rows.
fn single_report(run: &Run, docs: &[Value], experiment: &str, mode: &str) -> Vec<Value> {
    let info = run.describe();
    assert_eq!(docs.len(), 1, "one document per (experiment, mode)\n{info}");
    let doc = &docs[0];
    assert_eq!(doc["experiment"], experiment, "{info}");
    assert_eq!(doc["mode"], mode, "{info}");
    assert_eq!(doc["interval_ms"].as_f64(), Some(5.0), "{info}");
    let rows = doc["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("rows is not an array\n{info}"))
        .clone();
    for row in &rows {
        let wall = row["wall_s"].as_f64();
        assert!(
            wall.is_some_and(|w| w > 0.0),
            "wall_s not positive in {row}\n{info}"
        );
    }
    rows
}

fn number(row: &Value, key: &str, info: &str) -> f64 {
    row.get(key)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("row {row} has no number {key:?}\n{info}"))
}

fn assert_absent(row: &Value, keys: &[&str], info: &str) {
    for key in keys {
        assert!(
            row.get(key).is_none(),
            "row {row} should not have {key:?}\n{info}"
        );
    }
}

fn column(rows: &[Value], key: &str) -> Vec<Option<u64>> {
    rows.iter()
        .map(|r| r.get(key).and_then(Value::as_u64))
        .collect()
}

#[test]
fn bench_throughput_json() {
    let (run, docs) = bench_json(&[
        "bench",
        "throughput",
        "--mode",
        "gil",
        "--threads",
        "2,4",
        "--seconds",
        "0.05",
        "--json",
    ]);
    let info = run.describe();
    let rows = single_report(&run, &docs, "throughput", "gil");
    assert_eq!(
        column(&rows, "threads"),
        [Some(1), Some(2), Some(4)],
        "1 thread is always measured first\n{info}"
    );
    assert_speedups_are_measured(&rows, &info);
    for row in &rows {
        assert!(
            number(row, "iterations_per_s", &info) > 0.0,
            "iterations_per_s not positive in {row}\n{info}"
        );
        assert!(number(row, "speedup", &info) > 0.0, "{info}");
        assert_absent(
            row,
            &[
                "cpu_threads",
                "latency_ms_p50",
                "latency_ms_p99",
                "round_trips_per_s",
                "rtt_ms_p50",
                "rtt_ms_p99",
            ],
            &info,
        );
    }
}

/// Every speedup is the row's rate over the measured 1-thread row's rate,
/// never a per-thread rate scaled by the thread count.
fn assert_speedups_are_measured(rows: &[Value], info: &str) {
    let one = rows
        .iter()
        .find(|r| r.get("threads").and_then(Value::as_u64) == Some(1))
        .unwrap_or_else(|| panic!("no 1-thread row\n{info}"));
    let base = number(one, "iterations_per_s", info);
    for row in rows {
        let expected = number(row, "iterations_per_s", info) / base;
        let speedup = number(row, "speedup", info);
        assert!(
            (speedup - expected).abs() <= 1e-9 * expected.max(1.0),
            "speedup {speedup} of {row} is not its rate over the 1-thread rate ({expected})\n{info}"
        );
    }
}

#[test]
fn bench_convoy_json() {
    let (run, docs) = bench_json(&[
        "bench",
        "convoy",
        "--mode",
        "free",
        "--threads",
        "1",
        "--seconds",
        "0.05",
        "--json",
    ]);
    let info = run.describe();
    let rows = single_report(&run, &docs, "convoy", "free");
    assert_eq!(
        column(&rows, "cpu_threads"),
        [Some(0), Some(1)],
        "0 CPU threads is always measured first\n{info}"
    );
    for row in &rows {
        assert!(number(row, "round_trips_per_s", &info) > 0.0, "{info}");
        let p50 = number(row, "rtt_ms_p50", &info);
        let p99 = number(row, "rtt_ms_p99", &info);
        assert!(p50 > 0.0 && p99 >= p50, "rtt p50 {p50} p99 {p99}\n{info}");
        assert_absent(
            row,
            &[
                "threads",
                "speedup",
                "iterations_per_s",
                "latency_ms_p50",
                "latency_ms_p99",
            ],
            &info,
        );
    }
}

#[test]
fn bench_latency_json() {
    let (run, docs) = bench_json(&[
        "bench",
        "latency",
        "--mode",
        "gil",
        "--threads",
        "1",
        "--seconds",
        "0.1",
        "--json",
    ]);
    let info = run.describe();
    let rows = single_report(&run, &docs, "latency", "gil");
    assert_eq!(column(&rows, "cpu_threads"), [Some(0), Some(1)], "{info}");
    // Beside a CPU thread the emulated GIL's distributions are all there:
    // every thread held and waited, the responder among them.
    for key in [
        "hold_ms_p50",
        "hold_ms_p99",
        "wait_ms_p50",
        "wait_ms_p99",
        "io_wait_ms_p50",
        "io_wait_ms_p99",
    ] {
        assert!(number(&rows[1], key, &info) >= 0.0, "{info}");
    }
    assert!(
        number(&rows[1], "io_wait_ms_p99", &info) >= number(&rows[1], "io_wait_ms_p50", &info),
        "{info}"
    );
    for row in &rows {
        let p50 = number(row, "latency_ms_p50", &info);
        let p99 = number(row, "latency_ms_p99", &info);
        assert!(
            p50 > 0.0 && p99 >= p50,
            "latency p50 {p50} p99 {p99}\n{info}"
        );
        assert_absent(
            row,
            &[
                "threads",
                "speedup",
                "iterations_per_s",
                "round_trips_per_s",
                "rtt_ms_p50",
                "rtt_ms_p99",
            ],
            &info,
        );
    }
}

#[test]
fn bench_io_json() {
    let (run, docs) = bench_json(&[
        "bench",
        "io",
        "--mode",
        "free",
        "--threads",
        "2",
        "--seconds",
        "0.1",
        "--json",
    ]);
    let info = run.describe();
    let rows = single_report(&run, &docs, "io", "free");
    assert_eq!(
        column(&rows, "threads"),
        [Some(1), Some(2)],
        "1 thread is always measured first\n{info}"
    );
    assert_speedups_are_measured(&rows, &info);
    for row in &rows {
        assert!(number(row, "iterations_per_s", &info) > 0.0, "{info}");
        assert!(number(row, "speedup", &info) > 0.0, "{info}");
        assert_absent(
            row,
            &["cpu_threads", "latency_ms_p50", "round_trips_per_s"],
            &info,
        );
    }
}

#[test]
fn bench_json_prints_one_document_per_mode() {
    let (run, docs) = bench_json(&[
        "bench",
        "throughput",
        "--mode",
        "free,legacy",
        "--threads",
        "1",
        "--seconds",
        "0.05",
        "--json",
    ]);
    let modes: Vec<&str> = docs.iter().filter_map(|d| d["mode"].as_str()).collect();
    assert_eq!(modes, ["free", "legacy"], "{}", run.describe());
}

// ---------------------------------------------------------------------------
// bench: the table
// ---------------------------------------------------------------------------

#[test]
fn bench_table_has_header_and_a_free_row() {
    let run = run(&[
        "bench",
        "throughput",
        "--mode",
        "free",
        "--threads",
        "1",
        "--seconds",
        "0.05",
    ]);
    run.assert_success();
    let info = run.describe();
    assert!(
        run.stdout
            .lines()
            .any(|l| l.contains("threads") && l.contains("iterations/s")),
        "no header line with threads and iterations/s\n{info}"
    );
    let row = run
        .stdout
        .lines()
        .find(|l| l.starts_with("free"))
        .unwrap_or_else(|| panic!("no row starting with free\n{info}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells.get(1),
        Some(&"1"),
        "threads column of {row:?}\n{info}"
    );
    assert!(
        cells
            .get(2)
            .and_then(|c| c.parse::<f64>().ok())
            .is_some_and(|v| v > 0.0),
        "iterations/s column of {row:?}\n{info}"
    );
    assert_eq!(cells.get(3), Some(&"1.00"), "speedup of {row:?}\n{info}");
    assert!(
        serde_json::from_str::<Value>(run.stdout.trim()).is_err(),
        "the table is not JSON\n{info}"
    );
}

// ---------------------------------------------------------------------------
// Usage errors: exit code 2, one line on stderr
// ---------------------------------------------------------------------------

fn assert_usage_error(args: &[&str], mentions: &[&str]) {
    let run = run(args);
    let info = run.describe();
    assert_eq!(run.status.code(), Some(2), "exit code\n{info}");
    assert_eq!(
        run.stderr.lines().count(),
        1,
        "stderr is not exactly one line\n{info}"
    );
    assert!(run.stderr.ends_with('\n'), "{info}");
    assert!(run.stdout.is_empty(), "nothing on stdout\n{info}");
    for word in mentions {
        assert!(
            run.stderr.contains(word),
            "stderr does not mention {word:?}\n{info}"
        );
    }
}

#[test]
fn unknown_experiment_is_a_usage_error() {
    assert_usage_error(
        &["bench", "nope"],
        &["nope", "throughput", "io", "latency", "convoy", "all"],
    );
}

#[test]
fn zero_threads_is_a_usage_error() {
    assert_usage_error(
        &["bench", "throughput", "--threads", "0"],
        &["--threads", "64"],
    );
}

#[test]
fn too_many_threads_is_a_usage_error() {
    assert_usage_error(
        &["bench", "throughput", "--threads", "65"],
        &["--threads", "65", "64"],
    );
}

#[test]
fn unknown_bench_mode_is_a_usage_error() {
    assert_usage_error(
        &["bench", "throughput", "--mode", "turbo"],
        &["turbo", "free", "gil", "legacy"],
    );
}

#[test]
fn bench_interval_out_of_range_is_a_usage_error() {
    assert_usage_error(
        &["bench", "throughput", "--interval", "1000"],
        &["--interval", "0.1", "100"],
    );
}

#[test]
fn negative_seconds_is_a_usage_error() {
    // The loose check that holds today: exit 2, one line, names the value.
    assert_usage_error(&["bench", "throughput", "--seconds", "-1"], &["-1"]);
    // Written with `=`, clap hands -1 to the value parser.
    assert_usage_error(
        &["bench", "throughput", "--seconds=-1"],
        &["--seconds", "-1", "0.05", "60"],
    );
}

#[test]
fn negative_seconds_names_the_flag_and_range() {
    assert_usage_error(
        &["bench", "throughput", "--seconds", "-1"],
        &["--seconds", "-1", "0.05", "60"],
    );
}

#[test]
fn negative_dashboard_interval_is_a_usage_error() {
    assert_usage_error(&["--interval", "-1"], &["-1"]);
    assert_usage_error(&["--interval=-1"], &["--interval", "-1", "0.1", "100"]);
}

#[test]
fn negative_dashboard_interval_names_the_flag_and_range() {
    assert_usage_error(&["--interval", "-1"], &["--interval", "-1", "0.1", "100"]);
}

#[test]
fn a_serve_path_without_a_leading_slash_is_a_usage_error() {
    assert_usage_error(
        &["--serve-path", "bytes/10"],
        &["--serve-path", "bytes/10", "/"],
    );
    assert_usage_error(
        &["--serve-path", "/bytes/10", "--url", "http://127.0.0.1:1/"],
        &["--serve-path", "--url"],
    );
}

#[test]
fn zero_fps_is_a_usage_error() {
    assert_usage_error(&["--fps", "0"], &["--fps", "240"]);
}

#[test]
fn a_python_cost_out_of_range_is_a_usage_error() {
    assert_usage_error(&["--ui-python-ms", "-1"], &["--ui-python-ms", "0 to 1000"]);
    assert_usage_error(
        &["--ui-python-ms", "lots"],
        &["--ui-python-ms", "0 to 1000"],
    );
}

#[test]
fn zero_cpu_steps_is_a_usage_error() {
    assert_usage_error(&["--cpu-steps", "0"], &["--cpu-steps"]);
}

#[test]
fn serve_refuses_a_non_loopback_address() {
    assert_usage_error(
        &["serve", "--addr", "10.1.2.3:80"],
        &["10.1.2.3:80", "loopback"],
    );
    // Our own check after parsing, not clap's value parser.
    let run = run(&["serve", "--addr", "10.1.2.3:80"]);
    assert!(
        run.stderr.starts_with("threadlab: refusing to bind"),
        "{}",
        run.describe()
    );
}

#[test]
fn serve_rejects_a_malformed_address() {
    assert_usage_error(
        &["serve", "--addr", "notanaddress"],
        &["--addr", "notanaddress"],
    );
}

// ---------------------------------------------------------------------------
// serve
// ---------------------------------------------------------------------------

/// Kills a `serve` child if the test fails before it exits.
struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn serve_answers_then_exits_0_on_sigterm() {
    let child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("THREADLAB_LOG")
        .spawn()
        .expect("start threadlab serve");
    let mut server = Server { child };
    let stderr = drain(server.child.stderr.take().expect("piped stderr"));

    // Every stdout line, as it comes, on a channel.
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stdout = server.child.stdout.take().expect("piped stdout");
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = match lines.recv_timeout(SERVE) {
        Ok(line) => line,
        Err(error) => {
            let _ = server.child.kill();
            let _ = server.child.wait();
            let stderr = stderr.join().unwrap_or_default();
            panic!("no first line from serve within {SERVE:?} ({error})\nstderr: {stderr}");
        }
    };
    let prefix = "threadlab server listening on ";
    let base = first
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .trim()
        .to_string();
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with('/'),
        "not a loopback URL: {base:?}"
    );
    let port: u16 = base["http://127.0.0.1:".len()..base.len() - 1]
        .parse()
        .unwrap_or_else(|e| panic!("no port in {base:?}: {e}"));
    assert_ne!(port, 0, "port 0 should be replaced by the bound port");

    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build the HTTP client");
    let response = client
        .get(format!("{base}bytes/1000"))
        .send()
        .expect("GET /bytes/1000");
    assert!(
        response.status().is_success(),
        "status {}",
        response.status()
    );
    let body = response.bytes().expect("read the body");
    assert_eq!(body.len(), 1000, "body length of /bytes/1000");

    let pid = server.child.id();
    let kill = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .stdin(Stdio::null())
        .status()
        .expect("run kill");
    assert!(kill.success(), "kill -TERM {pid} failed: {kill}");
    let status = wait_deadline(&mut server.child, SERVE);
    let stderr = stderr.join().unwrap_or_default();
    let status = status.unwrap_or_else(|| {
        panic!("serve did not exit within {SERVE:?} of SIGTERM (killed)\nstderr: {stderr}")
    });
    assert!(
        status.success(),
        "serve should exit 0 on SIGTERM, got {status}\nstderr: {stderr}"
    );
}

// ---------------------------------------------------------------------------
// --help and --version
// ---------------------------------------------------------------------------

#[test]
fn help_lists_the_subcommands() {
    let run = run(&["--help"]);
    run.assert_success();
    let info = run.describe();
    for word in ["bench", "serve", "--mode", "--interval"] {
        assert!(run.stdout.contains(word), "--help lacks {word:?}\n{info}");
    }
}

#[test]
fn version_prints_the_version() {
    let run = run(&["--version"]);
    run.assert_success();
    assert_eq!(
        run.stdout.trim(),
        format!("threadlab {}", env!("CARGO_PKG_VERSION")),
        "{}",
        run.describe()
    );
}

// ---------------------------------------------------------------------------
// config, completions, man
// ---------------------------------------------------------------------------

#[test]
fn config_prints_the_documented_defaults_and_they_load() {
    let run = run(&["config"]);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(
        run.stdout.contains("[gil]") && run.stdout.contains("[keys]"),
        "{}",
        run.stdout
    );
    threadlab::config::Config::from_toml(Some(std::path::Path::new("printed.toml")), &run.stdout)
        .expect("the printed default is a valid config");
}

#[test]
fn completions_and_man_page_generate() {
    for shell in ["bash", "zsh", "fish"] {
        let run = run(&["completions", shell]);
        assert!(run.status.success(), "{shell}: {}", run.stderr);
        assert!(
            run.stdout.contains("threadlab") && run.stdout.contains("bench"),
            "{shell}"
        );
    }
    let bad = run(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
    let man = run(&["man"]);
    assert!(man.status.success(), "{}", man.stderr);
    assert!(
        man.stdout.contains(".TH") && man.stdout.contains("threadlab"),
        "{}",
        man.stdout
    );
}

#[test]
fn a_missing_config_file_is_one_line_and_exit_2() {
    let run = run(&["--config", "/nonexistent/threadlab.toml"]);
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("/nonexistent/threadlab.toml"),
        "{}",
        run.stderr
    );
}
