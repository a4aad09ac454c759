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
//! The CPU-bound program is pinned to CPU 1 and its observer (threadlab,
//! py-spy) to CPU 0 (`taskset`): on two cores an unpinned pair of
//! CPU-bound Python threads does its work at a rate that swings with where
//! the kernel puts them — an observer's mere presence moved it by +20 to
//! +30 % here —, so unpinned wall-clock work says more about placement than
//! about cost. Pinned, its work per second is what the observer costs it;
//! its work per CPU second is printed beside. The convoy runs unpinned: it
//! needs both cores to be a convoy.
//!
//! py-spy comes from PyPI (`pip install py-spy`); `THREADLAB_PYSPY` names
//! it if it is not on PATH. Without it those columns say so.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::common;
// What a run did and how its output says it: the `overhead` part's.
use super::overhead::{Done, work};

/// Seconds each program runs (its own wall clock).
const SECONDS: &str = "2";

/// A program: its script, the words before its work count, and whether
/// it runs pinned (see the module comment).
struct Program {
    name: &'static str,
    script: &'static str,
    marker: &'static str,
    pinned: bool,
}

const PROGRAMS: [Program; 2] = [
    Program {
        name: "two CPU-bound threads (loop iterations)",
        script: "trace_cpu.py",
        marker: "cpu done, iterations ",
        pinned: true,
    },
    Program {
        name: "the convoy (round trips)",
        script: "trace_convoy.py",
        marker: "round trips ",
        // The convoy needs its two cores: on one it is another program
        // (40,000 round trips in 2 s instead of ~270).
        pinned: false,
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

/// Runs `program` one `way`; what it did.
fn run_once(
    bin: &Path,
    spy: Option<&Path>,
    python: &Path,
    program: &Program,
    way: Way,
) -> Option<Done> {
    // Pinned: the observer on CPU 0, the program on CPU 1.
    let pin = program.pinned;
    let observer = |exe: &Path| {
        let mut c = Command::new("taskset");
        c.args(["-c", if pin { "0" } else { "0,1" }]).arg(exe);
        c
    };
    // py-spy's raw output goes to a file no one reads (its summary is on
    // stderr); removed once the run ends.
    let spy_out =
        std::env::temp_dir().join(format!("threadlab-bench-pyspy-{}.txt", std::process::id()));
    let mut command = match way {
        Way::Alone => Command::new("taskset"),
        Way::Trace { rate } => {
            let mut c = observer(bin);
            c.args([
                "trace",
                "--json",
                "--rate",
                &rate.to_string(),
                "--",
                "taskset",
            ]);
            c
        }
        Way::PySpy { rate } => {
            let mut c = observer(spy?);
            c.args([
                "record",
                "--gil",
                "--nonblocking",
                "--format",
                "raw",
                "--rate",
            ]);
            c.arg(rate.to_string())
                .arg("-o")
                .arg(&spy_out)
                .args(["--", "taskset"]);
            c
        }
    };
    command
        .args(["-c", if pin { "1" } else { "0,1" }])
        .arg(python);
    let out = command
        .arg(script(program.script))
        .arg(SECONDS)
        .stdin(Stdio::null())
        .output()
        .expect("run the program");
    let _ = std::fs::remove_file(&spy_out);
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
        let mut works: Vec<Vec<Option<Done>>> = vec![Vec::new(); WAYS.len()];
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
        let median_by = |i: usize, f: &dyn Fn(&Done) -> Option<f64>| {
            let values: Vec<f64> = works[i]
                .iter()
                .enumerate()
                .filter(|(r, _)| use_round(*r))
                .filter_map(|(_, w)| w.as_ref().and_then(f))
                .collect();
            (!values.is_empty()).then(|| common::median(&values))
        };
        let per_wall = |d: &Done| Some(d.work);
        let per_cpu = |d: &Done| d.per_cpu_s();
        let cell = |i: usize, f: &dyn Fn(&Done) -> Option<f64>| {
            let alone = median_by(0, f);
            match (alone, median_by(i, f)) {
                (Some(a), Some(_)) if i == 0 => format!("{a:.0}"),
                (Some(a), Some(w)) => format!("{w:.0} ({:+.1} %)", (w - a) / a * 100.0),
                _ => "—".to_string(),
            }
        };
        let cells: Vec<String> = (0..WAYS.len()).map(|i| cell(i, &per_wall)).collect();
        if median_by(0, &per_cpu).is_some() {
            let per_cpu_cells: Vec<String> = (0..WAYS.len()).map(|i| cell(i, &per_cpu)).collect();
            println!(
                "{} per CPU second: {}",
                program.name,
                per_cpu_cells.join(" · ")
            );
            rows.push(format!(
                "| {} per CPU second | {} | |",
                program.name,
                per_cpu_cells.join(" | ")
            ));
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
