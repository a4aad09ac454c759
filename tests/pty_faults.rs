//! The fault matrix for the real binary in a pseudo-terminal: signals from
//! outside, a terminal that hangs up, start-up errors, quitting under load,
//! a flood of keys and resizes, and a disk that fills up mid-write.
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

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::pty::{
    COLS, ENTER_ALT, EXIT, HIDE_CURSOR, Pty, ROWS, SHOW, Spec, children_of, find, has_worker,
    header_count, nonzero, signal, worker_lines,
};
use common::{entries, heavy};
use portable_pty::{ExitStatus, PtySize, native_pty_system};
use threadlab::server::Server;

// ---------------------------------------------------------------------------
// Reading the process and the dashboard
// ---------------------------------------------------------------------------

/// A field of `/proc/PID/status` (`VmRSS:`, `VmHWM:` in KiB, `Threads:`).
fn proc_status(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

const WORKER_KINDS: [&str; 4] = ["fetch", "file", "cpu", "sleep"];

/// How many worker threads of each kind `pid` has, by thread name
/// (`KIND-ID`; a seed demo's second thread, `sleep-ID-t`, is not counted).
fn worker_threads(pid: u32) -> HashMap<String, u64> {
    let mut census = HashMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return census;
    };
    for task in tasks.filter_map(Result::ok) {
        let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) else {
            continue;
        };
        let comm = comm.trim();
        if let Some((kind, id)) = comm.split_once('-')
            && WORKER_KINDS.contains(&kind)
            && id.bytes().all(|b| b.is_ascii_digit())
        {
            *census.entry(kind.to_string()).or_insert(0) += 1;
        }
    }
    census
}

fn help_shown(screen: &str) -> bool {
    screen.contains("Help · keys") && screen.contains("cancel all workers")
}

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
// 3. Quit under load
// ---------------------------------------------------------------------------

/// Waits until `pid` runs `want` worker threads of each kind in `kinds`.
fn wait_worker_threads(pty: &Pty, pid: u32, kinds: &[&str], want: u64) -> HashMap<String, u64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let census = worker_threads(pid);
        if kinds.iter().all(|kind| census.get(*kind) == Some(&want)) {
            return census;
        }
        assert!(
            Instant::now() < deadline,
            "never {want} workers of each of {kinds:?} at once: {census:?}\n{}",
            pty.dump()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Starts 125 workers of each kind in `mode` (fetches stream slowly from a
/// server in this process, files are 1 GiB, cpu workers endless), presses
/// q the moment all 500 run, and checks that nothing is left behind: the
/// process, the `--workdir`, `TMPDIR`, the fetches' sockets (seen from the
/// server's side). Returns the time from q to the process's exit.
fn quit_under_load(mode: &str) -> Duration {
    let server = Server::start_loopback().expect("server");
    let url = server.url("/bytes/1073741824?rate=100000");
    let work = tempfile::tempdir().expect("work dir");
    let tmp = tempfile::tempdir().expect("TMPDIR");
    let workdir = work.path().to_string_lossy().into_owned();
    let spec = Spec::new(&[
        "--mode",
        mode,
        "--workdir",
        &workdir,
        "--file-mib",
        "1024",
        "--cpu-steps",
        "100000000000",
        "--url",
        &url,
    ])
    .env("TMPDIR", tmp.path());
    let mut pty = Pty::start(spec);
    pty.wait_dashboard();
    let pid = pty.pid();
    // The long-lived kinds first; then the seed demos, which live 5 s, so
    // all 500 are surely alive at once. Workers are counted by their
    // threads' names: under load the screen lags behind.
    let start = Instant::now();
    pty.send(&b"fdc".repeat(125));
    wait_worker_threads(&pty, pid, &["fetch", "file", "cpu"], 125);
    let seeds = Instant::now();
    pty.send(&b"s".repeat(125));
    let census = wait_worker_threads(&pty, pid, &WORKER_KINDS, 125);
    let seeds_up = seeds.elapsed();
    let threads = proc_status(pid, "Threads:").unwrap_or(0);
    let rss = proc_status(pid, "VmRSS:").unwrap_or(0);
    let hwm = proc_status(pid, "VmHWM:").unwrap_or(0);
    let children = children_of(pid);
    let connections = server.open_connections();
    assert!(threads > 500, "500 workers but only {threads} threads");
    assert!(
        children.is_empty(),
        "threadlab has child processes: {children:?}"
    );

    let quit = Instant::now();
    pty.send(b"q");
    let status = pty.wait_exit(Duration::from_secs(30));
    let took = quit.elapsed();
    eprintln!(
        "quit under load ({mode}): 500 workers up {:?} after the keys (the seed demos in \
         {seeds_up:?}; {census:?}), {threads} \
         threads, {connections} fetch connections, {} MiB RSS (peak {} MiB): q to exit {:.0} ms",
        start.elapsed() - took,
        rss / 1024,
        hwm / 1024,
        took.as_secs_f64() * 1e3,
    );
    assert!(status.success(), "exit status {status:?}\n{}", pty.dump());
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the process is still there"
    );
    assert_eq!(
        entries(work.path()),
        Vec::<String>::new(),
        "--workdir not clean"
    );
    assert_eq!(
        entries(tmp.path()),
        Vec::<String>::new(),
        "TMPDIR not clean"
    );
    // Every download's socket was closed: the server's connection threads end.
    let deadline = Instant::now() + EXIT;
    while server.open_connections() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} connections still open after exit",
            server.open_connections()
        );
        thread::sleep(Duration::from_millis(5));
    }
    took
}

