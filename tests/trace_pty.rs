//! The trace dashboard in a real terminal: `threadlab trace -- python3
//! script.py` shows the script's threads, their GIL lanes and its output;
//! it stays on the final picture when the script ends; `q` then exits 0
//! with the terminal restored. `q` while the script runs stops it.
//!
//! Same requirements as `tests/trace.rs`: root, the uprobe PMU, pyenv
//! (the sampled trace's test needs only pyenv).

#[path = "trace_support/mod.rs"]
#[macro_use]
mod support;

mod common;

use std::time::Duration;

use common::pty::{Pty, Spec};
use support::*;

/// Longest wait for something to show (catches hangs only).
const SHOW: Duration = Duration::from_secs(30);

#[test]
fn the_dashboard_shows_the_programs_lanes_and_output_and_stays_until_q() {
    require_tracing!();
    let Ok(python3) = which("python3") else {
        threadlab_test_support::skip::skip("no python3 on PATH");
        return;
    };
    let _turn = turn();
    let script_path = script("trace_show.py");
    let args = [
        "trace".to_string(),
        "--".to_string(),
        python3.display().to_string(),
        script_path.display().to_string(),
    ];
    let mut pty = Pty::start(Spec::new(&args).wrapped(""));
    pty.wait_for("real GIL", SHOW);
    pty.wait_for("exited with code 0", SHOW);
    let screen = pty.screen();
    assert!(screen.contains("TRACE python 3."), "{}", pty.dump());
    // The main thread and two CPU threads, in the table and as lanes.
    assert!(screen.contains("Threads · 3"), "{}", pty.dump());
    // Lanes carry the Python thread names.
    assert!(
        screen.contains("MainThread "),
        "a lane labelled MainThread\n{}",
        pty.dump()
    );
    assert!(screen.contains('█'), "someone held the GIL\n{}", pty.dump());
    // The \r-redrawn line in its last state, escape sequences gone.
    assert!(screen.contains("progress 100%"), "{}", pty.dump());
    assert!(!screen.contains("progress  75%"), "{}", pty.dump());
    assert!(screen.contains("all done"), "{}", pty.dump());
    assert!(!screen.contains("[32m"), "{}", pty.dump());
    pty.send(b"g");
    pty.wait_for("does not apply", SHOW);
    // The help overlay: the keys that work here, and those that do not.
    pty.wait_for("? help", SHOW);
    pty.send(b"?");
    pty.wait_screen("the trace help overlay", SHOW, |screen| {
        screen.contains("Help · keys")
            && screen.contains("zoom the GIL timeline in")
            && screen.contains("quit (the program has ended)")
            && screen.contains("Not while tracing")
            && screen.contains("f d c s g m [ ] e r D t u x X")
    });
    pty.send(b"\x1b");
    pty.wait_screen("the help overlay closed by Esc", SHOW, |screen| {
        !screen.contains("Help · keys") && screen.contains("Threads · 3")
    });
    pty.send(b"q");
    let run = pty.finish_wrapped(SHOW);
    assert_eq!(run.code, 0, "{}", run.describe());
    // Mouse reporting was on, and is off again.
    run.assert_terminal_restored();
}

