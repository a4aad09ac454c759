//! The fault matrix for the real binary in a pseudo-terminal: signals from
//! outside, a terminal that hangs up, start-up errors, and a disk that
//! fills up mid-write. Load (quitting under 500 workers, floods of keys and
//! resizes) is in `tests/pty_load.rs`.
//!
//! The harness is the one in `tests/common/pty.rs`, shared with
//! `tests/pty.rs`: a reader thread feeds a `vt100` parser; tests wait on
//! conditions over the parsed screen, woken on every chunk of output, never
//! on fixed sleeps; resizing and environment and shell-prefix control are
//! there too. Terminal restoration is checked on the real terminal
//! settings: the program runs under `sh -c`, which prints `stty -a` before
//! and after it, and its exit code, into the same pty.
//!
//! All network traffic is to 127.0.0.1.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::entries;
use common::pty::{
    COLS, ENTER_ALT, EXIT, Pty, ROWS, SHOW, Spec, find, has_worker, header_count, nonzero, signal,
};
use portable_pty::{ExitStatus, PtySize, native_pty_system};

// ---------------------------------------------------------------------------
// 1. The terminal is restored on every way out
// ---------------------------------------------------------------------------

/// Starts the dashboard with a live worker, sends `sig` from outside, and
/// checks the terminal and the exit code: 128 + the signal's number, like a
/// shell reports a process ended by that signal (the `q` key exits 0).
fn signal_from_outside_restores(sig: &str, number: i32) {
    let mut pty = Pty::wrapped(&[]);
    pty.wait_dashboard();
    pty.send(b"s");
    pty.wait_screen("a sleep row", SHOW, |screen| {
        has_worker(screen, "sleep", "")
    });
    let pid = pty.app_pid_under_shell();
    signal(pid, sig);
    let run = pty.finish_wrapped(EXIT);
    assert!(
        run.code == 128 + number,
        "unexpected exit code after SIG{sig}\n{}",
        run.describe()
    );
    run.assert_terminal_restored();
}

#[test]
fn sigint_from_outside_restores_terminal() {
    signal_from_outside_restores("INT", 2);
}

#[test]
fn sigterm_from_outside_restores_terminal() {
    signal_from_outside_restores("TERM", 15);
}

#[test]
fn sighup_from_outside_restores_terminal() {
    signal_from_outside_restores("HUP", 1);
}

#[test]
fn worker_panic_then_q_restores_terminal() {
    let mut pty = Pty::wrapped(&["--fault", "worker-panic", "--cpu-steps", "2000000"]);
    pty.wait_dashboard();
    pty.send(b"c");
    pty.wait_screen("the cpu worker failed", SHOW, |screen| {
        has_worker(screen, "cpu", "failed")
    });
    pty.send(b"q");
    let run = pty.finish_wrapped(EXIT);
    assert_eq!(run.code, 0, "{}", run.describe());
    run.assert_terminal_restored();
    assert!(
        !run.run_output.contains("panicked at"),
        "the worker's panic was printed to the terminal\n{}",
        run.describe()
    );
}

/// Starts the dashboard with a file worker mid-write and a seed demo, then
/// closes the terminal (every master fd: the pty hangs up under the
/// program, as when a terminal window is closed). Returns how the program
/// exited and how long after the hang-up, once it has checked that the
/// temp work dir is gone.
fn hang_up_terminal() -> (ExitStatus, Duration) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: ROWS,
            cols: COLS,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("open a pty");
    let spec = Spec::new(&["--file-mib", "4096"]).env("TMPDIR", tmp.path());
    let mut child = pair
        .slave
        .spawn_command(Pty::command(&spec))
        .expect("spawn in the pty");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().expect("pty reader");
    let mut writer = pair.master.take_writer().expect("pty writer");
    // Read until the dashboard is up, then stop reading (the reader's copy
    // of the master must close too for the hang-up to happen).
    let (tx, rx) = std::sync::mpsc::channel();
    let pump = thread::spawn(move || {
        let mut parser = vt100::Parser::new(nonzero(ROWS), nonzero(COLS), 0);
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        let up = |parser: &vt100::Parser| parser.screen().contents().contains(" Workers (");
        while !up(&parser) {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    parser.process(&buf[..n]);
                    raw.extend_from_slice(&buf[..n]);
                }
            }
        }
        let _ = tx.send(up(&parser));
        drop(reader);
        raw
    });
    let up = rx.recv_timeout(SHOW).unwrap_or(false);
    assert!(up, "the dashboard did not come up");
    // A file worker mid-write and a seed demo, so there is something to clean up.
    writer.write_all(b"ds").expect("type");
    writer.flush().expect("flush");
    let workdir_seen = {
        let deadline = Instant::now() + SHOW;
        loop {
            let dirs = entries(tmp.path());
            if let Some(dir) = dirs.iter().find(|d| d.starts_with("threadlab-")) {
                let dir = tmp.path().join(dir);
                if entries(&dir).iter().any(|f| f.ends_with(".part")) {
                    break dir;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no .part file appeared: {dirs:?}"
            );
            thread::sleep(Duration::from_millis(5));
        }
    };
    let raw = pump.join().expect("reader thread");
    drop(writer);
    drop(pair.master);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > EXIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "threadlab did not exit within {EXIT:?} of its terminal hanging up\n{}",
                String::from_utf8_lossy(&raw[raw.len().saturating_sub(500)..])
            );
        }
        thread::sleep(Duration::from_millis(1));
    };
    let took = start.elapsed();
    eprintln!("exited {took:?} after the hang-up: {status:?}");
    assert!(
        !workdir_seen.exists(),
        "the temp work dir {} was left behind",
        workdir_seen.display()
    );
    assert_eq!(
        entries(tmp.path()),
        Vec::<String>::new(),
        "TMPDIR not clean"
    );
    (status, took)
}

