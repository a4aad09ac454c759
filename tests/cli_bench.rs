//! `threadlab bench` end to end: `--json` prints one report per experiment
//! and mode with the rows each experiment promises, and the table has its
//! header and rows. Usage errors are in `tests/cli.rs`.

mod common;

use common::{Run, run};
use serde_json::Value;

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
