//! End-to-end tests of the real `threadlab` binary in a pseudo-terminal.
//!
//! Each test starts the binary in a 120×40 pty (`TERM=xterm-256color`). A
//! reader thread feeds everything the program writes into a `vt100` parser
//! and keeps the raw bytes too; the tests wait on conditions over the parsed
//! screen (woken by a condvar on every chunk of output), never on fixed
//! sleeps, and fail with a dump of the screen and the output's tail.
//!
//! To see the terminal *after* the program is gone, some tests run it under
//! `sh -c`: the shell prints `stty -a` before and after the run, and the
//! program's exit code, into the same pty. So "raw mode was turned off" is
//! checked on the real terminal settings, not inferred from escape codes.
//!
//! The harness is in `tests/common/pty.rs`, shared with `tests/pty_faults.rs`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::assert_usage_error;
use common::pty::{
    ENTER_ALT, EXIT, LEAVE_ALT, Pty, SHOW, Spec, find, has_worker, header_count, rfind, signal,
    squash, worker_lines,
};

// ---------------------------------------------------------------------------
// Tests in the pty
// ---------------------------------------------------------------------------

#[test]
fn start_press_c_and_f_see_both_then_q_exits_0() {
    let mut pty = Pty::app_args(&["--mode", "free"]);
    pty.wait_dashboard();
    pty.wait_for("No workers yet", SHOW);
    pty.send(b"c");
    pty.send(b"f");
    pty.wait_screen("a cpu row and a fetch row", SHOW, |screen| {
        let rows = worker_lines(screen);
        rows.iter().any(|r| r.kind == "cpu") && rows.iter().any(|r| r.kind == "fetch")
    });
    let rows = worker_lines(&pty.screen());
    let cpu = rows.iter().find(|r| r.kind == "cpu").map(|r| r.id);
    let fetch = rows.iter().find(|r| r.kind == "fetch").map(|r| r.id);
    assert_eq!(
        (cpu, fetch),
        (Some(1), Some(2)),
        "ids follow key order\n{}",
        pty.dump()
    );
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "exit status {status:?}\n{}", pty.dump());
}

#[test]
fn q_restores_screen_cursor_and_cooked_mode() {
    let mut pty = Pty::wrapped(&["--mode", "free"]);
    pty.wait_dashboard();
    pty.send(b"c");
    pty.wait_screen("a live cpu row", SHOW, |screen| {
        has_worker(screen, "cpu", "running")
    });
    pty.send(b"q");
    let run = pty.finish_wrapped(EXIT);
    assert_eq!(run.code, 0, "q should exit 0\n{}", run.describe());
    run.assert_terminal_restored_except_mouse();
}

#[test]
fn ctrl_c_quits_with_0_and_restores_terminal() {
    let mut pty = Pty::wrapped(&[]);
    pty.wait_dashboard();
    pty.send(b"s");
    pty.wait_screen("a sleep row", SHOW, |screen| {
        has_worker(screen, "sleep", "")
    });
    pty.send(b"\x03");
    let run = pty.finish_wrapped(EXIT);
    assert_eq!(run.code, 0, "Ctrl-C should exit 0\n{}", run.describe());
    run.assert_terminal_restored_except_mouse();
}

#[test]
fn sigterm_quits_and_restores_terminal() {
    let mut pty = Pty::wrapped(&[]);
    pty.wait_dashboard();
    pty.send(b"c");
    pty.wait_screen("a cpu row", SHOW, |screen| has_worker(screen, "cpu", ""));
    let pid = pty.app_pid_under_shell();
    signal(pid, "TERM");
    let run = pty.finish_wrapped(EXIT);
    // SIGTERM is a request to quit: a clean exit (0), or the conventional
    // 128+15 if the program re-raises it after restoring. Anything else (or
    // a terminal left raw, checked below) means the signal was not handled.
    assert!(
        run.code == 0 || run.code == 143,
        "unexpected exit code after SIGTERM\n{}",
        run.describe()
    );
    run.assert_terminal_restored_except_mouse();
}

