//! The `threadlab` binary without a terminal: usage errors (exit code 2
//! and one line on stderr), `serve` end to end, `--help` / `--version`,
//! `config`, completions and the man page. `bench`'s output is in
//! `tests/cli_bench.rs`, the config file and conventions in
//! `tests/cli_config.rs`.
//!
//! Every run has stdin null and a deadline: a child that does not exit in
//! time is killed and the test fails with what it printed so far.

mod common;

use std::time::Duration;

use common::process::Spawned;
use common::{assert_usage_error, run};

/// Waiting for `serve` to print its address, or to exit after SIGTERM.
const SERVE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Usage errors: exit code 2, one line on stderr
// ---------------------------------------------------------------------------

#[test]
fn unknown_experiment_is_a_usage_error() {
    assert_usage_error(
        &["bench", "nope"],
        &["nope", "throughput", "io", "latency", "convoy", "all"],
    );
}

#[test]
fn zero_threads_is_a_usage_error() {
    assert_usage_error(
        &["bench", "throughput", "--threads", "0"],
        &["--threads", "64", "baseline"],
    );
}

#[test]
fn too_many_threads_is_a_usage_error() {
    assert_usage_error(
        &["bench", "throughput", "--threads", "65"],
        &["--threads", "65", "64"],
    );
}

#[test]
fn unknown_bench_mode_is_a_usage_error() {
    assert_usage_error(
        &["bench", "throughput", "--mode", "turbo"],
        &["turbo", "free", "gil", "legacy"],
    );
}

#[test]
fn bench_interval_out_of_range_is_a_usage_error() {
    assert_usage_error(
        &["bench", "throughput", "--interval", "1000"],
        &["--interval", "0.1", "100"],
    );
}

#[test]
fn negative_seconds_is_a_usage_error() {
    // The loose check that holds today: exit 2, one line, names the value.
    assert_usage_error(&["bench", "throughput", "--seconds", "-1"], &["-1"]);
    // Written with `=`, clap hands -1 to the value parser.
    assert_usage_error(
        &["bench", "throughput", "--seconds=-1"],
        &["--seconds", "-1", "0.05", "60"],
    );
}

#[test]
fn negative_seconds_names_the_flag_and_range() {
    assert_usage_error(
        &["bench", "throughput", "--seconds", "-1"],
        &["--seconds", "-1", "0.05", "60"],
    );
}

#[test]
fn unknown_dashboard_python_version_is_a_usage_error() {
    assert_usage_error(
        &["--python-version", "4.0"],
        &["--python-version", "4.0", "2.7", "3.2", "3.14"],
    );
}

#[test]
fn negative_dashboard_interval_is_a_usage_error() {
    assert_usage_error(&["--interval", "-1"], &["-1"]);
    assert_usage_error(&["--interval=-1"], &["--interval", "-1", "0.1", "100"]);
}

#[test]
fn negative_dashboard_interval_names_the_flag_and_range() {
    assert_usage_error(&["--interval", "-1"], &["--interval", "-1", "0.1", "100"]);
}

#[test]
fn a_serve_path_without_a_leading_slash_is_a_usage_error() {
    assert_usage_error(
        &["--serve-path", "bytes/10"],
        &["--serve-path", "bytes/10", "/"],
    );
    assert_usage_error(
        &["--serve-path", "/bytes/10", "--url", "http://127.0.0.1:1/"],
        &["--serve-path", "--url"],
    );
}

#[test]
fn zero_fps_is_a_usage_error() {
    assert_usage_error(&["--fps", "0"], &["--fps", "240"]);
}

#[test]
fn a_python_cost_out_of_range_is_a_usage_error() {
    assert_usage_error(&["--ui-python-ms", "-1"], &["--ui-python-ms", "0 to 1000"]);
    assert_usage_error(
        &["--ui-python-ms", "lots"],
        &["--ui-python-ms", "0 to 1000"],
    );
}

#[test]
fn an_unknown_python_cost_preset_is_a_usage_error_naming_the_presets() {
    assert_usage_error(
        &["--ui-python-ms", "heavy"],
        &["--ui-python-ms", "heavy", "table, light"],
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("threadlab.toml");
    std::fs::write(&file, "[ui]\npython_ms = \"heavy\"\n").expect("the config file");
    let run = run(&["--config", file.to_str().expect("a UTF-8 path")]);
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("[ui] python_ms") && run.stderr.contains("table, light"),
        "{}",
        run.stderr
    );
}

#[test]
fn zero_cpu_steps_is_a_usage_error() {
    assert_usage_error(&["--cpu-steps", "0"], &["--cpu-steps"]);
}

#[test]
fn serve_refuses_a_non_loopback_address() {
    assert_usage_error(
        &["serve", "--addr", "10.1.2.3:80"],
        &["10.1.2.3:80", "loopback"],
    );
    // Our own check after parsing, not clap's value parser.
    let run = run(&["serve", "--addr", "10.1.2.3:80"]);
    assert!(
        run.stderr.starts_with("threadlab: refusing to bind"),
        "{}",
        run.describe()
    );
}

