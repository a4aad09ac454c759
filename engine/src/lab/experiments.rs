//! The experiments themselves. Each measurement builds a fresh [`Gil`], starts
//! its threads behind a barrier, lets them run for the configured time, then
//! cancels them (cancel also wakes GIL waiters) and joins every thread.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{BenchConfig, BenchRow};
use crate::cancel::CancelToken;
use crate::gil::{Gil, GilThread, LaneDist, Mode, micros_histogram, percentile_ms};
use crate::server::Server;
use crate::work::{HttpClient, cpu_step};

/// What a measured thread hands back: its count and its hold/wait times.
type Counted = (u64, LaneDist);

/// Registers a thread that keeps its hold and wait distributions.
fn register(gil: &Gil, stop: &CancelToken) -> GilThread {
    let mut thread = gil.register(stop.clone());
    thread.record_distributions();
    thread
}

/// The thread's distributions once it is done (empty if it kept none).
fn dists_of(thread: &GilThread) -> LaneDist {
    thread.distributions().cloned().unwrap_or_default()
}

/// Starts `n` CPU-bound threads that count steps until `stop` is cancelled.
fn spawn_cpu(
    gil: &Gil,
    n: u32,
    stop: &CancelToken,
    start: &Arc<Barrier>,
) -> Vec<JoinHandle<Counted>> {
    (0..n)
        .map(|i| {
            let mut thread = register(gil, stop);
            let start = Arc::clone(start);
            thread::Builder::new()
                .name(format!("bench-cpu-{i}"))
                .spawn(move || {
                    start.wait();
                    let mut count = 0u64;
                    let mut state = 0x2545_F491_4F6C_DD1D ^ u64::from(i);
                    if thread.enter().is_ok() {
                        while thread.check().is_ok() {
                            state = cpu_step(state);
                            count += 1;
                        }
                    }
                    thread.exit();
                    std::hint::black_box(state);
                    (count, dists_of(&thread))
                })
                .expect("spawning a benchmark thread")
        })
        .collect()
}

/// The Python a convoy's I/O thread runs holding the GIL between two
/// releases: how many bytecodes, and how long they take.
struct PythonBetween {
    bytecodes: u32,
    time: Duration,
}

/// From a reply back to the next `sendall`: 51 bytecodes of
/// `threadlab_bench.py`'s round trip (counted with `dis`), ~0.5 µs. CPython
/// 3.11 and 3.12 run a loopback round trip's Python in ~0.8 µs beyond its
/// syscalls (`cargo bench --bench convoy_shape`, its first line), split 51:26.
const AFTER_RECV: PythonBetween = PythonBetween {
    bytecodes: 51,
    time: Duration::from_nanos(530),
};

/// From `sendall` back to the `recv`: 26 bytecodes, ~0.27 µs.
const AFTER_SEND: PythonBetween = PythonBetween {
    bytecodes: 26,
    time: Duration::from_nanos(270),
};

/// Runs `python` on `thread`: one eval-breaker check per bytecode (so a
/// drop request, a legacy tick or a cancel is seen as CPython would), then
/// holds the GIL until the bytecodes' time has passed. Without it the
/// emulated I/O thread released the GIL within ~0.1 µs of taking it, and
/// beside one CPU thread the forcibly switched CPU thread, on its way back
/// to wait, won that release: half the round trips waited twice, where
/// CPython's wait once (BENCHMARKS.md, "The one-CPU convoy's Python").
fn io_python(
    thread: &mut GilThread,
    python: &PythonBetween,
) -> Result<(), crate::cancel::Cancelled> {
    let began = Instant::now();
    for _ in 0..python.bytecodes {
        thread.check()?;
    }
    while began.elapsed() < python.time {
        std::hint::spin_loop();
    }
    Ok(())
}

/// Joins the threads: their summed counts, their distributions merged into `all`.
fn join_all(handles: Vec<JoinHandle<Counted>>, all: &mut LaneDist) -> u64 {
    let mut total = 0;
    for (count, dist) in handles.into_iter().filter_map(|h| h.join().ok()) {
        total += count;
        all.merge(&dist);
    }
    total
}

