//! The benchmarks' pty harness: the release binary in a pseudo-terminal,
//! whose reader thread evaluates the awaited condition after every chunk
//! and stamps the instant it first holds (see the `common` module docs),
//! plus readers of the dashboard's header and status numbers.

use super::pty_reader::{self, Sink, lock};
use super::{COLS, HELP_TITLE, ROWS, status_kib};
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};
use std::io::Write;
use std::num::NonZeroU16;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

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

impl Sink for Output {
    fn feed(&mut self, bytes: &[u8]) {
        self.parser.process(bytes);
        self.bytes += bytes.len();
        let Output { parser, watch, .. } = self;
        if let Some(watch) = watch
            && watch.hit.is_none()
            && (watch.ready)(parser.screen())
        {
            watch.hit = Some(Instant::now());
        }
    }

    fn close(&mut self) {
        self.closed = true;
    }
}

type Shared = pty_reader::Shared<Output>;

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
    let (rows, cols) = screen.size();
    screen.alternate_screen()
        && screen
            .rows(0, cols.get())
            .nth(usize::from(rows.get()) - 1)
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

/// The pty's size: `COLS`×`ROWS`, or `THREADLAB_BENCH_SIZE=COLSxROWS`
/// (e.g. `80x24`, the smallest the dashboards promise).
pub fn pty_size() -> (u16, u16) {
    std::env::var("THREADLAB_BENCH_SIZE")
        .ok()
        .and_then(|v| {
            let (cols, rows) = v.split_once('x')?;
            Some((rows.trim().parse().ok()?, cols.trim().parse().ok()?))
        })
        .filter(|&(rows, cols): &(u16, u16)| rows >= 10 && cols >= 40)
        .unwrap_or((ROWS, COLS))
}

/// A process in a pseudo-terminal of its own, `COLS`×`ROWS` (see [`pty_size`]).
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
        let (rows, cols) = pty_size();
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        let rows = NonZeroU16::new(rows).expect("rows > 0");
        let cols = NonZeroU16::new(cols).expect("cols > 0");
        let shared: Shared = Arc::new((
            Mutex::new(Output {
                parser: vt100::Parser::new(rows, cols, 0),
                bytes: 0,
                closed: false,
                watch,
            }),
            Condvar::new(),
        ));
        pty_reader::spawn_reader(reader, &shared, 1 << 16, || {
            if HARNESS_REALTIME.load(std::sync::atomic::Ordering::Relaxed) {
                // Reset-on-fork gave this thread back an ordinary policy.
                let _ = make_this_thread_realtime();
            }
        });
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

    /// Presses `q` and returns the time until the process has exited,
    /// polled every millisecond; `None` if it had not after `timeout` (the
    /// drop then kills it).
    pub fn quit_timed(mut self, timeout: Duration) -> Option<Duration> {
        let pressed = Instant::now();
        self.send(b"q");
        while pressed.elapsed() < timeout {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return Some(pressed.elapsed());
            }
            thread::sleep(Duration::from_millis(1));
        }
        None
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
