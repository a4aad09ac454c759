//! The command line: clap definitions and the checks that turn bad input
//! into one clear line and exit code 2.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::arg_values::{parse_interval, parse_mode, parse_python_version};
use crate::gil::model::PythonVersion;
use crate::gil::{Mode, SwitchInterval};
use crate::lab::Experiment;
use crate::lab::python_cost::PythonCost;
use crate::ui::theme::ThemeName;
use crate::work::FetchTarget;

/// The environment variables threadlab reads: (name, what it does). Shown
/// by `--help` and in the man pages' ENVIRONMENT section.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "THREADLAB_CONFIG",
        "The config file to read when --config is not given.",
    ),
    (
        "THREADLAB_LOG",
        "The log level or filter (error, warn, info, debug, trace, or env-filter syntax); wins over the config's [log] level.",
    ),
    (
        "NO_COLOR",
        "When set and not empty, the dashboard uses the mono theme.",
    ),
    (
        "XDG_CONFIG_HOME",
        "Where the default config file is looked up (default ~/.config).",
    ),
    (
        "TMPDIR",
        "Where temporary work directories and compare's Python script go.",
    ),
];

/// The files threadlab reads or writes: (path, what it is). In the man
/// pages' FILES section.
pub const FILES: &[(&str, &str)] = &[
    (
        "$XDG_CONFIG_HOME/threadlab/config.toml",
        "The config file read when neither --config nor THREADLAB_CONFIG is given (threadlab config --path prints the one in effect; threadlab config prints the documented defaults).",
    ),
    (
        "$TMPDIR/threadlab-*",
        "The dashboard's temporary work directory, removed at exit.",
    ),
    (
        "$TMPDIR/threadlab_bench-*.py",
        "The Python script compare runs, removed at exit.",
    ),
];

/// `--help`'s closing section: the environment variables.
const AFTER_HELP: &str = "Environment:
  THREADLAB_CONFIG  the config file to read when --config is not given
  THREADLAB_LOG     log level or filter (e.g. debug); wins over [log] level
  NO_COLOR          set and not empty: the dashboard uses the mono theme
  XDG_CONFIG_HOME   where config.toml is looked up (default ~/.config)
  TMPDIR            where temporary work directories and files go";

/// threadlab: see why threads speed up I/O-bound work but not CPU-bound work
/// under CPython's GIL — live, in your terminal.
#[derive(Debug, Parser)]
#[command(name = "threadlab", version = env!("THREADLAB_VERSION"), about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    /// What to run; without one, the dashboard.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Dashboard options.
    #[command(flatten)]
    pub run: RunArgs,
}

/// The dashboard's options. Each one left out comes from the config file.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Read this config file instead of $THREADLAB_CONFIG or
    /// $XDG_CONFIG_HOME/threadlab/config.toml
    /// (`threadlab config` prints the documented defaults; every command
    /// reads and checks it, and applies its [log] section).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// GIL emulation at start: free (off), gil (CPython 3), legacy (Python 2).
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    pub mode: Option<Mode>,
    /// Switch interval in milliseconds, 0.1 to 100 (CPython's default: 5).
    #[arg(long, value_name = "MS", allow_negative_numbers = true, value_parser = parse_interval)]
    pub interval: Option<SwitchInterval>,
    /// Fetch this http(s) URL instead of the embedded loopback server.
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub url: Option<FetchTarget>,
    /// Fetch this path from the embedded loopback server instead of its
    /// default /bytes/8388608?rate=4194304 (8 MiB at 4 MiB/s), e.g.
    /// /bytes/1000000000?rate=1000000 (the endpoints: docs/configuration.md).
    #[arg(long, value_name = "PATH", value_parser = parse_serve_path, conflicts_with = "url")]
    pub serve_path: Option<String>,
    /// Write file workers' files in this existing directory (default: a fresh
    /// temp dir, removed at exit).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Size of each file worker's file, in MiB (1 to 4096).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub file_mib: Option<u64>,
    /// CPU steps per cpu worker (about 80-100 million per second on one core).
    #[arg(long, value_name = "STEPS", value_parser = clap::value_parser!(u64).range(1..=100_000_000_000))]
    pub cpu_steps: Option<u64>,
    /// Most workers alive at once (1 to 100000); further spawns are refused.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_workers: Option<u64>,
    /// Frame rate cap (1 to 240); key presses are drawn at once regardless.
    #[arg(long, value_name = "FPS", value_parser = clap::value_parser!(u32).range(1..=240))]
    pub fps: Option<u32>,
    /// Colour theme: dark, light or mono (NO_COLOR forces mono).
    #[arg(long, value_name = "THEME", value_parser = parse_theme)]
    pub theme: Option<ThemeName>,
    /// Python time modelled while the UI is under the GIL (`u`): a preset
    /// measured on a real Textual app, `table` (a DataTable, the default:
    /// 4.5 ms per key + 35 per refresh) or `light` (one Static); or KEY ms
    /// per key and REFRESH ms per refresh every 100 ms (0 if left out),
    /// each 0 to 1000 (0: none).
    #[arg(long, value_name = "PRESET|KEY[,REFRESH]", allow_negative_numbers = true, value_parser = parse_python_cost)]
    pub ui_python_ms: Option<PythonCost>,
    /// Whose eval-breaker model the race (`r`) runs: 2.7 or 3.2 to 3.14
    /// (default 3.12; `legacy` mode always runs 2.7's). Decides whether
    /// `counter += 1` can lose updates under the GIL (3.9 and before: yes).
    #[arg(long, value_name = "X.Y", value_parser = parse_python_version)]
    pub python_version: Option<PythonVersion>,
    /// Where `w` writes the GIL timeline as Chrome trace JSON, the format
    /// `trace --export` writes (default: threadlab-gil-SECONDS.json here).
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// Turn mouse support off.
    #[arg(long)]
    pub no_mouse: bool,
    /// Write logs to this file (level from THREADLAB_LOG, e.g. `debug`).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Testing only: inject a fault (ui-panic: `!` panics the UI thread;
    /// worker-panic: cpu workers panic halfway).
    #[arg(long, value_name = "FAULT", hide = true)]
    pub fault: Option<Fault>,
}