/// Fills in the hold and wait percentiles of all the measurement's threads
/// (`all`) and of the I/O or responder thread alone (`io`).
fn with_dists(row: BenchRow, all: &LaneDist, io: Option<&LaneDist>) -> BenchRow {
    let io_wait = |q| io.and_then(|d| percentile_ms(&d.wait, q));
    BenchRow {
        hold_ms_p50: percentile_ms(&all.hold, 50.0),
        hold_ms_p99: percentile_ms(&all.hold, 99.0),
        wait_ms_p50: percentile_ms(&all.wait, 50.0),
        wait_ms_p99: percentile_ms(&all.wait, 99.0),
        io_wait_ms_p50: io_wait(50.0),
        io_wait_ms_p99: io_wait(99.0),
        ..row
    }
}

fn stop_all(gil: &Gil, stop: &CancelToken) {
    stop.cancel();
    gil.wake_all();
}

/// Each row's rate over the measured 1-thread row's (always measured, see
/// [`thread_counts`]): a speedup, not a per-thread rate scaled up.
fn speedups(rows: &mut [BenchRow]) {
    let base = rows
        .iter()
        .find(|r| r.threads == Some(1))
        .and_then(|r| r.iterations_per_s)
        .filter(|&rate| rate > 0.0);
    for row in rows {
        row.speedup = base.zip(row.iterations_per_s).map(|(b, rate)| rate / b);
    }
}

/// The thread counts throughput and io measure: 1 first (the baseline every
/// speedup divides by), then the configured counts.
pub(super) fn thread_counts(config: &BenchConfig) -> Vec<u32> {
    let mut counts = vec![1];
    for &n in &config.threads {
        if n > 0 && !counts.contains(&n) {
            counts.push(n);
        }
    }
    counts
}

/// N CPU-bound threads for the configured time: iterations/s, speedup vs 1.
pub fn throughput(mode: Mode, config: &BenchConfig) -> Vec<BenchRow> {
    let mut rows: Vec<BenchRow> = thread_counts(config)
        .into_iter()
        .take_while(|_| !config.cancel.is_cancelled())
        .map(|n| {
            let gil = Gil::new(mode, config.interval);
            let stop = CancelToken::new();
            let start = Arc::new(Barrier::new(n as usize + 1));
            let handles = spawn_cpu(&gil, n, &stop, &start);
            start.wait();
            let began = Instant::now();
            config.measure_sleep();
            stop_all(&gil, &stop);
            let wall = began.elapsed();
            let mut all = LaneDist::default();
            let total = join_all(handles, &mut all);
            config.measured(n, &gil);
            let row = BenchRow {
                threads: Some(n),
                iterations_per_s: Some(total as f64 / wall.as_secs_f64()),
                wall_s: wall.as_secs_f64(),
                switches_per_s: Some(gil.switches() as f64 / wall.as_secs_f64()),
                ..BenchRow::default()
            };
            with_dists(row, &all, None)
        })
        .collect();
    speedups(&mut rows);
    rows
}

/// N threads doing blocking waits (a 10 ms sleep, then an HTTP GET of the
/// embedded server's `/delay/10`), each wait released from the GIL.
pub fn io(mode: Mode, config: &BenchConfig) -> Result<Vec<BenchRow>, String> {
    let server = Server::start_loopback().map_err(|e| e.to_string())?;
    let url = server.url("/delay/10");
    let client = HttpClient::new(Duration::from_secs(5), Duration::from_secs(10))?;
    let mut rows = Vec::new();
    for n in thread_counts(config) {
        if config.cancel.is_cancelled() {
            break;
        }
        let gil = Gil::new(mode, config.interval);
        let stop = CancelToken::new();
        let start = Arc::new(Barrier::new(n as usize + 1));
        let handles: Vec<JoinHandle<Result<Counted, String>>> = (0..n)
            .map(|i| {
                let mut thread = register(&gil, &stop);
                let start = Arc::clone(&start);
                let client = client.clone();
                let url = url.clone();
                let stop = stop.clone();
                thread::Builder::new()
                    .name(format!("bench-io-{i}"))
                    .spawn(move || -> Result<Counted, String> {
                        start.wait();
                        let mut waits = 0u64;
                        thread.enter().map_err(|e| e.to_string())?;
                        while !stop.is_cancelled() {
                            if thread
                                .blocking(|| stop.sleep(Duration::from_millis(10)))
                                .is_err()
                            {
                                break;
                            }
                            waits += 1;
                            match thread.blocking(|| client.get_all(&url, &stop)) {
                                Ok(Ok(Ok(_))) => waits += 1,
                                Ok(Ok(Err(e))) => return Err(format!("GET {url}: {e}")),
                                _ => break,
                            }
                        }
                        thread.exit();
                        Ok((waits, dists_of(&thread)))
                    })
                    .expect("spawning a benchmark thread")
            })
            .collect();
        start.wait();
        let began = Instant::now();
        config.measure_sleep();
        stop_all(&gil, &stop);
        let mut total = 0;
        let mut all = LaneDist::default();
        for handle in handles {
            let (waits, dist) = handle
                .join()
                .map_err(|_| "an io benchmark thread panicked".to_string())??;
            total += waits;
            all.merge(&dist);
        }
        let wall = began.elapsed();
        config.measured(n, &gil);
        let row = BenchRow {
            threads: Some(n),
            iterations_per_s: Some(total as f64 / wall.as_secs_f64()),
            wall_s: wall.as_secs_f64(),
            switches_per_s: Some(gil.switches() as f64 / wall.as_secs_f64()),
            ..BenchRow::default()
        };
        rows.push(with_dists(row, &all, None));
    }
    speedups(&mut rows);
    Ok(rows)
}

