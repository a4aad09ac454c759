//! The coordination lab's keys end to end in a pty: `D` shows the named
//! deadlock cycle, `x` and Esc break it, `D` again runs the fix to its
//! end; `t` runs each toolbox scenario to its end with its threads' lab
//! waits on their lanes; `q` exits 0.

mod common;

use std::time::Duration;

use common::pty::{EXIT, Pty, SHOW};

/// Generous: the cycle closes within milliseconds and is shown at the
/// next frame; the debug build on a busy machine gets its seconds.
const NAMED: Duration = Duration::from_secs(20);
const CYCLE: &str = "AB-1 waits for lock B held by BA-2, which waits for lock A held by AB-1";

#[test]
fn d_shows_the_named_cycle_x_and_esc_break_it_the_fix_finishes_q_exits_0() {
    let mut pty = Pty::app_args(&["--mode", "gil"]);
    pty.wait_dashboard();
    let pressed = std::time::Instant::now();
    pty.send(b"D");
    pty.wait_for(CYCLE, NAMED);
    eprintln!("D to the named cycle on screen: {:?}", pressed.elapsed());
    pty.wait_for("x/Esc breaks it", SHOW);
    pty.send(b"x");
    pty.wait_for("deadlock broken", SHOW);
    pty.wait_screen("the cycle gone", SHOW, |screen| !screen.contains(CYCLE));
    // The fix: one order, to the end.
    pty.send(b"D");
    pty.wait_for("lab: deadlock fixed: same order", SHOW);
    pty.wait_for("rounds holding A and B: 80/80", Duration::from_secs(120));
    pty.wait_for("AB-2 ✓ done", SHOW);
    // Opposite again, broken with Esc this time.
    pty.send(b"D");
    pty.wait_for(CYCLE, NAMED);
    pty.send(b"\x1b");
    pty.wait_for("deadlock broken", SHOW);
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "exit status {status:?}\n{}", pty.dump());
}

/// Every toolbox scenario through the picker: it starts, its threads'
/// lanes show their lab waits, it finishes, Esc closes it.
#[test]
fn t_runs_each_toolbox_scenario_to_its_end() {
    let mut pty = Pty::app_args(&["--mode", "gil"]);
    pty.wait_dashboard();
    let done = Duration::from_secs(120);
    for (downs, title, lanes) in [
        (0, "lab: producer/consumer", "prod-"),
        (1, "lab: semaphore", "sem-"),
        (2, "lab: event", "ev-"),
        (3, "lab: barrier", "bar-"),
        (4, "lab: thread pool", "main"),
    ] {
        pty.send(b"t");
        pty.wait_for("Toolbox", SHOW);
        for _ in 0..downs {
            pty.send(b"j");
        }
        pty.send(b"\r");
        pty.wait_for(title, SHOW);
        // Some thread of the scenario blocks on a lab object, and its lane
        // shows it, at some frame before the scenario ends. Which thread
        // blocks depends on how the OS starts them, so any of them counts.
        let mut blocked_lane = false;
        pty.wait_screen(&format!("{title} done"), done, |screen| {
            blocked_lane |= screen
                .lines()
                .any(|l| l.starts_with(&format!("│{lanes}")) && l.contains('━'));
            screen.contains("done · Esc closes")
        });
        assert!(
            blocked_lane,
            "no {lanes}* lane ever showed ━ (blocked on a lab object)\n{}",
            pty.dump()
        );
        pty.send(b"\x1b");
        pty.wait_screen("the lab pane closed", SHOW, |screen| {
            !screen.contains(title)
        });
    }
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "exit status {status:?}\n{}", pty.dump());
}
