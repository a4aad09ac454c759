//! End-to-end tests of the real `threadlab` binary in a pseudo-terminal.
//!
//! Each test starts the binary in a 120×40 pty (`TERM=xterm-256color`). A
//! reader thread feeds everything the program writes into a `vt100` parser
//! and keeps the raw bytes too; the tests wait on conditions over the parsed
//! screen (woken by a condvar on every chunk of output), never on fixed
//! sleeps, and fail with a dump of the screen and the output's tail.
//!
//! To see the terminal *after* the program is gone, some tests run it under
//! `sh -c`: the shell prints `stty -a` before and after the run, and the
//! program's exit code, into the same pty. So "raw mode was turned off" is
//! checked on the real terminal settings, not inferred from escape codes.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, ExitStatus, MasterPty, PtySize, native_pty_system};

const BIN: &str = env!("CARGO_BIN_EXE_threadlab");
const ROWS: u16 = 40;
const COLS: u16 = 120;

/// Waiting for something the program shows (CI machines are small: be generous).
const SHOW: Duration = Duration::from_secs(20);
/// Waiting for the program to exit after being asked to.
const EXIT: Duration = Duration::from_secs(10);

const ENTER_ALT: &[u8] = b"\x1b[?1049h";
const LEAVE_ALT: &[u8] = b"\x1b[?1049l";
const SHOW_CURSOR: &[u8] = b"\x1b[?25h";
const HIDE_CURSOR: &[u8] = b"\x1b[?25l";

/// The shell script around the program: terminal settings before, the run,
/// its exit code, terminal settings after. `$0 "$@"` is the program and its
/// arguments, so nothing needs quoting.
const WRAPPER: &str = r#"echo "@@BEFORE"; stty -a; echo "@@RUN"; "$0" "$@"; echo "@@EXIT=$?"; stty -a; echo "@@DONE""#;

// ---------------------------------------------------------------------------
// The pty harness
// ---------------------------------------------------------------------------

/// Everything the program wrote so far.
struct Output {
    parser: vt100::Parser,
    raw: Vec<u8>,
    closed: bool,
}

impl Output {
    fn screen(&self) -> String {
        self.parser.screen().contents()
    }

    fn dump(&self) -> String {
        let tail_from = self.raw.len().saturating_sub(1500);
        format!(
            "---- screen ({} bytes read, pty closed: {}) ----\n{}\n---- last raw output ----\n{}\n----",
            self.raw.len(),
            self.closed,
            self.screen(),
            String::from_utf8_lossy(&self.raw[tail_from..]).escape_debug()
        )
    }
}

