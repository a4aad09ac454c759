//! The race in the dashboard, end to end in a pty: `r` starts a race in the
//! current GIL mode, its pane shows the updates lost live, `r` again races
//! the next loop body, and `q` quits with 0 even while a race runs (its
//! threads are cancelled and joined).

mod common;

use std::time::Duration;

use common::pty::{EXIT, Pty, SHOW};

/// A race of 4 × 1,000,000 increments in the debug build: seconds.
const RACE_DONE: Duration = Duration::from_secs(120);

#[test]
fn r_races_and_shows_lost_updates_then_q_exits_0() {
    let mut pty = Pty::app_args(&["--mode", "gil"]);
    pty.wait_dashboard();
    pty.send(b"r");
    pty.wait_for("race: counter += 1", SHOW);
    pty.wait_for("lost ", SHOW);
    pty.wait_for("gil, 3.12 model", SHOW);
    // The racing threads' lanes carry their names.
    pty.wait_for("race-4", SHOW);
    // Under the 3.10+ model `counter += 1` cannot lose an update, however
    // the GIL moved: the finished race says so.
    pty.wait_screen("the plain race done with lost 0", RACE_DONE, |screen| {
        screen.contains("done · r: next body") && screen.contains("lost 0 · expected 4000000")
    });
    pty.send(b"r");
    pty.wait_for("race: counter = inc(counter)", SHOW);
    pty.wait_for("running", SHOW);
    // Its lost updates are marked on the lanes where the stores happened.
    pty.wait_screen("a ≠ on a race lane", SHOW, |screen| {
        screen
            .lines()
            .any(|l| l.contains("│race-") && l.contains('≠'))
    });
    // Quit while it runs: the racing threads stop and the exit is clean.
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "exit status {status:?}\n{}", pty.dump());
}

/// `--python-version 3.9`: the dashboard's race runs 3.9's eval-breaker
/// model (a check before almost every instruction), so `counter += 1` is
/// no longer safe under the GIL: the pane names the model, and (at a
/// 0.1 ms switch interval, hundreds of forced switches) the plain race
/// loses updates, as 3.8/3.9 do.
#[test]
fn python_version_3_9_makes_the_plain_race_lose_updates() {
    let mut pty = Pty::app_args(&[
        "--mode",
        "gil",
        "--interval",
        "0.1",
        "--python-version",
        "3.9",
    ]);
    pty.wait_dashboard();
    pty.send(b"r");
    pty.wait_for("race: counter += 1", SHOW);
    pty.wait_for("gil, 3.9 model", SHOW);
    pty.wait_screen("the plain race done, updates lost", RACE_DONE, |screen| {
        screen.contains("done · r: next body")
            && !screen.contains("lost 0 ·")
            && screen.contains("expected 4000000")
    });
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "exit status {status:?}\n{}", pty.dump());
}

/// The reducer alone: `r` asks for a race of the next body, a second `r`
/// while it runs only says so, Esc stops a running race.
#[test]
fn r_cycles_the_bodies_and_esc_stops_a_running_race() {
    use threadlab::gil::model::PythonVersion;
    use threadlab::gil::{Mode, SwitchInterval};
    use threadlab::sync::{Body, RaceProgress};
    use threadlab::ui::app::{App, AppEvent, Command};
    use threadlab::ui::keys::Action;
    use threadlab::ui::panes::race::RaceUpdate;

    let mut app = App::new(Mode::Gil, SwitchInterval::DEFAULT);
    let started = |body| {
        AppEvent::Race(RaceUpdate::Started {
            body,
            mode: Mode::Gil,
            version: PythonVersion::DEFAULT,
        })
    };
    assert_eq!(
        app.apply(AppEvent::Action(Action::Race)),
        Some(Command::RunRace(Body::Plain))
    );
    app.apply(started(Body::Plain));
    assert!(app.races().running());
    assert_eq!(app.apply(AppEvent::Action(Action::Race)), None);
    assert!(app.notice().is_some_and(|n| n.contains("race is running")));
    app.apply(AppEvent::Race(RaceUpdate::Progress(RaceProgress {
        expected: 10,
        counter: 7,
        clobbers: 1,
    })));
    let pane = app.races().pane().expect("pane");
    assert_eq!(pane.progress.lost(), 3);
    app.apply(AppEvent::Race(RaceUpdate::Finished(
        Err("cancelled".into()),
    )));
    assert!(!app.races().running());
    assert_eq!(
        app.apply(AppEvent::Action(Action::Race)),
        Some(Command::RunRace(Body::Call))
    );
    app.apply(started(Body::Call));
    assert_eq!(
        app.apply(AppEvent::Action(Action::CloseOverlay)),
        Some(Command::CancelRace)
    );
    assert!(app.races().pane().is_none());
}
