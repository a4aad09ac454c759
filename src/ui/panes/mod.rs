//! One module per pane: each holds the state its pane owns and a widget
//! that draws it. The reducer in [`super::app`] routes events to them.
//! [`PaneId`] names the panes that take the focus (the reducer, its events
//! and the layout all speak of them, so it lives below all three);
//! [`LaneOwners`] is how the timeline learns which worker a lane belongs to
//! without holding the worker table.

pub mod bars;
pub mod console;
pub mod experiment;
pub mod fit;
pub mod help;
pub mod lab;
pub mod logs;
pub mod meter;
pub mod race;
pub mod timeline;
pub mod workers;

/// A pane that can take the keyboard focus, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaneId {
    /// The worker table.
    #[default]
    Workers,
    /// The GIL timeline (or the log pane in its place).
    Timeline,
    /// The seed demo's console.
    Console,
    /// The responsiveness meter.
    Meter,
}

impl PaneId {
    /// Every pane, in Tab order.
    pub const ALL: [PaneId; 4] = [
        PaneId::Workers,
        PaneId::Timeline,
        PaneId::Console,
        PaneId::Meter,
    ];

    /// The next pane in Tab order.
    pub fn next(self) -> Self {
        let at = Self::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Self::ALL[(at + 1) % Self::ALL.len()]
    }

    /// Its name, for the footer.
    pub fn name(self) -> &'static str {
        match self {
            PaneId::Workers => "workers",
            PaneId::Timeline => "timeline",
            PaneId::Console => "console",
            PaneId::Meter => "responsiveness",
        }
    }
}

/// Which worker runs a thread, for a timeline lane's label: the worker
/// table knows its workers' threads; lanes with no table behind them (a
/// side-by-side measurement, a trace) use `()`, which knows none.
pub(crate) trait LaneOwners {
    /// The label of the worker running `thread` (`cpu-3`, or `cpu-3+` for a
    /// second thread of the same worker), if a worker runs it.
    fn worker_label(&self, thread: crate::gil::ThreadTag) -> Option<String>;
}

impl LaneOwners for () {
    fn worker_label(&self, _thread: crate::gil::ThreadTag) -> Option<String> {
        None
    }
}
