//! Lab scenarios driven for the runner (its `execute` starts, stops and
//! cancels them; its turn polls them): start a scenario on the session's
//! GIL (so its lanes are the dashboard's), cancel it without waiting, and
//! poll it once a turn — the deadlock is found at the next turn after the
//! cycle closes (a frame at most, 100 ms while the screen is still). What
//! it learns goes to the lab pane as `AppEvent`s through the reducer; the
//! pane itself only keeps and draws the state.

use crate::session::Session;
use crate::sync::{Scenario, ScenarioConfig, ScenarioKind};
use crate::ui::app::{App, AppEvent};
use crate::ui::panes::lab::LabUpdate;
use crate::ui::panes::race::RaceUpdate;

/// What the semaphore scenario's downloads fetch from the embedded
/// server: 512 KiB at 1 MiB/s, half a second each.
pub(crate) const LAB_FETCH_PATH: &str = "/bytes/524288?rate=1048576";

/// Starts `kind`, stopping a scenario that runs and a race (the strip
/// shows one lab at a time).
pub(crate) fn start(app: &mut App, session: &mut Session, kind: ScenarioKind) {
    if let Some(old) = session.lab.take() {
        old.cancel();
    }
    if let Some(race) = session.race.take() {
        race.cancel();
        let stopped = Err("stopped for the lab".to_string());
        app.apply(AppEvent::Race(RaceUpdate::Finished(stopped)));
    }
    let config = ScenarioConfig {
        kind,
        gil: session.gil.clone(),
        fetch_url: session.server.url(LAB_FETCH_PATH),
        nice: session.worker_nice,
    };
    app.apply(AppEvent::Scenario(LabUpdate::Started(kind)));
    match Scenario::spawn(config) {
        Ok(scenario) => {
            app.apply(AppEvent::LaneNames(scenario.lanes()));
            session.lab = Some(scenario);
        }
        Err(error) => {
            let message = format!("cannot start the scenario: {error}");
            app.apply(AppEvent::Scenario(LabUpdate::Failed(message)));
        }
    }
}

/// Stops a scenario for a race, which takes the strip.
pub(crate) fn stop_for_race(app: &mut App, session: &mut Session) {
    if let Some(scenario) = session.lab.take() {
        scenario.cancel();
    }
    if app.labs().pane().is_some() {
        app.apply(AppEvent::Scenario(LabUpdate::Closed));
    }
}

/// Cancels the running scenario's waits; its threads stop on their own
/// and the next poll sees them gone.
pub(crate) fn cancel(session: &Session) {
    if let Some(scenario) = session.lab.as_ref() {
        scenario.interrupt();
    }
}

/// The running scenario's status; a finished one is joined and dropped.
pub(crate) fn poll(app: &mut App, session: &mut Session) {
    let Some(scenario) = session.lab.as_mut() else {
        return;
    };
    let status = scenario.status();
    if status.finished {
        session.lab = None;
    }
    let shown = app.labs().pane().and_then(|pane| pane.status.as_ref());
    if shown == Some(&status) {
        // Nothing moved (a deadlock holds still): no frame for it.
        return;
    }
    app.apply(AppEvent::Scenario(LabUpdate::Status(Box::new(status))));
}
