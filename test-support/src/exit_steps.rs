//! The dashboard's exit as it logs it (`--log`): `quit requested`,
//! `dashboard loop ended`, `terminal restored`, `session shut down left=…
//! joined_ms=… server_ms=… workdir_ms=…` — where a slow exit's time went.
//! Shared by `tests/pty_load.rs` and `benches/quit.rs`.

/// What each logged step of the exit says.
pub const STEPS: [&str; 4] = [
    "quit requested",
    "loop ended",
    "terminal restored",
    "shut down",
];

/// The lines of `log` (a `--log` file's text) that are steps of the exit.
pub fn step_lines(log: &str) -> impl Iterator<Item = &str> {
    log.lines()
        .filter(|line| STEPS.iter().any(|step| line.contains(step)))
}
