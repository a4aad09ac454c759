//! The `threadlab` binary: parse the command line, call into the library,
//! and map errors to exit codes (2 for bad input, 1 for failures).

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use clap::error::ErrorKind;

use threadlab::cli::{BenchArgs, Cli, Command, CompareArgs, Fault, RunArgs};
use threadlab::config::Config;
use threadlab::gil::Mode;
use threadlab::lab::{self, BenchConfig, Experiment};
use threadlab::server::Server;
use threadlab::session::{Session, SessionOptions};
use threadlab::ui::theme::Theme;
use threadlab::ui::{self, UiOptions};

/// Prints one line to stderr and returns the exit code.
fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    // Not eprintln!: after a hang-up stderr is gone, and that must not panic.
    let _ = writeln!(std::io::stderr(), "threadlab: {message}");
    ExitCode::from(code)
}

fn main() -> ExitCode {
    // Writing past a file-size limit (ulimit -f) must fail that file worker
    // with EFBIG, not kill the process with the terminal left raw.
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );
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
    match cli.command {
        None => run_dashboard(&cli.run),
        Some(Command::Serve { addr }) => serve(addr),
        Some(Command::Bench(args)) => match &args.lab {
            Some(lab) => threadlab::lab_cli::bench(lab),
            None => bench(&args),
        },
        Some(Command::Compare(args)) => match &args.lab {
            Some(lab) => threadlab::lab_cli::compare(lab),
            None => compare(&args),
        },
        Some(Command::Config) => {
            print!("{}", threadlab::config::DEFAULT_TOML);
            ExitCode::SUCCESS
        }
        Some(Command::Completions { shell }) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "threadlab", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Some(Command::Man) => {
            let command = <Cli as clap::CommandFactory>::command();
            match clap_mangen::Man::new(command).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => fail(1, format!("cannot write the man page: {error}")),
            }
        }
    }
}

fn run_dashboard(args: &RunArgs) -> ExitCode {
    let config = match Config::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(error) => return fail(2, error),
    };
    let log_file = args.log.clone().or_else(|| config.log_file.clone());
    let _log_guard = match threadlab::logs::init(log_file.as_deref(), &config.log_level) {
        Ok(guard) => guard,
        Err(message) => return fail(2, message),
    };
    let options = SessionOptions {
        mode: args.mode.unwrap_or(config.mode),
        interval: args.interval.unwrap_or(config.interval),
        url: args.url.clone(),
        serve_path: args.serve_path.clone(),
        workdir: args.workdir.clone(),
        file_bytes: Some(args.file_mib.unwrap_or(config.file_mib) << 20),
        cpu_steps: Some(args.cpu_steps.unwrap_or(config.cpu_steps)),
        seed_sleep: Some(config.seed_sleep),
        cpu_panic_fault: args.fault == Some(Fault::WorkerPanic),
        fetch_targets: if args.url.is_some() {
            Vec::new()
        } else {
            config.fetch_urls.clone()
        },
        max_workers: Some(args.max_workers.map_or(config.max_workers, |n| n as usize)),
        nice: config.nice,
    };
    let session = match Session::start(&options) {
        Ok(session) => session,
        Err(error) => return fail(2, error),
    };
    tracing::info!(mode = %options.mode, workdir = %session.workdir.path().display(), "dashboard starting");
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ui_options = UiOptions {
        fps: args.fps.unwrap_or(config.fps),
        fault_ui_panic: args.fault == Some(Fault::UiPanic),
        theme: Theme::resolve(args.theme.unwrap_or(config.theme), no_color),
        mouse: config.mouse && !args.no_mouse,
        keys: config.keys.clone(),
        python_cost: args.ui_python_ms.unwrap_or(config.python_cost),
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
    let experiments = args
        .experiment
        .expect("clap requires an experiment without a subcommand")
        .expand();
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
    let experiments = args.experiment.expand();
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
