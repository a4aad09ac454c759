//! What threadlab's integration tests (`tests/common`) and benchmarks
//! (`benches/common`) share, in one place neither includes from the other:
//! `/proc` readers ([`procfs`]), the pty reader loop ([`pty_reader`]), the
//! exit's logged steps ([`exit_steps`]), tests that cannot run here and say
//! so at the end of the run ([`skip`]), whether a probe stayed planted
//! in a process's code ([`probes`]), and raising the descriptor limit a
//! test needs ([`nofile`]).
//!
//! It depends on nothing of threadlab's own, so either side can use it
//! without seeing the other.

pub mod exit_steps;
pub mod nofile;
pub mod probes;
pub mod procfs;
pub mod pty_reader;
pub mod skip;
