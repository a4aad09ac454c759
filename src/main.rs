//! The `threadlab` binary: parse the command line, call into the library,
//! and map errors to exit codes (2 for bad input, 1 for failures).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use clap::error::ErrorKind;

use threadlab::cli::{BenchArgs, Cli, Command, CompareArgs, Fault, RunArgs};
use threadlab::gil::Mode;
use threadlab::lab::{self, BenchConfig, Experiment};
use threadlab::server::Server;
use threadlab::session::{Session, SessionOptions};
use threadlab::ui::{self, UiOptions};

/// Prints one line to stderr and returns the exit code.
fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("threadlab: {message}");
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            return match error.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = error.print();
                    ExitCode::SUCCESS
                }
                _ => {
                    // One clear line: clap's first line names the flag and what is allowed.
                    let text = error.render().to_string();
                    let first = text
                        .lines()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("bad arguments");
                    let first = first.trim_start_matches("error: ");
                    fail(2, format!("{first} (see threadlab --help)"))
                }
            };
        }
    };
    let _log_guard = match init_logging(&cli.run) {
        Ok(guard) => guard,
        Err(message) => return fail(2, message),
    };
    match cli.command {
        None => run_dashboard(&cli.run),
        Some(Command::Serve { addr }) => serve(addr),
        Some(Command::Bench(args)) => bench(&args),
        Some(Command::Compare(args)) => compare(&args),
    }
}

fn init_logging(
    args: &RunArgs,
) -> Result<Option<tracing_appender::non_blocking::WorkerGuard>, String> {
    let Some(path) = &args.log else {
        return Ok(None);
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("--log {}: cannot open for writing: {e}", path.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = tracing_subscriber::EnvFilter::try_from_env("THREADLAB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .with_thread_names(true)
        .init();
    Ok(Some(guard))
}

fn run_dashboard(args: &RunArgs) -> ExitCode {
    let options = SessionOptions {
        mode: args.mode,
        interval: args.interval,
        url: args.url.clone(),
        workdir: args.workdir.clone(),
        file_bytes: Some(args.file_mib << 20),
        cpu_steps: Some(args.cpu_steps),
        cpu_panic_fault: args.fault == Some(Fault::WorkerPanic),
        ..SessionOptions::default()
    };
    let session = match Session::start(&options) {
        Ok(session) => session,
        Err(error) => return fail(2, error),
    };
    let ui_options = UiOptions {
        fps: args.fps,
        fault_ui_panic: args.fault == Some(Fault::UiPanic),
    };
    match ui::run(session, &ui_options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(1, error),
    }
}

fn serve(addr: std::net::SocketAddr) -> ExitCode {
    let server = match Server::start(addr) {
        Ok(server) => server,
        Err(error) => return fail(2, error),
    };
    println!("threadlab server listening on {}", server.url("/"));
    println!(
        "endpoints: /bytes/N?rate=B&chunk=C  /delay/MS  /status/CODE  /abort/N  /echo   (Ctrl-C stops)"
    );
    let stop = server_stop_on_signal(&server);
    server.wait();
    drop(stop);
    ExitCode::SUCCESS
}

/// Stops `serve` cleanly on SIGINT/SIGTERM/SIGHUP.
fn server_stop_on_signal(server: &Server) -> Option<std::thread::JoinHandle<()>> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]).ok()?;
    let stopper = server.stop_handle();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                stopper.stop();
            }
        })
        .ok()
}

fn bench(args: &BenchArgs) -> ExitCode {
    let modes = if args.mode.is_empty() {
        Mode::ALL.to_vec()
    } else {
        args.mode.clone()
    };
    let config = BenchConfig::new(
        args.threads.clone(),
        args.interval,
        Duration::from_secs_f64(args.seconds),
    );
    let experiments: Vec<Experiment> = match args.experiment {
        Experiment::All => Experiment::EACH.to_vec(),
        one => vec![one],
    };
    for experiment in experiments {
        let mut reports = Vec::new();
        for &mode in &modes {
            match lab::run(experiment, mode, &config) {
                Ok(report) => {
                    if args.json {
                        match serde_json::to_string(&report) {
                            Ok(json) => println!("{json}"),
                            Err(error) => return fail(1, error),
                        }
                    }
                    reports.push(report);
                }
                Err(error) => return fail(1, format!("{experiment} ({mode}): {error}")),
            }
        }
        if !args.json {
            println!("{}", lab::render_table(&reports));
        }
    }
    ExitCode::SUCCESS
}

fn compare(args: &CompareArgs) -> ExitCode {
    use threadlab::lab::compare;
    let (pythons, skipped) = compare::find_interpreters(&args.pythons);
    if pythons.is_empty() {
        let looked = if args.pythons.is_empty() {
            "python3, python3.X and python2.7 on PATH, and pyenv's versions".to_string()
        } else {
            skipped.join("; ")
        };
        return fail(
            2,
            format!(
                "compare: no usable Python interpreter found (tried {looked}); give one with --python PATH"
            ),
        );
    }
    for python in &pythons {
        println!(
            "{:<8} {} {} ({}), GIL {}: compared with emulated {}",
            python.info.label(),
            python.info.implementation,
            python.info.version,
            python.path.display(),
            if python.info.gil_enabled {
                "enabled"
            } else {
                "disabled"
            },
            python.info.mode()
        );
    }
    let server = match Server::start_loopback() {
        Ok(server) => server,
        Err(error) => return fail(1, error),
    };
    let script = match compare::ScriptFile::write() {
        Ok(script) => script,
        Err(error) => return fail(1, format!("cannot write the Python script: {error}")),
    };
    let config = BenchConfig::new(
        args.threads.clone(),
        args.interval,
        Duration::from_secs_f64(args.seconds),
    );
    let experiments: Vec<Experiment> = match args.experiment {
        Experiment::All => Experiment::EACH.to_vec(),
        one => vec![one],
    };
    let mut failures = 0;
    for experiment in experiments {
        let mut reports = Vec::new();
        for step in compare::interleave(&Mode::ALL, &pythons) {
            let result = match step {
                Ok(mode) => lab::run(experiment, mode, &config),
                Err(i) => compare::run_python(
                    &pythons[i],
                    script.path(),
                    experiment,
                    &config,
                    &server.url("/"),
                ),
            };
            match result {
                Ok(report) => reports.push(report),
                Err(error) => {
                    failures += 1;
                    eprintln!("threadlab: compare {experiment}: {error}");
                }
            }
        }
        println!();
        print!("{}", compare::render_comparison(experiment, &reports));
        if experiment == Experiment::Throughput
            && let Some(line) = compare::calibration(&reports)
        {
            println!("{line}");
        }
    }
    if failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
