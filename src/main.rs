//! The `threadlab` binary: parse the command line, call into the library,
//! and map errors to exit codes (2 for bad input, 1 for failures).

mod compare_cmd;
mod trace_cmd;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use threadlab::cli::{BenchArgs, Cli, Command, Fault, RunArgs};
use threadlab::config::Config;
use threadlab::gil::Mode;
use threadlab::lab;
use threadlab::server::Server;
use threadlab::session::{Session, SessionOptions};
use threadlab::ui::theme::Theme;
use threadlab::ui::{self, UiOptions};

mod man;
mod signals;

use signals::{SignalRecord, SignalStop, watched_bench_config};

use threadlab::stop_signals::fail;

fn main() -> ExitCode {
    // Writing past a file-size limit (ulimit -f) must fail that file worker
    // with EFBIG, not kill the process with the terminal left raw.
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    if let Some(Command::Config { path }) = cli.command {
        // Not checked here: this is how to find and fix a broken file.
        return config_command(path, cli.run.config.as_deref());
    }
    // Every other command reads and checks the config file it is given (or
    // finds), and logs as its [log] section says.
    let config = match Config::load(cli.run.config.as_deref()) {
        Ok(config) => config,
        Err(error) => return fail(2, error),
    };
    if matches!(cli.command, None | Some(Command::Serve { .. })) {
        // The dashboard (hundreds of workers, the server's connection cap)
        // and `serve` raise their soft descriptor limit to the hard one,
        // as servers do; traced and compared Python children keep theirs.
        raise_nofile_limit();
    }
    if cli.command.is_none() {
        return run_dashboard(&cli.run, &config);
    }
    // `--log FILE` is global: it counts for every command, as it says.
    let log_file = cli.run.log.clone().or_else(|| config.log_file.clone());
    let _log_guard = match threadlab::logs::init(log_file.as_deref(), &config.log_level) {
        Ok(guard) => guard,
        Err(message) => return fail(2, message),
    };
    match cli.command {
        None | Some(Command::Config { .. }) => ExitCode::SUCCESS,
        Some(Command::Serve { addr }) => serve(addr),
        Some(Command::Bench(args)) => match &args.lab {
            Some(lab) => threadlab::lab_cli::bench(lab),
            None => bench(&args),
        },
        Some(Command::Compare(args)) => match &args.lab {
            Some(lab) => threadlab::lab_cli::compare(lab),
            None => compare_cmd::compare(&args),
        },
        Some(Command::Trace(args)) => trace_cmd::trace(&args, &cli.run, &config),
        Some(Command::Attach(args)) => trace_cmd::attach(&args, &cli.run, &config),
        Some(Command::Completions { shell }) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "threadlab", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Some(Command::Man { command, dir }) => man_pages(command.as_deref(), dir.as_deref()),
    }
}

/// The command line, or the exit code when there is none to run: help and
/// the version printed (0), or a usage error in one line (2).
fn parse_cli() -> Result<Cli, ExitCode> {
    Cli::try_parse().map_err(|error| match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        _ => {
            // One clear line that still names the argument and what
            // is allowed (clap puts those under its first line).
            let line = threadlab::cli::one_line_error(&error.render().to_string());
            fail(2, format!("{line} (see threadlab --help)"))
        }
    })
}

/// `threadlab config [--path]`: the built-in configuration, or the path of
/// the file in effect (`config`, from `--config`, else found).
fn config_command(path: bool, config: Option<&std::path::Path>) -> ExitCode {
    if path {
        return match threadlab::config::path_in_effect(config) {
            Some(path) => {
                println!("{}", path.display());
                ExitCode::SUCCESS
            }
            None => fail(
                1,
                "no config directory: give --config FILE or THREADLAB_CONFIG",
            ),
        };
    }
    print!("{}", threadlab::config::DEFAULT_TOML);
    ExitCode::SUCCESS
}

/// Raises the soft descriptor limit (see [`threadlab::server::raise_nofile_limit`]);
/// a refusal is logged, not fatal: the server then caps its connections lower.
fn raise_nofile_limit() {
    match threadlab::server::raise_nofile_limit() {
        Ok((before, after)) if before != after => {
            tracing::info!(?before, ?after, "raised the soft descriptor limit");
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "could not raise the soft descriptor limit"),
    }
}

