//! The pseudo-terminal harness shared by `tests/pty.rs`,
//! `tests/pty_faults.rs` and `tests/pty_load.rs`: runs the real `threadlab` binary in a 120×40 pty
//! (`TERM=xterm-256color`, no `THREADLAB_LOG`, never the developer's own
//! config).
//!
//! A reader thread feeds everything the program writes into a `vt100` parser
//! and keeps the raw bytes too; tests wait on conditions over the parsed
//! screen (woken by a condvar on every chunk of output), never on fixed
//! sleeps, and fail with a dump of the screen and the output's tail.
//!
//! To see the terminal *after* the program is gone, a run can go under
//! `sh -c` ([`WRAPPER`]): the shell prints `stty -a` before and after the
//! run, and the program's exit code, into the same pty. So "raw mode was
//! turned off" is checked on the real terminal settings, not inferred from
//! escape codes.
//!
//! The reader loop is `pty_reader.rs`, shared with the benchmarks' harness
//! (`benches/common/pty.rs`), whose sink stamps the instant a watched
//! condition first holds. What a wrapped run leaves is checked in
//! [`super::terminal`]; processes are found in [`super::process`]; the
//! dashboard's screen is read in [`super::screen`] (all re-exported here).

// Each test crate uses its own subset of the harness.
#![allow(dead_code)]

// Re-exported where the pty tests have always found them; each test crate
// uses its own subset.
#[allow(unused_imports)]
pub use super::process::{children_of, descendants_of, is_threadlab, signal};
#[allow(unused_imports)]
pub use super::screen::{WorkerLine, has_worker, header_count, worker_lines};
#[allow(unused_imports)]
pub use super::terminal::{Wrapped, find, rfind, squash, stty_flags};

use std::ffi::OsStr;
use std::io::Write;
use std::num::NonZeroU16;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, ExitStatus, MasterPty, PtySize, native_pty_system};

use super::pty_reader::{self, Sink, lock};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_threadlab");
/// The pty's rows at start.
pub const ROWS: u16 = 40;
/// The pty's columns at start.
pub const COLS: u16 = 120;

/// Waiting for something the program shows (CI machines are small: be generous).
pub const SHOW: Duration = Duration::from_secs(30);
/// Waiting for the program to exit after being asked to.
pub const EXIT: Duration = Duration::from_secs(10);

/// Enter the alternate screen.
pub const ENTER_ALT: &[u8] = b"\x1b[?1049h";
/// Leave the alternate screen.
pub const LEAVE_ALT: &[u8] = b"\x1b[?1049l";
/// Show the cursor.
pub const SHOW_CURSOR: &[u8] = b"\x1b[?25h";
/// Hide the cursor.
pub const HIDE_CURSOR: &[u8] = b"\x1b[?25l";

/// The shell script around the program: terminal settings before, the run,
/// its exit code, terminal settings after. `$0 "$@"` is the program and its
/// arguments, so nothing needs quoting.
///
/// The shell then waits for a line from the test before it exits: it is the
/// pty's session leader, and the kernel hangs the terminal up when a session
/// leader exits, discarding output the test has not read yet (seen under
/// load: `@@DONE` and half of `stty -a` lost). [`Pty::finish_wrapped`]
/// sends `@@GO` once it has read `@@DONE`; keys the program left unread
/// are read and dropped on the way, unechoed.
pub const WRAPPER: &str = r#"echo "@@BEFORE"; stty -a; echo "@@RUN"; "$0" "$@"; echo "@@EXIT=$?"; stty -a; stty -echo; echo "@@DONE"; while read -r _line; do case "$_line" in *@@GO) break;; esac; done"#;

/// Where the program looks for its config in a pty run: nowhere, so the
/// tests see the defaults.
const NO_CONFIG_HOME: &str = "/nonexistent-threadlab-test-config";

// ---------------------------------------------------------------------------
// The pty harness
// ---------------------------------------------------------------------------

/// Everything the program wrote so far.
pub struct Output {
    /// The parsed terminal.
    pub parser: vt100::Parser,
    /// Every byte read from the pty.
    pub raw: Vec<u8>,
    /// Whether the pty has closed (the program and its children are gone).
    pub closed: bool,
}

