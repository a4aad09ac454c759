//! The coordination lab's headless experiments: `threadlab bench race`,
//! `threadlab bench deadlock` and `threadlab compare race`.
//!
//! `bench race` runs the race of [`crate::sync::race`] for each body and
//! mode asked for. `compare race` runs the same loops
//! (`assets/python/race.py`, embedded in the binary) in every real
//! interpreter found under `$(pyenv root)/versions/`, each beside the
//! emulation with that version's eval-breaker model, and prints one table.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cancel::CancelToken;
use crate::gil::model::PythonVersion;
use crate::gil::{Mode, SwitchInterval};
use crate::sync::{Body, DeadlockConfig, DeadlockOutcome, RaceConfig, RaceOutcome, run_race};

use super::compare::{run_bounded, run_cancellable};
use super::report::aligned_table;

/// The real loops, shipped inside the binary.
pub const RACE_SCRIPT: &str = include_str!("../../../assets/python/race.py");

/// The interpreters `compare race` looks for, oldest first.
pub const RACE_VERSIONS: &[&str] = &[
    "2.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.13t", "3.14", "3.14t",
];

/// What `bench race` runs.
#[derive(Debug, Clone)]
pub struct RaceBench {
    /// Racing threads.
    pub threads: u32,
    /// Increments per thread.
    pub increments: u64,
    /// Loop bodies.
    pub bodies: Vec<Body>,
    /// GIL modes.
    pub modes: Vec<Mode>,
    /// Whose eval-breaker model (`legacy` always runs 2.7's).
    pub python_version: PythonVersion,
    /// Switch interval for `gil` mode.
    pub interval: SwitchInterval,
    /// Cancels the runs.
    pub cancel: CancelToken,
}

/// Runs every body in every mode: one outcome per pair.
pub fn bench_race(bench: &RaceBench) -> Result<Vec<RaceOutcome>, String> {
    let mut rows = Vec::new();
    for &mode in &bench.modes {
        for &body in &bench.bodies {
            rows.push(run_race(emulated(bench, body, mode, bench.python_version))?);
        }
    }
    Ok(rows)
}

fn emulated(bench: &RaceBench, body: Body, mode: Mode, version: PythonVersion) -> RaceConfig {
    let mut config = RaceConfig::new(body, bench.threads, bench.increments, mode);
    config.python_version = version;
    config.interval = bench.interval;
    config.cancel = bench.cancel.clone();
    config
}

/// `bench race`'s table: one line per race.
pub fn render_race_table(rows: &[RaceOutcome], interval: SwitchInterval) -> String {
    let mut lines = vec![
        [
            "mode",
            "python",
            "body",
            "threads",
            "increments",
            "counter",
            "lost",
            "clobbers",
            "switches",
            "wall s",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for row in rows {
        lines.push(vec![
            row.mode.to_string(),
            row.python_version.to_string(),
            row.body.source().to_string(),
            row.threads.to_string(),
            row.increments.to_string(),
            row.counter.to_string(),
            row.lost.to_string(),
            row.clobbers.to_string(),
            row.switches.to_string(),
            format!("{:.3}", row.wall_s),
        ]);
    }
    aligned_table(
        &format!(
            "race: updates lost (switch interval {:.1} ms)",
            interval.as_millis_f64()
        ),
        &lines,
        true,
    )
}

/// Runs the two-locks experiment in both variants: opposite orders (it
/// deadlocks; detected and broken by cancel), then the same order.
pub fn bench_deadlock(
    mode: Mode,
    interval: SwitchInterval,
) -> Result<Vec<DeadlockOutcome>, String> {
    [false, true]
        .into_iter()
        .map(|ordered| {
            crate::sync::run_deadlock(&DeadlockConfig {
                ordered,
                mode,
                interval,
                ..DeadlockConfig::default()
            })
            .map_err(|e| format!("cannot start the threads: {e}"))
        })
        .collect()
}

/// `bench deadlock`'s report, a few lines per variant.
pub fn render_deadlock(outcomes: &[DeadlockOutcome]) -> String {
    let mut out = String::new();
    for o in outcomes {
        let order = if o.variant == "ordered" {
            "both threads take A then B"
        } else {
            "thread 1 takes A then B, thread 2 takes B then A"
        };
        out.push_str(&format!(
            "deadlock, {} ({order}), mode {}:\n",
            o.variant, o.mode
        ));
        match (&o.cycle, o.detection_us, o.detected_after_ms) {
            (Some(cycle), Some(us), Some(after)) => {
                out.push_str(&format!("  deadlock: {cycle}\n"));
                out.push_str(&format!(
                    "  detected {us} µs after the cycle closed ({after:.1} ms into the run)\n"
                ));
            }
            _ => out.push_str("  no deadlock\n"),
        }
        if let Some(ms) = o.broken_in_ms {
            out.push_str(&format!(
                "  broken by cancelling: both threads stopped {ms:.2} ms later\n"
            ));
        }
        if o.finished {
            out.push_str("  both threads took both locks and finished\n");
        }
    }
    out
}

/// One line of `race.py`'s output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealRace {
    /// The loop body.
    pub(crate) body: Body,
    /// Threads.
    pub threads: u32,
    /// Increments per thread.
    pub increments: u64,
    /// Updates lost.
    pub lost: u64,
    /// Wall time.
    #[serde(default)]
    pub wall_s: f64,
    /// `platform.python_version()`.
    pub python_version: String,
    /// `sys._is_gil_enabled()` where it exists, else true.
    #[serde(default = "yes")]
    pub gil_enabled: bool,
}

fn yes() -> bool {
    true
}

/// Parses `race.py`'s output: one JSON object per line.
pub(crate) fn parse_race_output(text: &str) -> Result<Vec<RealRace>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).map_err(|e| {
                format!(
                    "not a race result ({e}): {}",
                    line.chars().take(120).collect::<String>()
                )
            })
        })
        .collect()
}

