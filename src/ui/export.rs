//! `w` on the dashboard: the emulated GIL timeline it keeps (the last ten
//! seconds, every lane) written as Chrome Trace Event JSON by the same
//! exporter `threadlab trace --export` uses, so an emulated and a real run
//! open side by side in Perfetto. The lanes are copied on the UI thread (a
//! few milliseconds at most); the file is written on a thread of its own,
//! which reports back once done.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crossbeam_channel::Receiver;

use super::app::App;
use super::panes::timeline::draw::lane_label;
use crate::gil::Transition;
use crate::trace::recorder::Slice;
use crate::trace::{Track, write_chrome};

/// What an export writes: one track per lane and every lane interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// The emulation's mode and interval, for the process name.
    pub process: String,
    /// One per lane.
    pub tracks: Vec<Track>,
    /// Every finished lane interval, in lane order.
    pub slices: Vec<Slice>,
}

/// The file `w` writes when no `--export FILE` was given: in the current
/// directory, named by the time (never overwriting an earlier export).
pub(crate) fn default_path() -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    PathBuf::from(format!("threadlab-gil-{stamp}.json"))
}

/// Copies the timeline's lanes as tracks and slices. A lane's last state
/// runs to the timeline's clock; marks are left out.
pub fn snapshot(app: &App) -> Export {
    let timeline = app.timeline();
    let now_us = timeline.now_us();
    let mut tags: Vec<_> = timeline.lanes().keys().copied().collect();
    tags.sort_unstable();
    let mut tracks = Vec::with_capacity(tags.len());
    let mut slices = Vec::new();
    for tag in tags {
        let lane = &timeline.lanes()[&tag];
        tracks.push(Track {
            tid: tag,
            name: lane_label(timeline, app.workers(), tag),
        });
        let ends = lane.changes.iter().skip(1).map(|c| c.0).chain([now_us]);
        for (&(at, state), end) in lane.changes.iter().zip(ends) {
            // A stay shorter than the timeline's microsecond is kept (as a
            // slice of no length): it happened.
            if state == Transition::Exit || end < at {
                continue;
            }
            slices.push(Slice {
                tid: tag,
                lane: state,
                start_ns: at * 1000,
                len_ns: (end - at) * 1000,
            });
        }
    }
    Export {
        process: format!(
            "threadlab emulated GIL ({}, {:.1} ms interval)",
            app.mode(),
            app.interval().as_millis_f64()
        ),
        tracks,
        slices,
    }
}

fn write(export: &Export, path: &Path) -> std::io::Result<()> {
    let made = !path.exists();
    let mut out = BufWriter::new(File::create(path)?);
    // Under sudo (a traced dashboard), a file made for the user is theirs,
    // not root's (one that was there keeps its owner).
    if made {
        crate::trace::give_to_sudo_user(path);
    }
    let written = write_chrome(
        &mut out,
        &export.process,
        std::process::id(),
        &export.tracks,
        export.slices.iter().copied(),
        std::iter::empty(),
    );
    if written.is_err() {
        // This export created the file: nothing half-written stays.
        drop(out);
        let _ = std::fs::remove_file(path);
    }
    written
}

/// Writes `export` to `path` on a thread named `export`; the receiver
/// gets one line for the footer: what was written, or why not.
pub fn spawn(export: Export, path: PathBuf) -> Receiver<String> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let job = move || {
        let line = match write(&export, &path) {
            Ok(()) => format!(
                "wrote the GIL timeline ({} lanes, {} slices) to {} — open it in ui.perfetto.dev",
                export.tracks.len(),
                export.slices.len(),
                path.display()
            ),
            Err(error) => format!("cannot write {}: {error}", path.display()),
        };
        let _ = tx.send(line);
    };
    if let Err(error) = std::thread::Builder::new().name("export".into()).spawn(job) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let _ = tx.send(format!("cannot start the export: {error}"));
        return rx;
    }
    rx
}
