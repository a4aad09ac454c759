//! The real binary as a child process without a terminal, watched live:
//! its stdout line by line on a channel, its stderr drained, signals sent
//! to it, and a deadline on its exit. A child still running when the test
//! ends (by failure) is killed.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A running `threadlab`.
pub struct Spawned {
    /// The child.
    pub child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Option<JoinHandle<String>>,
    /// The arguments, for messages.
    pub args: Vec<String>,
}

/// How a [`Spawned`] ended.
#[derive(Debug)]
pub struct Ended {
    /// Its exit status.
    pub status: ExitStatus,
    /// All of its stdout.
    pub stdout: String,
    /// All of its stderr.
    pub stderr: String,
    /// From the signal (or the call) to the exit.
    pub took: Duration,
}

impl Spawned {
    /// Starts threadlab with `args` and the extra environment `envs`
    /// (stdin null, `THREADLAB_LOG` unset).
    pub fn start(args: &[&str], envs: &[(&str, &OsStr)]) -> Spawned {
        Spawned::start_with(args, envs, |_| {})
    }

    /// [`Spawned::start`], letting `customize` adjust the command first
    /// (e.g. a `pre_exec` that lowers a resource limit in the child).
    pub fn start_with(
        args: &[&str],
        envs: &[(&str, &OsStr)],
        customize: impl FnOnce(&mut Command),
    ) -> Spawned {
        let mut command = Command::new(env!("CARGO_BIN_EXE_threadlab"));
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("THREADLAB_LOG");
        for (key, value) in envs {
            command.env(key, value);
        }
        customize(&mut command);
        let mut child = command.spawn().expect("start threadlab");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Spawned {
            child,
            lines,
            seen: Vec::new(),
            stderr: Some(stderr),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a stdout line for which `wanted` holds; panics after `timeout`.
    pub fn wait_line(&mut self, timeout: Duration, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(error) => panic!(
                    "threadlab {:?}: no such line within {timeout:?} ({error}); stdout so far:\n{}",
                    self.args,
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Re-checks `ready` every few milliseconds until it holds; panics
    /// (killing the child) after `timeout` or if the child exits first.
    pub fn wait_until(&mut self, what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !ready() {
            if let Ok(Some(status)) = self.child.try_wait() {
                let ended = self.finish(Duration::from_secs(1));
                panic!(
                    "threadlab {:?} exited ({status}) before {what}\n{ended:?}",
                    self.args
                );
            }
            assert!(
                Instant::now() < deadline,
                "threadlab {:?}: timed out waiting for {what}",
                self.args
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the child watches for signals (its `signals` thread runs).
    pub fn wait_signal_watch(&mut self, timeout: Duration) {
        let pid = self.pid();
        self.wait_until("its signal thread", timeout, || {
            thread_names(pid).iter().any(|name| name == "signals")
        });
    }

    /// Sends `signal` (`INT`, `TERM`…), then waits up to `timeout` for the
    /// exit; panics (killing it) if it does not exit in time.
    pub fn signal_and_wait(&mut self, signal: &str, timeout: Duration) -> Ended {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .stdin(Stdio::null())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
        self.finish(timeout)
    }

    /// Waits up to `timeout` for the exit and collects the output; panics
    /// (killing it) if it does not exit in time.
    pub fn finish(&mut self, timeout: Duration) -> Ended {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break Some(status);
            }
            if start.elapsed() >= timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(5));
        };
        let took = start.elapsed();
        let mut stdout = std::mem::take(&mut self.seen);
        stdout.extend(self.lines.try_iter());
        // The reader ends at EOF, which comes with the exit.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            stdout.push(line);
        }
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let stdout = stdout.join("\n");
        let Some(status) = status else {
            panic!(
                "threadlab {:?} did not exit within {timeout:?} (killed)\n---- stdout ----\n{stdout}\n---- stderr ----\n{stderr}",
                self.args
            );
        };
        Ended {
            status,
            stdout,
            stderr,
            took,
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The names of `pid`'s threads.
pub fn thread_names(pid: u32) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| {
            let path = task.ok()?.path().join("comm");
            Some(std::fs::read_to_string(path).ok()?.trim().to_string())
        })
        .collect()
}

/// The pids of every process whose command line contains `needle`.
pub fn processes_running(needle: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            // A zombie's command line is empty: it no longer runs.
            String::from_utf8_lossy(&cmdline)
                .contains(needle)
                .then_some(pid)
        })
        .collect()
}

/// `(pid, ppid)` of every process, from `/proc/*/stat`.
fn processes() -> Vec<(u32, u32)> {
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
            let close = stat.rfind(')')?;
            let ppid = stat[close + 1..].split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect()
}

/// The pids whose parent is `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|&(_, ppid)| ppid == parent)
        .map(|(pid, _)| pid)
        .collect()
}

/// The pids of `root`'s children, their children, and so on.
pub fn descendants_of(root: u32) -> Vec<u32> {
    let mut by_parent: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, ppid) in processes() {
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

/// Whether `pid` runs threadlab.
pub fn is_threadlab(pid: u32) -> bool {
    // comm is cut to 15 bytes; "threadlab" fits.
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|comm| comm.trim() == "threadlab")
}

/// Sends signal `name` (`TERM`, `KILL`…) to `pid` with `kill`.
pub fn signal(pid: u32, name: &str) {
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