#[test]
fn ui_panic_restores_terminal_before_the_message() {
    let mut pty = Pty::wrapped(&["--fault", "ui-panic"]);
    pty.wait_dashboard();
    pty.send(b"!");
    let run = pty.finish_wrapped(EXIT);
    assert_ne!(
        run.code,
        0,
        "a UI panic must not exit 0\n{}",
        run.describe()
    );
    run.assert_terminal_restored_except_mouse();
    let message: &[u8] = b"fault injection: UI thread panic requested";
    let at = find(&run.raw, message)
        .unwrap_or_else(|| panic!("the panic message is not in the output\n{}", run.describe()));
    let leave = rfind(&run.raw, LEAVE_ALT).expect("checked by assert_terminal_restored");
    assert!(
        at > leave,
        "the panic message was printed before leaving the alternate screen\n{}",
        run.describe()
    );
    // It is on the normal screen for the user to read.
    assert!(
        run.screen.contains("UI thread panic requested"),
        "the panic message is not visible on the restored screen\n{}",
        run.describe()
    );
}

#[test]
fn worker_panic_shows_failed_worker_and_app_lives_on() {
    let mut pty = Pty::app_args(&["--fault", "worker-panic", "--cpu-steps", "20000000"]);
    pty.wait_dashboard();
    pty.send(b"c");
    pty.wait_screen("a cpu row", SHOW, |screen| has_worker(screen, "cpu", ""));
    // 20 M steps: the fault panics it halfway, well under a second.
    pty.wait_screen(
        "the cpu worker failed",
        Duration::from_secs(120),
        |screen| {
            has_worker(screen, "cpu", "failed")
                && header_count(screen, "failed") == Some(1)
                && header_count(screen, "running") == Some(0)
        },
    );
    pty.wait_for("panicked", SHOW);
    // The worker's panic must not be printed over the dashboard.
    let raw = String::from_utf8_lossy(&pty.raw()).into_owned();
    assert!(
        !raw.contains("panicked at"),
        "the worker's panic was printed to the terminal\n{}",
        pty.dump()
    );
    // Still alive and responding to keys.
    pty.send(b"?");
    pty.wait_screen("the help overlay", SHOW, |screen| {
        screen.contains("Help · keys") && screen.contains("cancel all workers")
    });
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "exit status {status:?}\n{}", pty.dump());
}

#[test]
fn cancel_selected_then_cancel_all() {
    let mut pty = Pty::app_args(&[]);
    pty.wait_dashboard();
    pty.send(b"s");
    pty.wait_screen("a running sleep row", SHOW, |screen| {
        has_worker(screen, "sleep", "") && header_count(screen, "running") == Some(1)
    });
    pty.send(b"x");
    pty.wait_screen("the sleep worker cancelled", SHOW, |screen| {
        has_worker(screen, "sleep", "cancelled")
            && header_count(screen, "cancelled") == Some(1)
            && header_count(screen, "running") == Some(0)
    });
    pty.send(b"c");
    pty.send(b"c");
    pty.wait_screen("two running cpu workers", SHOW, |screen| {
        let cpus = worker_lines(screen)
            .into_iter()
            .filter(|r| r.kind == "cpu")
            .count();
        cpus == 2 && header_count(screen, "running") == Some(2)
    });
    pty.send(b"X");
    // A frame may arrive in several reads: wait for all of it at once.
    pty.wait_screen(
        "cancelled 3 in the header and three cancelled rows",
        SHOW,
        |screen| {
            let rows = worker_lines(screen);
            header_count(screen, "cancelled") == Some(3)
                && header_count(screen, "running") == Some(0)
                && rows.len() == 3
                && rows.iter().all(|r| r.rest.contains("cancelled"))
        },
    );
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "exit status {status:?}\n{}", pty.dump());
}

#[test]
fn help_overlay_lists_keys_and_esc_closes_it() {
    let mut pty = Pty::app_args(&[]);
    pty.wait_dashboard();
    pty.wait_for("No workers yet", SHOW);
    assert!(!pty.screen().contains("Help · keys"), "{}", pty.dump());
    pty.send(b"?");
    pty.wait_screen("the help overlay listing the keys", SHOW, |screen| {
        [
            "Help · keys",
            "spawn a fetch worker",
            "spawn a cpu worker",
            "cancel the selected worker",
            "cancel all workers",
            "Ctrl-C",
        ]
        .iter()
        .all(|line| screen.contains(line))
    });
    pty.send(b"\x1b");
    pty.wait_screen("the overlay closed", SHOW, |screen| {
        !screen.contains("Help · keys")
            && !screen.contains("cancel all workers")
            && screen.contains("No workers yet. Press f (fetch)")
    });
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "exit status {status:?}\n{}", pty.dump());
}

// ---------------------------------------------------------------------------
// Bad input: no terminal needed
// ---------------------------------------------------------------------------

#[test]
fn interval_0_is_a_usage_error() {
    assert_usage_error(&["--interval", "0"], &["--interval", "0.1"]);
}

