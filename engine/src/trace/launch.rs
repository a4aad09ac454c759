//! Starting the program to trace: as the user who ran `sudo`, stopped at
//! every `exec` until it becomes a Python interpreter, so the probes are in
//! place before the interpreter runs its first instruction.
//!
//! `python3` is often a launcher (pyenv's shim is a bash script that execs
//! `pyenv`, which execs the real interpreter in the same process). The
//! child asks to be traced (`PTRACE_TRACEME`) just before its first exec;
//! at each exec stop we look at `/proc/PID/exe`; once it is an interpreter
//! the probes open and we detach. Until then `PTRACE_O_EXITKILL` ties the
//! child to us: if threadlab dies mid-launch, so does the child.

use std::ffi::{CStr, CString, OsString};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};

use super::interp::{self, Interpreter};
use super::mode::{self, ModeWanted, SampledWhy, TraceMode};
use super::uprobe::Probes;
use super::{TraceError, procfs};

/// The user a traced program runs as, when threadlab runs under `sudo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// User id (`SUDO_UID`).
    pub(crate) uid: u32,
    /// Primary group id (`SUDO_GID`).
    pub(crate) gid: u32,
    /// That user's supplementary groups.
    pub(crate) groups: Vec<u32>,
    /// Login name, for `USER`/`LOGNAME`.
    pub name: Option<String>,
    /// Home directory, for `HOME`.
    pub(crate) home: Option<PathBuf>,
}

impl RunAs {
    /// The user behind `sudo` (from `SUDO_UID`/`SUDO_GID`), if threadlab
    /// runs as root because of it; `None` otherwise. Without `SUDO_GID` the
    /// program runs in that user's primary group (passwd), never root's.
    pub fn from_sudo() -> Result<Option<RunAs>, TraceError> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(None);
        }
        Self::from_ids(env_id("SUDO_UID")?, env_id("SUDO_GID")?)
    }

    /// The user `uid` in group `gid`, or in its primary group when `gid`
    /// is `None`; `None` without a uid or for root.
    fn from_ids(uid: Option<u32>, gid: Option<u32>) -> Result<Option<RunAs>, TraceError> {
        let Some(uid) = uid else {
            return Ok(None);
        };
        if uid == 0 {
            return Ok(None);
        }
        let entry = user_entry(uid);
        let gid = match (gid, entry.gid) {
            (Some(gid), _) | (None, Some(gid)) => gid,
            (None, None) => return Err(TraceError::SudoGroupUnknown { uid }),
        };
        let groups = entry
            .name
            .as_deref()
            .map(|n| supplementary_groups(n, gid))
            .unwrap_or_else(|| vec![gid]);
        Ok(Some(RunAs {
            uid,
            gid,
            groups,
            name: entry.name,
            home: entry.home,
        }))
    }
}

/// Under `sudo`, gives `path` — a file or directory threadlab has just
/// made for the person who ran it (an export, flame graphs) — to the user
/// behind `sudo`, in their group, as if they had made it; does nothing
/// otherwise. Without it they could not edit or delete what they asked
/// for. Never call it on a path that existed before threadlab wrote it: an
/// `--export` over another user's (or root's) file must not hand that file
/// over. Best effort: a path that cannot be given stays root's.
pub fn give_to_sudo_user(path: &std::path::Path) {
    if let Ok(Some(user)) = RunAs::from_sudo() {
        let _ = std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid));
    }
}

fn env_id(var: &'static str) -> Result<Option<u32>, TraceError> {
    match std::env::var(var) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| TraceError::BadSudoId { var, value: text }),
        Err(_) => Ok(None),
    }
}

/// What the passwd database says about one user.
#[derive(Debug, Default)]
struct UserEntry {
    name: Option<String>,
    home: Option<PathBuf>,
    /// Primary group.
    gid: Option<u32>,
}

/// Name, home directory and primary group of `uid` from the passwd database.
fn user_entry(uid: u32) -> UserEntry {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid out-parameter.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: buffers are valid for the lengths given.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() {
        return UserEntry::default();
    }
    // SAFETY: on success both fields point to NUL-terminated strings in `buf`.
    let text = |p: *const libc::c_char| {
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    };
    UserEntry {
        name: text(pwd.pw_name),
        home: text(pwd.pw_dir).map(PathBuf::from),
        gid: Some(pwd.pw_gid),
    }
}

