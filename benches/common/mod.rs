//! Shared by the process-level benchmarks (`latency`, `idle`, `memory`,
//! `startup`, `throughput`): finding the release binary, a pseudo-terminal
//! harness that timestamps what the screen shows, `/proc` readers, a
//! loopback `threadlab serve` child, and percentile summaries.
//!
//! These benchmarks have their own `main` (`harness = false`). Cargo passes
//! `--bench` to them under `cargo bench` only; without it (`cargo test
//! --benches`, `--all-targets`) they print one line and exit, so tests never
//! run the slow pty scenarios.
//!
//! The pty harness is not the tests' one (`tests/common/pty.rs`), because
//! it differs in one way that matters for timing: the reader thread itself
//! evaluates the awaited condition after every chunk it feeds to the `vt100`
//! parser and stamps the instant it first holds, so a measured latency ends
//! when the bytes that make the change visible have been read and parsed —
//! not when a waiting thread happens to be scheduled. For the same reason
//! the reader runs before the child is spawned (start-up is timed from the
//! spawn) and keeps no copy of the raw output (a long run writes a lot).

// Each bench binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::process::{Child as StdChild, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

/// The terminal size every pty benchmark uses (the frame benchmark's size).
pub const ROWS: u16 = 48;
/// The terminal size every pty benchmark uses (the frame benchmark's size).
pub const COLS: u16 = 160;

/// Text of the help overlay's title: visible iff the overlay is open.
pub const HELP_TITLE: &str = "Help · keys";

/// True when cargo runs this binary as a benchmark (`cargo bench`).
pub fn bench_mode() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// Returns false (after saying so) unless running under `cargo bench`.
pub fn should_run(name: &str) -> bool {
    if bench_mode() {
        true
    } else {
        println!(
            "{name}: benchmark skipped (not a test); run it with `cargo bench --bench {name}`"
        );
        false
    }
}

/// Positional arguments after `--bench` (`cargo bench --bench latency -- idle`).
pub fn filters() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect()
}

/// True if `name` was asked for (no filter: everything).
pub fn wanted(filters: &[String], name: &str) -> bool {
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}

/// How many times to repeat each measured scenario (`THREADLAB_BENCH_RUNS`).
pub fn runs(default: usize) -> usize {
    std::env::var("THREADLAB_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// The release binary, `target/release/threadlab`. Exits with a clear message
/// if it is missing; warns if any file under `src/` is newer than it.
pub fn release_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = root.join("target/release/threadlab");
    let Ok(meta) = std::fs::metadata(&bin) else {
        eprintln!(
            "error: {} is missing. Build it first:\n\n    cargo build --release\n",
            bin.display()
        );
        std::process::exit(1);
    };
    let built = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    if let Some(newer) = newest_file(&root.join("src")).filter(|(t, _)| *t > built) {
        eprintln!(
            "warning: {} is newer than {}; run `cargo build --release` for current numbers",
            newer.1.display(),
            bin.display()
        );
    }
    bin
}

fn newest_file(dir: &Path) -> Option<(SystemTime, PathBuf)> {
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let candidate = if path.is_dir() {
            newest_file(&path)
        } else {
            entry.metadata().ok()?.modified().ok().map(|t| (t, path))
        };
        if let Some(c) = candidate
            && newest.as_ref().is_none_or(|n| c.0 > n.0)
        {
            newest = Some(c);
        }
    }
    newest
}

/// One line naming the machine, for the log of a benchmark run.
pub fn machine_line() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    let cores = thread::available_parallelism().map_or(0, usize::from);
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "machine: {cores} cores, {model}, {:.1} GiB, kernel {}",
        mem_kib as f64 / 1024.0 / 1024.0,
        kernel.trim()
    )
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

/// Percentiles of a set of durations.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Samples.
    pub n: usize,
    /// Smallest.
    pub min: Duration,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest.
    pub max: Duration,
}