type Shared = Arc<(Mutex<Output>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, Output> {
    shared.0.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A process running in a pty of its own.
struct Pty {
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    shared: Shared,
    // Kept open for the life of the test: closing it hangs the program up.
    _master: Box<dyn MasterPty + Send>,
}

impl Pty {
    /// Starts threadlab itself in the pty.
    fn app(args: &[&str]) -> Self {
        let mut cmd = CommandBuilder::new(BIN);
        cmd.args(args);
        Self::spawn(cmd)
    }

    /// Starts threadlab under `sh -c` (see [`WRAPPER`]).
    fn wrapped(args: &[&str]) -> Self {
        let mut cmd = CommandBuilder::new("sh");
        cmd.arg("-c");
        cmd.arg(WRAPPER);
        cmd.arg(BIN);
        cmd.args(args);
        Self::spawn(cmd)
    }

    fn spawn(mut cmd: CommandBuilder) -> Self {
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("THREADLAB_LOG");
        // Never the developer's own config: the tests expect the defaults.
        cmd.env("XDG_CONFIG_HOME", "/nonexistent-threadlab-test-config");
        cmd.cwd(std::env::temp_dir());
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let child = pair.slave.spawn_command(cmd).expect("spawn in the pty");
        // Only the child holds the slave side now: its exit closes the pty.
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        let rows = NonZeroU16::new(ROWS).expect("rows > 0");
        let cols = NonZeroU16::new(COLS).expect("cols > 0");
        let shared: Shared = Arc::new((
            Mutex::new(Output {
                parser: vt100::Parser::new(rows, cols, 0),
                raw: Vec::new(),
                closed: false,
            }),
            Condvar::new(),
        ));
        let pump = Arc::clone(&shared);
        thread::Builder::new()
            .name("pty-reader".into())
            .spawn(move || {
                let mut buf = [0u8; 8192];
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
                    out.raw.extend_from_slice(&buf[..n]);
                    pump.1.notify_all();
                }
            })
            .expect("spawn the pty reader");
        Self {
            child,
            writer,
            shared,
            _master: pair.master,
        }
    }

    /// Types `bytes` into the terminal.
    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to the pty");
        self.writer.flush().expect("flush the pty");
    }

    fn screen(&self) -> String {
        lock(&self.shared).screen()
    }

    fn raw(&self) -> Vec<u8> {
        lock(&self.shared).raw.clone()
    }

    fn dump(&self) -> String {
        lock(&self.shared).dump()
    }

    /// Waits until `ready` holds for the output, re-checking on every chunk
    /// the program writes; fails with `what` and a dump after `timeout`.
    fn wait_until(&self, what: &str, timeout: Duration, ready: impl Fn(&Output) -> bool) {
        let deadline = Instant::now() + timeout;
        let (mutex, condvar) = &*self.shared;
        let mut out = mutex.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if ready(&out) {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                let dump = out.dump();
                drop(out);
                panic!("timed out after {timeout:?} waiting for {what}\n{dump}");
            }
            // Woken by new output; the cap only bounds how late the deadline is noticed.
            let wait = (deadline - now).min(Duration::from_millis(50));
            out = condvar
                .wait_timeout(out, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits until the screen contains `text`.
    fn wait_for(&self, text: &str, timeout: Duration) {
        self.wait_until(&format!("{text:?} on screen"), timeout, |out| {
            out.screen().contains(text)
        });
    }

    /// Waits until the parsed screen satisfies `ready`.
    fn wait_screen(&self, what: &str, timeout: Duration, ready: impl Fn(&str) -> bool) {
        self.wait_until(what, timeout, |out| ready(&out.screen()));
    }

    /// Waits until the raw output contains `bytes`.
    fn wait_raw(&self, bytes: &[u8], timeout: Duration) {
        let what = format!("{:?} in the raw output", String::from_utf8_lossy(bytes));
        self.wait_until(&what, timeout, |out| find(&out.raw, bytes).is_some());
    }

    /// Waits for the dashboard's first frame (raw mode and alt screen are on by then).
    fn wait_dashboard(&self) {
        self.wait_until("the dashboard", SHOW, |out| {
            out.parser.screen().alternate_screen() && out.screen().contains(" Workers (")
        });
    }

    /// Waits for the child process to exit; kills it and fails after `timeout`.
    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) => {}
                Err(error) => panic!("waiting for the child: {error}\n{}", self.dump()),
            }
            if Instant::now() >= deadline {
                let dump = self.dump();
                self.kill_all();
                panic!("the process did not exit within {timeout:?}\n{dump}");
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// For a [`Pty::wrapped`] run: waits for the shell to finish and returns
    /// what it reported.
    fn finish_wrapped(&mut self, timeout: Duration) -> Wrapped {
        self.wait_raw(b"@@DONE", timeout);
        let status = self.wait_exit(timeout);
        assert!(
            status.success(),
            "the wrapper shell failed: {status:?}\n{}",
            self.dump()
        );
        let raw = self.raw();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let section = |from: &str, to: &str| -> String {
            let start = text.find(from).map(|i| i + from.len());
            let end = text.rfind(to);
            match (start, end) {
                (Some(start), Some(end)) if start <= end => text[start..end].to_string(),
                _ => panic!("no {from}…{to} section in the output\n{}", self.dump()),
            }
        };
        let before = section("@@BEFORE", "@@RUN");
        let after_exit = section("@@EXIT=", "@@DONE");
        let digits: String = after_exit
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let code = digits
            .parse()
            .unwrap_or_else(|_| panic!("no exit code after @@EXIT=\n{}", self.dump()));
        let after = after_exit[digits.len()..].to_string();
        let (screen, alternate_screen, cursor_hidden) = {
            let out = lock(&self.shared);
            let parsed = out.parser.screen();
            (
                out.screen(),
                parsed.alternate_screen(),
                parsed.hide_cursor(),
            )
        };
        Wrapped {
            code,
            stty_before: before,
            stty_after: after,
            raw,
            screen,
            alternate_screen,
            cursor_hidden,
        }
    }

    /// The pid of threadlab under the [`Pty::wrapped`] shell.
    fn app_pid_under_shell(&self) -> u32 {
        let shell = self.child.process_id().expect("the shell has a pid");
        let deadline = Instant::now() + SHOW;
        loop {
            let children = children_of(shell);
            if let Some(&pid) = children.iter().find(|&&pid| is_threadlab(pid)) {
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "no threadlab process under the shell {shell} (children: {children:?})\n{}",
                self.dump()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the child and everything it started (a failed test must not leak processes).
    fn kill_all(&mut self) {
        if let Some(pid) = self.child.process_id() {
            for descendant in descendants_of(pid) {
                signal(descendant, "KILL");
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            self.kill_all();
        }
    }
}

/// What a [`Pty::wrapped`] run left behind.
struct Wrapped {
    /// threadlab's exit code, as the shell saw it.
    code: i32,
    /// `stty -a` before threadlab ran.
    stty_before: String,
    /// `stty -a` after threadlab exited.
    stty_after: String,
    /// Everything written to the terminal.
    raw: Vec<u8>,
    /// The screen at the end.
    screen: String,
    /// Whether the terminal was left on the alternate screen.
    alternate_screen: bool,
    /// Whether the terminal was left with the cursor hidden.
    cursor_hidden: bool,
}

impl Wrapped {
    fn describe(&self) -> String {
        let tail_from = self.raw.len().saturating_sub(1500);
        format!(
            "exit code {}\n---- screen ----\n{}\n---- last raw output ----\n{}\n----",
            self.code,
            self.screen,
            String::from_utf8_lossy(&self.raw[tail_from..]).escape_debug()
        )
    }

    /// Asserts the terminal is as the program found it: main screen, cursor
    /// shown, and the same terminal settings (cooked mode: icanon, echo…).
    fn assert_terminal_restored(&self) {
        let info = self.describe();
        let raw = &self.raw;
        let enter = rfind(raw, ENTER_ALT)
            .unwrap_or_else(|| panic!("the program never entered the alternate screen\n{info}"));
        let leave = rfind(raw, LEAVE_ALT)
            .unwrap_or_else(|| panic!("the program never left the alternate screen\n{info}"));
        assert!(
            leave > enter,
            "the last leave-alternate-screen comes before the last enter\n{info}"
        );
        let show = rfind(raw, SHOW_CURSOR)
            .unwrap_or_else(|| panic!("the cursor was never shown again\n{info}"));
        assert!(
            show > enter,
            "no show-cursor after entering the dashboard\n{info}"
        );
        if let Some(hide) = rfind(raw, HIDE_CURSOR) {
            assert!(
                show > hide,
                "the last cursor hide is not followed by a show\n{info}"
            );
        }
        assert!(
            !self.alternate_screen,
            "left on the alternate screen\n{info}"
        );
        assert!(!self.cursor_hidden, "left with the cursor hidden\n{info}");

        let before = stty_flags(&self.stty_before);
        let after = stty_flags(&self.stty_after);
        for flag in ["icanon", "echo", "isig", "icrnl", "opost"] {
            assert!(
                before.contains(flag),
                "test setup: the pty did not start with {flag} on: {}",
                self.stty_before
            );
            assert!(
                after.contains(flag) && !after.contains(&format!("-{flag}")),
                "{flag} not restored after exit (raw mode left on?)\nstty after:{}\n{info}",
                self.stty_after
            );
        }
        assert_eq!(
            squash(&self.stty_before),
            squash(&self.stty_after),
            "terminal settings differ before and after the run\n{info}"
        );
    }
}

/// The settings words of `stty -a` output (`icanon`, `-echo`, …).
fn stty_flags(stty: &str) -> HashSet<String> {
    stty.split(|c: char| c.is_whitespace() || c == ';')
        .filter(|word| !word.is_empty())
        .map(str::to_string)
        .collect()
}

fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// `(pid, ppid, comm)` of every process, from `/proc/*/stat`.
fn processes() -> Vec<(u32, u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat =
                std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat"))
                    .ok()?;
            // "pid (comm) state ppid …": comm may hold spaces and parentheses.
            let open = stat.find('(')?;
            let close = stat.rfind(')')?;
            let comm = stat[open + 1..close].to_string();
            let ppid = stat[close + 1..].split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid, comm))
        })
        .collect()
}

fn children_of(parent: u32) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|&(_, ppid, _)| ppid == parent)
        .map(|(pid, _, _)| pid)
        .collect()
}

