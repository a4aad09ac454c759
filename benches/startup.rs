//! Start-up: time from exec to the first complete frame.
//!
//! Spawns `target/release/threadlab` in a 160×48 pty and stamps the moment
//! the pty reader has parsed a frame whose last row (the footer, drawn last)
//! shows `quit` on the alternate screen — everything the user sees at start.
//! The clock starts just before portable-pty forks, so the fork and exec are
//! included. 20 starts (`THREADLAB_BENCH_STARTS`), each quit with `q`.
//!
//! Budget: median ≤ 150 ms.
//!
//! Run: `cargo build --release && cargo bench --bench startup`.

mod common;

use std::time::Duration;

use common::{Pty, Summary, ms};

fn main() {
    if !common::should_run("startup") {
        return;
    }
    let bin = common::release_binary();
    println!("{}", common::machine_line());
    let starts = std::env::var("THREADLAB_BENCH_STARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20usize);
    let mut samples = Vec::new();
    common::wait_quiet(Duration::from_secs(120));
    let interference = common::Interference::start(&[]);
    for _ in 0..starts {
        let (pty, spawned) = Pty::spawn_watching(&bin, &[], common::first_frame_done);
        let Some(shown) = pty.wait_hit(Duration::from_secs(20)) else {
            panic!("no complete first frame within 20 s\n{}", pty.dump());
        };
        samples.push(shown.duration_since(spawned));
        pty.quit();
    }
    let foreign = interference.foreign_cores();
    if foreign > common::DISTURBED_CORES {
        println!("⚠ other processes used {foreign:.2} cores during the starts");
    }
    let s = Summary::of(&samples);
    println!(
        "startup exec → first frame ({} starts): p50 {:.1} ms, p90 {:.1}, max {:.1}, min {:.1} — budget p50 ≤ 150 ms {}",
        s.n,
        ms(s.p50),
        ms(s.p90),
        ms(s.max),
        ms(s.min),
        if ms(s.p50) <= 150.0 { "✅" } else { "❌" }
    );
}
