//! The coordination lab: races, locks and the `threading` toolbox as
//! emulated objects that run under the emulated GIL.
//!
//! * [`race`] — N threads increment a shared counter with a loop body run
//!   as emulated bytecode, checking the eval breaker where a chosen Python
//!   version would ([`crate::gil::model`]); lost updates are real.
//! * [`World`] holds one run's objects: [`Lock`], [`RLock`], [`Semaphore`],
//!   [`Event`], [`Condition`], [`Barrier`] and a bounded [`Queue`]. Each
//!   blocking wait releases the emulated GIL (as CPython's do), is recorded
//!   as `blocked on <name>` and ends when the world is cancelled.
//! * [`Pool`] — a `ThreadPoolExecutor`: workers take jobs from a lab
//!   queue; a [`PoolFuture`]'s result waits with the GIL released.
//! * [`deadlock`] — a wait-for graph over the locks finds cycles, and the
//!   two-threads-two-locks experiment of `threadlab bench deadlock`.
//! * [`scenario`] — the dashboard's runs: the deadlock and its fix, and the
//!   toolbox (producer/consumer, semaphore, event, barrier), polled live.

mod body;
pub(crate) mod deadlock;
mod locks;
pub(crate) mod pool;
pub(crate) mod race;
pub mod scenario;
mod scenario_bodies;
mod scenario_kind;
mod signals;
mod status;
mod world;

pub use deadlock::{DeadlockConfig, DeadlockOutcome, run_deadlock};
pub use locks::{Lock, RLock, Semaphore};
pub use pool::{Pool, PoolFuture};
pub use race::{Body, Extend, Race, RaceConfig, RaceOutcome, RaceProgress, run_race};
pub use scenario::{
    LabCounters, LabThread, LabThreadState, Scenario, ScenarioConfig, ScenarioKind, ScenarioStatus,
};
pub use signals::{Barrier, Condition, Event, Queue};
pub use world::{SyncAction, SyncError, World};