#[test]
fn q_while_the_program_runs_stops_it_and_leaves_no_child() {
    require_tracing!();
    let python = python_or_skip!("3.11", "3.12", "3.13");
    let _turn = turn();
    let script_path = script("trace_rate.py");
    let args = [
        "trace".to_string(),
        "--".to_string(),
        python.display().to_string(),
        script_path.display().to_string(),
    ];
    let mut pty = Pty::start(Spec::new(&args).wrapped(""));
    pty.wait_for("rate ", SHOW);
    let screen = pty.screen();
    let pid: u32 = screen
        .split("· pid ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("the header names the pid\n{}", pty.dump()));
    pty.send(b"q");
    let run = pty.finish_wrapped(SHOW);
    assert_eq!(run.code, 0, "{}", run.describe());
    run.assert_terminal_restored_except_mouse();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(stat.is_empty(), "the program {pid} is still there: {stat}");
}

#[test]
fn a_sampled_trace_says_so_in_the_dashboard_header() {
    // Sampled needs no root: this runs as any user.
    let python = python_or_skip!("3.11", "3.12", "3.13");
    let _turn = turn();
    let args = [
        "trace".to_string(),
        "--sampled".to_string(),
        "--".to_string(),
        python.display().to_string(),
        script("trace_show.py").display().to_string(),
    ];
    let mut pty = Pty::start(Spec::new(&args).wrapped(""));
    pty.wait_for("sampled GIL · --sampled", SHOW);
    pty.wait_for("exited with code 0", SHOW);
    let screen = pty.screen();
    assert!(!screen.contains("real GIL"), "{}", pty.dump());
    assert!(screen.contains('█'), "someone held the GIL\n{}", pty.dump());
    pty.send(b"q");
    let run = pty.finish_wrapped(SHOW);
    assert_eq!(run.code, 0, "{}", run.describe());
    run.assert_terminal_restored();
}

/// Kills the program when the test ends, however it ends.
struct Program(std::process::Child);

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn q_in_the_attach_dashboard_detaches_and_the_program_runs_on() {
    require_tracing!();
    let python = python_or_skip!("3.11", "3.12", "3.13");
    let _turn = turn();
    let mut program = Program(
        std::process::Command::new(&python)
            .arg(script("trace_rate.py"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn the program"),
    );
    let pid = program.0.id().to_string();
    let mut pty = Pty::start(Spec::new(&["attach", pid.as_str()]).wrapped(""));
    pty.wait_for("real GIL", SHOW);
    // The main thread's lane, by its Python name (read from outside).
    pty.wait_for("MainThread", SHOW);
    pty.wait_for("q detach", SHOW);
    pty.send(b"q");
    let run = pty.finish_wrapped(SHOW);
    assert_eq!(run.code, 0, "{}", run.describe());
    run.assert_terminal_restored_except_mouse();
    assert!(
        program.0.try_wait().expect("try_wait").is_none(),
        "detaching left the program running"
    );
}

/// The experiment picker's second section: throughput run in the emulation
/// and in python3 under the tracer, both timelines on one time scale with
/// their distributions; `+` zooms both, `Esc` closes, `q` exits 0.
#[test]
fn the_side_by_side_shows_emulated_and_traced_lanes_on_one_time_scale() {
    require_tracing!();
    let Ok(python3) = which("python3") else {
        threadlab_test_support::skip::skip("no python3 on PATH");
        return;
    };
    let _turn = turn();
    // The python3 the side by side runs (the shim's interpreter), idle.
    let sentinel = threadlab_test_support::probes::Sentinel::start(&python3);
    let mut pty = Pty::app_args(&[]);
    pty.wait_dashboard();
    pty.send(b"e");
    pty.wait_for("Timelines: the emulation beside", SHOW);
    pty.send(b"jjjj\r");
    pty.wait_for("Emulated beside real: throughput", SHOW);
    pty.wait_screen("both sides measured", Duration::from_secs(90), |screen| {
        (screen.contains("· done ·") && screen.matches("cpu-2 ").count() == 2)
            || screen.contains("failed:")
            || screen.contains("not traced")
    });
    let screen = pty.screen();
    assert!(!screen.contains("failed:"), "{}", pty.dump());
    assert!(screen.contains("emulated gil"), "{}", pty.dump());
    assert!(
        screen.contains("(traced)"),
        "the real side is traced\n{}",
        pty.dump()
    );
    assert!(screen.contains("2 threads"), "{}", pty.dump());
    assert!(
        screen.contains("real ÷ emulated, p50: hold ×"),
        "{}",
        pty.dump()
    );
    assert_eq!(
        screen.matches("· 100 ms ·").count(),
        2,
        "one time scale\n{}",
        pty.dump()
    );
    pty.send(b"+");
    pty.wait_screen("both zoomed to 50 ms", SHOW, |screen| {
        screen.matches("· 50 ms ·").count() == 2
    });
    pty.send(b"\x1b");
    pty.wait_for(" Workers (", SHOW);
    pty.send(b"q");
    let status = pty.wait_exit(SHOW);
    assert!(status.success(), "exit status {status:?}\n{}", pty.dump());
    sentinel.assert_no_probe_left("the side by side", Duration::from_secs(10));
}

#[path = "../engine/src/trace/testdata/standin.rs"]
#[macro_use]
mod standin;

use standin::Build;

/// A free-threaded build (a `cc` stand-in: none is installed here) in the
/// dashboard: the header says the GIL is disabled, the table tells the
/// thread on a CPU from the one asleep, and `q` stops the program.
#[test]
fn a_free_threaded_build_shows_thread_states_under_a_gil_disabled_header() {
    let build = build_or_skip!();
    build.library("libpython3.13t.so.1.0", &["-DFREE_SYMBOLS"], true);
    let exe = build.executable("python3.13t", "libpython3.13t.so.1.0");
    let args = [
        "trace".to_string(),
        "--".to_string(),
        exe.display().to_string(),
        "30".to_string(),
        "threads".to_string(),
    ];
    let mut pty = Pty::start(Spec::new(&args).wrapped(""));
    pty.wait_for("GIL disabled (free-threaded): thread states only", SHOW);
    pty.wait_for("Thread states · no GIL", SHOW);
    pty.wait_for("no GIL: nobody holds or waits", SHOW);
    assert!(
        !pty.screen().contains("forced"),
        "GIL marks in the legend\n{}",
        pty.dump()
    );
    pty.wait_screen("the spinner running, the napper blocked", SHOW, |screen| {
        let row = |name: &str| screen.lines().find(|l| l.contains(name)).map(str::to_owned);
        row("spinner").is_some_and(|r| r.contains("▒ running"))
            && row("napper").is_some_and(|r| r.contains("⇅ blocked"))
    });
    pty.send(b"q");
    let run = pty.finish_wrapped(SHOW);
    assert_eq!(run.code, 0, "{}", run.describe());
    run.assert_terminal_restored();
    let left = common::process::processes_running(&exe.display().to_string());
    assert!(left.is_empty(), "q left the program running: {left:?}");
}
