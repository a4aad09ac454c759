//! The coordination lab on the command line: `threadlab bench race`,
//! `threadlab bench deadlock` and `threadlab compare race` — their clap
//! definitions and what they print.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::arg_values::{parse_interval, parse_mode, parse_python_version};
use crate::cancel::CancelToken;
use crate::gil::model::PythonVersion;
use crate::gil::{Mode, SwitchInterval};
use crate::lab::race::{self as lab_race, RACE_VERSIONS, RaceBench, RaceColumn, RaceInterpreter};
use crate::sync::Body;

/// `threadlab bench race|deadlock`.
#[derive(Debug, Subcommand, Clone)]
pub enum LabBench {
    /// N threads increment one shared counter: updates lost per loop body,
    /// GIL mode and Python version's eval-breaker model.
    Race(RaceArgs),
    /// Two threads take two locks in opposite orders: the deadlock is
    /// detected, named and broken by cancelling; then the same in one order.
    Deadlock(DeadlockArgs),
}

/// `threadlab compare race`.
#[derive(Debug, Subcommand, Clone)]
pub enum LabCompare {
    /// The race loops in every real interpreter under $(pyenv root)/versions/
    /// beside the emulation with that version's eval-breaker model.
    Race(CompareRaceArgs),
}

/// Options of `threadlab bench race`.
#[derive(Debug, Args, Clone)]
pub struct RaceArgs {
    /// Racing threads (1 to 64).
    #[arg(long, default_value = "4", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub threads: u32,
    /// Increments per thread (1 to 100000000).
    #[arg(long, default_value = "200000", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub increments: u64,
    /// Loop bodies (comma-separated): plain (counter += 1), call (counter =
    /// inc(counter)), locked (with lock: counter += 1). Default: all three.
    #[arg(long, value_delimiter = ',', value_parser = parse_body)]
    pub body: Vec<Body>,
    /// Whose eval-breaker model: 2.7 or 3.2 to 3.14 (`legacy` mode always
    /// runs 2.7's).
    #[arg(long, value_name = "X.Y", default_value = "3.12", value_parser = parse_python_version)]
    pub python_version: PythonVersion,
    /// Modes (comma-separated): free, gil, legacy. Default: all three
    /// (only legacy with --python-version 2.7).
    #[arg(long, value_delimiter = ',', value_parser = parse_mode)]
    pub mode: Vec<Mode>,
    /// Switch interval in ms, 0.1 to 100.
    #[arg(long, value_name = "MS", default_value = "5", allow_negative_numbers = true, value_parser = parse_interval)]
    pub interval: SwitchInterval,
    /// Print one JSON object per race instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Options of `threadlab bench deadlock`.
#[derive(Debug, Args, Clone)]
pub struct DeadlockArgs {
    /// The GIL mode the two threads run under: free, gil, legacy.
    #[arg(long, default_value = "gil", value_parser = parse_mode)]
    pub mode: Mode,
    /// Switch interval in ms, 0.1 to 100.
    #[arg(long, value_name = "MS", default_value = "5", allow_negative_numbers = true, value_parser = parse_interval)]
    pub interval: SwitchInterval,
    /// Print one JSON object per variant instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Options of `threadlab compare race`.
#[derive(Debug, Args, Clone)]
pub struct CompareRaceArgs {
    /// Racing threads (1 to 64).
    #[arg(long, default_value = "4", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub threads: u32,
    /// Increments per thread (1 to 100000000).
    #[arg(long, default_value = "200000", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub increments: u64,
    /// Loop bodies (comma-separated): plain, call, locked. Default: all three.
    #[arg(long, value_delimiter = ',', value_parser = parse_body)]
    pub body: Vec<Body>,
    /// Interpreters to look for under $(pyenv root)/versions/
    /// (comma-separated, e.g. 3.9,3.12,3.13t).
    #[arg(long, value_delimiter = ',', value_name = "X.Y")]
    pub versions: Vec<String>,
    /// An interpreter to run, by path or name on PATH (repeatable), as for
    /// every other compare experiment; beside --versions or instead of it.
    #[arg(long = "python", value_name = "PATH")]
    pub pythons: Vec<std::path::PathBuf>,
    /// Switch interval in ms, 0.1 to 100 (set in Python with sys.setswitchinterval).
    #[arg(long, value_name = "MS", default_value = "5", allow_negative_numbers = true, value_parser = parse_interval)]
    pub interval: SwitchInterval,
}

fn parse_body(s: &str) -> Result<Body, String> {
    s.parse()
}

/// `println!` that never panics: with stdout closed (`| head`) the rest of
/// the output is dropped instead.
macro_rules! say {
    () => {{
        let _ = writeln!(std::io::stdout());
    }};
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` that never panics (see [`say!`]).
macro_rules! say_part {
    ($($arg:tt)*) => {{
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// Prints one line to stderr and returns the exit code.
use crate::stop_signals::fail;

fn bodies(asked: &[Body]) -> Vec<Body> {
    if asked.is_empty() {
        Body::ALL.to_vec()
    } else {
        asked.to_vec()
    }
}

/// Runs `threadlab bench race|deadlock`.
pub fn bench(lab: &LabBench) -> ExitCode {
    match lab {
        LabBench::Race(args) => bench_race(args),
        LabBench::Deadlock(args) => bench_deadlock(args),
    }
}

fn bench_race(args: &RaceArgs) -> ExitCode {
    let python2 = args.python_version.major() == 2;
    let modes = match (args.mode.is_empty(), python2) {
        (true, false) => Mode::ALL.to_vec(),
        (true, true) => vec![Mode::Legacy],
        (false, _) => args.mode.clone(),
    };
    if python2 && modes.iter().any(|m| *m != Mode::Legacy) {
        return fail(
            2,
            "--python-version 2.7 runs only with --mode legacy (Python 2 has no new GIL and no free-threaded build)",
        );
    }
    let bench = RaceBench {
        threads: args.threads,
        increments: args.increments,
        bodies: bodies(&args.body),
        modes,
        python_version: args.python_version,
        interval: args.interval,
        cancel: CancelToken::new(),
    };
    let rows = match lab_race::bench_race(&bench) {
        Ok(rows) => rows,
        Err(error) => return fail(1, format!("race: {error}")),
    };
    if args.json {
        // One document, shaped like the other experiments' (`bench
        // throughput --json`): what ran, then its rows.
        let doc = serde_json::json!({
            "experiment": "race",
            "threads": args.threads,
            "increments": args.increments,
            "python_version": args.python_version.to_string(),
            "interval_ms": args.interval.as_millis_f64(),
            "rows": rows,
        });
        say!("{doc}");
    } else {
        say_part!("{}", lab_race::render_race_table(&rows, args.interval));
    }
    ExitCode::SUCCESS
}

fn bench_deadlock(args: &DeadlockArgs) -> ExitCode {
    let outcomes = match lab_race::bench_deadlock(args.mode, args.interval) {
        Ok(outcomes) => outcomes,
        Err(error) => return fail(1, format!("deadlock: {error}")),
    };
    if args.json {
        let doc = serde_json::json!({
            "experiment": "deadlock",
            "interval_ms": args.interval.as_millis_f64(),
            "rows": outcomes,
        });
        say!("{doc}");
    } else {
        say_part!("{}", lab_race::render_deadlock(&outcomes));
    }
    let expected = outcomes
        .iter()
        .all(|o| (o.variant == "ordered") == o.finished && o.cycle.is_some() != o.finished);
    if expected {
        ExitCode::SUCCESS
    } else {
        fail(1, "deadlock: the runs did not end as expected (see above)")
    }
}

/// The interpreters `compare race` runs: those named by `--python`, and
/// those `--versions` (or, with neither, the default versions) finds under
/// pyenv; skipped ones are said. Also what was asked for, for an error.
fn race_interpreters(
    args: &CompareRaceArgs,
) -> Result<(Vec<lab_race::RaceInterpreter>, Vec<String>), ExitCode> {
    let mut pythons = Vec::new();
    let mut skipped = Vec::new();
    let mut wanted: Vec<String> = args
        .pythons
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    if !args.pythons.is_empty() {
        let (found, why) = lab_race::race_interpreters_at(&args.pythons);
        pythons.extend(found);
        skipped.extend(why);
    }
    if !args.versions.is_empty() || args.pythons.is_empty() {
        let Some(root) = lab_race::pyenv_root() else {
            return Err(fail(
                2,
                "compare race: cannot tell where pyenv keeps its versions (set PYENV_ROOT, or name interpreters with --python)",
            ));
        };
        let versions: Vec<String> = if args.versions.is_empty() {
            RACE_VERSIONS.iter().map(|v| v.to_string()).collect()
        } else {
            args.versions.clone()
        };
        let (found, why) = lab_race::find_race_interpreters(&root, &versions);
        pythons.extend(found);
        skipped.extend(why);
        wanted.extend(
            versions
                .iter()
                .map(|v| format!("{v} (under {}/versions)", root.display())),
        );
    }
    for why in &skipped {
        say!("skipped {why}");
    }
    Ok((pythons, wanted))
}

/// Runs `threadlab compare race`.
pub fn compare(lab: &LabCompare) -> ExitCode {
    let LabCompare::Race(args) = lab;
    let (pythons, wanted) = match race_interpreters(args) {
        Ok(found) => found,
        Err(code) => return code,
    };
    if pythons.is_empty() {
        return fail(
            2,
            format!(
                "compare race: none of {} found under pyenv's versions or at the paths given, or none could run",
                wanted.join(", ")
            ),
        );
    }
    let script = match write_race_script() {
        Ok(file) => file,
        Err(error) => return fail(1, format!("cannot write the Python script: {error}")),
    };
    let bench = RaceBench {
        threads: args.threads,
        increments: args.increments,
        bodies: bodies(&args.body),
        modes: Vec::new(),
        python_version: PythonVersion::DEFAULT,
        interval: args.interval,
        cancel: CancelToken::new(),
    };
    let (mut columns, mut failures) = race_columns(&pythons, script.path(), &bench);
    let wants_free = wanted.iter().any(|w| w.ends_with('t'));
    if wants_free && !pythons.iter().any(|p| p.mode == Mode::Free) {
        say!("py3.13t  not installed: its column shows the emulation's free mode alone");
        match lab_race::emulated_only_free(&bench) {
            Ok(column) => columns.push(column),
            Err(error) => {
                failures += 1;
                let _ = writeln!(
                    std::io::stderr(),
                    "threadlab: compare race (emulated free): {error}"
                );
            }
        }
    }
    say!();
    say_part!("{}", lab_race::render_race_comparison(&columns, &bench));
    if failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The race's Python script in a fresh temp file (removed on drop).
fn write_race_script() -> std::io::Result<tempfile::NamedTempFile> {
    let mut file = tempfile::Builder::new()
        .prefix("threadlab_race-")
        .suffix(".py")
        .tempfile()?;
    file.write_all(lab_race::RACE_SCRIPT.as_bytes())?;
    file.flush()?;
    Ok(file)
}

/// One column per interpreter, each announced on stdout as it starts: the
/// real runs beside the emulation with that version's model. Returns the
/// columns and how many runs failed (each said on stderr).
fn race_columns(
    pythons: &[RaceInterpreter],
    script: &Path,
    bench: &RaceBench,
) -> (Vec<RaceColumn>, u32) {
    let mut columns = Vec::new();
    let mut failures = 0;
    for python in pythons {
        say!(
            "py{:<6} {} beside the emulation: mode {}, eval breaker {}",
            python.label,
            python.path.display(),
            python.mode,
            python.version.model().describe()
        );
        match lab_race::compare_one(python, script, bench) {
            Ok(column) => {
                if let Some(Err(error)) = &column.real {
                    failures += 1;
                    let _ = writeln!(std::io::stderr(), "threadlab: compare race: {error}");
                }
                columns.push(column);
            }
            Err(error) => {
                failures += 1;
                let _ = writeln!(
                    std::io::stderr(),
                    "threadlab: compare race (emulated {}): {error}",
                    python.label
                );
            }
        }
    }
    (columns, failures)
}