fn man_pages(command: Option<&str>, dir: Option<&std::path::Path>) -> ExitCode {
    if let Some(dir) = dir {
        return match man::write_all(dir) {
            Ok(files) => {
                for file in files {
                    println!("{}", file.display());
                }
                ExitCode::SUCCESS
            }
            Err(error) => fail(
                1,
                format!("cannot write the man pages into {}: {error}", dir.display()),
            ),
        };
    }
    match man::write_page(command, &mut std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(None) => fail(
            2,
            format!(
                "man: no command '{}'; the pages are: {}",
                command.unwrap_or_default(),
                man::subcommands().join(", ")
            ),
        ),
        // `threadlab man | head`: the reader left; nothing is wrong.
        Err(Some(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Some(error)) => fail(1, format!("cannot write the man page: {error}")),
    }
}

fn run_dashboard(args: &RunArgs, config: &Config) -> ExitCode {
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
        python_version: args.python_version.unwrap_or_default(),
        export: args.export.clone(),
    };
    // The dashboard handles signals itself (they end it); this only
    // records one, so that a dashboard ended from outside exits 128 + signal
    // while the q and Ctrl-C keys exit 0.
    let record = SignalRecord::start();
    match ui::run(session, &ui_options) {
        Ok(()) => record.exit_code(ExitCode::SUCCESS),
        Err(error) => fail(1, error),
    }
}

fn serve(addr: std::net::SocketAddr) -> ExitCode {
    let server = match Server::start(addr) {
        Ok(server) => server,
        Err(error) => return fail(2, error),
    };
    // Signals are watched before the banner says the server is up: a
    // SIGTERM sent as soon as the banner shows stops it cleanly (143), it
    // does not kill it.
    let stopper = server.stop_handle();
    let signals = match SignalStop::watch(threadlab::cancel::CancelToken::new(), move || {
        stopper.stop()
    }) {
        Ok(signals) => signals,
        Err(error) => return fail(1, format!("cannot watch for signals: {error}")),
    };
    let limits = server.limits();
    println!("threadlab server listening on {}", server.url("/"));
    println!(
        "endpoints: /bytes/N?rate=B&chunk=C  /delay/MS  /status/CODE  /abort/N  /echo   (Ctrl-C stops)"
    );
    println!(
        "at most {} connections at once (file descriptors: {})",
        limits.max_connections,
        threadlab::server::limits::nofile_limit()
            .map_or_else(|| "unlimited".to_string(), |n| n.to_string())
    );
    let stopped = server.wait();
    drop(server);
    match stopped {
        threadlab::server::Stopped::Requested => signals.exit_code(ExitCode::SUCCESS),
        threadlab::server::Stopped::Failed(why) => fail(1, format!("the server stopped: {why}")),
    }
}

/// Prints a note that a signal cut the run short, with what it shows.
pub(crate) fn interrupted(what: &str) {
    let _ = writeln!(std::io::stderr(), "threadlab: interrupted; {what}");
}

fn bench(args: &BenchArgs) -> ExitCode {
    let modes = if args.mode.is_empty() {
        Mode::ALL.to_vec()
    } else {
        args.mode.clone()
    };
    let (config, signals) = match watched_bench_config(&args.threads, args.interval, args.seconds) {
        Ok(watched) => watched,
        Err(error) => return fail(1, error),
    };
    let experiments = args
        .experiment
        .expect("clap requires an experiment without a subcommand")
        .expand();
    for experiment in experiments {
        let mut reports = Vec::new();
        for &mode in &modes {
            if config.cancel.is_cancelled() {
                break;
            }
            match lab::run(experiment, mode, &config) {
                Ok(report) => {
                    if report.rows.is_empty() {
                        continue;
                    }
                    if args.json {
                        match serde_json::to_string(&report) {
                            Ok(json) => println!("{json}"),
                            Err(error) => return fail(1, error),
                        }
                    }
                    reports.push(report);
                }
                Err(_) if config.cancel.is_cancelled() => break,
                Err(error) => return fail(1, format!("{experiment} ({mode}): {error}")),
            }
        }
        if !args.json && !reports.is_empty() {
            println!("{}", lab::render_table(&reports));
        }
        if config.cancel.is_cancelled() {
            interrupted(if reports.is_empty() {
                "nothing was measured yet"
            } else {
                "the table above shows what was measured (its last row may be shorter)"
            });
            break;
        }
    }
    signals.exit_code(ExitCode::SUCCESS)
}
