//! threadlab's engine: everything that makes threads do real work and shows
//! what CPython's GIL does to them, with no terminal code at all.
//!
//! [`cancel`] stops work, [`gil`] emulates the interpreter lock and records
//! its timeline, [`work`] holds the worker kinds and the pool, [`server`] is
//! the embedded loopback HTTP server, [`lab`] runs headless experiments and
//! compares them with real Python, and [`session`] starts and stops them in
//! order; [`ring`] is the bounded, sequence-numbered ring they log into. This crate has no ratatui, crossterm or clap in its dependency
//! tree, so the compiler keeps the UI out of it.

pub mod cancel;
pub mod gil;
pub mod lab;
pub mod ring;
pub mod server;
pub mod session;
pub mod sync;
pub mod trace;
pub mod work;
