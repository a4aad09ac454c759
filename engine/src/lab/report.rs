//! Experiment results: the JSON shape shared with `compare`'s Python scripts,
//! and the aligned table people read.

use serde::{Deserialize, Serialize};

use crate::gil::Mode;

/// One measured row; fields that do not apply are left out of the JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchRow {
    /// Worker threads (throughput, io).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    /// CPU threads running beside the measured one (latency, convoy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_threads: Option<u32>,
    /// Rate relative to the measured 1-thread row's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speedup: Option<f64>,
    /// Iterations (CPU steps or blocking waits) per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iterations_per_s: Option<f64>,
    /// Median ping latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms_p50: Option<f64>,
    /// 99th percentile ping latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms_p99: Option<f64>,
    /// Loopback round trips per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round_trips_per_s: Option<f64>,
    /// Median round-trip time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms_p50: Option<f64>,
    /// 99th percentile round-trip time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms_p99: Option<f64>,
    /// Wall time of the measurement.
    #[serde(default)]
    pub wall_s: f64,
    /// Times the GIL passed between threads, per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switches_per_s: Option<f64>,
    /// Median time one thread held the emulated GIL at a stretch, over all
    /// the measurement's threads (absent in `free` mode and for Python).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_ms_p50: Option<f64>,
    /// 99th percentile of the same holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_ms_p99: Option<f64>,
    /// Median time one thread waited for the emulated GIL at a stretch, over
    /// all the measurement's threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms_p50: Option<f64>,
    /// 99th percentile of the same waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms_p99: Option<f64>,
    /// Median wait of the I/O thread (convoy) or responder (latency) alone:
    /// how long it waited for the GIL on coming back from a blocking call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_wait_ms_p50: Option<f64>,
    /// 99th percentile of the same waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_wait_ms_p99: Option<f64>,
    /// OS thread ids of the measurement's threads (real Python 3.8+ only),
    /// which `compare --trace` matches with the tracer's threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_ids: Option<Vec<u32>>,
    /// OS thread id of the I/O thread (convoy) or responder (latency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_thread_id: Option<u32>,
}

/// One experiment in one mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The experiment's name.
    pub experiment: String,
    /// The GIL mode (for a real interpreter: the mode it corresponds to).
    pub mode: Mode,
    /// The switch interval used.
    pub interval_ms: f64,
    /// The measurements.
    pub rows: Vec<BenchRow>,
    /// Set when a real interpreter, not the emulation, measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<Interpreter>,
}

/// A real Python interpreter, as it describes itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interpreter {
    /// `platform.python_version()`, e.g. `3.11.7`.
    pub version: String,
    /// `platform.python_implementation()`, e.g. `CPython`.
    pub implementation: String,
    /// `sys._is_gil_enabled()` where it exists, else true.
    pub gil_enabled: bool,
    /// `sys.executable`.
    #[serde(default)]
    pub executable: String,
}

impl BenchRow {
    /// The thread count the row stands for: its threads, or the CPU
    /// threads beside the measured one (latency, convoy).
    pub fn key(&self) -> u32 {
        self.threads.or(self.cpu_threads).unwrap_or(0)
    }
}

impl Interpreter {
    /// A short label: `py3.11`, `py3.13t` (free-threaded), `py2.7`.
    pub fn label(&self) -> String {
        let short: Vec<&str> = self.version.split('.').take(2).collect();
        let free = if self.gil_enabled { "" } else { "t" };
        format!("py{}{free}", short.join("."))
    }

    /// The emulation mode this interpreter corresponds to.
    pub fn mode(&self) -> Mode {
        if self.version.starts_with('2') {
            Mode::Legacy
        } else if self.gil_enabled {
            Mode::Gil
        } else {
            Mode::Free
        }
    }
}

impl Report {
    /// The column label: the mode, or the interpreter's label.
    pub fn label(&self) -> String {
        self.interpreter
            .as_ref()
            .map_or_else(|| self.mode.name().to_string(), Interpreter::label)
    }
}

/// Picks a row's cells for one experiment's table.
type RowCells = fn(&BenchRow) -> Vec<String>;

fn cell(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "–".to_string(), |v| format!("{v:.digits$}"))
}

/// Milliseconds with two decimals, three below 0.1 ms (holds are often µs).
fn short(ms: Option<f64>) -> String {
    cell(ms, if ms.is_some_and(|v| v < 0.1) { 3 } else { 2 })
}

