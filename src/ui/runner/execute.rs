//! Carrying out the reducer's [`Command`]s on the session: spawning and
//! cancelling workers, the GIL's mode and interval, and starting or
//! stopping an experiment, a race or a lab scenario.

use std::time::{Duration, Instant};

use crate::gil::Mode;
use crate::lab::{BenchConfig, Suite, SuiteEvent};
use crate::session::Session;
use crate::sync::{Race, RaceConfig};
use crate::ui::app::{App, AppEvent, Command};
use crate::ui::panes::lab;
use crate::ui::panes::race::{RACE_INCREMENTS, RACE_THREADS, RaceUpdate};

/// How long each measurement of an experiment started from the dashboard runs.
const EXPERIMENT_MEASUREMENT: Duration = Duration::from_millis(300);
/// Each measurement of a side-by-side run: long enough for its
/// distributions (some 200 holds of 5 ms) and a steady stretch to draw.
const SIDE_BY_SIDE_MEASUREMENT: Duration = Duration::from_secs(1);

/// Carries out a command from the reducer on the pool and the GIL.
pub fn execute(app: &mut App, session: &mut Session, command: Command) {
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
        Command::SetUiUnderGil(_) => {} // the runner reads app.ui_under_gil()
        Command::RunExperiment(experiment) => {
            if let Some(old) = session.suite.take() {
                old.cancel();
            }
            let config = BenchConfig::new(vec![1, 2, 4], app.interval(), EXPERIMENT_MEASUREMENT);
            match Suite::spawn(experiment, Mode::ALL.to_vec(), config, true) {
                Ok(suite) => session.suite = Some(suite),
                Err(error) => {
                    app.apply(AppEvent::Lab(SuiteEvent::Failed(format!(
                        "cannot start the experiment: {error}"
                    ))));
                }
            }
        }
        Command::RunSideBySide(experiment) => {
            if let Some(old) = session.suite.take() {
                old.cancel();
            }
            let config = BenchConfig::new(vec![1, 2, 4], app.interval(), SIDE_BY_SIDE_MEASUREMENT);
            match Suite::spawn_side_by_side(experiment, config, None) {
                Ok(suite) => session.suite = Some(suite),
                Err(error) => {
                    app.apply(AppEvent::Lab(SuiteEvent::Failed(format!(
                        "cannot start the experiment: {error}"
                    ))));
                }
            }
        }
        Command::ExportTimeline => {} // the runner writes it (it keeps the receiver)
        Command::CancelExperiment => {
            if let Some(suite) = session.suite.take() {
                suite.cancel();
            }
        }
        Command::RunRace(body) => {
            if let Some(old) = session.race.take() {
                old.cancel();
            }
            lab::run::stop_for_race(app, session);
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
        Command::CancelRace => {
            if let Some(race) = session.race.take() {
                race.cancel();
            }
        }
        Command::RunScenario(kind) => lab::run::start(app, session, kind),
        Command::CancelScenario => lab::run::cancel(session),
        Command::Quit => {} // the reducer already set quit
    }
}