/// Faults that tests can switch on, on purpose and visibly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Fault {
    /// The `!` key panics the UI thread.
    UiPanic,
    /// Every cpu worker panics halfway through.
    WorkerPanic,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded HTTP server alone (loopback only) until Ctrl-C.
    Serve {
        /// Address to bind: 127.0.0.1:PORT or [::1]:PORT (loopback IP
        /// addresses only, no hostnames; port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:8080", value_parser = parse_addr)]
        addr: SocketAddr,
    },
    /// Run a GIL experiment headless and print a table (or JSON).
    Bench(BenchArgs),
    /// Run the experiments in real Python interpreters beside the emulation.
    Compare(CompareArgs),
    /// Trace the real GIL of a Python program: `sudo threadlab trace -- python3 app.py`.
    Trace(TraceArgs),
    /// Trace the real GIL of a running Python process (needs root); Ctrl-C detaches.
    Attach(AttachArgs),
    /// Print the default configuration (documented TOML), or with --path
    /// the config file in effect.
    Config {
        /// Print the path of the config file in effect (--config, else
        /// THREADLAB_CONFIG, else the default path) instead.
        #[arg(long)]
        path: bool,
    },
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff): threadlab's, or one command's; or write
    /// them all into a directory.
    Man {
        /// The command whose page to print (bench, serve, …); default: the
        /// main page.
        #[arg(value_name = "COMMAND", conflicts_with = "dir")]
        command: Option<String>,
        /// Write every page (threadlab.1, threadlab-bench.1, …) into DIR.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// Options of `threadlab compare`.
#[derive(Debug, Args, Clone)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CompareArgs {
    /// The coordination lab's comparison (race).
    #[command(subcommand)]
    pub lab: Option<crate::lab_cli::LabCompare>,
    /// throughput, io, latency, convoy, or all.
    #[arg(default_value = "all", value_parser = parse_compare_experiment)]
    pub experiment: Experiment,
    /// A Python interpreter to compare with (repeatable). Default: python3 and
    /// any python3.X / python2.7 found on PATH or installed by pyenv.
    #[arg(long = "python", value_name = "PATH")]
    pub pythons: Vec<PathBuf>,
    /// Thread counts (comma-separated, each 1 to 64). Latency and convoy
    /// always measure 0 CPU threads too, as their baseline.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4", value_parser = parse_threads)]
    pub threads: Vec<u32>,
    /// Switch interval in ms, 0.1 to 100 (set in Python with sys.setswitchinterval).
    #[arg(long, value_name = "MS", default_value = "5", allow_negative_numbers = true, value_parser = parse_interval)]
    pub interval: SwitchInterval,
    /// Seconds per measurement (0.05 to 60).
    #[arg(long, default_value = "0.5", allow_negative_numbers = true, value_parser = parse_seconds)]
    pub seconds: f64,
    /// Run each Python 3 script under the real-GIL tracer (needs root) and
    /// show its hold and wait distributions beside the emulated ones.
    #[arg(long)]
    pub trace: bool,
    /// Print one JSON object per experiment (every report, emulated and
    /// real, with its distributions) instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// Options of `threadlab trace`.
#[derive(Debug, Args, Clone)]
pub struct TraceArgs {
    /// Print one JSON summary on stdout when the program ends (its own
    /// output goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Write the GIL timeline as Chrome Trace Event JSON to FILE (opens in Perfetto).
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// Under sudo, run the program as root too (by default it runs as the
    /// user who ran sudo).
    #[arg(long)]
    pub as_root: bool,
    /// Only say what would be traced and how — the interpreter, where its
    /// GIL symbols are, exact or sampled and why, uprobes, ptrace — without
    /// tracing: exit 0 if tracing would work, 2 (with the reason) if not.
    #[arg(long, conflicts_with_all = ["json", "export", "flamegraph"])]
    pub check: bool,
    /// Python stacks: sampling rate, pausing, flame graphs.
    #[command(flatten)]
    pub stacks: StackArgs,
    /// The program and its arguments, e.g. `-- python3 app.py --flag`.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PROGRAM"
    )]
    pub program: Vec<std::ffi::OsString>,
}

