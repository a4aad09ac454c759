//! A `threadlab serve` child on loopback, for the throughput benchmark.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Child as StdChild;
use std::process::{Command, Stdio};

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