/// The nearest-rank percentile `q` (0..=100) of sorted `values`.
pub fn percentile<T: Copy>(sorted: &[T], q: f64) -> T {
    assert!(!sorted.is_empty(), "percentile of nothing");
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Summary {
    /// Summarises `samples` (must not be empty).
    pub fn of(samples: &[Duration]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        Self {
            n: sorted.len(),
            min: sorted[0],
            p50: percentile(&sorted, 50.0),
            p90: percentile(&sorted, 90.0),
            p99: percentile(&sorted, 99.0),
            max: sorted[sorted.len() - 1],
        }
    }
}

/// The median of `values` (must not be empty).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Milliseconds, for tables.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A small xorshift generator for jittered gaps (no dependency needed).
pub struct Jitter(u64);

impl Jitter {
    /// Seeded from the clock.
    pub fn new() -> Self {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0x9E37_79B9, |d| d.as_nanos() as u64);
        Self(seed | 1)
    }

    /// A duration uniformly in `[lo, hi)`.
    pub fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let span = (hi - lo).as_nanos().max(1) as u64;
        lo + Duration::from_nanos(self.0 % span)
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------

/// A `kB` field of `/proc/PID/status` (`VmHWM`, `VmRSS`), in KiB.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Threads of process `pid` now.
pub fn thread_count(pid: u32) -> Option<u64> {
    status_kib(pid, "Threads")
}

/// `utime + stime` of process `pid` (all its threads, live and gone), in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid …": fields after the closing parenthesis, from field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime is field 14 and stime field 15 (1-based) → 11 and 12 here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Like [`cpu_ticks`], plus the CPU time of its children that were waited
/// for (`cutime + cstime`: the tools a benchmark runs, such as curl or dd).
pub fn cpu_ticks_with_children(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let sum: Option<u64> = (11..=14).map(|i| fields.get(i)?.parse::<u64>().ok()).sum();
    sum
}

/// Scheduler figures of the threads of `pid` named `name` (summed):
/// `(on-CPU ns, runqueue-wait ns, timeslices)` from `/proc/PID/task/TID/schedstat`.
pub fn sched_stats(pid: u32, name: &str) -> Option<(u64, u64, u64)> {
    let mut total = (0, 0, 0);
    let mut found = false;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        let v: Vec<u64> = stat
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        if let [run, wait, slices] = v[..] {
            total = (total.0 + run, total.1 + wait, total.2 + slices);
            found = true;
        }
    }
    found.then_some(total)
}

/// Busy clock ticks of the whole machine (all CPUs), from `/proc/stat`.
pub fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|w| w.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is in user).
    Some(v.iter().take(8).sum::<u64>() - v.get(3)? - v.get(4)?)
}

/// Ticks the hypervisor took from this VM's CPUs (`steal` in `/proc/stat`):
/// time in which nothing here, the UI included, could run.
pub fn machine_steal_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().next()?.split_whitespace().nth(8)?.parse().ok()
}

/// Watches how much CPU processes other than ours used during a measurement,
/// so a run disturbed by something else on the machine can be told apart.
pub struct Interference {
    machine: u64,
    steal: u64,
    ours: u64,
    pids: Vec<u32>,
    started: Instant,
}

impl Interference {
    /// Starts watching; `pids` are our processes (this one is added).
    pub fn start(pids: &[u32]) -> Self {
        let pids = pids.to_vec();
        let ours = Self::ours(&pids);
        Self {
            machine: machine_busy_ticks().unwrap_or(0),
            steal: machine_steal_ticks().unwrap_or(0),
            ours,
            pids,
            started: Instant::now(),
        }
    }

    fn ours(pids: &[u32]) -> u64 {
        pids.iter().filter_map(|&p| cpu_ticks(p)).sum::<u64>()
            + cpu_ticks_with_children(std::process::id()).unwrap_or(0)
    }

    /// Average cores used by our processes (`pids`, this one and its
    /// waited-for children) since the start.
    pub fn our_cores(&self) -> f64 {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        Self::ours(&self.pids).saturating_sub(self.ours) as f64 / clock_ticks_per_s() as f64 / secs
    }