#[test]
fn unknown_mode_is_a_usage_error() {
    assert_usage_error(&["--mode", "fast"], &["--mode", "free", "gil", "legacy"]);
}

#[test]
fn ftp_url_is_a_usage_error() {
    assert_usage_error(&["--url", "ftp://x"], &["--url", "http"]);
}

#[test]
fn missing_workdir_is_a_usage_error() {
    assert_usage_error(
        &["--workdir", "/nonexistent/dir"],
        &["--workdir", "/nonexistent/dir"],
    );
}

// ---------------------------------------------------------------------------
// UI under the GIL, and the experiment pane
// ---------------------------------------------------------------------------

/// The GIL timeline's stats for the lane labelled `label`: `(hold, wait,
/// io)` percentages, from a lane line `label ░░▏░  4%  80%  16%    85`
/// inside the timeline pane (the right-hand pane of the body).
fn lane_percentages(screen: &str, label: &str) -> Option<(u32, u32, u32)> {
    screen.lines().find_map(|line| {
        let segment = line.split('│').find(|segment| {
            segment
                .strip_prefix(label)
                .is_some_and(|rest| rest.starts_with(' '))
        })?;
        let percents: Vec<u32> = segment
            .split_whitespace()
            .filter_map(|word| word.strip_suffix('%')?.parse().ok())
            .collect();
        match percents[..] {
            [hold, wait, io] => Some((hold, wait, io)),
            _ => None,
        }
    })
}

fn cpu_rows(screen: &str) -> usize {
    worker_lines(screen)
        .iter()
        .filter(|r| r.kind == "cpu")
        .count()
}

/// Starts two endless cpu workers under the GIL, presses `u`, waits until
/// `badge` says the UI is under the GIL, presses `j` a dozen times, and
/// waits for a `ui` lane in the timeline with a non-zero wait share, and
/// for the `input` and `output` lanes: the threads that read keys and
/// write frames take the GIL too while the UI is under it, as a Python
/// TUI's do.
fn ui_lane_waits_under_the_gil(badge: &str, badge_shown: impl Fn(&str) -> bool) {
    let mut pty = Pty::app_args(&["--mode", "gil", "--cpu-steps", "100000000000"]);
    pty.wait_dashboard();
    pty.send(b"c");
    pty.send(b"c");
    pty.wait_screen("two cpu rows", SHOW, |screen| cpu_rows(screen) == 2);
    pty.send(b"u");
    pty.wait_screen(badge, SHOW, badge_shown);
    for _ in 0..12 {
        pty.send(b"j");
    }
    pty.wait_screen(
        "`ui` (waiting), `input` and `output` lanes in the GIL timeline",
        SHOW,
        |screen| {
            screen.contains(" GIL timeline ")
                && lane_percentages(screen, "ui").is_some_and(|(_, wait, _)| wait > 0)
                && lane_percentages(screen, "input").is_some()
                && lane_percentages(screen, "output").is_some()
        },
    );
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "exit status {status:?}\n{}", pty.dump());
}

#[test]
fn ui_under_the_gil_shows_a_ui_lane_that_waits() {
    ui_lane_waits_under_the_gil("the \"UI under the GIL\" header badge", |screen| {
        screen
            .lines()
            .next()
            .is_some_and(|header| header.contains("UI under the GIL"))
    });
}

/// The same, recognising the mode by the Responsiveness pane's title, which
/// fits at 120 columns (until the header badge does).
#[test]
fn ui_under_the_gil_lane_waits_per_responsiveness_pane() {
    ui_lane_waits_under_the_gil(
        "the Responsiveness pane titled UI UNDER THE GIL",
        |screen| screen.contains("Responsiveness · UI UNDER THE GIL"),
    );
}

/// How long the dashboard's experiment may take: 3 modes × 3 thread counts
/// × 0.3 s, on a slow, busy machine.
const EXPERIMENT: Duration = Duration::from_secs(60);