fn descendants_of(root: u32) -> Vec<u32> {
    let mut by_parent: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, ppid, _) in processes() {
        by_parent.entry(ppid).or_default().push(pid);
    }
    let mut found = Vec::new();
    let mut queue = VecDeque::from([root]);
    while let Some(pid) = queue.pop_front() {
        for &child in by_parent.get(&pid).into_iter().flatten() {
            found.push(child);
            queue.push_back(child);
        }
    }
    found
}

fn is_threadlab(pid: u32) -> bool {
    // comm is cut to 15 bytes; "threadlab" fits.
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|comm| comm.trim() == "threadlab")
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if let Err(error) = status {
        eprintln!("kill -{name} {pid}: {error}");
    }
}

// ---------------------------------------------------------------------------
// Reading the dashboard
// ---------------------------------------------------------------------------

/// One row of the workers table as drawn.
#[derive(Debug)]
struct WorkerLine {
    id: u64,
    kind: String,
    /// State, progress, time and result columns.
    rest: String,
}

/// The worker table's rows on `screen`: lines of the left pane reading
/// `│ ID KIND …│`, with KIND one of the worker kinds.
fn worker_lines(screen: &str) -> Vec<WorkerLine> {
    screen
        .lines()
        .filter_map(|line| {
            let inner = line.strip_prefix('│')?;
            let inner = inner.split('│').next().unwrap_or(inner);
            let mut words = inner.split_whitespace();
            let id = words.next()?.parse().ok()?;
            let kind = words.next()?;
            if !["fetch", "file", "cpu", "sleep"].contains(&kind) {
                return None;
            }
            let rest = inner.split_once(kind)?.1.trim().to_string();
            Some(WorkerLine {
                id,
                kind: kind.to_string(),
                rest,
            })
        })
        .collect()
}

