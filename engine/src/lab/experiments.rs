//! The experiments themselves. Each measurement builds a fresh [`Gil`], starts
//! its threads behind a barrier, lets them run for the configured time, then
//! cancels them (cancel also wakes GIL waiters) and joins every thread.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::{BenchConfig, BenchRow};
use crate::cancel::CancelToken;
use crate::gil::{Gil, GilThread, Mode};
use crate::server::Server;
use crate::work::{HttpClient, cpu_step};

/// Starts `n` CPU-bound threads that count steps until `stop` is cancelled.
fn spawn_cpu(gil: &Gil, n: u32, stop: &CancelToken, start: &Arc<Barrier>) -> Vec<JoinHandle<u64>> {
    (0..n)
        .map(|i| {
            let mut thread = gil.register(stop.clone());
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
                    count
                })
                .expect("spawning a benchmark thread")
        })
        .collect()
}

fn join_all(handles: Vec<JoinHandle<u64>>) -> u64 {
    handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
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
            let total = join_all(handles);
            config.measured();
            BenchRow {
                threads: Some(n),
                iterations_per_s: Some(total as f64 / wall.as_secs_f64()),
                wall_s: wall.as_secs_f64(),
                switches_per_s: Some(gil.switches() as f64 / wall.as_secs_f64()),
                ..BenchRow::default()
            }
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
        let handles: Vec<JoinHandle<Result<u64, String>>> = (0..n)
            .map(|i| {
                let mut thread = gil.register(stop.clone());
                let start = Arc::clone(&start);
                let client = client.clone();
                let url = url.clone();
                let stop = stop.clone();
                thread::Builder::new()
                    .name(format!("bench-io-{i}"))
                    .spawn(move || -> Result<u64, String> {
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
                        Ok(waits)
                    })
                    .expect("spawning a benchmark thread")
            })
            .collect();
        start.wait();
        let began = Instant::now();
        config.measure_sleep();
        stop_all(&gil, &stop);
        let mut total = 0;
        for handle in handles {
            total += handle
                .join()
                .map_err(|_| "an io benchmark thread panicked".to_string())??;
        }
        let wall = began.elapsed();
        config.measured();
        rows.push(BenchRow {
            threads: Some(n),
            iterations_per_s: Some(total as f64 / wall.as_secs_f64()),
            wall_s: wall.as_secs_f64(),
            switches_per_s: Some(gil.switches() as f64 / wall.as_secs_f64()),
            ..BenchRow::default()
        });
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

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant histogram bounds are valid")
}

fn ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| h.value_at_percentile(q) as f64 / 1000.0)
}

/// Runs a GIL-registered thread that serves `stream`: each message of 8
/// bytes is read with the GIL released, handled holding it, and echoed.
fn spawn_gil_responder(mut gil_thread: GilThread, mut stream: TcpStream) -> JoinHandle<()> {
    thread::Builder::new()
        .name("bench-responder".into())
        .spawn(move || {
            let mut buf = [0u8; 8];
            if gil_thread.enter().is_err() {
                return;
            }
            while let Ok(Ok(())) = gil_thread.blocking(|| stream.read_exact(&mut buf)) {
                // Handling the ping is "Python": a few steps holding the GIL.
                let mut state = u64::from_le_bytes(buf);
                for _ in 0..10 {
                    if gil_thread.check().is_err() {
                        return;
                    }
                    state = cpu_step(state);
                }
                std::hint::black_box(state);
                if !matches!(gil_thread.blocking(|| stream.write_all(&buf)), Ok(Ok(()))) {
                    break;
                }
            }
            gil_thread.exit();
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
        let responder = spawn_gil_responder(gil.register(stop.clone()), served);
        start.wait();
        let began = Instant::now();
        let mut hist = histogram();
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
        let _ = responder.join();
        join_all(cpu);
        config.measured();
        rows.push(BenchRow {
            cpu_threads: Some(n),
            latency_ms_p50: ms(&hist, 50.0),
            latency_ms_p99: ms(&hist, 99.0),
            wall_s: wall.as_secs_f64(),
            switches_per_s: Some(gil.switches() as f64 / wall.as_secs_f64()),
            ..BenchRow::default()
        });
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
        let mut io_thread = gil.register(stop.clone());
        let io_start = Arc::clone(&start);
        let io = thread::Builder::new()
            .name("bench-convoy-io".into())
            .spawn(move || {
                let mut hist = histogram();
                let mut buf = [7u8; 64];
                io_start.wait();
                let began = Instant::now();
                if io_thread.enter().is_ok() {
                    loop {
                        let sent = Instant::now();
                        let trip = io_thread.blocking(|| {
                            client.write_all(&buf)?;
                            client.read_exact(&mut buf)
                        });
                        // Back from the socket: handling the reply needs the GIL.
                        if !matches!(trip, Ok(Ok(()))) || io_thread.check().is_err() {
                            break;
                        }
                        let _ = hist.record((sent.elapsed().as_micros() as u64).max(1));
                    }
                }
                io_thread.exit();
                (hist, began.elapsed())
            })?;
        start.wait();
        config.measure_sleep();
        stop_all(&gil, &stop);
        let (hist, wall) = io
            .join()
            .map_err(|_| std::io::Error::other("the convoy I/O thread panicked"))?;
        let _ = echo.join();
        join_all(cpu);
        config.measured();
        rows.push(BenchRow {
            cpu_threads: Some(n),
            round_trips_per_s: Some(hist.len() as f64 / wall.as_secs_f64()),
            rtt_ms_p50: ms(&hist, 50.0),
            rtt_ms_p99: ms(&hist, 99.0),
            wall_s: wall.as_secs_f64(),
            switches_per_s: Some(gil.switches() as f64 / wall.as_secs_f64()),
            ..BenchRow::default()
        });
    }
    Ok(rows)
}
