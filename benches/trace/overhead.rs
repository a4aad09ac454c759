//! The `overhead` part of the `trace` bench: a program's work in a fixed
//! wall time, alone and under `threadlab trace --json`, side by side (see
//! the bench's module comment).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::common;

/// Seconds each program runs (its own wall clock, so start-up is not in it).
const SECONDS: &str = "2";

/// A program to measure: its script, the words before the work count in
/// its output, the budget for the slowdown.
struct Program {
    /// For filters: `overhead-cpu`, `overhead-convoy`.
    key: &'static str,
    name: &'static str,
    script: &'static str,
    /// The line that carries the work done ends with the number.
    marker: &'static str,
    unit: &'static str,
    budget_pct: f64,
}

const PROGRAMS: [Program; 2] = [
    Program {
        key: "cpu",
        name: "two CPU-bound threads",
        script: "trace_cpu.py",
        marker: "cpu done, iterations ",
        unit: "loop iterations",
        budget_pct: 3.0,
    },
    Program {
        key: "convoy",
        name: "the convoy",
        script: "trace_convoy.py",
        marker: "round trips ",
        unit: "round trips",
        budget_pct: 15.0,
    },
];

/// What one run did: the work, and the program's own CPU seconds if it
/// printed them (`cpu_s X`).
#[derive(Clone, Copy)]
pub(super) struct Done {
    pub(super) work: f64,
    pub(super) cpu_s: Option<f64>,
}

impl Done {
    /// Work per CPU second: what the probes cost the program itself (their
    /// traps run on its threads), whatever else competed for the cores.
    pub(super) fn per_cpu_s(&self) -> Option<f64> {
        self.cpu_s.filter(|&s| s > 0.0).map(|s| self.work / s)
    }
}

/// One traced run's summary.
struct Traced {
    done: Done,
    events: u64,
    lost: u64,
    duration_s: f64,
    switches_per_s: f64,
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/python")
        .join(name)
}

/// The work count from `output` (the last line carrying `marker`: the
/// number after it), and the CPU seconds on that line if given.
pub(super) fn work(output: &str, marker: &str) -> Option<Done> {
    output.lines().rev().find_map(|line| {
        let rest = line.split_once(marker)?.1;
        let work = rest.split_whitespace().next()?.parse().ok()?;
        let cpu_s = rest
            .split_once("cpu_s ")
            .and_then(|(_, s)| s.split_whitespace().next()?.parse().ok());
        Some(Done { work, cpu_s })
    })
}

fn alone(python: &Path, program: &Program) -> Done {
    let out = Command::new(python)
        .arg(script(program.script))
        .arg(SECONDS)
        .stdin(Stdio::null())
        .output()
        .expect("run the program alone");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}: {:?}", program.script, out.status);
    work(&stdout, program.marker)
        .unwrap_or_else(|| panic!("{}: no work count in {stdout:?}", program.script))
}