fn has_worker(screen: &str, kind: &str, state: &str) -> bool {
    worker_lines(screen)
        .iter()
        .any(|row| row.kind == kind && row.rest.contains(state))
}

/// A count from the header line (`running 2 · done 0 · failed 0 · cancelled 1`).
fn header_count(screen: &str, label: &str) -> Option<u64> {
    let header = screen.lines().next()?;
    if !header.contains("threadlab") {
        return None;
    }
    let mut words = header.split_whitespace();
    words.find(|word| *word == label)?;
    words.next()?.parse().ok()
}

// ---------------------------------------------------------------------------
// Tests in the pty
// ---------------------------------------------------------------------------

#[test]
fn start_press_c_and_f_see_both_then_q_exits_0() {
    let mut pty = Pty::app(&["--mode", "free"]);
    pty.wait_dashboard();
    pty.wait_for("No workers yet", SHOW);
    pty.send(b"c");
    pty.send(b"f");
    pty.wait_screen("a cpu row and a fetch row", SHOW, |screen| {
        let rows = worker_lines(screen);
        rows.iter().any(|r| r.kind == "cpu") && rows.iter().any(|r| r.kind == "fetch")
    });
    let rows = worker_lines(&pty.screen());
    let cpu = rows.iter().find(|r| r.kind == "cpu").map(|r| r.id);
    let fetch = rows.iter().find(|r| r.kind == "fetch").map(|r| r.id);
    assert_eq!(
        (cpu, fetch),
        (Some(1), Some(2)),
        "ids follow key order\n{}",
        pty.dump()
    );
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "exit status {status:?}\n{}", pty.dump());
}