#[test]
fn serve_rejects_a_malformed_address() {
    assert_usage_error(
        &["serve", "--addr", "notanaddress"],
        &["--addr", "notanaddress"],
    );
}

// ---------------------------------------------------------------------------
// serve
// ---------------------------------------------------------------------------

#[test]
fn serve_answers_then_exits_143_on_sigterm() {
    let mut server = Spawned::start(&["serve", "--addr", "127.0.0.1:0"], &[]);
    let first = server.wait_line(SERVE, |_| true);
    let prefix = "threadlab server listening on ";
    let base = first
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .trim()
        .to_string();
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with('/'),
        "not a loopback URL: {base:?}"
    );
    let port: u16 = base["http://127.0.0.1:".len()..base.len() - 1]
        .parse()
        .unwrap_or_else(|e| panic!("no port in {base:?}: {e}"));
    assert_ne!(port, 0, "port 0 should be replaced by the bound port");

    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build the HTTP client");
    let response = client
        .get(format!("{base}bytes/1000"))
        .send()
        .expect("GET /bytes/1000");
    assert!(
        response.status().is_success(),
        "status {}",
        response.status()
    );
    let body = response.bytes().expect("read the body");
    assert_eq!(body.len(), 1000, "body length of /bytes/1000");

    let ended = server.signal_and_wait("TERM", SERVE);
    assert_eq!(
        ended.status.code(),
        Some(143),
        "serve should exit 128 + SIGTERM\n{ended:?}"
    );
}

// ---------------------------------------------------------------------------
// --help and --version
// ---------------------------------------------------------------------------

#[test]
fn help_lists_the_subcommands() {
    let run = run(&["--help"]);
    run.assert_success();
    let info = run.describe();
    for word in ["bench", "serve", "--mode", "--interval"] {
        assert!(run.stdout.contains(word), "--help lacks {word:?}\n{info}");
    }
}

#[test]
fn version_prints_the_version_and_the_commit_it_was_built_from() {
    let run = run(&["--version"]);
    run.assert_success();
    let line = run.stdout.trim();
    // What build.rs found when it built this binary and these tests.
    assert_eq!(line, format!("threadlab {}", env!("THREADLAB_VERSION")));
    let prefix = format!("threadlab {} (", env!("CARGO_PKG_VERSION"));
    let build = line
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not `{prefix}…)`: {line}"));
    if build == "commit unknown" {
        return;
    }
    let commit = build.strip_suffix(", dirty").unwrap_or(build);
    assert!(
        commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit()),
        "{line}"
    );
    // And it is this checkout's HEAD, where git answers (as another user it
    // may refuse a checkout it does not own).
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string());
    if let Some(head) = head {
        assert_eq!(commit, head, "{line}");
    }
}

// ---------------------------------------------------------------------------
// config, completions, man
// ---------------------------------------------------------------------------

#[test]
fn config_prints_the_documented_defaults_and_they_load() {
    let run = run(&["config"]);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(
        run.stdout.contains("[gil]") && run.stdout.contains("[keys]"),
        "{}",
        run.stdout
    );
    threadlab::config::Config::from_toml(Some(std::path::Path::new("printed.toml")), &run.stdout)
        .expect("the printed default is a valid config");
}

#[test]
fn completions_and_man_page_generate() {
    for shell in ["bash", "zsh", "fish"] {
        let run = run(&["completions", shell]);
        assert!(run.status.success(), "{shell}: {}", run.stderr);
        assert!(
            run.stdout.contains("threadlab") && run.stdout.contains("bench"),
            "{shell}"
        );
        // The tracer's options complete too.
        for option in ["rate", "blocking", "sampled", "flamegraph", "check"] {
            // fish writes `-l rate`, bash and zsh `--rate`.
            let spelled = if shell == "fish" {
                format!("-l {option}")
            } else {
                format!("--{option}")
            };
            assert!(run.stdout.contains(&spelled), "{shell}: no {spelled}");
        }
    }
    let bad = run(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
    let man = run(&["man"]);
    assert!(man.status.success(), "{}", man.stderr);
    assert!(
        man.stdout.contains(".TH") && man.stdout.contains("threadlab"),
        "{}",
        man.stdout
    );
}

#[test]
fn a_missing_config_file_is_one_line_and_exit_2() {
    let run = run(&["--config", "/nonexistent/threadlab.toml"]);
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("/nonexistent/threadlab.toml"),
        "{}",
        run.stderr
    );
}

#[test]
fn python_cost_presets_parse_on_the_command_line() {
    use clap::Parser;
    use threadlab::cli::Cli;
    use threadlab::lab::python_cost::Preset;
    for preset in Preset::ALL {
        let cli = Cli::try_parse_from(["threadlab", "--ui-python-ms", preset.name()])
            .expect("a preset parses");
        assert_eq!(cli.run.ui_python_ms, Some(preset.cost()));
    }
    let cli = Cli::try_parse_from(["threadlab", "--ui-python-ms", "2,8"]).expect("numbers parse");
    assert_eq!(cli.run.ui_python_ms.and_then(|c| c.preset()), None);
}