#[test]
fn quit_under_load_of_500_workers_leaves_nothing_behind() {
    let _turn = heavy();
    // Free threads: 250 CPU-bound threads (cpu and file) on the machine's
    // cores. Only a hang fails here; the time is reported (and bounded by
    // the 1 s promise in the two tests below).
    let took = quit_under_load("free");
    assert!(took < Duration::from_secs(20), "q to exit took {took:?}");
}

#[test]
fn quit_under_load_of_500_workers_under_the_gil_is_prompt() {
    let _turn = heavy();
    let took = quit_under_load("gil");
    // The promise is 1 s; 3 s only catches a hang on a slow, busy machine.
    assert!(took < Duration::from_secs(3), "q to exit took {took:?}");
}

#[test]
fn quit_under_load_of_500_free_workers_is_prompt() {
    let _turn = heavy();
    let took = quit_under_load("free");
    // The promise is 1 s, with half a second for a busy machine.
    assert!(
        took < Duration::from_millis(1500),
        "q to exit took {took:?}"
    );
}

#[test]
fn quit_removes_the_default_temp_workdir() {
    let tmp = tempfile::tempdir().expect("TMPDIR");
    let mut pty = Pty::start(
        Spec::new(&["--file-mib", "4096", "--cpu-steps", "100000000000"]).env("TMPDIR", tmp.path()),
    );
    pty.wait_dashboard();
    pty.send(b"dddcs");
    pty.wait_screen("5 running workers", SHOW, |screen| {
        header_count(screen, "running") == Some(5)
    });
    let dirs = entries(tmp.path());
    assert!(
        dirs.len() == 1 && dirs[0].starts_with("threadlab-"),
        "expected one threadlab-* dir in TMPDIR, got {dirs:?}"
    );
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "{status:?}\n{}", pty.dump());
    assert_eq!(
        entries(tmp.path()),
        Vec::<String>::new(),
        "TMPDIR not clean"
    );
}

// ---------------------------------------------------------------------------
// 6. Load: 1,000 spawn keys at once
// ---------------------------------------------------------------------------