#[test]
fn q_restores_screen_cursor_and_cooked_mode() {
    let mut pty = Pty::wrapped(&["--mode", "free"]);
    pty.wait_dashboard();
    pty.send(b"c");
    pty.wait_screen("a live cpu row", SHOW, |screen| {
        has_worker(screen, "cpu", "running")
    });
    pty.send(b"q");
    let run = pty.finish_wrapped(EXIT);
    assert_eq!(run.code, 0, "q should exit 0\n{}", run.describe());
    run.assert_terminal_restored();
}

#[test]
fn ctrl_c_quits_with_0_and_restores_terminal() {
    let mut pty = Pty::wrapped(&[]);
    pty.wait_dashboard();
    pty.send(b"s");
    pty.wait_screen("a sleep row", SHOW, |screen| {
        has_worker(screen, "sleep", "")
    });
    pty.send(b"\x03");
    let run = pty.finish_wrapped(EXIT);
    assert_eq!(run.code, 0, "Ctrl-C should exit 0\n{}", run.describe());
    run.assert_terminal_restored();
}

#[test]
fn sigterm_quits_and_restores_terminal() {
    let mut pty = Pty::wrapped(&[]);
    pty.wait_dashboard();
    pty.send(b"c");
    pty.wait_screen("a cpu row", SHOW, |screen| has_worker(screen, "cpu", ""));
    let pid = pty.app_pid_under_shell();
    signal(pid, "TERM");
    let run = pty.finish_wrapped(EXIT);
    // SIGTERM is a request to quit: a clean exit (0), or the conventional
    // 128+15 if the program re-raises it after restoring. Anything else (or
    // a terminal left raw, checked below) means the signal was not handled.
    assert!(
        run.code == 0 || run.code == 143,
        "unexpected exit code after SIGTERM\n{}",
        run.describe()
    );
    run.assert_terminal_restored();
}

#[test]
fn ui_panic_restores_terminal_before_the_message() {
    let mut pty = Pty::wrapped(&["--fault", "ui-panic"]);
    pty.wait_dashboard();
    pty.send(b"!");
    let run = pty.finish_wrapped(EXIT);
    assert_ne!(
        run.code,
        0,
        "a UI panic must not exit 0\n{}",
        run.describe()
    );
    run.assert_terminal_restored();
    let message: &[u8] = b"fault injection: UI thread panic requested";
    let at = find(&run.raw, message)
        .unwrap_or_else(|| panic!("the panic message is not in the output\n{}", run.describe()));
    let leave = rfind(&run.raw, LEAVE_ALT).expect("checked by assert_terminal_restored");
    assert!(
        at > leave,
        "the panic message was printed before leaving the alternate screen\n{}",
        run.describe()
    );
    // It is on the normal screen for the user to read.
    assert!(
        run.screen.contains("UI thread panic requested"),
        "the panic message is not visible on the restored screen\n{}",
        run.describe()
    );
}

#[test]
fn worker_panic_shows_failed_worker_and_app_lives_on() {
    let mut pty = Pty::app(&["--fault", "worker-panic", "--cpu-steps", "20000000"]);
    pty.wait_dashboard();
    pty.send(b"c");
    pty.wait_screen("a cpu row", SHOW, |screen| has_worker(screen, "cpu", ""));
    // 20 M steps: the fault panics it halfway, well under a second.
    pty.wait_screen(
        "the cpu worker failed",
        Duration::from_secs(120),
        |screen| {
            has_worker(screen, "cpu", "failed")
                && header_count(screen, "failed") == Some(1)
                && header_count(screen, "running") == Some(0)
        },
    );
    pty.wait_for("panicked", SHOW);
    // The worker's panic must not be printed over the dashboard.
    let raw = String::from_utf8_lossy(&pty.raw()).into_owned();
    assert!(
        !raw.contains("panicked at"),
        "the worker's panic was printed to the terminal\n{}",
        pty.dump()
    );
    // Still alive and responding to keys.
    pty.send(b"?");
    pty.wait_screen("the help overlay", SHOW, |screen| {
        screen.contains("Help · keys") && screen.contains("cancel all workers")
    });
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "exit status {status:?}\n{}", pty.dump());
}