    /// CPU time (ms, summed over the CPUs) the hypervisor took since the start.
    pub fn steal_ms(&self) -> f64 {
        let stolen = machine_steal_ticks()
            .unwrap_or(0)
            .saturating_sub(self.steal);
        stolen as f64 * 1000.0 / clock_ticks_per_s() as f64
    }

    /// Average cores used by everything else since the start (0.0 = quiet):
    /// other processes and kernel threads (writeback included).
    pub fn foreign_cores(&self) -> f64 {
        let ours = Self::ours(&self.pids);
        let machine = machine_busy_ticks().unwrap_or(0);
        let foreign =
            machine.saturating_sub(self.machine) as f64 - ours.saturating_sub(self.ours) as f64;
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        (foreign / clock_ticks_per_s() as f64 / secs).max(0.0)
    }
}

/// Waits (up to `patience`) until the machine has been quiet — under
/// [`DISTURBED_CORES`] busy — for two consecutive half-second windows, so a
/// measurement does not start on top of someone else's build or test run.
/// Returns false if it never got quiet.
pub fn wait_quiet(patience: Duration) -> bool {
    let deadline = Instant::now() + patience;
    let ticks = clock_ticks_per_s() as f64;
    let mut quiet_windows = 0;
    let mut warned = false;
    while Instant::now() < deadline {
        let before = machine_busy_ticks().unwrap_or(0);
        thread::sleep(Duration::from_millis(500));
        let busy = machine_busy_ticks().unwrap_or(0).saturating_sub(before) as f64 / ticks / 0.5;
        if busy < DISTURBED_CORES {
            quiet_windows += 1;
            if quiet_windows == 2 {
                return true;
            }
        } else {
            quiet_windows = 0;
            if !warned {
                println!("(waiting for the machine to be quiet: {busy:.2} cores busy)");
                warned = true;
            }
        }
    }
    println!("warning: the machine did not get quiet within {patience:?}; measuring anyway");
    false
}

/// Above this many cores used by other processes, a run counts as disturbed.
pub const DISTURBED_CORES: f64 = 0.15;

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
pub fn clock_ticks_per_s() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

// ---------------------------------------------------------------------------
// The pty harness
// ---------------------------------------------------------------------------

type Predicate = Box<dyn Fn(&vt100::Screen) -> bool + Send>;

struct Watch {
    ready: Predicate,
    hit: Option<Instant>,
}

struct Output {
    parser: vt100::Parser,
    bytes: usize,
    closed: bool,
    watch: Option<Watch>,
}