fn supplementary_groups(name: &str, gid: u32) -> Vec<u32> {
    let Ok(cname) = CString::new(name) else {
        return vec![gid];
    };
    let mut groups = vec![0 as libc::gid_t; 256];
    let mut count = groups.len() as libc::c_int;
    // SAFETY: `groups` holds `count` entries; getgrouplist updates `count`.
    let rc = unsafe { libc::getgrouplist(cname.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
    if rc < 0 {
        return vec![gid];
    }
    groups.truncate(count.max(0) as usize);
    groups
}

/// Where the program's stdout and stderr go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramOutput {
    /// The terminal threadlab has.
    Inherit,
    /// Both to threadlab's stderr (stdout carries threadlab's own JSON).
    ToStderr,
    /// Pipes for threadlab to read (the dashboard's console pane).
    Piped,
    /// Nowhere: `--check` stops the program before it runs any Python.
    Discard,
}

/// A program started and stopped at the moment it became Python, probes open.
#[derive(Debug)]
pub(crate) struct Launched {
    /// The child, detached from ptrace, running.
    pub(crate) child: Child,
    /// The interpreter it runs.
    pub(crate) python: Interpreter,
    /// The probes on it (`None` for a free-threaded build: states only;
    /// and when sampled).
    pub(crate) probes: Option<Probes>,
    /// Exact (probes) or sampled, and why.
    pub(crate) mode: TraceMode,
}

/// Starts `program` (argv), follows its execs, opens the probes once it is
/// a Python interpreter (or, as `wanted` allows, falls back to sampling
/// where they cannot be), and lets it run.
pub(crate) fn launch(
    program: &[OsString],
    run_as: Option<&RunAs>,
    output: ProgramOutput,
    wanted: ModeWanted,
) -> Result<Launched, TraceError> {
    let child = spawn(program, run_as, output)?;
    follow_execs(child, wanted)
}

/// Starts `program` as `run_as`, asking to be traced (`PTRACE_TRACEME`)
/// just before its first exec, where it stops.
fn spawn(
    program: &[OsString],
    run_as: Option<&RunAs>,
    output: ProgramOutput,
) -> Result<Child, TraceError> {
    let (first, args) = program.split_first().ok_or(TraceError::NoProgram)?;
    let mut command = Command::new(first);
    command.args(args);
    match output {
        ProgramOutput::Inherit => {}
        ProgramOutput::ToStderr => {
            let stderr = std::os::fd::AsFd::as_fd(&std::io::stderr())
                .try_clone_to_owned()
                .map_err(TraceError::Probe)?;
            command.stdout(Stdio::from(stderr));
        }
        ProgramOutput::Piped => {
            command
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
        }
        ProgramOutput::Discard => {
            command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        }
    }
    if let Some(user) = run_as {
        if let Some(home) = &user.home {
            command.env("HOME", home);
        }
        if let Some(name) = &user.name {
            command.env("USER", name).env("LOGNAME", name);
        }
    }
    let ids = run_as.map(|u| (u.uid, u.gid, u.groups.clone()));
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the forked child before exec and calls
    // only async-signal-safe syscalls, on memory prepared before the fork.
    unsafe {
        command.pre_exec(move || {
            if let Some((uid, gid, groups)) = &ids
                && (libc::setgroups(groups.len(), groups.as_ptr()) != 0
                    || libc::setgid(*gid) != 0
                    || libc::setuid(*uid) != 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            // If threadlab dies (even by kill -9), the program gets SIGTERM
            // instead of running on untraced and unseen. Set after the
            // credential change, which would clear it.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::other("threadlab exited during the launch"));
            }
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn().map_err(|source| TraceError::Spawn {
        program: first.to_string_lossy().into_owned(),
        source,
    })
}

/// Waits at each exec stop until the child is a Python interpreter, then
/// opens the probes (or samples, as `wanted` allows) and lets it run.
fn follow_execs(child: Child, wanted: ModeWanted) -> Result<Launched, TraceError> {
    let pid = child.id();
    let found = match next_python(pid as libc::pid_t) {
        Ok(Ok(python)) => how_to_trace(pid, python, wanted),
        Ok(Err(error)) => sampled_instead(pid, error, wanted),
        Err(error) => Err(error),
    };
    let (python, probes, mode) = match found {
        // Sampling reads the program's memory: refused at once where even
        // its parent may not (kernel.yama.ptrace_scope 2 or 3).
        Ok((_, _, TraceMode::Sampled(_))) if !mode::may_read(pid) => {
            return Err(kill_and_reap(child, TraceError::not_readable(pid)));
        }
        Ok(found) => found,
        Err(error) => return Err(kill_and_reap(child, error)),
    };
    // SAFETY: `pid` is our stopped tracee; it runs on untraced.
    unsafe { libc::ptrace(libc::PTRACE_DETACH, pid as libc::pid_t, 0, 0) };
    Ok(Launched {
        child,
        python,
        probes,
        mode,
    })
}

/// Lets the traced child run from exec to exec until it has exec'd a
/// Python interpreter, and leaves it stopped there: `Ok(Ok(python))`, or
/// `Ok(Err(why))` for an interpreter that cannot be read as one (stripped,
/// Python 2 …). `Err`: the program ended first, or waiting failed.
fn next_python(pid: libc::pid_t) -> Result<Result<Interpreter, TraceError>, TraceError> {
    let mut options_set = false;
    loop {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if rc < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(TraceError::Probe(error));
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            return Err(TraceError::NeverPython {
                status: ExitStatus::from_raw_status(status),
            });
        }
        if !libc::WIFSTOPPED(status) {
            continue;
        }
        let signal = libc::WSTOPSIG(status);
        let event = status >> 16;
        let exec_stop =
            event == libc::PTRACE_EVENT_EXEC || (!options_set && signal == libc::SIGTRAP);
        if !exec_stop {
            // An ordinary signal for the launcher: deliver it.
            // SAFETY: `pid` is our stopped tracee.
            unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, signal as libc::c_long) };
            continue;
        }
        if !options_set {
            options_set = true;
            let options =
                libc::PTRACE_O_TRACEEXEC | libc::PTRACE_O_EXITKILL | libc::PTRACE_O_TRACESYSGOOD;
            // SAFETY: `pid` is our stopped tracee.
            unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, options as libc::c_long) };
        }
        match interpreter_at_exec(pid as u32) {
            Ok(None) => {
                // SAFETY: `pid` is our stopped tracee.
                unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, 0) };
            }
            Ok(Some(python)) => return Ok(Ok(python)),
            Err(error) => return Ok(Err(error)),
        }
    }
}