/// Options of `threadlab attach`.
#[derive(Debug, Args, Clone)]
pub struct AttachArgs {
    /// The process id of a running Python program.
    #[arg(value_parser = clap::value_parser!(u32).range(1..))]
    pub pid: u32,
    /// Only say what would be traced and how — the interpreter, where its
    /// GIL symbols are, exact or sampled and why, uprobes, ptrace — without
    /// tracing: exit 0 if tracing would work, 2 (with the reason) if not.
    #[arg(long, conflicts_with_all = ["json", "export", "flamegraph"])]
    pub check: bool,
    /// Print one JSON summary on stdout when it ends or on Ctrl-C.
    #[arg(long)]
    pub json: bool,
    /// Write the GIL timeline as Chrome Trace Event JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// Python stacks: sampling rate, pausing, flame graphs.
    #[command(flatten)]
    pub stacks: StackArgs,
}

/// The default stack sampling rate of `trace` and `attach`, in Hz.
pub const DEFAULT_STACK_RATE: u32 = 100;

/// How `trace` and `attach` sample the program's Python stacks, joined
/// with each thread's exact GIL state: which function holds the GIL and
/// which waits for it.
#[derive(Debug, Args, Clone)]
pub struct StackArgs {
    /// Python stack samples per second, 0 (off) or 1 to 1000.
    #[arg(long, value_name = "HZ", default_value_t = DEFAULT_STACK_RATE, value_parser = parse_rate)]
    pub rate: u32,
    /// Pause the program for each stack sample (consistent stacks, slower
    /// program); by default stacks are read while it runs.
    #[arg(long)]
    pub blocking: bool,
    /// Sample the GIL instead of probing it: read the interpreter's GIL
    /// holder --rate times a second, as happens anyway without root,
    /// uprobes or take_gil symbols (e.g. to compare against an exact trace).
    #[arg(long)]
    pub sampled: bool,
    /// Write flame graphs of the stacks that held the GIL and of those that
    /// waited for it into DIR: gil-hold.svg, gil-wait.svg and their
    /// .folded stacks.
    #[arg(long, value_name = "DIR")]
    pub flamegraph: Option<PathBuf>,
}

/// Options of `threadlab bench`.
#[derive(Debug, Args, Clone)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BenchArgs {
    /// The coordination lab's experiments (race, deadlock).
    #[command(subcommand)]
    pub lab: Option<crate::lab_cli::LabBench>,
    /// throughput, io, latency, convoy, or all.
    #[arg(value_parser = parse_bench_experiment, required = true)]
    pub experiment: Option<Experiment>,
    /// Modes to run (comma-separated): free, gil, legacy. Default: all three.
    #[arg(long, value_delimiter = ',', value_parser = parse_mode)]
    pub mode: Vec<Mode>,
    /// Thread counts (comma-separated, each 1 to 64). Latency and convoy
    /// always measure 0 CPU threads too, as their baseline.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4", value_parser = parse_threads)]
    pub threads: Vec<u32>,
    /// Switch interval in ms, 0.1 to 100.
    #[arg(long, value_name = "MS", default_value = "5", allow_negative_numbers = true, value_parser = parse_interval)]
    pub interval: SwitchInterval,
    /// Seconds per measurement (0.05 to 60).
    #[arg(long, default_value = "1", allow_negative_numbers = true, value_parser = parse_seconds)]
    pub seconds: f64,
    /// Print one JSON document per experiment instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_url(s: &str) -> Result<FetchTarget, String> {
    FetchTarget::parse(s).map_err(|e| e.to_string())
}