#[test]
fn a_thousand_spawn_keys_at_once() {
    let _turn = heavy();
    let tmp = tempfile::tempdir().expect("TMPDIR");
    let mut pty = Pty::start(Spec::new(&[] as &[&str]).env("TMPDIR", tmp.path()));
    pty.wait_dashboard();
    let pid = pty.pid();
    let start = Instant::now();
    pty.send(&b"s".repeat(1000));
    let sent_in = start.elapsed();
    // Either all of them run (and the seed demos end after ~5 s), or a
    // documented cap refuses some with a visible message.
    let capped = |screen: &str| {
        let lower = screen.to_lowercase();
        lower.contains("most allowed")
            || lower.contains("max_workers")
            || lower.contains("too many")
    };
    let mut peak_threads = 0;
    let mut peak_running = 0;
    pty.wait_screen(
        "every seed demo accounted for",
        Duration::from_secs(120),
        |screen| {
            peak_threads = peak_threads.max(proc_status(pid, "Threads:").unwrap_or(0));
            let count = |label| header_count(screen, label).unwrap_or(0);
            peak_running = peak_running.max(count("running"));
            let ended = count("done") + count("failed") + count("cancelled");
            count("running") == 0 && (ended == 1000 || (ended > 0 && capped(screen)))
        },
    );
    let screen = pty.screen();
    let done = header_count(&screen, "done").unwrap_or(0);
    let failed = header_count(&screen, "failed").unwrap_or(0);
    let hwm = proc_status(pid, "VmHWM:").unwrap_or(0);
    let rss = proc_status(pid, "VmRSS:").unwrap_or(0);
    eprintln!(
        "1000 spawn keys: written in {sent_in:?}; all ended after {:?}; done {done}, failed \
         {failed}, peak running seen {peak_running}, peak threads seen {peak_threads}; \
         VmHWM {} MiB, VmRSS after {} MiB",
        start.elapsed(),
        hwm / 1024,
        rss / 1024
    );
    assert_eq!(failed, 0, "seed demos failed\n{}", pty.dump());
    assert!(
        done == 1000 || capped(&screen),
        "neither all ran nor a cap was shown\n{}",
        pty.dump()
    );
    // Memory stays bounded: 1,000 workers (2,000 threads) in far less than 1 GiB.
    assert!(hwm < 1024 * 1024, "peak RSS {hwm} KiB");
    // The UI still answers.
    pty.send(b"?");
    pty.wait_screen("the help overlay", SHOW, help_shown);
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "{status:?}\n{}", pty.dump());
    assert_eq!(
        entries(tmp.path()),
        Vec::<String>::new(),
        "TMPDIR not clean"
    );
}

// ---------------------------------------------------------------------------
// 7. Bad input: 10,000 random keys and 100 resizes
// ---------------------------------------------------------------------------

/// A small seeded PRNG (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        // The remainder is below n, so the cast is lossless.
        (self.next() % n as u64) as usize
    }
}

/// Keys a user could type, except the ones that quit (q, Q, Ctrl-C), the
/// fault key (!), the spawn keys (f, d, c, s) and the experiment key (e),
/// which would only load the machine.
fn random_key(rng: &mut Rng) -> &'static [u8] {
    const SPECIAL: &[&[u8]] = &[
        b"\x1b[A",
        b"\x1b[B",
        b"\x1b[C",
        b"\x1b[D",
        b"\x1b[H",
        b"\x1b[F",
        b"\x1b[5~",
        b"\x1b[6~",
        b"\x1b[2~",
        b"\x1b[3~",
        b"\x1bOP",
        b"\x1bOQ",
        b"\x1b[15~",
        b"\x1b",
        b"\r",
        b"\t",
        b"\x7f",
        b"\x1b[Z",
        "é".as_bytes(),
        "█".as_bytes(),
        "😀".as_bytes(),
        b"\x1b[1;5A",
        b"\x1b[<0;5;5M",
    ];
    const PLAIN: &[u8] =
        b"abghijklmnoprtuvwxyzABCDEFGHIJKLMNOPRSTUVWXYZ0123456789 []+-=?/.,;:'\"<>(){}|\\_`~@#$%^&*";
    static PLAIN_KEYS: std::sync::OnceLock<Vec<[u8; 1]>> = std::sync::OnceLock::new();
    let plain = PLAIN_KEYS.get_or_init(|| PLAIN.iter().map(|&b| [b]).collect());
    if rng.below(5) == 0 {
        SPECIAL[rng.below(SPECIAL.len())]
    } else {
        &plain[rng.below(plain.len())]
    }
}