type Shared = Arc<(Mutex<Output>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, Output> {
    shared.0.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The screen's text, row by row.
pub fn screen_text(screen: &vt100::Screen) -> String {
    screen.contents()
}

/// A count from the header line (`running 2 · done 0 · …`).
pub fn header_count(screen: &vt100::Screen, label: &str) -> Option<u64> {
    let header = screen.rows(0, COLS).next()?;
    if !header.contains("threadlab") {
        return None;
    }
    let mut words = header.split_whitespace();
    words.find(|word| *word == label)?;
    words.next()?.parse().ok()
}

/// Workers ever spawned, from the table's title `Workers (N)`.
pub fn workers_total(screen: &vt100::Screen) -> Option<u64> {
    screen.rows(0, COLS).find_map(|row| {
        let at = row.find(" Workers (")?;
        let rest = &row[at + " Workers (".len()..];
        rest.split(')').next()?.parse().ok()
    })
}

/// A number in the Responsiveness pane: `events 8123/s`.
pub fn events_per_s(screen: &vt100::Screen) -> Option<u64> {
    screen.rows(0, COLS).find_map(|row| {
        let at = row.find(" events ")?;
        let rest = &row[at + " events ".len()..];
        rest.split('/').next()?.trim().parse().ok()
    })
}

/// The dashboard's own `frame p50 X ms  p99 Y ms` line, as `(p50, p99)` ms.
pub fn frame_ms(screen: &vt100::Screen) -> Option<(f64, f64)> {
    screen.rows(0, COLS).find_map(|row| {
        let at = row.find("frame p50 ")?;
        let mut words = row[at..].split_whitespace();
        let p50 = words.nth(2)?.parse().ok()?;
        let p99 = words.nth(2)?.parse().ok()?;
        Some((p50, p99))
    })
}

/// The dashboard's footer is drawn (it ends with the always-shown `quit`).
pub fn first_frame_done(screen: &vt100::Screen) -> bool {
    screen.alternate_screen()
        && screen
            .rows(0, COLS)
            .nth(usize::from(ROWS) - 1)
            .is_some_and(|footer| footer.contains("quit"))
}

/// Whether the harness's own threads (the pty reader, and the thread that
/// types keys) ask for real-time priority; see [`harness_priority`].
static HARNESS_REALTIME: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Gives the calling thread `SCHED_FIFO` priority 1 (with reset-on-fork, so
/// a dashboard it spawns runs as an ordinary process). Needs root or
/// `CAP_SYS_NICE`; `Err` says why not.
fn make_this_thread_realtime() -> Result<(), String> {
    // "/proc/thread-self" links to "PID/task/TID".
    let link = std::fs::read_link("/proc/thread-self").map_err(|e| e.to_string())?;
    let tid = link
        .file_name()
        .and_then(|t| t.to_str())
        .ok_or("no thread id in /proc/thread-self")?
        .to_string();
    let out = Command::new("chrt")
        .args(["--fifo", "--reset-on-fork", "-p", "1", &tid])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("chrt: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// The harness's scheduling, chosen by `THREADLAB_BENCH_HARNESS`. By default
/// the harness is an ordinary process, like a terminal: what it measures
/// includes the wait of the harness itself (and of the kernel worker that
/// moves a pty's output) for a core. With autogroup on, the harness and the
/// dashboard are in different sessions' scheduling groups, so a busy
/// dashboard can keep them queued now and then (BENCHMARKS.md).
/// `THREADLAB_BENCH_HARNESS=realtime` is a diagnostic: the calling thread
/// (which types the keys) and every pty reader started afterwards run at
/// `SCHED_FIFO` 1 (with reset-on-fork: the dashboard stays ordinary), which
/// takes the harness's own queueing out of the numbers. Returns a line for
/// the report.
pub fn harness_priority() -> String {
    if !std::env::var("THREADLAB_BENCH_HARNESS").is_ok_and(|v| v == "realtime") {
        return "harness: an ordinary process, as a terminal is (THREADLAB_BENCH_HARNESS=realtime: key writer and pty reader at SCHED_FIFO 1)".into();
    }
    match make_this_thread_realtime() {
        Ok(()) => {
            HARNESS_REALTIME.store(true, std::sync::atomic::Ordering::Relaxed);
            "harness: key writer and pty reader at SCHED_FIFO 1, the dashboard an ordinary process (THREADLAB_BENCH_HARNESS=realtime)".into()
        }
        Err(why) => format!("harness: an ordinary process (real-time not permitted: {why})"),
    }
}

/// A process in a pseudo-terminal of its own, `COLS`×`ROWS`.
pub struct Pty {
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    shared: Shared,
    pid: u32,
    // Kept open for the life of the run: closing it hangs the program up.
    _master: Box<dyn MasterPty + Send>,
    _config_home: tempfile::TempDir,
}

impl Pty {
    /// Starts `bin args…`; returns it and the instant just before the spawn.
    pub fn spawn(bin: &Path, args: &[&str]) -> (Self, Instant) {
        Self::spawn_inner(bin, args, None)
    }

    /// Starts `bin args…` with `ready` watched from the first byte on (see
    /// [`Pty::wait_hit`]); returns it and the instant just before the spawn.
    pub fn spawn_watching(
        bin: &Path,
        args: &[&str],
        ready: impl Fn(&vt100::Screen) -> bool + Send + 'static,
    ) -> (Self, Instant) {
        Self::spawn_inner(
            bin,
            args,
            Some(Watch {
                ready: Box::new(ready),
                hit: None,
            }),
        )
    }

    fn spawn_inner(bin: &Path, args: &[&str], watch: Option<Watch>) -> (Self, Instant) {
        // An empty config home: the benchmark measures the defaults, not
        // whatever the person running it configured.
        let config_home = tempfile::tempdir().expect("a temp dir for XDG_CONFIG_HOME");
        let mut cmd = CommandBuilder::new(bin);
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        cmd.env("XDG_CONFIG_HOME", config_home.path());
        cmd.env_remove("THREADLAB_LOG");
        cmd.env_remove("NO_COLOR");
        cmd.cwd(std::env::temp_dir());
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        let rows = NonZeroU16::new(ROWS).expect("rows > 0");
        let cols = NonZeroU16::new(COLS).expect("cols > 0");
        let shared: Shared = Arc::new((
            Mutex::new(Output {
                parser: vt100::Parser::new(rows, cols, 0),
                bytes: 0,
                closed: false,
                watch,
            }),
            Condvar::new(),
        ));
        let pump = Arc::clone(&shared);
        thread::Builder::new()
            .name("pty-reader".into())
            .spawn(move || {
                if HARNESS_REALTIME.load(std::sync::atomic::Ordering::Relaxed) {
                    // Reset-on-fork gave this thread back an ordinary policy.
                    let _ = make_this_thread_realtime();
                }
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = match reader.read(&mut buf) {
                        Ok(0) | Err(_) => 0,
                        Ok(n) => n,
                    };
                    let mut out = lock(&pump);
                    if n == 0 {
                        out.closed = true;
                        pump.1.notify_all();
                        break;
                    }
                    out.parser.process(&buf[..n]);
                    out.bytes += n;
                    let Output { parser, watch, .. } = &mut *out;
                    if let Some(watch) = watch
                        && watch.hit.is_none()
                        && (watch.ready)(parser.screen())
                    {
                        watch.hit = Some(Instant::now());
                    }
                    pump.1.notify_all();
                }
            })
            .expect("spawn the pty reader");
        let started = Instant::now();
        let child = pair.slave.spawn_command(cmd).expect("spawn in the pty");
        // Only the child holds the slave side now: its exit closes the pty.
        drop(pair.slave);
        let pid = child.process_id().expect("the child has a pid");
        (
            Self {
                child,
                writer,
                shared,
                pid,
                _master: pair.master,
                _config_home: config_home,
            },
            started,
        )
    }

    /// Starts the dashboard with `args` and waits for its first full frame.
    pub fn dashboard(bin: &Path, args: &[&str]) -> Self {
        let (pty, _) = Self::spawn(bin, args);
        pty.wait("the first frame", Duration::from_secs(20), first_frame_done);
        pty
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Types `bytes`.
    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to the pty");
        self.writer.flush().expect("flush the pty");
    }

    /// Runs `f` on the current screen.
    pub fn with_screen<T>(&self, f: impl FnOnce(&vt100::Screen) -> T) -> T {
        f(lock(&self.shared).parser.screen())
    }

    /// The screen as text, for error messages.
    pub fn dump(&self) -> String {
        let out = lock(&self.shared);
        format!(
            "---- screen ({} bytes read, closed: {}) ----\n{}\n----",
            out.bytes,
            out.closed,
            out.parser.screen().contents()
        )
    }

    /// Waits until `ready` holds for the screen; panics with a dump after `timeout`.
    pub fn wait(
        &self,
        what: &str,
        timeout: Duration,
        ready: impl Fn(&vt100::Screen) -> bool,
    ) -> Instant {
        match self.try_wait(timeout, ready) {
            Some(at) => at,
            None => panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                self.dump()
            ),
        }
    }

    /// Waits until `ready` holds for the screen, up to `timeout`.
    pub fn try_wait(
        &self,
        timeout: Duration,
        ready: impl Fn(&vt100::Screen) -> bool,
    ) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        let (mutex, condvar) = &*self.shared;
        let mut out = mutex.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if ready(out.parser.screen()) {
                return Some(Instant::now());
            }
            let now = Instant::now();
            if now >= deadline || out.closed {
                return None;
            }
            out = condvar
                .wait_timeout(out, (deadline - now).min(Duration::from_millis(50)))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// When the watched condition first held (stamped by the reader), up to `timeout`.
    pub fn wait_hit(&self, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        let (mutex, condvar) = &*self.shared;
        let mut out = mutex.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(hit) = out.watch.as_ref().and_then(|w| w.hit) {
                out.watch = None;
                return Some(hit);
            }
            let now = Instant::now();
            if now >= deadline || out.closed {
                return None;
            }
            out = condvar
                .wait_timeout(out, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Types `key` and measures the time until `ready` first holds for the
    /// screen (stamped by the reader thread). `None` after `timeout`.
    pub fn press(
        &mut self,
        key: &[u8],
        timeout: Duration,
        ready: impl Fn(&vt100::Screen) -> bool + Send + 'static,
    ) -> Option<Duration> {
        {
            let mut out = lock(&self.shared);
            assert!(
                !ready(out.parser.screen()),
                "the awaited change is already on screen before the key\n{}",
                out.parser.screen().contents()
            );
            out.watch = Some(Watch {
                ready: Box::new(ready),
                hit: None,
            });
        }
        let sent = Instant::now();
        self.send(key);
        let deadline = sent + timeout;
        let (mutex, condvar) = &*self.shared;
        let mut out = mutex.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(hit) = out.watch.as_ref().and_then(|w| w.hit) {
                out.watch = None;
                return Some(hit.duration_since(sent));
            }
            let now = Instant::now();
            if now >= deadline || out.closed {
                out.watch = None;
                return None;
            }
            out = condvar
                .wait_timeout(out, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// One measured toggle of the help overlay: `?` to open (until its title
    /// shows) or Esc to close (until it is gone).
    pub fn toggle_help(&mut self, timeout: Duration) -> Option<Duration> {
        let open = self.with_screen(|s| s.contents().contains(HELP_TITLE));
        if open {
            self.press(b"\x1b", timeout, |s| !s.contents().contains(HELP_TITLE))
        } else {
            self.press(b"?", timeout, |s| s.contents().contains(HELP_TITLE))
        }
    }

    /// The `running N` count in the header.
    pub fn running(&self) -> Option<u64> {
        self.with_screen(|s| header_count(s, "running"))
    }

    /// Peak resident set size so far (`VmHWM`), in KiB.
    pub fn vm_hwm_kib(&self) -> Option<u64> {
        status_kib(self.pid, "VmHWM")
    }

    /// Presses `q` and waits for the process to exit (kills it after 15 s).
    pub fn quit(mut self) {
        // Close an overlay first: `q` always quits, but be explicit.
        self.send(b"q");
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        eprintln!("warning: threadlab did not exit within 15 s of q; killing it");
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// A `threadlab serve` child on loopback
// ---------------------------------------------------------------------------

/// `threadlab serve --addr 127.0.0.1:0` in the background; killed on drop.
pub struct Serve {
    child: StdChild,
    base: String,
    // Kept open: the server prints more lines, and a closed pipe would fail them.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Serve {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts it and reads the URL it prints. It runs under `nice -n 10`,
    /// the priority the dashboard gives its embedded server's connection
    /// threads (`workers.nice`), since here it stands in for that server.
    pub fn start(bin: &Path) -> Self {
        let mut child = Command::new("nice")
            .args(["-n", "10"])
            .arg(bin)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start threadlab serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("read threadlab serve's first line");
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("no URL in threadlab serve's output: {line:?}"))
            .trim_end_matches('/')
            .to_string();
        Self {
            child,
            base,
            _stdout: stdout,
        }
    }

    /// The URL of `path` on it.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
