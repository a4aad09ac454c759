//! The `stacks` part of the `trace` bench: what sampling the Python stacks
//! costs the traced program, beside the probes alone and beside py-spy
//! sampling the GIL holder at the same rate. The same two programs as
//! `overhead` (two CPU-bound threads; the convoy), each run for 2 s of its
//! own wall clock in five ways, alternated `THREADLAB_BENCH_RUNS` times
//! (default 5): alone; `threadlab trace --rate 0` (probes only);
//! `threadlab trace` at 100 Hz (the default) and at 250 Hz;
//! `py-spy record --gil --nonblocking --rate 100`. Each row gives the
//! median work of each way and its slowdown against alone, over the pairs
//! run on a quiet machine when at least 3 were (else over all, marked).
//!
//! py-spy comes from PyPI (`pip install py-spy`); `THREADLAB_PYSPY` names
//! it if it is not on PATH. Without it those columns say so.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::common;

/// Seconds each program runs (its own wall clock).
const SECONDS: &str = "2";

/// A program: its script and the words before its work count.
struct Program {
    name: &'static str,
    script: &'static str,
    marker: &'static str,
}

const PROGRAMS: [Program; 2] = [
    Program {
        name: "two CPU-bound threads (loop iterations)",
        script: "trace_cpu.py",
        marker: "cpu done, iterations ",
    },
    Program {
        name: "the convoy (round trips)",
        script: "trace_convoy.py",
        marker: "round trips ",
    },
];

/// One way to run a program.
#[derive(Clone, Copy, PartialEq)]
enum Way {
    Alone,
    Trace { rate: u32 },
    PySpy { rate: u32 },
}

impl Way {
    fn label(self) -> String {
        match self {
            Way::Alone => "alone".into(),
            Way::Trace { rate: 0 } => "trace, probes only".into(),
            Way::Trace { rate } => format!("trace + stacks {rate} Hz"),
            Way::PySpy { rate } => format!("py-spy --gil {rate} Hz"),
        }
    }
}

const WAYS: [Way; 5] = [
    Way::Alone,
    Way::Trace { rate: 0 },
    Way::Trace { rate: 100 },
    Way::Trace { rate: 250 },
    Way::PySpy { rate: 100 },
];

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

/// The work count in `output` (the number after `marker` on its last line).
fn work(output: &str, marker: &str) -> Option<f64> {
    output.lines().rev().find_map(|line| {
        line.split_once(marker)?
            .1
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// Runs `program` one `way`; its work count.
fn run_once(
    bin: &Path,
    spy: Option<&Path>,
    python: &Path,
    program: &Program,
    way: Way,
) -> Option<f64> {
    let mut command = match way {
        Way::Alone => Command::new(python),
        Way::Trace { rate } => {
            let mut c = Command::new(bin);
            c.args(["trace", "--json", "--rate", &rate.to_string(), "--"]);
            c.arg(python);
            c
        }
        Way::PySpy { rate } => {
            let mut c = Command::new(spy?);
            let out = std::env::temp_dir()
                .join(format!("threadlab-bench-pyspy-{}.txt", std::process::id()));
            c.args([
                "record",
                "--gil",
                "--nonblocking",
                "--format",
                "raw",
                "--rate",
            ]);
            c.arg(rate.to_string()).arg("-o").arg(out).arg("--");
            c.arg(python);
            c
        }
    };
    let out = command
        .arg(script(program.script))
        .arg(SECONDS)
        .stdin(Stdio::null())
        .output()
        .expect("run the program");
    if !out.status.success() {
        eprintln!(
            "{}: {} failed: {:?}",
            program.script,
            way.label(),
            out.status
        );
        return None;
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    work(&text, program.marker)
}

/// Measures every program every way `runs` times and prints the table.
pub fn run(bin: &Path, python: &Path, runs: usize) {
    let spy = py_spy();
    println!(
        "stack sampling overhead: {} ({SECONDS} s per run, {runs} rounds of every way, alternated); py-spy: {}",
        python.display(),
        spy.as_ref()
            .map_or("not found (pip install py-spy)".to_string(), |p| p
                .display()
                .to_string())
    );
    let mut rows = Vec::new();
    for program in &PROGRAMS {
        let mut works: Vec<Vec<Option<f64>>> = vec![Vec::new(); WAYS.len()];
        let mut quiet = Vec::new();
        for _ in 0..runs {
            common::wait_quiet(Duration::from_secs(60));
            let interference = common::Interference::start(&[]);
            for (i, way) in WAYS.iter().enumerate() {
                works[i].push(run_once(bin, spy.as_deref(), python, program, *way));
            }
            quiet.push(interference.foreign_cores() <= common::DISTURBED_CORES);
        }
        let quiet_rounds = quiet.iter().filter(|q| **q).count();
        let use_round = |r: usize| quiet_rounds < 3 || quiet[r];
        let median_of = |i: usize| {
            let values: Vec<f64> = works[i]
                .iter()
                .enumerate()
                .filter(|(r, _)| use_round(*r))
                .filter_map(|(_, w)| *w)
                .collect();
            (!values.is_empty()).then(|| common::median(&values))
        };
        let alone = median_of(0);
        let mut cells = vec![format!("{:.0}", alone.unwrap_or(0.0))];
        for i in 1..WAYS.len() {
            cells.push(match (alone, median_of(i)) {
                (Some(a), Some(w)) => format!("{w:.0} ({:+.1} %)", (w - a) / a * 100.0),
                _ => "—".to_string(),
            });
        }
        let basis = if quiet_rounds >= 3 {
            format!("{quiet_rounds} quiet rounds")
        } else {
            format!("all {runs} rounds (only {quiet_rounds} quiet)")
        };
        println!("{}: {} [{basis}]", program.name, cells.join(" · "));
        rows.push(format!(
            "| {} | {} | {basis} |",
            program.name,
            cells.join(" | ")
        ));
    }
    let heads: Vec<String> = WAYS.iter().map(|w| w.label()).collect();
    println!(
        "\n| program (work in {SECONDS} s, median) | {} | rounds |",
        heads.join(" | ")
    );
    println!("|---|{}---|", "---|".repeat(WAYS.len()));
    for row in rows {
        println!("{row}");
    }
}
