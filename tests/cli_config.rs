//! Conventions: `--help` names the environment variables, each command
//! has a man page with ENVIRONMENT and FILES sections.
//!
//! Every flag means what it says: each command that takes `--config` (or
//! `THREADLAB_CONFIG`) reads and checks the file, a huge file is refused
//! without eating memory, long values in messages are cut, and clap's
//! errors reduced to one line still name the argument and what is allowed.

mod common;

use common::{assert_usage_error, run_env};

/// Runs threadlab with `args` (see [`common::run`]).
fn threadlab(args: &[&str]) -> common::Run {
    common::run(args)
}

/// Every command that runs something, with arguments that would start it.
const COMMANDS: [&[&str]; 4] = [
    &["bench", "throughput", "--seconds", "0.05", "--threads", "1"],
    &["serve", "--addr", "127.0.0.1:0"],
    &["compare", "throughput", "--python", "/nonexistent/python"],
    &["completions", "bash"],
];

fn with_config<'a>(command: &[&'a str], config: &'a str) -> Vec<&'a str> {
    let mut args = command.to_vec();
    args.extend(["--config", config]);
    args
}

#[test]
fn every_command_refuses_a_missing_config_file() {
    for command in COMMANDS {
        assert_usage_error(
            &with_config(command, "/nonexistent/threadlab.toml"),
            &["/nonexistent/threadlab.toml", "cannot read"],
        );
    }
}

#[test]
fn every_command_refuses_an_invalid_config_file_with_its_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[gil]\nmode = \"gil\"\n\n[ui]\nfps = 0\n").expect("write");
    let path = path.to_str().expect("UTF-8 path");
    for command in COMMANDS {
        assert_usage_error(&with_config(command, path), &["line 5", "fps", "1 to 240"]);
    }
}

#[test]
fn the_config_comes_from_threadlab_config_too() {
    let run = run_env(
        &["bench", "throughput", "--seconds", "0.05", "--threads", "1"],
        &[("THREADLAB_CONFIG", "/nonexistent/from-env.toml")],
    );
    assert_eq!(run.code(), Some(2), "{}", run.describe());
    assert!(
        run.stderr.contains("/nonexistent/from-env.toml"),
        "{}",
        run.describe()
    );
    // `config --path` says which file is in effect: the flag wins.
    let run = run_env(
        &["config", "--path"],
        &[("THREADLAB_CONFIG", "/tmp/from-env.toml")],
    );
    assert_eq!(
        run.stdout.trim(),
        "/tmp/from-env.toml",
        "{}",
        run.describe()
    );
    let run = run_env(
        &["config", "--path", "--config", "/tmp/flag.toml"],
        &[("THREADLAB_CONFIG", "/tmp/from-env.toml")],
    );
    assert_eq!(run.stdout.trim(), "/tmp/flag.toml", "{}", run.describe());
    // Empty counts as unset.
    let run = run_env(&["config", "--path"], &[("THREADLAB_CONFIG", "")]);
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert!(
        run.stdout.trim().ends_with("threadlab/config.toml"),
        "{}",
        run.describe()
    );
    let run = threadlab(&["config", "--path"]);
    assert!(
        run.stdout.trim().ends_with("threadlab/config.toml"),
        "{}",
        run.describe()
    );
}

