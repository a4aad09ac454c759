//! Memory: peak resident set size (`VmHWM` from `/proc/PID/status`) of the
//! dashboard with N live workers.
//!
//! `target/release/threadlab` runs in a 160×48 pty; the bench types the
//! spawn keys, waits until the header shows N running, lets them all run
//! for 2 s (every sleep worker has started its second thread and printed),
//! then reads `VmHWM`, `VmRSS` and the thread count.
//!
//! Worker threads get a 256 KiB stack (`WorkSettings::stack_size`); RSS
//! counts only the stack pages a thread touches.
//!
//! * `sleep1`, `sleep16`, `sleep256`, `sleep1024` — N sleep workers (the
//!   seed demo: two threads each). Budget for 1,024: ≤ 128 MiB.
//! * `fetch64`, `file64`, `cpu64` — 64 workers of one kind (fetch: a 1 GB
//!   body at 1 MB/s from a `threadlab serve` child; file: `--file-mib 64`;
//!   cpu: `--cpu-steps 1e11`), for what each kind costs per worker beside
//!   its thread (no budget of their own). A mix of 1,024 including CPU-bound
//!   workers is not measured: on 2 cores the spawn keys alone then take tens
//!   of seconds to be handled, and workers finish or time out before 1,024
//!   are live at once.
//!
//! Run: `cargo build --release && cargo bench --bench memory [-- NAME…]`.

mod common;

use std::thread;
use std::time::Duration;

use common::{Pty, Serve};

fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

fn main() {
    if !common::should_run("memory") {
        return;
    }
    let filters = common::filters();
    let bin = common::release_binary();
    println!("{}", common::machine_line());
    let serve = Serve::start(&bin);
    let url = serve.url("/bytes/1000000000?rate=1000000");
    let cases: Vec<(&str, String, u64)> = vec![
        ("sleep1", "s".into(), 1),
        ("sleep16", "s".repeat(16), 16),
        ("sleep256", "s".repeat(256), 256),
        ("sleep1024", "s".repeat(1024), 1024),
        ("fetch64", "f".repeat(64), 64),
        ("file64", "d".repeat(64), 64),
        ("cpu64", "c".repeat(64), 64),
    ];
    // The dashboard alone, for the baseline.
    if common::wanted(&filters, "none") {
        let pty = Pty::dashboard(&bin, &[]);
        thread::sleep(Duration::from_secs(2));
        println!(
            "memory none      : VmHWM {} MiB, VmRSS {} MiB, threads {}",
            mib(pty.vm_hwm_kib()),
            mib(common::status_kib(pty.pid(), "VmRSS")),
            common::thread_count(pty.pid()).unwrap_or(0)
        );
        pty.quit();
    }
    for (name, keys, workers) in cases {
        if !common::wanted(&filters, name) {
            continue;
        }
        let mut pty = Pty::dashboard(
            &bin,
            &[
                "--cpu-steps",
                "100000000000",
                "--file-mib",
                "64",
                "--url",
                &url,
            ],
        );
        pty.send(keys.as_bytes());
        pty.wait(
            &format!("{workers} running"),
            Duration::from_secs(120),
            |s| common::header_count(s, "running") == Some(workers),
        );
        thread::sleep(Duration::from_secs(2));
        let running = pty.running();
        let hwm = pty.vm_hwm_kib();
        let rss = common::status_kib(pty.pid(), "VmRSS");
        let threads = common::thread_count(pty.pid());
        // Cancel everything before quitting: file workers stop writing at once.
        pty.send(b"X");
        let judged = if name == "sleep1024" {
            let ok = hwm.is_some_and(|k| k <= 128 * 1024);
            format!(" — budget ≤ 128 MiB {}", if ok { "✅" } else { "❌" })
        } else {
            String::new()
        };
        println!(
            "memory {name:<10}: VmHWM {} MiB, VmRSS {} MiB, threads {}, running {} (of {workers}){judged}",
            mib(hwm),
            mib(rss),
            threads.unwrap_or(0),
            running.unwrap_or(0),
        );
        pty.quit();
    }
}
