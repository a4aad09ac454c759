//! threadlab: a terminal lab that makes threads — and CPython's GIL — visible.
//!
//! The engine lives in its own crate, `threadlab-engine` (`engine/`), and is
//! re-exported here so `threadlab::gil` and friends keep their paths; this
//! crate adds the dashboard ([`ui`]), the command line ([`cli`]), the
//! configuration ([`config`]) and logging ([`logs`]). The engine cannot
//! import any of them: it does not depend on this crate.

pub use threadlab_engine::{cancel, gil, lab, server, session, sync, trace, work};

mod arg_values;
pub mod cli;
pub mod config;
pub mod lab_cli;
pub mod logs;
pub mod stop_signals;
pub mod ui;