#[test]
fn cancel_selected_then_cancel_all() {
    let mut pty = Pty::app(&[]);
    pty.wait_dashboard();
    pty.send(b"s");
    pty.wait_screen("a running sleep row", SHOW, |screen| {
        has_worker(screen, "sleep", "") && header_count(screen, "running") == Some(1)
    });
    pty.send(b"x");
    pty.wait_screen("the sleep worker cancelled", SHOW, |screen| {
        has_worker(screen, "sleep", "cancelled")
            && header_count(screen, "cancelled") == Some(1)
            && header_count(screen, "running") == Some(0)
    });
    pty.send(b"c");
    pty.send(b"c");
    pty.wait_screen("two running cpu workers", SHOW, |screen| {
        let cpus = worker_lines(screen)
            .into_iter()
            .filter(|r| r.kind == "cpu")
            .count();
        cpus == 2 && header_count(screen, "running") == Some(2)
    });
    pty.send(b"X");
    // A frame may arrive in several reads: wait for all of it at once.
    pty.wait_screen(
        "cancelled 3 in the header and three cancelled rows",
        SHOW,
        |screen| {
            let rows = worker_lines(screen);
            header_count(screen, "cancelled") == Some(3)
                && header_count(screen, "running") == Some(0)
                && rows.len() == 3
                && rows.iter().all(|r| r.rest.contains("cancelled"))
        },
    );
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "exit status {status:?}\n{}", pty.dump());
}

#[test]
fn help_overlay_lists_keys_and_esc_closes_it() {
    let mut pty = Pty::app(&[]);
    pty.wait_dashboard();
    pty.wait_for("No workers yet", SHOW);
    assert!(!pty.screen().contains("Help · keys"), "{}", pty.dump());
    pty.send(b"?");
    pty.wait_screen("the help overlay listing the keys", SHOW, |screen| {
        [
            "Help · keys",
            "spawn a fetch worker",
            "spawn a cpu worker",
            "cancel the selected worker",
            "cancel all workers",
            "Ctrl-C",
        ]
        .iter()
        .all(|line| screen.contains(line))
    });
    pty.send(b"\x1b");
    pty.wait_screen("the overlay closed", SHOW, |screen| {
        !screen.contains("Help · keys")
            && !screen.contains("cancel all workers")
            && screen.contains("No workers yet. Press f (fetch)")
    });
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "exit status {status:?}\n{}", pty.dump());
}

// ---------------------------------------------------------------------------
// Bad input: no terminal needed
// ---------------------------------------------------------------------------