/// `$(pyenv root)`: `$PYENV_ROOT`, else what `pyenv root` says, else
/// `~/.pyenv`.
pub fn pyenv_root() -> Option<PathBuf> {
    if let Some(root) = std::env::var_os("PYENV_ROOT").filter(|r| !r.is_empty()) {
        return Some(PathBuf::from(root));
    }
    let mut command = Command::new("pyenv");
    command.arg("root");
    if let Ok(out) = run_bounded(command, Duration::from_secs(10)) {
        let root = out.trim();
        if !root.is_empty() {
            return Some(PathBuf::from(root));
        }
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".pyenv"))
}

/// A real interpreter to race in.
#[derive(Debug, Clone, PartialEq)]
pub struct RaceInterpreter {
    /// `3.12`, `3.13t` (free-threaded) or `2.7`.
    pub label: String,
    /// Its `bin/python`.
    pub path: PathBuf,
    /// The model the emulation runs beside it.
    pub version: PythonVersion,
    /// The emulation mode it corresponds to.
    pub mode: Mode,
}

/// Finds the `wanted` versions (`3.12`, `3.13t` …) under `root/versions/`,
/// the newest patch release of each; returns them and a message for each
/// one not found.
pub fn find_race_interpreters(
    root: &Path,
    wanted: &[String],
) -> (Vec<RaceInterpreter>, Vec<String>) {
    let installed: Vec<String> = std::fs::read_dir(root.join("versions"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for label in wanted {
        let free = label.ends_with('t');
        let base = label.trim_end_matches('t');
        let Ok(version) = base.parse::<PythonVersion>() else {
            skipped.push(format!("{label}: not a Python version this lab models"));
            continue;
        };
        // "3.12.1" for 3.12, "3.13.0t" for 3.13t; newest patch wins.
        let mut candidates: Vec<(u32, &String)> = installed
            .iter()
            .filter_map(|name| {
                let rest = name.strip_prefix(&format!("{base}."))?;
                let (patch, suffix) = match rest.strip_suffix('t') {
                    Some(p) => (p, true),
                    None => (rest, false),
                };
                (suffix == free).then_some(())?;
                Some((patch.parse().ok()?, name))
            })
            .collect();
        candidates.sort();
        let hit = candidates
            .last()
            .map(|(_, name)| root.join("versions").join(name).join("bin").join("python"))
            .filter(|p| p.is_file());
        match hit {
            Some(path) => found.push(RaceInterpreter {
                label: label.clone(),
                path,
                version,
                mode: if free {
                    Mode::Free
                } else if version.major() == 2 {
                    Mode::Legacy
                } else {
                    Mode::Gil
                },
            }),
            None => skipped.push(format!(
                "{label}: not installed under {}",
                root.join("versions").display()
            )),
        }
    }
    (found, skipped)
}

/// The interpreters at `paths` (`--python PATH`), each asked for its
/// version and whether its GIL is on; returns them and a message for each
/// one that cannot run or that this lab does not model.
pub fn race_interpreters_at(paths: &[PathBuf]) -> (Vec<RaceInterpreter>, Vec<String>) {
    let (pythons, mut skipped) = super::compare::find_interpreters(paths);
    let mut found = Vec::new();
    for python in pythons {
        let label = python.info.label();
        let label = label.trim_start_matches("py").to_string();
        let base = label.trim_end_matches('t');
        let Ok(version) = base.parse::<PythonVersion>() else {
            skipped.push(format!(
                "{}: Python {} is not a version this lab models",
                python.path.display(),
                python.info.version
            ));
            continue;
        };
        let mode = if !python.info.gil_enabled {
            Mode::Free
        } else if version.major() == 2 {
            Mode::Legacy
        } else {
            Mode::Gil
        };
        found.push(RaceInterpreter {
            label,
            path: python.path,
            version,
            mode,
        });
    }
    (found, skipped)
}

/// One interpreter's column: what it measured and what the emulation did.
#[derive(Debug, Clone)]
pub struct RaceColumn {
    /// The interpreter's label.
    pub label: String,
    /// Its rows, or why it failed; `None` for an emulation-only column
    /// (the interpreter is not installed here).
    pub real: Option<Result<Vec<RealRace>, String>>,
    /// The emulation with the matching model.
    pub(crate) emulated: Vec<RaceOutcome>,
}

/// Runs `race.py` in `python` and the emulation beside it.
pub fn compare_one(
    python: &RaceInterpreter,
    script: &Path,
    bench: &RaceBench,
) -> Result<RaceColumn, String> {
    let bodies: Vec<&str> = bench.bodies.iter().map(|b| b.name()).collect();
    let mut command = Command::new(&python.path);
    command
        .arg(script)
        .args(["--threads", &bench.threads.to_string()])
        .args(["--increments", &bench.increments.to_string()])
        .args(["--bodies", &bodies.join(",")])
        .args(["--interval", &format!("{}", bench.interval.as_millis_f64())]);
    let real = run_cancellable(command, Duration::from_secs(300), &bench.cancel)
        .map_err(|e| format!("{} ({}): {e}", python.label, python.path.display()))
        .and_then(|out| parse_race_output(&out));
    let mut emulated = Vec::new();
    for &body in &bench.bodies {
        emulated.push(run_race(self::emulated(
            bench,
            body,
            python.mode,
            python.version,
        ))?);
    }
    Ok(RaceColumn {
        label: python.label.clone(),
        real: Some(real),
        emulated,
    })
}

/// The free-threaded column when no free-threaded interpreter is installed:
/// the emulation alone (`free` mode), its real side shown as "–".
pub fn emulated_only_free(bench: &RaceBench) -> Result<RaceColumn, String> {
    let version = PythonVersion::new(3, 13).expect("3.13 is modelled");
    let mut emulated = Vec::new();
    for &body in &bench.bodies {
        emulated.push(run_race(self::emulated(bench, body, Mode::Free, version))?);
    }
    Ok(RaceColumn {
        label: "3.13t".to_string(),
        real: None,
        emulated,
    })
}

/// The comparison table: a row per body, a column per interpreter, each
/// cell "real | emulated" updates lost.
pub fn render_race_comparison(columns: &[RaceColumn], bench: &RaceBench) -> String {
    let mut header = vec!["loop body".to_string()];
    header.extend(columns.iter().map(|c| format!("py{}", c.label)));
    let mut lines = vec![header];
    for &body in &bench.bodies {
        let mut line = vec![body.source().to_string()];
        for column in columns {
            let real = match &column.real {
                Some(Ok(rows)) => rows
                    .iter()
                    .find(|r| r.body == body)
                    .map_or_else(|| "–".to_string(), |r| r.lost.to_string()),
                Some(Err(_)) => "failed".to_string(),
                None => "–".to_string(),
            };
            let emu = column
                .emulated
                .iter()
                .find(|r| r.body == body)
                .map_or_else(|| "–".to_string(), |r| r.lost.to_string());
            line.push(format!("{real} | {emu}"));
        }
        lines.push(line);
    }
    aligned_table(
        &format!(
            "race: updates lost, {} threads × {} increments — each cell: real CPython | emulation with that version's eval-breaker model (switch interval {:.1} ms)",
            bench.threads,
            bench.increments,
            bench.interval.as_millis_f64()
        ),
        &lines,
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn race_output_parses_and_bad_lines_are_named() {
        let text = "{\"body\": \"plain\", \"threads\": 4, \"increments\": 10, \"lost\": 3, \
                    \"wall_s\": 0.1, \"python_version\": \"3.9.18\", \"gil_enabled\": true}\n\
                    {\"body\": \"locked\", \"threads\": 4, \"increments\": 10, \"lost\": 0, \
                    \"python_version\": \"2.7.18\"}\n";
        let rows = parse_race_output(text).expect("parses");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].body, Body::Plain);
        assert_eq!(rows[0].lost, 3);
        assert!(rows[1].gil_enabled);
        let err = parse_race_output("Traceback (most recent call last)").expect_err("bad");
        assert!(err.contains("not a race result"), "{err}");
    }

    #[test]
    fn interpreters_are_found_by_version_and_missing_ones_named() {
        let root = tempfile::tempdir().expect("tempdir");
        for name in ["3.12.1", "3.12.10", "3.13.0t", "2.7.18"] {
            let bin = root.path().join("versions").join(name).join("bin");
            std::fs::create_dir_all(&bin).expect("mkdir");
            std::fs::write(bin.join("python"), "").expect("write");
        }
        let wanted: Vec<String> = ["2.7", "3.12", "3.13", "3.13t", "4.1"]
            .map(String::from)
            .to_vec();
        let (found, skipped) = find_race_interpreters(root.path(), &wanted);
        let labels: Vec<(&str, Mode)> = found.iter().map(|f| (f.label.as_str(), f.mode)).collect();
        assert_eq!(
            labels,
            vec![
                ("2.7", Mode::Legacy),
                ("3.12", Mode::Gil),
                ("3.13t", Mode::Free)
            ]
        );
        assert!(found[1].path.ends_with("3.12.10/bin/python"));
        assert_eq!(skipped.len(), 2);
        assert!(
            skipped[0].starts_with("3.13: not installed under"),
            "{skipped:?}"
        );
        assert!(
            skipped[1].starts_with("4.1: not a Python version"),
            "{skipped:?}"
        );
    }
}