/// The CPU thread counts latency and convoy measure: 0 first (the measured
/// thread alone), then the configured counts.
pub(super) fn cpu_counts(config: &BenchConfig) -> Vec<u32> {
    let mut counts = vec![0];
    for &n in &config.threads {
        if !counts.contains(&n) {
            counts.push(n);
        }
    }
    counts
}

/// Two connected loopback TCP sockets with Nagle off, for round trips.
fn loopback_pair() -> std::io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let near = TcpStream::connect(listener.local_addr()?)?;
    let (far, _) = listener.accept()?;
    near.set_nodelay(true)?;
    far.set_nodelay(true)?;
    Ok((near, far))
}

/// Runs a GIL-registered thread that serves `stream`: each message of 8
/// bytes is read with the GIL released, handled holding it, and echoed.
fn spawn_gil_responder(mut gil_thread: GilThread, mut stream: TcpStream) -> JoinHandle<LaneDist> {
    thread::Builder::new()
        .name("bench-responder".into())
        .spawn(move || {
            let mut buf = [0u8; 8];
            let mut serve = || -> Result<(), crate::cancel::Cancelled> {
                gil_thread.enter()?;
                while let Ok(()) = gil_thread.blocking(|| stream.read_exact(&mut buf))? {
                    // Handling the ping is "Python": a few steps holding the GIL.
                    let mut state = u64::from_le_bytes(buf);
                    for _ in 0..10 {
                        gil_thread.check()?;
                        state = cpu_step(state);
                    }
                    std::hint::black_box(state);
                    if gil_thread.blocking(|| stream.write_all(&buf))?.is_err() {
                        break;
                    }
                }
                Ok(())
            };
            let _ = serve();
            gil_thread.exit();
            dists_of(&gil_thread)
        })
        .expect("spawning a benchmark thread")
}

