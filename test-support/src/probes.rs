//! Whether a uprobe is still planted in a process's code: the check that a
//! trace left nothing behind, however it ended.
//!
//! threadlab's probes are `perf_event_open` uprobes on the interpreter's
//! file with `pid = -1`: while one exists, the kernel has written a
//! breakpoint (`int3`, 0xCC on x86) at the probed instruction in every
//! process that maps that file, and each of them traps there. Reading a
//! process's executable mappings through `/proc/PID/mem` and comparing them
//! with the file's bytes at the same offsets finds every such breakpoint,
//! exactly and without timing: code identical to the file runs at full
//! speed; a difference is a probe someone left (or a debugger's breakpoint).
//! [`Sentinel`] keeps an idle interpreter alive across a trace to look at.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// One executable mapping of a file: where it is and which file bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TextMapping {
    start: u64,
    len: u64,
    offset: u64,
    path: PathBuf,
}

fn text_mappings(pid: u32) -> std::io::Result<Vec<TextMapping>> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let mut out = Vec::new();
    for line in maps.lines() {
        let mut fields = line.splitn(6, ' ');
        let (Some(range), Some(perms), Some(offset)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let path = fields.nth(2).map(str::trim_start).unwrap_or("");
        if !perms.contains('x') || !path.starts_with('/') || path.ends_with(" (deleted)") {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let hex = |s: &str| u64::from_str_radix(s, 16).ok();
        if let (Some(start), Some(end), Some(offset)) = (hex(start), hex(end), hex(offset)) {
            out.push(TextMapping {
                start,
                len: end - start,
                offset,
                path: PathBuf::from(path),
            });
        }
    }
    Ok(out)
}

/// The file offsets in `file` where process `pid`'s executable mapping of
/// it differs from the file: the breakpoints planted in it. Empty when the
/// code is the file's own.
pub fn planted_breakpoints(pid: u32, file: &Path) -> std::io::Result<Vec<u64>> {
    let wanted = std::fs::canonicalize(file)?;
    let mut mem = File::open(format!("/proc/{pid}/mem"))?;
    let source = File::open(&wanted)?;
    let mut planted = Vec::new();
    for mapping in text_mappings(pid)? {
        if std::fs::canonicalize(&mapping.path).ok().as_ref() != Some(&wanted) {
            continue;
        }
        let mut in_memory = vec![0u8; mapping.len as usize];
        mem.seek(SeekFrom::Start(mapping.start))?;
        mem.read_exact(&mut in_memory)?;
        let mut in_file = vec![0u8; mapping.len as usize];
        // The last page may run past the file's end: zeros in memory too.
        let mut read = 0;
        while read < in_file.len() {
            match source.read_at(&mut in_file[read..], mapping.offset + read as u64)? {
                0 => break,
                n => read += n,
            }
        }
        planted.extend(
            in_memory
                .iter()
                .zip(&in_file)
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(i, _)| mapping.offset + i as u64),
        );
    }
    Ok(planted)
}

/// An idle interpreter kept alive to look into: it maps the same files as
/// a traced program of that interpreter, so a probe left on them shows in
/// its code too. Killed when dropped.
#[derive(Debug)]
pub struct Sentinel {
    child: Child,
    _stdin: ChildStdin,
    /// The file the GIL probes go on: its `libpython*.so`, else the
    /// executable itself.
    pub probed_file: PathBuf,
}

impl Sentinel {
    /// Starts `python` idle (it waits on its stdin) and finds its probed
    /// file once it runs.
    pub fn start(python: &Path) -> Sentinel {
        let mut child = Command::new(python)
            .args([
                "-S",
                "-c",
                "import sys; print('ready', flush=True); sys.stdin.read()",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the sentinel says it runs");
        assert_eq!(line.trim(), "ready", "{}", python.display());
        let pid = child.id();
        let mappings = text_mappings(pid).expect("the sentinel's maps");
        let library = mappings.iter().find(|m| {
            m.path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libpython"))
        });
        let probed_file = match library {
            Some(lib) => lib.path.clone(),
            None => std::fs::read_link(format!("/proc/{pid}/exe")).expect("its executable"),
        };
        Sentinel {
            child,
            _stdin: stdin,
            probed_file,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The breakpoints now planted in its copy of the probed file.
    pub fn planted(&self) -> Vec<u64> {
        planted_breakpoints(self.pid(), &self.probed_file).expect("the sentinel's code is readable")
    }

    /// Panics unless its code is the file's own again within `limit`
    /// (a closed probe's breakpoints are gone by the time its owner's
    /// descriptors are; the limit only bounds a slow machine).
    pub fn assert_no_probe_left(&self, after: &str, limit: Duration) {
        assert_probe_gone(self.pid(), &self.probed_file, after, limit);
    }
}

/// Panics unless process `pid`'s code of `file` is the file's own again
/// within `limit`: no probe stayed after `after`.
pub fn assert_probe_gone(pid: u32, file: &Path, after: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let planted = planted_breakpoints(pid, file).expect("the program's code is readable");
        if planted.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "a probe stayed after {after}: {} byte(s) of {} differ from the file in pid {pid}, at file offsets {:x?}",
            planted.len(),
            file.display(),
            &planted[..planted.len().min(8)]
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
