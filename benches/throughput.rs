//! Real work against the standard tools, side by side in one run.
//!
//! * fetch — the engine's `Pool` runs one fetch worker (streamed HTTP GET,
//!   SHA-256 of every chunk, progress reports) for 256 MiB from the
//!   embedded server (`Server::start_loopback`, `/bytes/268435456`,
//!   unthrottled), against `curl -s -o /dev/null` on the same URL.
//! * file — the engine's `Pool` runs one file worker with `file_bytes` =
//!   256 MiB in a temp dir (write in 1 MiB blocks hashing as it goes, fsync,
//!   rename, read back, verify SHA-256, delete), against
//!   `dd if=/dev/zero of=F bs=1M count=256 conv=fsync` then `sha256sum F`
//!   (and the same with `if=/dev/urandom`) in the same directory.
//!
//! Both run in `free` mode (no GIL emulation). Each side runs 5 times
//! (`THREADLAB_BENCH_RUNS`), alternated after one discarded warm-up, timed
//! by wall clock from start to end (process start included for the tools,
//! thread spawn included for the workers). Reported: median MiB/s and the
//! ratio. Budget: each ≥ 50 % of its tool. A missing tool skips its line.
//!
//! Run: `cargo bench --bench throughput`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use threadlab::gil::{Gil, Mode, SwitchInterval};
use threadlab::server::Server;
use threadlab::work::{FetchTarget, Pool, WorkSettings, WorkerEvent, WorkerKind};

use common::median;

const SIZE: u64 = 256 << 20;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Runs one worker of `kind` to its end; returns its wall time.
fn worker(pool: &mut Pool, events: &Receiver<WorkerEvent>, kind: WorkerKind) -> Duration {
    let started = Instant::now();
    let id = pool.spawn(kind).expect("spawn a worker");
    loop {
        match events.recv().expect("the pool's lifecycle channel") {
            WorkerEvent::Finished { id: done, .. } if done == id => break,
            WorkerEvent::Failed {
                id: failed,
                message,
                ..
            } if failed == id => {
                panic!("{kind} worker failed: {message}")
            }
            _ => {}
        }
    }
    let took = started.elapsed();
    pool.reap(id);
    took
}

/// Runs a command to success; returns its wall time.
fn timed(program: &str, args: &[&str]) -> Duration {
    let started = Instant::now();
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let took = started.elapsed();
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    took
}

fn dd_then_sha(source: &str, file: &Path) -> Duration {
    let of = format!("of={}", file.display());
    let input = format!("if={source}");
    let path = file.to_str().expect("a UTF-8 temp path");
    let took = timed(
        "dd",
        &[
            &input,
            &of,
            "bs=1M",
            "count=256",
            "conv=fsync",
            "status=none",
        ],
    ) + timed("sha256sum", &[path]);
    std::fs::remove_file(file).expect("remove the dd file");
    took
}

fn mib_per_s(d: Duration) -> f64 {
    (SIZE as f64 / (1 << 20) as f64) / d.as_secs_f64()
}

struct Side {
    name: &'static str,
    times: Vec<f64>,
}

impl Side {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            times: Vec::new(),
        }
    }

    fn rate(&self) -> f64 {
        median(
            &self
                .times
                .iter()
                .map(|&t| mib_per_s(Duration::from_secs_f64(t)))
                .collect::<Vec<_>>(),
        )
    }
}

fn compare(ours: &Side, tool: &Side) {
    let ratio = ours.rate() / tool.rate();
    println!(
        "  {:<34} {:>8.0} MiB/s   {:<40} {:>8.0} MiB/s   ratio {:>5.0} % — budget ≥ 50 % {}",
        ours.name,
        ours.rate(),
        tool.name,
        tool.rate(),
        ratio * 100.0,
        if ratio >= 0.5 { "✅" } else { "❌" }
    );
}

