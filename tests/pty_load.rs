//! The real binary in a pseudo-terminal under load: quitting with 500
//! workers of every kind (within 1 s, nothing left behind), a thousand spawn
//! keys at once, ten thousand random keys and a hundred resizes, bursts of
//! keys and resize round trips. The harness is `tests/common/pty.rs`; waits
//! are on conditions over the parsed screen, never fixed sleeps.
//!
//! All network traffic is to 127.0.0.1.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::pty::{
    COLS, EXIT, HIDE_CURSOR, Pty, ROWS, SHOW, Spec, children_of, has_worker, header_count, signal,
    worker_lines,
};
use common::{entries, heavy};
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
    let logs = tempfile::tempdir().expect("log dir");
    let log = logs.path().join("threadlab.log");
    let workdir = work.path().to_string_lossy().into_owned();
    let log_arg = log.to_string_lossy().into_owned();
    let spec = Spec::new(&[
        "--log",
        &log_arg,
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
    .env("TMPDIR", tmp.path())
    .env("THREADLAB_LOG", "info");
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
    // Where the exit's time went: the app logs each step of it.
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let steps: Vec<&str> = common::exit_steps::step_lines(&log_text).collect();
    eprintln!("the exit's steps:\n{}", steps.join("\n"));
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
    // cores. Only a hang fails here; the time is reported (and bounded
    // more tightly in the two tests below).
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
    // The promise is 1 s (printed above, with the exit's steps); 5 s only
    // catches a hang: 125 file workers' direct writes in flight must reach
    // a disk that other writers may keep busy before the process can end.
    assert!(took < Duration::from_secs(5), "q to exit took {took:?}");
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
    // The storm toggles `u` (UI under the GIL) again and again; with the
    // modelled 12 ms of Python per key, 10,000 keys would take minutes to
    // work through, by design. This test is about surviving the storm, so
    // the UI under the GIL costs only what the Rust UI costs.
    // Random keys include `w`: its timeline exports go into a temp dir
    // removed with the test, never into the working directory.
    let exports = tempfile::tempdir().expect("a temp dir for exports");
    let export = exports.path().join("gil.json");
    let export = export.to_str().expect("a UTF-8 temp path");
    let mut pty = Pty::wrapped(&["--ui-python-ms", "0", "--export", export]);
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