/// Ping latency: a GIL thread answers pings sent every 100 ms (or every
/// tenth of the measurement, if shorter) by a thread outside the GIL, while
/// N CPU threads run.
pub fn latency(mode: Mode, config: &BenchConfig) -> std::io::Result<Vec<BenchRow>> {
    let every = (config.duration / 10).min(Duration::from_millis(100));
    let mut rows = Vec::new();
    for n in cpu_counts(config) {
        if config.cancel.is_cancelled() {
            break;
        }
        let gil = Gil::new(mode, config.interval);
        let stop = CancelToken::new();
        let (mut pinger, served) = loopback_pair()?;
        let start = Arc::new(Barrier::new(n as usize + 1));
        let cpu = spawn_cpu(&gil, n, &stop, &start);
        let responder = spawn_gil_responder(register(&gil, &stop), served);
        start.wait();
        let began = Instant::now();
        let mut hist = micros_histogram();
        let mut seq = 0u64;
        while began.elapsed() < config.duration && !config.cancel.is_cancelled() {
            seq += 1;
            let sent = Instant::now();
            pinger.write_all(&seq.to_le_bytes())?;
            let mut reply = [0u8; 8];
            pinger.read_exact(&mut reply)?;
            let _ = hist.record((sent.elapsed().as_micros() as u64).max(1));
            let next = sent + every;
            let now = Instant::now();
            if next > now {
                thread::sleep(next - now);
            }
        }
        let wall = began.elapsed();
        stop_all(&gil, &stop);
        drop(pinger);
        let responder = responder
            .join()
            .map_err(|_| std::io::Error::other("the latency responder panicked"))?;
        let mut all = responder.clone();
        join_all(cpu, &mut all);
        config.measured(n, &gil);
        let row = BenchRow {
            cpu_threads: Some(n),
            latency_ms_p50: percentile_ms(&hist, 50.0),
            latency_ms_p99: percentile_ms(&hist, 99.0),
            wall_s: wall.as_secs_f64(),
            switches_per_s: Some(gil.switches() as f64 / wall.as_secs_f64()),
            ..BenchRow::default()
        };
        rows.push(with_dists(row, &all, Some(&responder)));
    }
    Ok(rows)
}

/// The convoy effect: a GIL thread does small loopback TCP round trips to an
/// echo thread outside the GIL (like another process) while N CPU threads run.
pub fn convoy(mode: Mode, config: &BenchConfig) -> std::io::Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    for n in cpu_counts(config) {
        if config.cancel.is_cancelled() {
            break;
        }
        let gil = Gil::new(mode, config.interval);
        let stop = CancelToken::new();
        let (mut client, mut echo_side) = loopback_pair()?;
        let echo = thread::Builder::new()
            .name("bench-echo".into())
            .spawn(move || {
                let mut buf = [0u8; 64];
                while echo_side.read_exact(&mut buf).is_ok() {
                    if echo_side.write_all(&buf).is_err() {
                        break;
                    }
                }
            })?;
        let start = Arc::new(Barrier::new(n as usize + 2));
        let cpu = spawn_cpu(&gil, n, &stop, &start);
        let mut io_thread = register(&gil, &stop);
        let io_start = Arc::clone(&start);
        let io = thread::Builder::new()
            .name("bench-convoy-io".into())
            .spawn(move || {
                let mut hist = micros_histogram();
                let mut buf = [7u8; 64];
                io_start.wait();
                let began = Instant::now();
                if io_thread.enter().is_ok() {
                    loop {
                        let sent = Instant::now();
                        // As the Python script's `sendall` and `recv`: each
                        // releases the GIL and takes it back, so a round
                        // trip queues for the GIL twice, and runs the
                        // script's Python before each release.
                        if io_python(&mut io_thread, &AFTER_RECV).is_err() {
                            break;
                        }
                        let wrote = io_thread.blocking(|| client.write_all(&buf));
                        if !matches!(wrote, Ok(Ok(())))
                            || io_python(&mut io_thread, &AFTER_SEND).is_err()
                        {
                            break;
                        }
                        let read = io_thread.blocking(|| client.read_exact(&mut buf));
                        if !matches!(read, Ok(Ok(()))) {
                            break;
                        }
                        let _ = hist.record((sent.elapsed().as_micros() as u64).max(1));
                    }
                }
                io_thread.exit();
                (hist, began.elapsed(), dists_of(&io_thread))
            })?;
        start.wait();
        config.measure_sleep();
        stop_all(&gil, &stop);
        let (hist, wall, io_dist) = io
            .join()
            .map_err(|_| std::io::Error::other("the convoy I/O thread panicked"))?;
        let _ = echo.join();
        let mut all = io_dist.clone();
        join_all(cpu, &mut all);
        config.measured(n, &gil);
        let row = BenchRow {
            cpu_threads: Some(n),
            round_trips_per_s: Some(hist.len() as f64 / wall.as_secs_f64()),
            rtt_ms_p50: percentile_ms(&hist, 50.0),
            rtt_ms_p99: percentile_ms(&hist, 99.0),
            wall_s: wall.as_secs_f64(),
            switches_per_s: Some(gil.switches() as f64 / wall.as_secs_f64()),
            ..BenchRow::default()
        };
        rows.push(with_dists(row, &all, Some(&io_dist)));
    }
    Ok(rows)
}