/// For `trace --check`: starts `program` as a trace would, follows it to
/// the moment it becomes Python, and kills it there, before it ran any
/// Python: `Ok(Ok(python))`, or `Ok(Err(why))` for an interpreter that
/// cannot be read as one; `Err` when it never became Python.
/// A program that sampling could not read (Yama scope 2 or 3, even for
/// its parent) is `Err` unless `wanted` is exact.
pub(crate) fn python_of(
    program: &[OsString],
    run_as: Option<&RunAs>,
    wanted: ModeWanted,
) -> Result<(PathBuf, Result<Interpreter, TraceError>), TraceError> {
    let child = spawn(program, run_as, ProgramOutput::Discard)?;
    let pid = child.id();
    let mut found = next_python(pid as libc::pid_t);
    if found.is_ok() && wanted != ModeWanted::Exact && !mode::may_read(pid) {
        found = Err(TraceError::not_readable(pid));
    }
    let exe = procfs::exe(pid).unwrap_or_default();
    // Never let it run: killed stopped, reaped.
    match found {
        Ok(found) => {
            kill_and_reap(child, TraceError::NoProgram);
            Ok((exe, found))
        }
        Err(error) => Err(kill_and_reap(child, error)),
    }
}

/// What a trace of `python` will be: the probes opened (exact), none (a
/// free-threaded build, or sampled as `wanted` allows), and which mode.
pub(crate) fn how_to_trace(
    pid: u32,
    python: Interpreter,
    wanted: ModeWanted,
) -> Result<(Interpreter, Option<Probes>, TraceMode), TraceError> {
    // Only the probes need root; a free-threaded build has no GIL to probe
    // and is watched through /proc alone.
    if python.gil_disabled {
        return Ok((python, None, TraceMode::Exact));
    }
    if wanted == ModeWanted::Sampled {
        return Ok((python, None, TraceMode::Sampled(SampledWhy::Asked)));
    }
    let opened = super::preflight()
        .and_then(|()| check_mapped_library(pid as libc::pid_t, &python))
        .and_then(|()| Probes::open(&python.probe_file, &python.take_gil, &python.drop_gil));
    match opened {
        Ok(probes) => Ok((python, Some(probes), TraceMode::Exact)),
        Err(error) => match mode::sampled_for_probe_error(&error) {
            Some(why) if wanted == ModeWanted::Auto => Ok((python, None, TraceMode::Sampled(why))),
            _ => Err(error),
        },
    }
}

/// For an interpreter refused for want of GIL functions to probe (Python
/// 2, stripped): the same interpreter, sampled, unless `wanted` is exact.
fn sampled_instead(
    pid: u32,
    error: TraceError,
    wanted: ModeWanted,
) -> Result<(Interpreter, Option<Probes>, TraceMode), TraceError> {
    if wanted == ModeWanted::Exact {
        return Err(error);
    }
    let Ok(exe) = procfs::exe(pid) else {
        return Err(error);
    };
    match mode::sampled_instead(&exe, &error) {
        Some((python, why)) => Ok((python, None, TraceMode::Sampled(why))),
        None => Err(error),
    }
}

