//! What `/proc` says about a traced process: its executable, mapped files,
//! threads, their names and scheduler states.
//!
//! Everything here is a small read of one file; a thread or process that is
//! gone between two reads simply reads as `None`.

use std::path::PathBuf;

/// A thread's scheduler state, field 3 of `/proc/PID/task/TID/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedState {
    /// `R`: on a CPU or ready to run (waiting for one: only `schedstat`
    /// tells which, [`thread_cpu_ns`]).
    Running,
    /// `S`, `D` and anything else: blocked (I/O, sleep, a lock).
    Blocked,
}

/// The scheduler state of thread `tid` of process `pid`, or `None` when the
/// thread is gone.
pub(crate) fn thread_state(pid: u32, tid: u32) -> Option<SchedState> {
    let stat = std::fs::read(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    parse_state(&stat)
}

/// The time thread `tid` of process `pid` has run on a CPU, in
/// nanoseconds (field 1 of `/proc/PID/task/TID/schedstat`; field 2 is its
/// time waiting on a run queue), or `None` when it is gone or the kernel
/// keeps no such account.
pub(crate) fn thread_cpu_ns(pid: u32, tid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/schedstat")).ok()?;
    parse_schedstat(&text)
}

fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Field 3 of a `stat` line: the first character after the last `)` (the
/// command name in field 2 may itself hold spaces and parentheses).
fn parse_state(stat: &[u8]) -> Option<SchedState> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let state = stat[close + 1..]
        .iter()
        .find(|b| !b.is_ascii_whitespace())?;
    Some(if *state == b'R' {
        SchedState::Running
    } else {
        SchedState::Blocked
    })
}

/// The ids of process `pid`'s threads now (none once it is gone).
pub(crate) fn thread_ids(pid: u32) -> Vec<u32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|dir| {
            dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Thread `tid`'s name (`comm`), or `"?"` when it cannot be read.
pub(crate) fn thread_name(pid: u32, tid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// True while process `pid` exists (a zombie counts as gone).
pub(crate) fn process_alive(pid: u32) -> bool {
    match std::fs::read(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(parse_state_char(&stat), Some(b'Z' | b'X')),
        Err(_) => false,
    }
}

fn parse_state_char(stat: &[u8]) -> Option<u8> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat[close + 1..]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .copied()
}

/// The executable of process `pid` (`/proc/PID/exe`).
pub(crate) fn exe(pid: u32) -> std::io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
}

/// The regular files mapped executable into process `pid`, each once, in
/// the order of `/proc/PID/maps`.
pub(crate) fn mapped_executables(pid: u32) -> std::io::Result<Vec<PathBuf>> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    Ok(parse_maps(&maps))
}

fn parse_maps(maps: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = Vec::new();
    for line in maps.lines() {
        // address perms offset dev inode path
        let mut fields = line.splitn(6, ' ');
        let (Some(_), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let path = fields.nth(3).map(str::trim_start).unwrap_or("");
        if !perms.contains('x') || !path.starts_with('/') || path.ends_with(" (deleted)") {
            continue;
        }
        let path = PathBuf::from(path);
        if !files.contains(&path) {
            files.push(path);
        }
    }
    files
}

/// A file mapped into a process: its path and its device and inode as
/// `/proc/PID/maps` gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MappedFile {
    /// The path the mapping shows.
    pub(crate) path: PathBuf,
    /// `(major, minor)` of its device.
    pub(crate) dev: (u32, u32),
    /// Its inode.
    pub(crate) inode: u64,
}

/// Every file mapped into process `pid` (any permissions), each once.
pub(crate) fn mapped_files(pid: u32) -> std::io::Result<Vec<MappedFile>> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    Ok(parse_mapped_files(&maps))
}

fn parse_mapped_files(maps: &str) -> Vec<MappedFile> {
    let mut files: Vec<MappedFile> = Vec::new();
    for line in maps.lines() {
        // address perms offset dev inode path
        let mut fields = line.splitn(6, ' ');
        let (Some(dev), Some(inode)) = (fields.nth(3), fields.next()) else {
            continue;
        };
        let path = fields.next().map(str::trim_start).unwrap_or("");
        let hex = |s: &str| u32::from_str_radix(s, 16).ok();
        let dev = dev
            .split_once(':')
            .and_then(|(a, b)| Some((hex(a)?, hex(b)?)));
        let (Some(dev), Ok(inode)) = (dev, inode.parse()) else {
            continue;
        };
        if !path.starts_with('/') || path.ends_with(" (deleted)") {
            continue;
        }
        let file = MappedFile {
            path: PathBuf::from(path),
            dev,
            inode,
        };
        if !files.contains(&file) {
            files.push(file);
        }
    }
    files
}

/// A variable of process `pid`'s environment as it was at its exec.
pub(crate) fn environ_var(pid: u32, name: &str) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ.split(|&b| b == 0).find_map(|entry| {
        let rest = entry.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        Some(String::from_utf8_lossy(rest).into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_read_after_the_last_parenthesis() {
        assert_eq!(parse_state(b"12 (a) b) R 1 2 3"), Some(SchedState::Running));
        assert_eq!(parse_state(b"12 (py) S 1"), Some(SchedState::Blocked));
        assert_eq!(parse_state(b"12 (py) D 1"), Some(SchedState::Blocked));
        assert_eq!(parse_state(b"garbage"), None);
    }

    #[test]
    fn schedstat_gives_time_on_a_cpu() {
        assert_eq!(parse_schedstat("123456 789 10\n"), Some(123456));
        assert_eq!(parse_schedstat(""), None);
        let pid = std::process::id();
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() } as u32;
        let before = thread_cpu_ns(pid, tid).expect("this kernel has schedstat");
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(20) {}
        let after = thread_cpu_ns(pid, tid).expect("schedstat");
        assert!(after > before, "{before} → {after}");
    }

    #[test]
    fn maps_list_executable_files_once() {
        let maps = "\
55d0-55d1 r--p 00000000 08:01 42 /usr/bin/python3.11
55d1-55d2 r-xp 00001000 08:01 42 /usr/bin/python3.11
7f00-7f01 r-xp 00000000 08:01 43 /lib/libpython 3.so
7f01-7f02 r-xp 00000000 00:00 0 [vdso]
7f02-7f03 rw-p 00000000 00:00 0
7f03-7f04 r-xp 00000000 08:01 44 /tmp/gone.so (deleted)
";
        assert_eq!(
            parse_maps(maps),
            vec![
                PathBuf::from("/usr/bin/python3.11"),
                PathBuf::from("/lib/libpython 3.so")
            ]
        );
    }

    #[test]
    fn mapped_files_carry_device_and_inode() {
        let maps = "\
55d0-55d1 r--p 00000000 fe:00 18714 /x/libpython3.11.so.1.0
55d1-55d2 r-xp 00001000 fe:00 18714 /x/libpython3.11.so.1.0
7f01-7f02 r-xp 00000000 00:00 0 [vdso]
";
        assert_eq!(
            parse_mapped_files(maps),
            vec![MappedFile {
                path: PathBuf::from("/x/libpython3.11.so.1.0"),
                dev: (0xfe, 0),
                inode: 18714
            }]
        );
    }

    #[test]
    fn this_process_reads_as_alive_with_a_running_thread() {
        let pid = std::process::id();
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() } as u32;
        assert!(process_alive(pid));
        assert_eq!(thread_state(pid, tid), Some(SchedState::Running));
        assert!(!thread_name(pid, tid).is_empty());
        assert!(!process_alive(u32::MAX - 1));
    }
}