/// Runs threadlab without a terminal; returns (exit code, stderr).
fn run_plain(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start threadlab");
    let deadline = Instant::now() + EXIT;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("threadlab {args:?} did not exit within {EXIT:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().expect("collect output");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_usage_error(args: &[&str], mentions: &[&str]) {
    let (code, stderr) = run_plain(args);
    assert_eq!(code, Some(2), "threadlab {args:?}: stderr {stderr:?}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "threadlab {args:?}: stderr is not one line: {stderr:?}"
    );
    assert!(stderr.ends_with('\n'), "threadlab {args:?}: {stderr:?}");
    for word in mentions {
        assert!(
            stderr.contains(word),
            "threadlab {args:?}: stderr does not mention {word:?}: {stderr:?}"
        );
    }
}

#[test]
fn interval_0_is_a_usage_error() {
    assert_usage_error(&["--interval", "0"], &["--interval", "0.1"]);
}

#[test]
fn unknown_mode_is_a_usage_error() {
    assert_usage_error(&["--mode", "fast"], &["--mode", "free", "gil", "legacy"]);
}

#[test]
fn ftp_url_is_a_usage_error() {
    assert_usage_error(&["--url", "ftp://x"], &["--url", "http"]);
}

#[test]
fn missing_workdir_is_a_usage_error() {
    assert_usage_error(
        &["--workdir", "/nonexistent/dir"],
        &["--workdir", "/nonexistent/dir"],
    );
}

// ---------------------------------------------------------------------------
// UI under the GIL, and the experiment pane
// ---------------------------------------------------------------------------

/// The GIL timeline's stats for the lane labelled `label`: `(hold, wait,
/// io)` percentages, from a lane line `label ░░▏░  4%  80%  16%    85`
/// inside the timeline pane (the right-hand pane of the body).
fn lane_percentages(screen: &str, label: &str) -> Option<(u32, u32, u32)> {
    screen.lines().find_map(|line| {
        let segment = line.split('│').find(|segment| {
            segment
                .strip_prefix(label)
                .is_some_and(|rest| rest.starts_with(' '))
        })?;
        let percents: Vec<u32> = segment
            .split_whitespace()
            .filter_map(|word| word.strip_suffix('%')?.parse().ok())
            .collect();
        match percents[..] {
            [hold, wait, io] => Some((hold, wait, io)),
            _ => None,
        }
    })
}

fn cpu_rows(screen: &str) -> usize {
    worker_lines(screen)
        .iter()
        .filter(|r| r.kind == "cpu")
        .count()
}

/// Starts two endless cpu workers under the GIL, presses `u`, waits until
/// `badge` says the UI is under the GIL, presses `j` a dozen times, and
/// waits for a `ui` lane in the timeline with a non-zero wait share.
fn ui_lane_waits_under_the_gil(badge: &str, badge_shown: impl Fn(&str) -> bool) {
    let mut pty = Pty::app(&["--mode", "gil", "--cpu-steps", "100000000000"]);
    pty.wait_dashboard();
    pty.send(b"c");
    pty.send(b"c");
    pty.wait_screen("two cpu rows", SHOW, |screen| cpu_rows(screen) == 2);
    pty.send(b"u");
    pty.wait_screen(badge, SHOW, badge_shown);
    for _ in 0..12 {
        pty.send(b"j");
    }
    pty.wait_screen(
        "a `ui` lane in the GIL timeline with a non-zero wait %",
        SHOW,
        |screen| {
            screen.contains(" GIL timeline ")
                && lane_percentages(screen, "ui").is_some_and(|(_, wait, _)| wait > 0)
        },
    );
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "exit status {status:?}\n{}", pty.dump());
}

#[test]
fn ui_under_the_gil_shows_a_ui_lane_that_waits() {
    ui_lane_waits_under_the_gil("the \"UI under the GIL\" header badge", |screen| {
        screen
            .lines()
            .next()
            .is_some_and(|header| header.contains("UI under the GIL"))
    });
}

/// The same, recognising the mode by the Responsiveness pane's title, which
/// fits at 120 columns (until the header badge does).
#[test]
fn ui_under_the_gil_lane_waits_per_responsiveness_pane() {
    ui_lane_waits_under_the_gil(
        "the Responsiveness pane titled UI UNDER THE GIL",
        |screen| screen.contains("Responsiveness · UI UNDER THE GIL"),
    );
}

/// How long the dashboard's experiment may take: 3 modes × 3 thread counts
/// × 0.3 s, on a slow, busy machine.
const EXPERIMENT: Duration = Duration::from_secs(60);

#[test]
fn experiment_picker_runs_and_charts() {
    let mut pty = Pty::app(&[]);
    pty.wait_dashboard();
    pty.send(b"e");
    pty.wait_screen("the experiment picker", SHOW, |screen| {
        screen.contains(" Experiments ") && screen.contains("▶ throughput")
    });
    pty.send(b"\r");
    pty.wait_screen("the throughput experiment pane", SHOW, |screen| {
        screen.contains("Experiment: throughput") && !screen.contains(" Experiments ")
    });
    pty.wait_screen("the experiment done", EXPERIMENT, |screen| {
        screen
            .lines()
            .any(|line| line.contains("Experiment: throughput") && line.contains("· done ·"))
    });
    pty.wait_screen(
        "the chart with speedup labels and thread-count groups",
        SHOW,
        |screen| {
            // 3 modes × 3 thread counts, plus 3 more when python3 is there.
            (screen.contains("9/9 measurements") || screen.contains("12/12 measurements"))
                && screen.contains("1.00")
                && ["N = 1", "N = 2", "N = 4"]
                    .iter()
                    .all(|group| screen.contains(group))
        },
    );
    assert!(!pty.screen().contains(" Workers ("), "{}", pty.dump());
    pty.send(b"\x1b");
    pty.wait_screen("the pane closed, the Workers pane back", SHOW, |screen| {
        screen.contains(" Workers (") && !screen.contains("Experiment: throughput")
    });
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "exit status {status:?}\n{}", pty.dump());
}