fn parse_serve_path(s: &str) -> Result<String, String> {
    let valid = s.starts_with('/')
        && !s.chars().any(char::is_whitespace)
        && FetchTarget::parse(&format!("http://127.0.0.1{s}")).is_ok();
    if valid {
        Ok(s.to_string())
    } else {
        Err(format!(
            "'{s}' is not a path on the embedded server; expected one starting with /, \
             e.g. /bytes/1000000?rate=100000"
        ))
    }
}

fn parse_python_cost(s: &str) -> Result<PythonCost, String> {
    s.parse()
        .map_err(|e: crate::lab::python_cost::CostOutOfRange| e.to_string())
}

fn parse_theme(s: &str) -> Result<ThemeName, String> {
    s.parse()
}

fn parse_experiment(s: &str) -> Result<Experiment, String> {
    s.parse()
}

fn parse_bench_experiment(s: &str) -> Result<Experiment, String> {
    parse_experiment(s)
        .map_err(|e: String| format!("{e}, or the coordination lab's race, deadlock"))
}

fn parse_compare_experiment(s: &str) -> Result<Experiment, String> {
    parse_experiment(s).map_err(|e: String| format!("{e}, or the coordination lab's race"))
}

fn parse_threads(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(n @ 1..=64) => Ok(n),
        Ok(0) => Err(
            "0 is not needed: latency and convoy always measure 0 CPU threads as \
             their baseline; give thread counts from 1 to 64"
                .to_string(),
        ),
        _ => Err(format!("'{s}' is not a thread count from 1 to 64")),
    }
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    let hostname = s
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if hostname {
        Err(format!(
            "'{s}' names a host; hostnames are not accepted: give a loopback IP address \
             and port, 127.0.0.1:PORT (any 127.x.y.z) or [::1]:PORT"
        ))
    } else {
        Err(format!(
            "'{s}' is not an address: expected a loopback IP address and port, \
             127.0.0.1:PORT or [::1]:PORT"
        ))
    }
}

/// `message` with every quoted value ('…' or "…") longer than
/// [`QUOTE_MAX`] characters cut to that many and an ellipsis, so that a
/// pasted blob never turns a one-line error into a wall of text.
pub fn shorten_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(1024));
    let mut rest = message;
    while let Some(open) = rest.find(['\'', '"']) {
        let quote = rest[open..].chars().next().expect("found a quote");
        out.push_str(&rest[..=open]);
        let inner = &rest[open + 1..];
        let Some(close) = inner.find(quote) else {
            rest = inner;
            break;
        };
        let value = &inner[..close];
        if value.chars().count() > QUOTE_MAX {
            out.extend(value.chars().take(QUOTE_MAX));
            out.push('…');
        } else {
            out.push_str(value);
        }
        out.push(quote);
        rest = &inner[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The longest quoted value [`shorten_quoted`] leaves whole.
pub(crate) const QUOTE_MAX: usize = 60;

/// A clap error as one line: its message, and what clap says under it (the
/// missing arguments, the possible values, a tip), without the usage and
/// the pointer to --help.
pub fn one_line_error(rendered: &str) -> String {
    let parts: Vec<&str> = rendered
        .lines()
        .take_while(|line| {
            let line = line.trim();
            !line.starts_with("Usage:") && !line.starts_with("For more information")
        })
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let text = parts.join(" ");
    let text = text.trim_start_matches("error: ");
    if text.is_empty() {
        "bad arguments".to_string()
    } else {
        shorten_quoted(text)
    }
}

fn parse_rate(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(v) if v <= 1000 => Ok(v),
        _ => Err(format!(
            "'{s}' is not a sampling rate: 0 (no stacks) or 1 to 1000 samples per second"
        )),
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.05..=60.0).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds from 0.05 to 60")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_quoted_values_are_cut() {
        let long = "x".repeat(200);
        let short = shorten_quoted(&format!("bad '{long}' and \"ok\" here"));
        assert_eq!(
            short,
            format!("bad '{}…' and \"ok\" here", "x".repeat(QUOTE_MAX))
        );
        assert_eq!(shorten_quoted("it's fine"), "it's fine");
    }

    #[test]
    fn clap_errors_keep_what_is_under_the_first_line() {
        let rendered = "error: the following required arguments were not provided:\n  <EXPERIMENT>\n\nUsage: threadlab bench <EXPERIMENT>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line_error(rendered),
            "the following required arguments were not provided: <EXPERIMENT>"
        );
    }
}