#[test]
fn experiment_picker_runs_and_charts() {
    let mut pty = Pty::app_args(&[]);
    pty.wait_dashboard();
    pty.send(b"e");
    pty.wait_screen("the experiment picker", SHOW, |screen| {
        screen.contains(" Experiments ") && screen.contains("▶ throughput")
    });
    pty.send(b"\r");
    pty.wait_screen("the throughput experiment pane", SHOW, |screen| {
        screen.contains("Experiment: throughput") && !screen.contains(" Experiments ")
    });
    pty.wait_screen("the experiment done", EXPERIMENT, |screen| {
        screen
            .lines()
            .any(|line| line.contains("Experiment: throughput") && line.contains("· done ·"))
    });
    pty.wait_screen(
        "the chart with speedup labels and thread-count groups",
        SHOW,
        |screen| {
            // 3 modes × 3 thread counts, plus 3 more when python3 is there.
            (screen.contains("9/9 measurements") || screen.contains("12/12 measurements"))
                && screen.contains("1.00")
                && ["N = 1", "N = 2", "N = 4"]
                    .iter()
                    .all(|group| screen.contains(group))
        },
    );
    assert!(!pty.screen().contains(" Workers ("), "{}", pty.dump());
    pty.send(b"\x1b");
    pty.wait_screen("the pane closed, the Workers pane back", SHOW, |screen| {
        screen.contains(" Workers (") && !screen.contains("Experiment: throughput")
    });
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "exit status {status:?}\n{}", pty.dump());
}

// ---------------------------------------------------------------------------
// Configuration, key map and colours
// ---------------------------------------------------------------------------

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("write the config");
    path.display().to_string()
}

#[test]
fn a_key_remapped_in_the_config_spawns_the_worker_and_the_old_key_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `v` is bound to nothing by default.
    let config = write_config(dir.path(), "[keys]\ncpu = \"v\"\n");
    let mut pty = Pty::app_args(&["--config", &config]);
    pty.wait_dashboard();
    // The footer shows the key in force.
    pty.wait_screen("the footer showing v for cpu", SHOW, |screen| {
        squash(screen).contains("v cpu")
    });
    // Input is handled in order: once v's worker shows, c was handled too.
    pty.send(b"c");
    pty.send(b"v");
    pty.wait_screen("a cpu row", SHOW, |screen| has_worker(screen, "cpu", ""));
    let rows = worker_lines(&pty.screen());
    assert_eq!(rows.len(), 1, "c is no longer bound\n{}", pty.dump());
    pty.send(b"q");
    assert!(pty.wait_exit(EXIT).success());
}

/// Every SGR colour parameter in `raw` (foreground/background, 16, 256 or
/// true colour); the "default colour" codes 39 and 49 do not count.
fn colour_codes(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let mut found = Vec::new();
    for chunk in text.split("\x1b[").skip(1) {
        let Some(end) = chunk.find(|c: char| c.is_ascii_alphabetic()) else {
            continue;
        };
        if !chunk[end..].starts_with('m') {
            continue;
        }
        for param in chunk[..end].split(';') {
            if let Ok(n) = param.parse::<u32>()
                && matches!(n, 30..=38 | 40..=48 | 90..=97 | 100..=107)
            {
                found.push(chunk[..end].to_string());
                break;
            }
        }
    }
    found
}

fn run_with_colour_env(no_color: bool) -> Vec<u8> {
    let spec = Spec::new(&["--mode", "gil"]);
    let spec = if no_color {
        spec.env("NO_COLOR", "1")
    } else {
        spec.env_remove("NO_COLOR")
    };
    let mut pty = Pty::start(spec);
    pty.wait_dashboard();
    pty.send(b"cs");
    pty.wait_screen("a cpu row holding or waiting for the GIL", SHOW, |screen| {
        has_worker(screen, "cpu", "GIL")
    });
    pty.send(b"?");
    pty.wait_for("Help", SHOW);
    pty.send(b"q");
    assert!(pty.wait_exit(EXIT).success(), "{}", pty.dump());
    pty.raw()
}

#[test]
fn no_color_produces_no_colour_escapes() {
    let coloured = run_with_colour_env(false);
    assert!(
        !colour_codes(&coloured).is_empty(),
        "the default theme does use colour, so this test can tell"
    );
    let plain = run_with_colour_env(true);
    let codes = colour_codes(&plain);
    assert!(
        codes.is_empty(),
        "NO_COLOR output has colour codes: {codes:?}"
    );
}

#[test]
fn a_bad_config_stops_at_start_with_one_line_and_the_terminal_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "[ui]\nfps = 30\ncolour = \"red\"\n");
    let mut pty = Pty::wrapped(&["--config", &config]);
    let run = pty.finish_wrapped(EXIT);
    assert_eq!(run.code, 2, "{}", run.describe());
    let raw = pty.raw();
    assert!(
        find(&raw, ENTER_ALT).is_none(),
        "the alternate screen was never entered"
    );
    assert!(
        run.screen.contains("config.toml, line 3") && run.screen.contains("colour"),
        "{}",
        run.describe()
    );
    assert_eq!(
        squash(&run.stty_before),
        squash(&run.stty_after),
        "terminal settings untouched\n{}",
        run.describe()
    );
}