// ---------------------------------------------------------------------------
// Configuration, key map and colours
// ---------------------------------------------------------------------------

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("write the config");
    path.display().to_string()
}

#[test]
fn a_key_remapped_in_the_config_spawns_the_worker_and_the_old_key_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "[keys]\ncpu = \"z\"\n");
    let mut pty = Pty::app(&["--config", &config]);
    pty.wait_dashboard();
    // The footer shows the key in force.
    pty.wait_screen("the footer showing z for cpu", SHOW, |screen| {
        squash(screen).contains("z cpu")
    });
    // Input is handled in order: once z's worker shows, c was handled too.
    pty.send(b"c");
    pty.send(b"z");
    pty.wait_screen("a cpu row", SHOW, |screen| has_worker(screen, "cpu", ""));
    let rows = worker_lines(&pty.screen());
    assert_eq!(rows.len(), 1, "c is no longer bound\n{}", pty.dump());
    pty.send(b"q");
    assert!(pty.wait_exit(EXIT).success());
}

/// Every SGR colour parameter in `raw` (foreground/background, 16, 256 or
/// true colour); the "default colour" codes 39 and 49 do not count.
fn colour_codes(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let mut found = Vec::new();
    for chunk in text.split("\x1b[").skip(1) {
        let Some(end) = chunk.find(|c: char| c.is_ascii_alphabetic()) else {
            continue;
        };
        if !chunk[end..].starts_with('m') {
            continue;
        }
        for param in chunk[..end].split(';') {
            if let Ok(n) = param.parse::<u32>()
                && matches!(n, 30..=38 | 40..=48 | 90..=97 | 100..=107)
            {
                found.push(chunk[..end].to_string());
                break;
            }
        }
    }
    found
}

fn run_with_colour_env(no_color: bool) -> Vec<u8> {
    let mut cmd = CommandBuilder::new(BIN);
    cmd.args(["--mode", "gil"]);
    if no_color {
        cmd.env("NO_COLOR", "1");
    } else {
        cmd.env_remove("NO_COLOR");
    }
    let mut pty = Pty::spawn(cmd);
    pty.wait_dashboard();
    pty.send(b"cs");
    pty.wait_screen("a cpu row holding or waiting for the GIL", SHOW, |screen| {
        has_worker(screen, "cpu", "GIL")
    });
    pty.send(b"?");
    pty.wait_for("Help", SHOW);
    pty.send(b"q");
    assert!(pty.wait_exit(EXIT).success(), "{}", pty.dump());
    pty.raw()
}

#[test]
fn no_color_produces_no_colour_escapes() {
    let coloured = run_with_colour_env(false);
    assert!(
        !colour_codes(&coloured).is_empty(),
        "the default theme does use colour, so this test can tell"
    );
    let plain = run_with_colour_env(true);
    let codes = colour_codes(&plain);
    assert!(
        codes.is_empty(),
        "NO_COLOR output has colour codes: {codes:?}"
    );
}

#[test]
fn a_bad_config_stops_at_start_with_one_line_and_the_terminal_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "[ui]\nfps = 30\ncolour = \"red\"\n");
    let mut pty = Pty::wrapped(&["--config", &config]);
    let run = pty.finish_wrapped(EXIT);
    assert_eq!(run.code, 2, "{}", run.describe());
    let raw = pty.raw();
    assert!(
        find(&raw, ENTER_ALT).is_none(),
        "the alternate screen was never entered"
    );
    assert!(
        run.screen.contains("config.toml, line 3") && run.screen.contains("colour"),
        "{}",
        run.describe()
    );
    assert_eq!(
        squash(&run.stty_before),
        squash(&run.stty_after),
        "terminal settings untouched\n{}",
        run.describe()
    );
}