/// A median and a 99th percentile in one cell: `p50/p99`.
fn pair(p50: Option<f64>, p99: Option<f64>) -> String {
    match (p50, p99) {
        (None, None) => "–".to_string(),
        (p50, p99) => format!("{}/{}", short(p50), short(p99)),
    }
}

/// The emulated GIL's distribution columns every experiment shows.
const DIST_HEADERS: [&str; 2] = ["hold ms p50/p99", "wait ms p50/p99"];

fn dist_cells(r: &BenchRow) -> [String; 2] {
    [
        pair(r.hold_ms_p50, r.hold_ms_p99),
        pair(r.wait_ms_p50, r.wait_ms_p99),
    ]
}

/// The latency experiment's columns after `mode`.
const LATENCY_HEADERS: [&str; 7] = [
    "cpu threads",
    "p50 ms",
    "p99 ms",
    "switches/s",
    DIST_HEADERS[0],
    DIST_HEADERS[1],
    "responder wait ms p50/p99",
];

/// A latency row's cells, in [`LATENCY_HEADERS`]' order.
fn latency_cells(r: &BenchRow) -> Vec<String> {
    let [hold, wait] = dist_cells(r);
    vec![
        cell(r.cpu_threads.map(f64::from), 0),
        cell(r.latency_ms_p50, 2),
        cell(r.latency_ms_p99, 2),
        cell(r.switches_per_s, 0),
        hold,
        wait,
        pair(r.io_wait_ms_p50, r.io_wait_ms_p99),
    ]
}

/// The convoy experiment's columns after `mode`.
const CONVOY_HEADERS: [&str; 8] = [
    "cpu threads",
    "round trips/s",
    "rtt p50 ms",
    "rtt p99 ms",
    "switches/s",
    DIST_HEADERS[0],
    DIST_HEADERS[1],
    "io wait ms p50/p99",
];

/// A convoy row's cells, in [`CONVOY_HEADERS`]' order.
fn convoy_cells(r: &BenchRow) -> Vec<String> {
    let [hold, wait] = dist_cells(r);
    vec![
        cell(r.cpu_threads.map(f64::from), 0),
        cell(r.round_trips_per_s, 0),
        cell(r.rtt_ms_p50, 3),
        cell(r.rtt_ms_p99, 3),
        cell(r.switches_per_s, 0),
        hold,
        wait,
        pair(r.io_wait_ms_p50, r.io_wait_ms_p99),
    ]
}

/// The throughput (and I/O) experiments' columns after `mode`.
const THROUGHPUT_HEADERS: [&str; 6] = [
    "threads",
    "iterations/s",
    "speedup",
    "switches/s",
    DIST_HEADERS[0],
    DIST_HEADERS[1],
];

/// A throughput row's cells, in [`THROUGHPUT_HEADERS`]' order.
fn throughput_cells(r: &BenchRow) -> Vec<String> {
    let [hold, wait] = dist_cells(r);
    vec![
        cell(r.threads.map(f64::from), 0),
        cell(r.iterations_per_s, 0),
        cell(r.speedup, 2),
        cell(r.switches_per_s, 0),
        hold,
        wait,
    ]
}

/// Renders reports of one experiment as an aligned table, one row per
/// (mode, thread count).
pub fn render_table(reports: &[Report]) -> String {
    let Some(first) = reports.first() else {
        return String::new();
    };
    let (headers, pick): (&[&str], RowCells) = match first.experiment.as_str() {
        "latency" => (&LATENCY_HEADERS, latency_cells),
        "convoy" => (&CONVOY_HEADERS, convoy_cells),
        _ => (&THROUGHPUT_HEADERS, throughput_cells),
    };
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["mode".to_string()];
    header.extend(headers.iter().map(|h| h.to_string()));
    lines.push(header);
    for report in reports {
        for row in &report.rows {
            let mut line = vec![report.label()];
            line.extend(pick(row));
            lines.push(line);
        }
    }
    aligned_table(
        &format!(
            "{} (switch interval {:.1} ms)",
            first.experiment, first.interval_ms
        ),
        &lines,
        true,
    )
}

/// Lays out `lines` (the first is the header) as a table under `title`:
/// columns two spaces apart, a rule under the header, numbers right-aligned
/// (and the first column left-aligned when `label_first`).
pub(crate) fn aligned_table(title: &str, lines: &[Vec<String>], label_first: bool) -> String {
    let columns = lines.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            lines
                .iter()
                .map(|l| l.get(c).map_or(0, |cell| cell.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("{title}\n");
    for (i, line) in lines.iter().enumerate() {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| {
                if c == 0 && label_first {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&rule.join("  "));
            out.push('\n');
        }
    }
    out
}
