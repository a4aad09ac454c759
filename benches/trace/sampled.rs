//! The `sampled` part of the `trace` bench: how far the sampled mode's GIL
//! shares are from the exact ones, and what it costs, at 100, 250 and
//! 1000 Hz, beside `py-spy record --gil` at the same rates.
//!
//! The same two programs as `stacks` (two CPU-bound threads, pinned to
//! CPU 1 with the observer on CPU 0; the convoy, unpinned), each run for
//! 2 s of its own wall clock in eight ways, alternated
//! `THREADLAB_BENCH_RUNS` times (default 3): alone; `threadlab trace`
//! (exact: the probes, and stacks at 100 Hz for the threads' Python names —
//! the reference shares); `threadlab trace --sampled`
//! at each rate; `py-spy record --gil --threads --nonblocking` at each rate.
//!
//! Hold % error: per thread, the way's hold % against the median exact
//! hold % of the thread of the same name, in percentage points, averaged
//! over the program's threads (the main thread, which only joins, left
//! out), median over the rounds. py-spy's hold % is a thread's GIL samples
//! over all its samples of the process (its denominator is the run, not
//! the thread's life: a few points lower for threads started after the
//! interpreter's start-up). Overhead: the work done against alone (the
//! medians), as `stacks` measures it, and for the pinned CPU-bound program
//! work per CPU second of the program (what an observer costs the program
//! itself, whatever else takes the cores).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::common;
use super::overhead::{Done, work};

/// Seconds each program runs (its own wall clock).
const SECONDS: &str = "2";

/// The rates compared.
const RATES: [u32; 3] = [100, 250, 1000];

/// A program: its script, the words before its work count, and whether
/// it runs pinned.
struct Program {
    name: &'static str,
    script: &'static str,
    marker: &'static str,
    pinned: bool,
}

const PROGRAMS: [Program; 2] = [
    Program {
        name: "two CPU-bound threads",
        script: "trace_cpu.py",
        marker: "cpu done, iterations ",
        pinned: true,
    },
    Program {
        name: "the convoy",
        script: "trace_convoy.py",
        marker: "round trips ",
        pinned: false,
    },
];

/// One way to run a program.
#[derive(Clone, Copy, PartialEq)]
enum Way {
    Alone,
    Exact,
    Sampled(u32),
    PySpy(u32),
}

impl Way {
    fn label(self) -> String {
        match self {
            Way::Alone => "alone".into(),
            Way::Exact => "exact (probes + names)".into(),
            Way::Sampled(rate) => format!("sampled {rate} Hz"),
            Way::PySpy(rate) => format!("py-spy --gil {rate} Hz"),
        }
    }
}

fn ways() -> Vec<Way> {
    let mut ways = vec![Way::Alone, Way::Exact];
    ways.extend(RATES.iter().map(|&r| Way::Sampled(r)));
    ways.extend(RATES.iter().map(|&r| Way::PySpy(r)));
    ways
}

/// What one run gave: its work, and each thread's hold % by name.
struct Ran {
    done: Done,
    holds: HashMap<String, f64>,
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/python")
        .join(name)
}

fn py_spy() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("THREADLAB_PYSPY") {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("py-spy"))
        .find(|p| p.is_file())
}

/// Hold % by thread name from `trace --json`, the main thread left out.
fn holds_from_json(stdout: &str) -> HashMap<String, f64> {
    let Ok(summary) = serde_json::from_str::<serde_json::Value>(stdout) else {
        return HashMap::new();
    };
    summary["threads"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["name"] != "MainThread")
        .filter_map(|t| Some((t["name"].as_str()?.to_string(), t["hold_pct"].as_f64()?)))
        .collect()
}

