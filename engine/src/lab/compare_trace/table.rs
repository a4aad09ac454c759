//! The table `compare --trace` prints: the traced interpreters' hold, wait
//! and I/O-thread wait percentiles beside the emulation's, with real ÷
//! emulated for each.

use super::super::{BenchRow, Experiment, Report};
use super::CONTENDED_WAIT_US;
use crate::gil::Mode;

/// Whether any row of `report` carries a traced distribution.
fn is_traced(report: &Report) -> bool {
    report.interpreter.is_some() && report.rows.iter().any(|r| r.hold_ms_p50.is_some())
}

type Pick = fn(&BenchRow) -> (Option<f64>, Option<f64>);

/// The distributions one experiment's table shows.
fn measures(experiment: Experiment) -> Vec<(&'static str, Pick)> {
    let mut out: Vec<(&'static str, Pick)> = vec![
        ("hold", |r| (r.hold_ms_p50, r.hold_ms_p99)),
        ("wait", |r| (r.wait_ms_p50, r.wait_ms_p99)),
    ];
    if matches!(experiment, Experiment::Latency | Experiment::Convoy) {
        out.push(("io wait", |r| (r.io_wait_ms_p50, r.io_wait_ms_p99)));
    }
    out
}

fn ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v < 0.1 => format!("{v:.3}"),
        Some(v) => format!("{v:.2}"),
        None => "–".to_string(),
    }
}

fn pair(p50: Option<f64>, p99: Option<f64>) -> String {
    match (p50, p99) {
        (None, None) => "–".to_string(),
        _ => format!("{}/{}", ms(p50), ms(p99)),
    }
}

fn ratio(real: Option<f64>, emulated: Option<f64>) -> String {
    match (real, emulated) {
        (Some(r), Some(e)) if e > 0.0 => format!("{:.2}", r / e),
        _ => "–".to_string(),
    }
}

/// Renders the traced interpreters' GIL distributions beside the emulated
/// ones (ms, `p50/p99`, and the real ÷ emulated ratio of each), one line
/// per row and measure; `None` when no report was traced. `notes` (one per
/// interpreter that could not be traced) follow the table.
pub fn render_distributions(
    experiment: Experiment,
    reports: &[Report],
    notes: &[String],
) -> Option<String> {
    let traced: Vec<&Report> = reports.iter().filter(|r| is_traced(r)).collect();
    let mut out = String::new();
    if !traced.is_empty() {
        let mut modes: Vec<Mode> = traced.iter().map(|r| r.mode).collect();
        modes.dedup();
        let emulated: Vec<&Report> = modes
            .iter()
            .filter_map(|m| {
                reports
                    .iter()
                    .find(|r| r.interpreter.is_none() && r.mode == *m)
            })
            .collect();
        let key_name = match experiment {
            Experiment::Latency | Experiment::Convoy => "cpu threads",
            _ => "threads",
        };
        let mut header = vec![key_name.to_string(), "p50/p99 of".to_string()];
        header.extend(emulated.iter().map(|r| format!("emu {}", r.mode)));
        for report in &traced {
            header.push(format!("{} traced", report.label()));
            header.push(format!("÷ emu {} p50/p99", report.mode));
        }
        let mut keys: Vec<u32> = reports
            .iter()
            .flat_map(|r| r.rows.iter().map(BenchRow::key))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let find = |report: &Report, key: u32| report.rows.iter().find(|r| r.key() == key).cloned();
        let mut lines = vec![header];
        for key in keys {
            for (name, pick) in measures(experiment) {
                let mut line = vec![key.to_string(), name.to_string()];
                for report in &emulated {
                    let (p50, p99) = find(report, key).map_or((None, None), |r| pick(&r));
                    line.push(pair(p50, p99));
                }
                for report in &traced {
                    let (p50, p99) = find(report, key).map_or((None, None), |r| pick(&r));
                    let (e50, e99) = emulated
                        .iter()
                        .find(|e| e.mode == report.mode)
                        .and_then(|e| find(e, key))
                        .map_or((None, None), |r| pick(&r));
                    line.push(pair(p50, p99));
                    line.push(match (p50, p99) {
                        (None, None) => "–".to_string(),
                        _ => format!("{}/{}", ratio(p50, e50), ratio(p99, e99)),
                    });
                }
                lines.push(line);
            }
        }
        let interval = reports.first().map_or(5.0, |r| r.interval_ms);
        out.push_str(&crate::lab::report::aligned_table(
            &format!(
                "{experiment}: real GIL (traced) beside the emulation's, ms; real waits under {CONTENDED_WAIT_US} µs (uncontended takes) left out (switch interval {interval:.1} ms)"
            ),
            &lines,
            false,
        ));
    }
    for note in notes {
        out.push_str(&format!("{note}\n"));
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::Interpreter;

    #[test]
    fn the_table_shows_real_beside_emulated_with_ratios_and_notes() {
        let row = |hold: f64, wait: f64| BenchRow {
            threads: Some(2),
            hold_ms_p50: Some(hold),
            hold_ms_p99: Some(hold * 2.0),
            wait_ms_p50: Some(wait),
            wait_ms_p99: Some(wait * 2.0),
            ..BenchRow::default()
        };
        let emulated = Report {
            experiment: "throughput".into(),
            mode: Mode::Gil,
            interval_ms: 5.0,
            rows: vec![row(5.0, 5.0)],
            interpreter: None,
        };
        let real = Report {
            interpreter: Some(Interpreter {
                version: "3.11.7".into(),
                implementation: "CPython".into(),
                gil_enabled: true,
                executable: String::new(),
            }),
            rows: vec![row(6.0, 5.0)],
            ..emulated.clone()
        };
        let text = render_distributions(
            Experiment::Throughput,
            &[emulated, real],
            &["py2.7: no take_gil".to_string()],
        )
        .expect("a traced report gives a table");
        assert!(text.contains("py3.11 traced"), "{text}");
        let hold = text
            .lines()
            .find(|l| l.contains("hold"))
            .expect("a hold line");
        assert!(hold.contains("5.00/10.00"), "{hold}");
        assert!(hold.contains("6.00/12.00"), "{hold}");
        assert!(hold.contains("1.20/1.20"), "{hold}");
        assert!(text.ends_with("py2.7: no take_gil\n"), "{text}");
    }
}