#[test]
fn ten_thousand_random_keys_and_a_hundred_resizes() {
    let _turn = heavy();
    let mut pty = Pty::wrapped(&[]);
    pty.wait_dashboard();
    // Something in the table: two seed demos (calm: they mostly sleep).
    pty.send(b"ss");
    pty.wait_screen("two workers", SHOW, |screen| {
        worker_lines(screen).len() == 2
    });
    let seed = 0x7EAD_1AB5_u64;
    let mut rng = Rng(seed);
    let start = Instant::now();
    let mut lone_esc = false;
    for round in 0..100 {
        let mut burst = Vec::new();
        for _ in 0..100 {
            let mut key = random_key(&mut rng);
            // A lone Esc then `[` or `O` would start an escape sequence that
            // only some later byte ends (the terminal input parser holds it
            // until then): every sequence sent is a complete one.
            while lone_esc && matches!(key.first(), Some(b'[' | b'O')) {
                key = random_key(&mut rng);
            }
            lone_esc = key == b"\x1b";
            burst.extend_from_slice(key);
        }
        pty.send(&burst);
        // Down to 1×1 (every tenth round) and up to 300×100.
        let (rows, cols) = if round % 10 == 0 {
            (1, 1)
        } else {
            (
                1 + u16::try_from(rng.below(100)).unwrap_or(0),
                1 + u16::try_from(rng.below(300)).unwrap_or(0),
            )
        };
        pty.resize(rows, cols);
    }
    let sent_in = start.elapsed();
    eprintln!("10,000 keys (seed {seed:#x}) and 100 resizes written in {sent_in:?}");
    // Too small to draw: a notice, not a panic. The notice names the size,
    // so this is a frame drawn after the storm.
    pty.resize(10, 50);
    pty.wait_screen("the too-small notice at 50×10", SHOW, |screen| {
        screen.contains("too small: 50×10")
    });
    // Back to a full size: the whole dashboard again. (Straight back from
    // a size the program never drew at, it may not redraw everything: see
    // a_resize_round_trip_redraws_the_whole_screen.)
    pty.resize(ROWS, COLS);
    // The whole frame: it may arrive in several reads, and ratatui ends each
    // frame by hiding the cursor.
    pty.wait_until("the dashboard back at 120×40", SHOW, |out| {
        let screen = out.screen();
        let lines: Vec<&str> = screen.lines().collect();
        lines.first().is_some_and(|h| h.starts_with(" threadlab"))
            && lines.get(1).is_some_and(|l| l.starts_with("┌ Workers ("))
            && !screen.contains("too small")
            && out.raw.ends_with(HIDE_CURSOR)
    });
    let raw = String::from_utf8_lossy(&pty.raw()).into_owned();
    assert!(
        !raw.contains("panicked"),
        "a panic was printed\n{}",
        pty.dump()
    );
    // Quit by signal: keys typed now may wait behind unread storm bytes
    // (see a_burst_of_keys_is_read_without_waiting_for_the_next_key).
    signal(pty.app_pid_under_shell(), "TERM");
    let run = pty.finish_wrapped(EXIT);
    assert!(run.code == 0 || run.code == 143, "{}", run.describe());
    run.assert_terminal_restored();
}

#[test]
fn a_burst_of_keys_is_read_without_waiting_for_the_next_key() {
    let mut pty = Pty::app_args(&[]);
    pty.wait_dashboard();
    // 8 KiB of keys that do nothing, then `?`, in one write: a paste, or
    // keys typed while the program was busy.
    let mut burst = vec![b'z'; 8 << 10];
    burst.push(b'?');
    pty.send(&burst);
    pty.wait_screen("the help overlay after the burst", SHOW, help_shown);
    pty.send(b"q");
    let status = pty.wait_exit(EXIT);
    assert!(status.success(), "{status:?}\n{}", pty.dump());
}

#[test]
fn a_resize_round_trip_redraws_the_whole_screen() {
    let mut pty = Pty::wrapped(&[]);
    pty.wait_dashboard();
    pty.send(b"s");
    pty.wait_screen("a sleep row", SHOW, |screen| {
        has_worker(screen, "sleep", "")
    });
    for (rows, cols) in [(20, 60), (1, 1), (39, 119)] {
        // Smaller and straight back, faster than a frame: the terminal lost
        // what was outside the smaller size; the program sees no change of size.
        pty.resize(rows, cols);
        pty.resize(ROWS, COLS);
        pty.wait_screen(
            &format!("the whole dashboard after a round trip to {cols}×{rows}"),
            SHOW,
            |screen| {
                let lines: Vec<&str> = screen.lines().collect();
                lines.first().is_some_and(|h| h.starts_with(" threadlab"))
                    && lines.get(1).is_some_and(|l| l.starts_with("┌ Workers ("))
                    && lines.last().is_some_and(|l| l.contains("quit"))
            },
        );
    }
    pty.send(b"q");
    let run = pty.finish_wrapped(EXIT);
    assert_eq!(run.code, 0, "{}", run.describe());
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