/// What the stopped child has just exec'd, if it is a Python interpreter.
fn interpreter_at_exec(pid: u32) -> Result<Option<Interpreter>, TraceError> {
    let exe = procfs::exe(pid).map_err(|source| TraceError::Read {
        path: PathBuf::from(format!("/proc/{pid}/exe")),
        source,
    })?;
    // Read (and probe) the executable through the magic link: right even
    // when its path is not what this process would resolve.
    let read_path = PathBuf::from(format!("/proc/{pid}/exe"));
    let ld_path = procfs::environ_var(pid, "LD_LIBRARY_PATH");
    let resolve = |name: &str, dirs: &[PathBuf], runpath: bool| {
        interp::search_library(name, dirs, runpath, ld_path.as_deref())
    };
    let mut found = interp::classify(&exe, &read_path, &resolve)?;
    if let Some(python) = &mut found {
        python.executable = exe;
    }
    Ok(found)
}

/// For a shared build: lets the stopped child's loader run, a system call
/// at a time, until it has mapped its `libpython`, and refuses unless that
/// is the file the probes are about to go on (found by the loader's search
/// order, [`interp::search_library`]); a probe on another copy would never
/// fire. The child is still stopped, before any Python ran, when it returns.
fn check_mapped_library(pid: libc::pid_t, python: &Interpreter) -> Result<(), TraceError> {
    let Some(library) = &python.library else {
        return Ok(());
    };
    let probed = std::fs::canonicalize(library).unwrap_or_else(|_| library.clone());
    let probed_id = std::fs::metadata(&probed).ok().map(|m| {
        use std::os::unix::fs::MetadataExt;
        let dev = m.dev();
        ((libc::major(dev), libc::minor(dev)), m.ino())
    });
    let mut signal = 0;
    loop {
        for file in procfs::mapped_files(pid as u32).unwrap_or_default() {
            let same_path = std::fs::canonicalize(&file.path).is_ok_and(|p| p == probed);
            if same_path || probed_id == Some((file.dev, file.inode)) {
                return Ok(());
            }
            let name = file.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("libpython") {
                return Err(TraceError::LibraryMismatch {
                    probed: probed.clone(),
                    mapped: file.path,
                });
            }
        }
        // SAFETY: `pid` is our stopped tracee.
        unsafe { libc::ptrace(libc::PTRACE_SYSCALL, pid, 0, signal as libc::c_long) };
        let mut status = 0;
        // SAFETY: waiting for our own child.
        if unsafe { libc::waitpid(pid, &mut status, libc::__WALL) } < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == std::io::ErrorKind::Interrupted {
                signal = 0;
                continue;
            }
            return Err(TraceError::Probe(error));
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            return Err(TraceError::NeverPython {
                status: ExitStatus::from_raw_status(status),
            });
        }
        // A system call stop (SIGTRAP | 0x80) or a ptrace event: nothing to
        // deliver; any other stop is a signal for the program.
        let stop = libc::WSTOPSIG(status);
        signal = if stop == libc::SIGTRAP | 0x80 || status >> 16 != 0 {
            0
        } else {
            stop
        };
    }
}

fn kill_and_reap(mut child: Child, error: TraceError) -> TraceError {
    let _ = child.kill();
    let _ = child.wait();
    error
}

trait FromRawStatus {
    fn from_raw_status(status: i32) -> Self;
}

impl FromRawStatus for ExitStatus {
    fn from_raw_status(status: i32) -> Self {
        std::os::unix::process::ExitStatusExt::from_raw(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudo_uid_without_gid_runs_in_the_users_primary_group() {
        // `nobody` is in every passwd database; its group is not root's.
        let nobody = user_entry(65534);
        let primary = nobody.gid.expect("nobody has a passwd entry");
        let run_as = RunAs::from_ids(Some(65534), None)
            .expect("a known user")
            .expect("not root");
        assert_eq!((run_as.uid, run_as.gid), (65534, primary));
        assert_ne!(run_as.gid, 0, "never root's group");
        assert!(!run_as.groups.contains(&0), "{:?}", run_as.groups);
        assert_eq!(run_as.name.as_deref(), Some("nobody"));
    }

    #[test]
    fn sudo_gid_given_wins_and_an_unknown_user_without_it_is_refused() {
        let run_as = RunAs::from_ids(Some(65534), Some(4242))
            .expect("given ids")
            .expect("not root");
        assert_eq!(run_as.gid, 4242);
        // No passwd entry and no SUDO_GID: no group to run in but root's.
        let unknown = 3_999_999_999;
        assert!(matches!(
            RunAs::from_ids(Some(unknown), None),
            Err(TraceError::SudoGroupUnknown { uid }) if uid == unknown
        ));
        assert_eq!(RunAs::from_ids(None, Some(5)).expect("no uid"), None);
        assert_eq!(RunAs::from_ids(Some(0), None).expect("root"), None);
    }
}
