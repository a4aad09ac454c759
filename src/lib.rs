//! threadlab: a terminal lab that makes threads — and CPython's GIL — visible.
//!
//! The engine (`cancel`, [`gil`], [`work`], [`server`], [`lab`]) knows nothing
//! about terminals; the [`ui`] module depends on it, never the reverse.

pub mod cancel;
pub mod cli;
pub mod config;
pub mod gil;
pub mod lab;
pub mod logs;
pub mod server;
pub mod session;
pub mod ui;
pub mod work;