impl Output {
    /// The parsed screen's text.
    pub fn screen(&self) -> String {
        self.parser.screen().contents()
    }

    /// The screen and the raw output's tail, for failure messages.
    pub fn dump(&self) -> String {
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

impl Sink for Output {
    fn feed(&mut self, bytes: &[u8]) {
        self.parser.process(bytes);
        self.raw.extend_from_slice(bytes);
    }

    fn close(&mut self) {
        self.closed = true;
    }
}

type Shared = pty_reader::Shared<Output>;

/// How to start a process in a pty.
#[derive(Default)]
pub struct Spec<'a> {
    args: Vec<String>,
    env: Vec<(&'a str, String)>,
    env_removed: Vec<&'a str>,
    /// Run under `sh -c` (see [`WRAPPER`]), with these shell commands first.
    wrap: Option<&'a str>,
}

impl<'a> Spec<'a> {
    /// threadlab with `args`.
    pub fn new(args: &[impl AsRef<OsStr>]) -> Self {
        Self {
            args: args
                .iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect(),
            ..Self::default()
        }
    }

    /// Sets `key=value` in the environment.
    pub fn env(mut self, key: &'a str, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key, value.as_ref().to_string_lossy().into_owned()));
        self
    }

    /// Removes `key` from the environment.
    pub fn env_remove(mut self, key: &'a str) -> Self {
        self.env_removed.push(key);
        self
    }

    /// Runs under the [`WRAPPER`] shell, with the shell commands `prefix` first.
    pub fn wrapped(mut self, prefix: &'a str) -> Self {
        self.wrap = Some(prefix);
        self
    }
}

/// A process running in a pty of its own.
pub struct Pty {
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    shared: Shared,
    // Kept open for the life of the test: closing it hangs the program up.
    master: Box<dyn MasterPty + Send>,
}

impl Pty {
    /// Starts threadlab itself in the pty.
    pub fn app_args(args: &[&str]) -> Self {
        Self::start(Spec::new(args))
    }

    /// Starts threadlab under `sh -c` (see [`WRAPPER`]).
    pub fn wrapped(args: &[&str]) -> Self {
        Self::start(Spec::new(args).wrapped(""))
    }

    /// The command `spec` describes, with the harness's environment.
    pub fn command(spec: &Spec<'_>) -> CommandBuilder {
        let mut cmd = match spec.wrap {
            Some(prefix) => {
                let mut cmd = CommandBuilder::new("sh");
                cmd.arg("-c");
                cmd.arg(format!("{prefix} {WRAPPER}"));
                cmd.arg(BIN);
                cmd
            }
            None => CommandBuilder::new(BIN),
        };
        cmd.args(&spec.args);
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("THREADLAB_LOG");
        // Never the developer's own config: the tests expect the defaults.
        cmd.env("XDG_CONFIG_HOME", NO_CONFIG_HOME);
        for (key, value) in &spec.env {
            cmd.env(key, value);
        }
        for key in &spec.env_removed {
            cmd.env_remove(key);
        }
        cmd.cwd(std::env::temp_dir());
        cmd
    }

    /// Starts what `spec` describes in a new [`ROWS`]×[`COLS`] pty.
    pub fn start(spec: Spec<'_>) -> Self {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let child = pair
            .slave
            .spawn_command(Self::command(&spec))
            .expect("spawn in the pty");
        // Only the child holds the slave side now: its exit closes the pty.
        drop(pair.slave);
        let reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        let shared: Shared = Arc::new((
            Mutex::new(Output {
                parser: vt100::Parser::new(nonzero(ROWS), nonzero(COLS), 0),
                raw: Vec::new(),
                closed: false,
            }),
            Condvar::new(),
        ));
        pty_reader::spawn_reader(reader, &shared, 8192, || {});
        Self {
            child,
            writer,
            shared,
            master: pair.master,
        }
    }

    /// The pid of the process started in the pty (the shell, if wrapped).
    pub fn pid(&self) -> u32 {
        self.child.process_id().expect("pid")
    }

    /// Types `bytes` into the terminal.
    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to the pty");
        self.writer.flush().expect("flush the pty");
    }

    /// Resizes the terminal (the program gets SIGWINCH) and the parser.
    pub fn resize(&mut self, rows: u16, cols: u16) {
        // Resize the parser first: output after the resize is for the new size.
        lock(&self.shared)
            .parser
            .set_size(nonzero(rows), nonzero(cols));
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("resize the pty");
    }

    /// The parsed screen's text now.
    pub fn screen(&self) -> String {
        lock(&self.shared).screen()
    }

    /// Everything the program wrote so far.
    pub fn raw(&self) -> Vec<u8> {
        lock(&self.shared).raw.clone()
    }

    /// The screen and the raw output's tail, for failure messages.
    pub fn dump(&self) -> String {
        lock(&self.shared).dump()
    }

    /// Waits until `ready` holds for the output, re-checking on every chunk
    /// the program writes; fails with `what` and a dump after `timeout`, or
    /// as soon as the pty closes (the output can no longer change).
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut(&Output) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        let (mutex, condvar) = &*self.shared;
        let mut out = mutex.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if ready(&out) {
                return;
            }
            let now = Instant::now();
            // Once the pty is closed, the output can no longer change.
            if now >= deadline || out.closed {
                let out_closed = out.closed;
                let dump = out.dump();
                drop(out);
                let why = if out_closed {
                    "the pty closed (the program exited)".to_string()
                } else {
                    format!("timed out after {timeout:?}")
                };
                panic!("{why} waiting for {what}\n{dump}");
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
    pub fn wait_for(&self, text: &str, timeout: Duration) {
        self.wait_until(&format!("{text:?} on screen"), timeout, |out| {
            out.screen().contains(text)
        });
    }

    /// Waits until the parsed screen satisfies `ready`.
    pub fn wait_screen(&self, what: &str, timeout: Duration, mut ready: impl FnMut(&str) -> bool) {
        self.wait_until(what, timeout, |out| ready(&out.screen()));
    }

    /// Waits until the raw output contains `bytes`.
    pub fn wait_raw(&self, bytes: &[u8], timeout: Duration) {
        let what = format!("{:?} in the raw output", String::from_utf8_lossy(bytes));
        self.wait_until(&what, timeout, |out| find(&out.raw, bytes).is_some());
    }

    /// Waits for the dashboard's first frame (raw mode and alt screen are on by then).
    pub fn wait_dashboard(&self) {
        self.wait_until("the dashboard", SHOW, |out| {
            out.parser.screen().alternate_screen() && out.screen().contains(" Workers (")
        });
    }

    /// Waits for the child process to exit; kills it and fails after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
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
            // Fine-grained: the quit-under-load tests measure with this.
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// For a wrapped run: waits for the shell to finish and returns what it reported.
    pub fn finish_wrapped(&mut self, timeout: Duration) -> Wrapped {
        self.wait_raw(b"@@DONE", timeout);
        // Everything is read: the shell may exit (see WRAPPER).
        self.send(b"@@GO\n");
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
        let run = section("@@RUN", "@@EXIT=");
        let after_exit = section("@@EXIT=", "@@DONE");
        let digits: String = after_exit
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let code = digits
            .parse()
            .unwrap_or_else(|_| panic!("no exit code after @@EXIT=\n{}", self.dump()));
        let after = after_exit[digits.len()..].to_string();
        let (screen, alternate_screen, cursor_hidden, mouse) = {
            let out = lock(&self.shared);
            let parsed = out.parser.screen();
            (
                out.screen(),
                parsed.alternate_screen(),
                parsed.hide_cursor(),
                parsed.mouse_protocol_mode(),
            )
        };
        Wrapped {
            code,
            stty_before: before,
            stty_after: after,
            run_output: run,
            raw,
            screen,
            alternate_screen,
            cursor_hidden,
            mouse_reporting: mouse != vt100::MouseProtocolMode::None,
        }
    }

    /// The pid of threadlab under the wrapper shell.
    pub fn app_pid_under_shell(&self) -> u32 {
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
    pub fn kill_all(&mut self) {
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

/// A terminal dimension for the `vt100` parser.
pub fn nonzero(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).expect("a terminal dimension > 0")
}
