//! Experiment results: the JSON shape shared with `compare`'s Python scripts,
//! and the aligned table people read.

use serde::Serialize;

use crate::gil::Mode;

/// One measured row; fields that do not apply are left out of the JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BenchRow {
    /// Worker threads (throughput, io).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    /// CPU threads running beside the measured one (latency, convoy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_threads: Option<u32>,
    /// Rate relative to the first row (1 thread).
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
    pub wall_s: f64,
    /// Times the GIL passed between threads, per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switches_per_s: Option<f64>,
}

/// One experiment in one mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The experiment's name.
    pub experiment: &'static str,
    /// The GIL mode.
    pub mode: Mode,
    /// The switch interval used.
    pub interval_ms: f64,
    /// The measurements.
    pub rows: Vec<BenchRow>,
}

/// Picks a row's cells for one experiment's table.
type RowCells = fn(&BenchRow) -> Vec<String>;

fn cell(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "–".to_string(), |v| format!("{v:.digits$}"))
}

/// Renders reports of one experiment as an aligned table, one row per
/// (mode, thread count).
pub fn render_table(reports: &[Report]) -> String {
    let Some(first) = reports.first() else {
        return String::new();
    };
    let (headers, pick): (Vec<&str>, RowCells) = match first.experiment {
        "latency" => (vec!["cpu threads", "p50 ms", "p99 ms", "switches/s"], |r| {
            vec![
                cell(r.cpu_threads.map(f64::from), 0),
                cell(r.latency_ms_p50, 2),
                cell(r.latency_ms_p99, 2),
                cell(r.switches_per_s, 0),
            ]
        }),
        "convoy" => (
            vec![
                "cpu threads",
                "round trips/s",
                "rtt p50 ms",
                "rtt p99 ms",
                "switches/s",
            ],
            |r| {
                vec![
                    cell(r.cpu_threads.map(f64::from), 0),
                    cell(r.round_trips_per_s, 0),
                    cell(r.rtt_ms_p50, 3),
                    cell(r.rtt_ms_p99, 3),
                    cell(r.switches_per_s, 0),
                ]
            },
        ),
        _ => (
            vec!["threads", "iterations/s", "speedup", "switches/s"],
            |r| {
                vec![
                    cell(r.threads.map(f64::from), 0),
                    cell(r.iterations_per_s, 0),
                    cell(r.speedup, 2),
                    cell(r.switches_per_s, 0),
                ]
            },
        ),
    };
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["mode".to_string()];
    header.extend(headers.iter().map(|h| h.to_string()));
    lines.push(header);
    for report in reports {
        for row in &report.rows {
            let mut line = vec![report.mode.name().to_string()];
            line.extend(pick(row));
            lines.push(line);
        }
    }
    let columns = lines[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!(
        "{} (switch interval {:.1} ms)\n",
        first.experiment, first.interval_ms
    );
    for (i, line) in lines.iter().enumerate() {
        let text: Vec<String> = line
            .iter()
            .enumerate()
            .map(|(c, v)| {
                if c == 0 {
                    format!("{v:<w$}", w = widths[c])
                } else {
                    format!("{v:>w$}", w = widths[c])
                }
            })
            .collect();
        out.push_str(text.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&rule.join("  "));
            out.push('\n');
        }
    }
    out
}