fn main() {
    if !common::should_run("throughput") {
        return;
    }
    println!("{}", common::machine_line());
    let runs = common::runs(5);
    let server = Server::start_loopback().expect("start the embedded server");
    let url = server.url(&format!("/bytes/{SIZE}"));
    let dir = tempfile::Builder::new()
        .prefix("threadlab-bench-")
        .tempdir()
        .expect("a temp dir");
    let mut settings = WorkSettings::new(
        FetchTarget::parse(&url).expect("the server's URL"),
        dir.path().to_path_buf(),
    );
    settings.file_bytes = SIZE;
    let (mut pool, receivers) = Pool::new(settings, Gil::new(Mode::Free, SwitchInterval::DEFAULT));
    let curl = have("curl");
    let dd = have("dd") && have("sha256sum");
    if !curl {
        println!("curl not found: the fetch comparison is skipped (apt-get install -y curl)");
    }
    if !dd {
        println!("dd or sha256sum not found: the file comparison is skipped");
    }
    let dd_file = dir.path().join("dd.bin");
    let mut fetch = Side::new("threadlab fetch worker (Pool)");
    let mut curl_side = Side::new("curl -o /dev/null");
    let mut file = Side::new("threadlab file worker (Pool)");
    let mut zero = Side::new("dd if=/dev/zero conv=fsync + sha256sum");
    let mut urandom = Side::new("dd if=/dev/urandom conv=fsync + sha256sum");
    for round in 0..=runs {
        let warm_up = round == 0;
        common::wait_quiet(Duration::from_secs(120));
        let interference = common::Interference::start(&[]);
        let record = |side: &mut Side, took: Duration| {
            if !warm_up {
                side.times.push(took.as_secs_f64());
            }
        };
        let lifecycle = &receivers.lifecycle;
        let took = worker(&mut pool, lifecycle, WorkerKind::Fetch);
        record(&mut fetch, took);
        if curl {
            let took = timed("curl", &["-s", "-f", "-o", "/dev/null", &url]);
            record(&mut curl_side, took);
        }
        let took = worker(&mut pool, lifecycle, WorkerKind::File);
        record(&mut file, took);
        if dd {
            let took = dd_then_sha("/dev/zero", &dd_file);
            record(&mut zero, took);
            let took = dd_then_sha("/dev/urandom", &dd_file);
            record(&mut urandom, took);
        }
        while receivers.progress.try_recv().is_ok() {}
        if !warm_up {
            let foreign = interference.foreign_cores();
            println!(
                "round {round}: fetch {:.0} MiB/s{}, file {:.0} MiB/s{}",
                mib_per_s(Duration::from_secs_f64(
                    *fetch.times.last().unwrap_or(&f64::NAN)
                )),
                curl_side.times.last().map_or(String::new(), |&t| format!(
                    " (curl {:.0})",
                    mib_per_s(Duration::from_secs_f64(t))
                )),
                mib_per_s(Duration::from_secs_f64(
                    *file.times.last().unwrap_or(&f64::NAN)
                )),
                zero.times.last().zip(urandom.times.last()).map_or(
                    String::new(),
                    |(&z, &u)| format!(
                        " (dd zero+sha256sum {:.0}, dd urandom+sha256sum {:.0})",
                        mib_per_s(Duration::from_secs_f64(z)),
                        mib_per_s(Duration::from_secs_f64(u))
                    )
                ),
            );
            if foreign > common::DISTURBED_CORES {
                println!(
                    "  ⚠ other processes or kernel threads (writeback counts) used {foreign:.2} cores during round {round}"
                );
            }
        }
    }
    println!("throughput, 256 MiB, medians of {runs} rounds:");
    if curl {
        compare(&fetch, &curl_side);
    } else {
        println!(
            "  {:<34} {:>8.0} MiB/s   (curl skipped)",
            fetch.name,
            fetch.rate()
        );
    }
    if dd {
        compare(&file, &zero);
        compare(&file, &urandom);
    } else {
        println!(
            "  {:<34} {:>8.0} MiB/s   (dd skipped)",
            file.name,
            file.rate()
        );
    }
    drop(pool);
    server.shutdown();
}