/// Hold % by thread name from py-spy's raw output (`thread (TID): NAME;…
/// COUNT` lines) over its `Samples: N` total.
fn holds_from_py_spy(raw: &str, log: &str) -> HashMap<String, f64> {
    let total: f64 = log
        .split_once("Samples: ")
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let mut counts: HashMap<String, f64> = HashMap::new();
    for line in raw.lines() {
        let Some((stack, count)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(count) = count.parse::<f64>() else {
            continue;
        };
        // `thread (TID): NAME`; a thread without a Python name is left out.
        let first = stack.split(';').next().unwrap_or_default();
        if let Some((_, name)) = first.split_once("): ")
            && name != "MainThread"
        {
            *counts.entry(name.to_string()).or_default() += count;
        }
    }
    if total <= 0.0 {
        return HashMap::new();
    }
    counts
        .into_iter()
        .map(|(name, n)| (name, n / total * 100.0))
        .collect()
}

/// Runs `program` one `way`.
fn run_once(
    bin: &Path,
    spy: Option<&Path>,
    python: &Path,
    program: &Program,
    way: Way,
) -> Option<Ran> {
    let pin = program.pinned;
    let mut command = Command::new("taskset");
    let raw = std::env::temp_dir().join(format!(
        "threadlab-bench-sampled-{}.txt",
        std::process::id()
    ));
    if way != Way::Alone {
        command.args(["-c", if pin { "0" } else { "0,1" }]);
    }
    match way {
        Way::Alone => {}
        Way::Exact | Way::Sampled(_) => {
            command.arg(bin).args(["trace", "--json"]);
            match way {
                Way::Sampled(rate) => command.args(["--sampled", "--rate", &rate.to_string()]),
                // Stacks at 100 Hz only for the threads' Python names.
                _ => command.args(["--rate", "100"]),
            };
            command.args(["--", "taskset"]);
        }
        Way::PySpy(rate) => {
            command
                .arg(spy?)
                .args(["record", "--gil", "--threads", "--nonblocking"])
                .args(["--format", "raw", "--rate", &rate.to_string(), "-o"])
                .arg(&raw)
                .args(["--", "taskset"]);
        }
    }
    let out = command
        .args(["-c", if pin { "1" } else { "0,1" }])
        .arg(python)
        .arg(script(program.script))
        .arg(SECONDS)
        .stdin(Stdio::null())
        .output()
        .expect("run the program");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let holds = match way {
        Way::Alone => HashMap::new(),
        Way::PySpy(_) => {
            let text = std::fs::read_to_string(&raw).unwrap_or_default();
            let _ = std::fs::remove_file(&raw);
            holds_from_py_spy(&text, &format!("{stdout}{stderr}"))
        }
        _ => holds_from_json(&stdout),
    };
    if !out.status.success() {
        eprintln!(
            "{}: {} failed: {:?}",
            program.script,
            way.label(),
            out.status
        );
        return None;
    }
    let done = work(&format!("{stdout}{stderr}"), program.marker)?;
    Some(Ran { done, holds })
}

/// Measures every program every way `runs` times and prints the table.
pub fn run(bin: &Path, python: &Path, runs: usize) {
    let spy = py_spy();
    let ways = ways();
    println!(
        "sampled against exact: {} ({SECONDS} s per run, {runs} rounds of every way, alternated); py-spy: {}",
        python.display(),
        spy.as_ref()
            .map_or("not found (pip install py-spy)".to_string(), |p| p
                .display()
                .to_string())
    );
    let mut rows = Vec::new();
    for program in &PROGRAMS {
        let mut ran: Vec<Vec<Option<Ran>>> = (0..ways.len()).map(|_| Vec::new()).collect();
        for _ in 0..runs {
            common::wait_quiet(std::time::Duration::from_secs(60));
            for (i, way) in ways.iter().enumerate() {
                ran[i].push(run_once(bin, spy.as_deref(), python, program, *way));
            }
        }
        rows.extend(program_rows(program, &ways, &ran));
    }
    let heads: Vec<String> = ways.iter().skip(1).map(|w| w.label()).collect();
    println!("\n| program | figure | {} |", heads.join(" | "));
    println!("|---|---|{}", "---|".repeat(heads.len()));
    for row in rows {
        println!("{row}");
    }
}

/// The hold % error and overhead rows of one program.
fn program_rows(program: &Program, ways: &[Way], ran: &[Vec<Option<Ran>>]) -> Vec<String> {
    let exact_at = ways.iter().position(|w| *w == Way::Exact).unwrap_or(1);
    let mut reference: HashMap<String, Vec<f64>> = HashMap::new();
    for r in ran[exact_at].iter().flatten() {
        for (name, hold) in &r.holds {
            reference.entry(name.clone()).or_default().push(*hold);
        }
    }
    let reference: HashMap<String, f64> = reference
        .into_iter()
        .map(|(name, holds)| (name, common::median(&holds)))
        .collect();
    let alone: Vec<f64> = ran[0].iter().flatten().map(|r| r.done.work).collect();
    let alone = (!alone.is_empty()).then(|| common::median(&alone));
    let per_cpu = |i: usize| -> Option<f64> {
        let v: Vec<f64> = ran[i]
            .iter()
            .flatten()
            .filter_map(|r| r.done.per_cpu_s())
            .collect();
        (!v.is_empty()).then(|| common::median(&v))
    };
    let mut errors = Vec::new();
    let mut costs = Vec::new();
    let mut cpu_costs = Vec::new();
    for (i, _) in ways.iter().enumerate().skip(1) {
        let per_run: Vec<f64> = ran[i]
            .iter()
            .flatten()
            .filter_map(|r| {
                let diffs: Vec<f64> = reference
                    .iter()
                    .map(|(name, exact)| (r.holds.get(name).copied().unwrap_or(0.0) - exact).abs())
                    .collect();
                (!diffs.is_empty()).then(|| diffs.iter().sum::<f64>() / diffs.len() as f64)
            })
            .collect();
        errors.push(if per_run.is_empty() {
            "—".to_string()
        } else {
            format!("{:.1} pt", common::median(&per_run))
        });
        let works: Vec<f64> = ran[i].iter().flatten().map(|r| r.done.work).collect();
        costs.push(match (alone, works.is_empty()) {
            (Some(a), false) => {
                let w = common::median(&works);
                format!("{:+.1} %", (w - a) / a * 100.0)
            }
            _ => "—".to_string(),
        });
        cpu_costs.push(match (per_cpu(0), per_cpu(i)) {
            (Some(a), Some(w)) => format!("{:+.1} %", (w - a) / a * 100.0),
            _ => "—".to_string(),
        });
    }
    let exact: Vec<String> = {
        let mut names: Vec<_> = reference.iter().collect();
        names.sort_by(|a, b| a.0.cmp(b.0));
        names.iter().map(|(n, h)| format!("{n} {h:.1} %")).collect()
    };
    println!("{}: exact holds {}", program.name, exact.join(", "));
    println!("{}: hold error {}", program.name, errors.join(" · "));
    println!("{}: work vs alone {}", program.name, costs.join(" · "));
    let mut rows = vec![
        format!(
            "| {} | hold % error vs exact | {} |",
            program.name,
            errors.join(" | ")
        ),
        format!(
            "| {} | work vs alone | {} |",
            program.name,
            costs.join(" | ")
        ),
    ];
    if per_cpu(0).is_some() {
        println!(
            "{}: work per CPU s vs alone {}",
            program.name,
            cpu_costs.join(" · ")
        );
        rows.push(format!(
            "| {} | work per CPU s vs alone | {} |",
            program.name,
            cpu_costs.join(" | ")
        ));
    }
    rows
}