fn traced(bin: &Path, python: &Path, program: &Program) -> Traced {
    let out = Command::new(bin)
        .args(["trace", "--json", "--"])
        .arg(python)
        .arg(script(program.script))
        .arg(SECONDS)
        .stdin(Stdio::null())
        .output()
        .expect("run threadlab trace");
    // In --json mode the program's output goes to threadlab's stderr.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "trace failed: {:?}\n{stderr}",
        out.status
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("the JSON summary");
    assert_eq!(summary["exit_code"], 0, "{summary}");
    let number = |key: &str| {
        summary[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing in {summary}"))
    };
    Traced {
        done: work(&stderr, program.marker)
            .unwrap_or_else(|| panic!("{}: no work count in {stderr:?}", program.script)),
        events: number("events") as u64,
        lost: number("lost_events") as u64,
        duration_s: number("duration_s"),
        switches_per_s: number("switches_per_s"),
    }
}

fn list(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.0}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The median work per CPU second of `runs`, if each printed its CPU time.
fn per_cpu_median(runs: &[&Done]) -> Option<f64> {
    let values: Option<Vec<f64>> = runs.iter().map(|d| d.per_cpu_s()).collect();
    values.filter(|v| !v.is_empty()).map(|v| common::median(&v))
}

/// Measures every program `filters` ask for (`overhead-cpu`,
/// `overhead-convoy`) `runs` times each way and prints its row.
pub fn run(bin: &Path, python: &Path, runs: usize, filters: &[String]) {
    println!(
        "tracer overhead: {} ({SECONDS} s per run, {runs} runs each way, alternated)",
        python.display()
    );
    let mut rows = Vec::new();
    for program in PROGRAMS
        .iter()
        .filter(|p| common::wanted(filters, &format!("overhead-{}", p.key)))
    {
        let (mut plain, mut under, mut foreign) = (Vec::new(), Vec::new(), Vec::new());
        let mut plain_runs = Vec::new();
        let mut traced_runs = Vec::new();
        for _ in 0..runs {
            common::wait_quiet(Duration::from_secs(60));
            let interference = common::Interference::start(&[]);
            let a = alone(python, program);
            plain.push(a.work);
            plain_runs.push(a);
            let t = traced(bin, python, program);
            foreign.push(interference.foreign_cores());
            under.push(t.done.work);
            traced_runs.push(t);
        }
        let (a, t) = (common::median(&plain), common::median(&under));
        let slowdown = (a - t) / a * 100.0;
        let events: u64 = traced_runs.iter().map(|r| r.events).sum();
        let lost: u64 = traced_runs.iter().map(|r| r.lost).sum();
        let seconds: f64 = traced_runs.iter().map(|r| r.duration_s).sum();
        let switches = common::median(
            &traced_runs
                .iter()
                .map(|r| r.switches_per_s)
                .collect::<Vec<_>>(),
        );
        // The verdict counts only pairs run on a quiet machine: under load
        // the convoy's round trips swing by 40× between runs of one kind.
        let quiet: Vec<usize> = (0..foreign.len())
            .filter(|&i| foreign[i] <= common::DISTURBED_CORES)
            .collect();
        let quiet_slowdown = (quiet.len() >= 3).then(|| {
            let pick = |v: &[f64]| common::median(&quiet.iter().map(|&i| v[i]).collect::<Vec<_>>());
            let (a, t) = (pick(&plain), pick(&under));
            (a - t) / a * 100.0
        });
        let ok = quiet_slowdown.is_some_and(|q| q <= program.budget_pct);
        let verdict = match quiet_slowdown {
            Some(q) => format!(
                "{q:+.1} % over the {} quiet pairs {}",
                quiet.len(),
                if ok { "✅" } else { "❌" }
            ),
            None => format!(
                "no verdict: {} of {runs} pairs quiet (≤ {} cores used by others), 3 needed",
                quiet.len(),
                common::DISTURBED_CORES
            ),
        };
        let per_cpu = per_cpu_median(&plain_runs.iter().collect::<Vec<_>>()).zip(per_cpu_median(
            &traced_runs.iter().map(|r| &r.done).collect::<Vec<_>>(),
        ));
        let per_cpu_text = per_cpu.map_or("—".to_string(), |(a, t)| {
            format!("{a:.0} → {t:.0} ({:+.1} %)", (a - t) / a * 100.0)
        });
        if per_cpu.is_some() {
            let each = |runs: Vec<&Done>| {
                list(
                    &runs
                        .iter()
                        .filter_map(|d| d.per_cpu_s())
                        .collect::<Vec<_>>(),
                )
            };
            println!(
                "{}: work per CPU second, each run: alone {}; traced {}",
                program.name,
                each(plain_runs.iter().collect()),
                each(traced_runs.iter().map(|r| &r.done).collect()),
            );
        }
        println!(
            "{}: {} alone {} (median {a:.0}); traced {} (median {t:.0}); slowdown {slowdown:+.1} %, budget ≤ {} %: {verdict}; {events} probe events in {seconds:.1} s ({:.0}/s), {lost} lost, {switches:.0} switches/s; per CPU second of the program {per_cpu_text}; other processes {} cores",
            program.name,
            program.unit,
            list(&plain),
            list(&under),
            program.budget_pct,
            events as f64 / seconds.max(1e-9),
            foreign
                .iter()
                .map(|f| format!("{f:.2}"))
                .collect::<Vec<_>>()
                .join(" / "),
        );
        rows.push(format!(
            "| {} (`{}`, {}) | {} | {} | {slowdown:+.1} % | ≤ {} %: {verdict} | {per_cpu_text} | {events} / {lost} |",
            program.name,
            program.script,
            program.unit,
            list(&plain),
            list(&under),
            program.budget_pct,
        ));
    }
    println!(
        "\n| program (work in {SECONDS} s) | alone | traced | slowdown of the medians | budget (quiet pairs only) | work per CPU s, alone → traced | probe events / lost |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}