#[test]
fn a_valid_config_is_applied_by_headless_commands() {
    // Its [log] section: bench logs to the file it names.
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("bench.log");
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[log]\nfile = \"{}\"\nlevel = \"debug\"\n",
            log.to_str().expect("UTF-8 path")
        ),
    )
    .expect("write");
    let run = threadlab(&[
        "bench",
        "io",
        "--seconds",
        "0.05",
        "--threads",
        "1",
        "--mode",
        "free",
        "--config",
        config.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    let logged = std::fs::read_to_string(&log).expect("the log file was written");
    assert!(logged.contains("embedded server"), "{logged}");
}

#[test]
fn a_huge_config_file_is_refused_without_reading_it_all() {
    // /dev/zero never ends: reading it whole would eat all memory.
    assert_usage_error(
        &["bench", "throughput", "--config", "/dev/zero"],
        &["/dev/zero", "larger than"],
    );
}

#[test]
fn long_values_in_messages_are_cut() {
    let long = "x".repeat(5000);
    let run = threadlab(&["bench", "throughput", "--mode", &long]);
    assert_eq!(run.code(), Some(2), "{}", run.describe());
    assert!(
        run.stderr.len() < 400,
        "{} bytes: {}",
        run.stderr.len(),
        run.stderr
    );
    assert!(run.stderr.contains('…'), "{}", run.stderr);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("long.toml");
    std::fs::write(&config, format!("[gil]\nmode = \"{long}\"\n")).expect("write");
    let run = threadlab(&[
        "bench",
        "throughput",
        "--config",
        config.to_str().expect("UTF-8"),
    ]);
    assert_eq!(run.code(), Some(2), "{}", run.describe());
    assert!(
        run.stderr.len() < 400,
        "{} bytes: {}",
        run.stderr.len(),
        run.stderr
    );
    assert!(run.stderr.contains('…'), "{}", run.stderr);
}

#[test]
fn a_missing_experiment_names_the_argument() {
    assert_usage_error(&["bench"], &["<EXPERIMENT>", "not provided"]);
}

#[test]
fn an_unknown_shell_lists_the_shells() {
    assert_usage_error(
        &["completions", "nosh"],
        &["nosh", "bash", "zsh", "fish", "elvish", "powershell"],
    );
}

#[test]
fn zero_threads_says_the_baseline_is_always_measured() {
    for experiment in ["latency", "convoy"] {
        assert_usage_error(
            &["bench", experiment, "--threads", "0"],
            &["--threads", "baseline", "1 to 64"],
        );
    }
}

#[test]
fn a_hostname_for_serve_is_refused_with_what_is_accepted() {
    assert_usage_error(
        &["serve", "--addr", "localhost:8080"],
        &[
            "localhost:8080",
            "hostnames are not accepted",
            "127.0.0.1:PORT",
            "[::1]:PORT",
        ],
    );
}

#[test]
fn help_names_the_environment_variables() {
    let run = threadlab(&["--help"]);
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    for name in ["THREADLAB_CONFIG", "THREADLAB_LOG", "NO_COLOR"] {
        assert!(run.stdout.contains(name), "--help does not name {name}");
    }
}

#[test]
fn every_command_has_a_man_page_with_environment_and_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = threadlab(&["man", "--dir", dir.path().to_str().expect("UTF-8 path")]);
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    let mut pages = common::entries(dir.path());
    pages.sort();
    for page in [
        "threadlab.1",
        "threadlab-bench.1",
        "threadlab-serve.1",
        "threadlab-compare.1",
        "threadlab-trace.1",
        "threadlab-attach.1",
    ] {
        assert!(pages.iter().any(|p| p == page), "no {page} in {pages:?}");
    }
    // The tracer's stack options are documented where they apply.
    for page in ["threadlab-trace.1", "threadlab-attach.1"] {
        let text = std::fs::read_to_string(dir.path().join(page)).expect("read the page");
        for option in ["rate", "blocking", "sampled", "flamegraph", "check"] {
            assert!(
                text.contains(&format!("\\-\\-{option}")),
                "{page} has no --{option}"
            );
        }
    }
    for page in &pages {
        let text = std::fs::read_to_string(dir.path().join(page)).expect("read the page");
        for section in [
            ".SH ENVIRONMENT",
            ".SH FILES",
            "THREADLAB_LOG",
            "config.toml",
        ] {
            assert!(text.contains(section), "{page} has no {section}");
        }
    }
    // One page on stdout, by command name.
    let run = threadlab(&["man", "bench"]);
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert!(
        run.stdout.contains(".TH threadlab-bench 1"),
        "{}",
        run.stdout
    );
    assert_usage_error(&["man", "nope"], &["nope", "bench", "serve"]);
}

#[test]
fn log_counts_for_every_command_not_only_the_dashboard() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("bench.log");
    let log_arg = log.to_str().expect("utf-8");
    // A headless command: before, `--log` was read by the dashboard alone.
    let run = common::run_env(
        &[
            "--log",
            log_arg,
            "bench",
            "throughput",
            "--mode",
            "free",
            "--threads",
            "1",
            "--seconds",
            "0.05",
        ],
        &[("THREADLAB_LOG", "info")],
    );
    run.assert_success();
    assert!(log.is_file(), "--log {log_arg} was not opened");
}
