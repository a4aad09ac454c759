//! Carrying out the reducer's [`Command`]s, every one of them here: on the
//! session (spawning and cancelling workers, the GIL's mode and interval,
//! starting or stopping an experiment, a race or a lab scenario) and on the
//! UI thread's own side ([`UiSide`]: its membership in the GIL, the quit
//! token its GIL waits watch, a timeline export being written).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::cancel::CancelToken;
use crate::gil::{GilThread, Mode};
use crate::lab::{BenchConfig, Suite, SuiteEvent};
use crate::session::Session;
use crate::sync::{Race, RaceConfig};
use crate::ui::app::{App, AppEvent, Command};
use crate::ui::lab_runs;
use crate::ui::panes::race::{RACE_INCREMENTS, RACE_THREADS, RaceUpdate};

/// How long each measurement of an experiment started from the dashboard runs.
const EXPERIMENT_MEASUREMENT: Duration = Duration::from_millis(300);
/// Each measurement of a side-by-side run: long enough for its
/// distributions (some 200 holds of 5 ms) and a steady stretch to draw.
const SIDE_BY_SIDE_MEASUREMENT: Duration = Duration::from_secs(1);

/// What the UI thread keeps for itself that commands act on.
pub(crate) struct UiSide<'a> {
    /// The UI thread's membership in the GIL ("UI under the GIL").
    pub ui_gil: &'a mut GilThread,
    /// Cancelled once a quit is decided: the UI's GIL waits give up.
    pub quit: &'a CancelToken,
    /// A timeline export being written, until it reports.
    pub export: &'a mut Option<Receiver<String>>,
    /// Whether the UI is under the GIL, as the input thread reads it.
    pub under_gil: &'a AtomicBool,
}

/// Carries out a command from the reducer on the session and the UI side.
pub(crate) fn execute(app: &mut App, session: &mut Session, ui: UiSide<'_>, command: Command) {
    match command {
        Command::Spawn(kind) => match session.pool.spawn(kind) {
            Ok(id) => {
                app.apply(AppEvent::Spawned {
                    id,
                    kind,
                    at: Instant::now(),
                });
            }
            Err(error) => {
                app.apply(AppEvent::SpawnFailed(format!(
                    "cannot spawn {kind}: {error}"
                )));
            }
        },
        Command::Cancel(id) => {
            session.pool.cancel(id);
        }
        Command::CancelAll => {
            session.pool.cancel_all();
        }
        Command::SetMode(mode) => session.gil.set_mode(mode),
        Command::SetInterval(interval) => session.gil.set_interval(interval),
        Command::SetUiUnderGil(on) => {
            // On: the UI thread joins the GIL as it next waits (the runner
            // releases it around each wait), and the emulated Python
            // threads come to its priority, as in one Python process. Off:
            // it leaves at once, and they go back below it.
            ui.ui_gil.share_priority(on);
            // The input thread takes the GIL around its reads from now on
            // (or stops: it lets go before its next read).
            ui.under_gil.store(on, Ordering::Relaxed);
            if !on && ui.ui_gil.is_holding() {
                ui.ui_gil.exit();
            }
        }
        Command::RunExperiment(experiment) => start_suite(app, session, |interval| {
            let config = BenchConfig::new(vec![1, 2, 4], interval, EXPERIMENT_MEASUREMENT);
            Suite::spawn(experiment, Mode::ALL.to_vec(), config, true)
        }),
        Command::RunSideBySide(experiment) => start_suite(app, session, |interval| {
            let config = BenchConfig::new(vec![1, 2, 4], interval, SIDE_BY_SIDE_MEASUREMENT);
            Suite::spawn_side_by_side(experiment, config, None)
        }),
        Command::ExportTimeline => {
            if let Some(path) = app.export_target() {
                let export = crate::ui::export::snapshot(app);
                *ui.export = Some(crate::ui::export::spawn(export, path.to_path_buf()));
            }
        }
        Command::CancelExperiment => {
            if let Some(suite) = session.suite.take() {
                suite.cancel();
            }
        }
        Command::RunRace(body) => start_race(app, session, body),
        Command::CancelRace => {
            if let Some(race) = session.race.take() {
                race.cancel();
            }
        }
        Command::RunScenario(kind) => lab_runs::start(app, session, kind),
        Command::CancelScenario => lab_runs::cancel(session),
        // No Python for a quit: nothing more waits for the GIL.
        Command::Quit => ui.quit.cancel(),
    }
}

/// Starts a race of `body` (the one running and any lab run stop first).
fn start_race(app: &mut App, session: &mut Session, body: crate::sync::Body) {
    if let Some(old) = session.race.take() {
        old.cancel();
    }
    lab_runs::stop_for_race(app, session);
    let mode = session.gil.mode();
    let mut config = RaceConfig::new(body, RACE_THREADS, RACE_INCREMENTS, mode);
    config.gil = Some(session.gil.clone());
    config.python_version = app.python_version();
    config.nice = session.worker_nice;
    let update = match Race::spawn(config) {
        Ok(race) => {
            let version = race.python_version();
            app.apply(AppEvent::LaneNames(race.lanes().to_vec()));
            session.race = Some(race);
            RaceUpdate::Started {
                body,
                mode,
                version,
            }
        }
        Err(error) => RaceUpdate::Failed(format!("cannot start the race: {error}")),
    };
    app.apply(AppEvent::Race(update));
}

/// Starts an experiment from the dashboard (the one running is cancelled
/// first); `spawn` gets the switch interval in force.
fn start_suite(
    app: &mut App,
    session: &mut Session,
    spawn: impl FnOnce(crate::gil::SwitchInterval) -> std::io::Result<Suite>,
) {
    if let Some(old) = session.suite.take() {
        old.cancel();
    }
    match spawn(app.interval()) {
        Ok(suite) => session.suite = Some(suite),
        Err(error) => {
            app.apply(AppEvent::Lab(SuiteEvent::Failed(format!(
                "cannot start the experiment: {error}"
            ))));
        }
    }
}