#[test]
fn closing_the_terminal_exits_and_cleans_up() {
    let (_, took) = hang_up_terminal();
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn closing_the_terminal_is_a_clean_exit() {
    let (status, _) = hang_up_terminal();
    // 0 (a quit), or 129 (128 + SIGHUP) if the program re-raises the signal.
    assert!(
        matches!(status.exit_code(), 0 | 129),
        "closing the terminal ended the program with {status:?} (101 is a panic)"
    );
}

#[test]
fn startup_errors_never_take_the_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").expect("write");
    let missing = dir.path().join("missing");
    let unwritable = Path::new("/sys/kernel");
    assert!(
        std::fs::File::create_new(unwritable.join("threadlab-probe")).is_err(),
        "test setup: {} is writable",
        unwritable.display()
    );
    for (workdir, says) in [
        (file.as_path(), "not a directory"),
        (missing.as_path(), "No such file"),
        (unwritable, "not writable"),
    ] {
        let path = workdir.to_string_lossy().into_owned();
        let mut pty = Pty::wrapped(&["--workdir", &path]);
        let run = pty.finish_wrapped(EXIT);
        let info = run.describe();
        assert_eq!(run.code, 2, "--workdir {path}\n{info}");
        assert!(
            find(&run.raw, ENTER_ALT).is_none(),
            "--workdir {path}: the alternate screen was entered before the error\n{info}"
        );
        run.assert_terminal_as_found();
        let message = run.run_output.trim();
        assert_eq!(message.lines().count(), 1, "--workdir {path}: {message:?}");
        assert!(
            message.contains("--workdir") && message.contains(&path) && message.contains(says),
            "--workdir {path}: {message:?}"
        );
        assert!(run.screen.contains(says), "not visible on screen\n{info}");
    }
    assert_eq!(
        std::fs::read(&file).expect("the file is kept"),
        b"not a directory"
    );
    assert!(!missing.exists(), "the missing workdir was created");
}

// ---------------------------------------------------------------------------
// 5. The disk fills up mid-write
// ---------------------------------------------------------------------------

/// Runs a file worker under a 1 MiB file size limit (`ulimit -f`, in 512-
/// or 1024-byte blocks depending on the shell) with `prefix` in the shell
/// first; the worker's 8 MiB file cannot fit.
fn file_worker_over_the_size_limit(prefix: &str) {
    let work = tempfile::tempdir().expect("work dir");
    let workdir = work.path().to_string_lossy().into_owned();
    let mut pty =
        Pty::start(Spec::new(&["--workdir", &workdir, "--file-mib", "8"]).wrapped(prefix));
    pty.wait_dashboard();
    pty.send(b"d");
    pty.wait_screen("the file worker failed", SHOW, |screen| {
        has_worker(screen, "file", "failed") && header_count(screen, "failed") == Some(1)
    });
    pty.wait_for("File too large", SHOW);
    assert_eq!(
        entries(work.path()),
        Vec::<String>::new(),
        "a .part file was left"
    );
    // The dashboard lives on.
    pty.send(b"s");
    pty.wait_screen(
        "a seed demo beside the failed file worker",
        SHOW,
        |screen| has_worker(screen, "sleep", ""),
    );
    pty.send(b"q");
    let run = pty.finish_wrapped(EXIT);
    assert_eq!(run.code, 0, "{}", run.describe());
    run.assert_terminal_restored();
    assert_eq!(
        entries(work.path()),
        Vec::<String>::new(),
        "--workdir not clean"
    );
}

#[test]
fn full_disk_fails_the_file_worker_and_nothing_else() {
    // SIGXFSZ ignored (as a shell or service manager may leave it): writes
    // past the limit fail with EFBIG, the way a full disk fails with ENOSPC.
    file_worker_over_the_size_limit("ulimit -f 2048; trap '' XFSZ;");
}

#[test]
fn file_size_limit_signal_does_not_kill_the_dashboard() {
    file_worker_over_the_size_limit("ulimit -f 2048;");
}
