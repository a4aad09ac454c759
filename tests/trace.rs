//! `threadlab trace` and `attach` against real CPython interpreters: the
//! behaviours the probes must show (CPU threads taking turns, I/O threads
//! releasing, the convoy, native code without the GIL), privilege dropping
//! under sudo, and the clear refusals.
//!
//! Needs root and the kernel's uprobe PMU; pyenv's interpreters under
//! `$(pyenv root)/versions` (or `/root/.pyenv/versions`). Without them each
//! test says why and returns. Tests take turns (one lock) so their numbers
//! do not disturb each other on a small machine; bounds are generous: these
//! are behaviours, not timings.

#[path = "trace_support/mod.rs"]
#[macro_use]
mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::*;

/// Two CPU-bound threads at `interval_s`: they take turns, each holding
/// about half the time in slices of about one interval.
fn check_cpu_threads_take_turns(python: &Path, interval_s: &str, interval_ms: f64) {
    let summary = trace_json(python, &[], "trace_cpu.py", &["0.4", interval_s]);
    // Probed, not sampled: every figure is exact, and says so.
    assert_eq!(summary["mode"], "exact", "{summary}");
    assert!(summary["rate_hz"].is_null(), "{summary}");
    assert!(summary["sampled_because"].is_null(), "{summary}");
    let cpu = workers(&summary);
    assert_eq!(cpu.len(), 2, "two CPU threads: {summary}");
    for thread in &cpu {
        // About half each; on a loaded machine a thread that was made to
        // drop the GIL may wait for a CPU before it even asks again, so the
        // bounds are wide: what matters is that they share it.
        let hold = num(thread, "hold_pct");
        assert!((25.0..=75.0).contains(&hold), "hold {hold}% in {thread}");
        // A waiter asks for the GIL after one interval, so waits end about
        // then; holds last about as long, more when the machine is busy
        // and the waiter is not on a CPU to time out.
        let wait = num(thread, "wait_ms_p50");
        assert!(
            wait >= interval_ms * 0.5 && wait <= interval_ms * 2.0 + 3.0,
            "wait p50 {wait} ms at a {interval_ms} ms interval: {thread}"
        );
        let p50 = num(thread, "hold_ms_p50");
        assert!(
            p50 >= interval_ms * 0.5 && p50 <= interval_ms * 4.0 + 10.0,
            "hold p50 {p50} ms at a {interval_ms} ms interval: {thread}"
        );
        assert!(num(thread, "takes") >= 5.0, "{thread}");
    }
    let (a, b) = (num(cpu[0], "hold_pct"), num(cpu[1], "hold_pct"));
    assert!((a - b).abs() < 35.0, "they share the GIL: {a}% and {b}%");
    eprintln!(
        "{} at {interval_ms} ms: hold p50 {} / {} ms, wait p50 {} / {} ms, gil_load {}",
        summary["python"]["version"],
        cpu[0]["hold_ms_p50"],
        cpu[1]["hold_ms_p50"],
        cpu[0]["wait_ms_p50"],
        cpu[1]["wait_ms_p50"],
        summary["gil_load"]
    );
    // While both run, someone always holds it: the load over the whole run
    // (startup included, which holds it too) stays high.
    assert!(num(&summary, "gil_load") > 0.6, "{summary}");
    assert_eq!(
        summary["python"]["version"].as_str().map(|v| v.len() > 3),
        Some(true)
    );
}

#[test]
fn cpu_threads_take_turns_on_3_11_at_the_default_interval() {
    require_tracing!();
    let python = python_or_skip!("3.11");
    let _turn = turn();
    check_cpu_threads_take_turns(&python, "0.005", 5.0);
}

/// Debian's `/usr/bin/python3.11` (3.11.2, stripped, static): its
/// `take_gil`/`drop_gil` found by disassembly of the exported C API (or
/// its debug file, if `python3.11-dbg` is installed), traced exactly like
/// pyenv's builds. Debian inlined `drop_gil` into `PyEval_SaveThread`, so
/// that function's entry is probed too: without it a thread blocked in
/// `join` looked like it held the GIL and the load passed 100 %.
#[test]
fn debians_stripped_python3_11_is_traced_exactly() {
    require_tracing!();
    let python = Path::new("/usr/bin/python3.11");
    if !python.is_file() {
        skip("no /usr/bin/python3.11 (Debian's python3.11-minimal)");
        return;
    }
    let _turn = turn();
    let summary = trace_json(python, &[], "trace_cpu.py", &["0.4", "0.005"]);
    let symbols = summary["symbols"].as_str().expect("symbols named");
    let other_ways = std::env::var_os("DEBUGINFOD_URLS").is_some()
        || Path::new("/usr/lib/debug/.build-id").is_dir();
    if other_ways {
        assert_ne!(symbols, "symtab", "{summary}");
    } else {
        assert_eq!(symbols, "disassembly", "{summary}");
    }
    // Nobody holds the GIL twice over: every release is seen.
    assert!(num(&summary, "gil_load") <= 1.0, "{summary}");
    check_cpu_threads_take_turns(python, "0.005", 5.0);
}

#[test]
fn cpu_threads_take_turns_on_3_13_or_3_12_at_1_ms() {
    require_tracing!();
    let python = python_or_skip!("3.13", "3.12");
    let _turn = turn();
    check_cpu_threads_take_turns(&python, "0.001", 1.0);
}

#[test]
fn sleeping_and_socket_threads_leave_the_gil_free_through_the_pyenv_shim() {
    require_tracing!();
    let Ok(shim) = which("python3") else {
        threadlab_test_support::skip::skip("no python3 on PATH");
        return;
    };
    let _turn = turn();
    // -S: no site import, so the interpreter's start (which holds the GIL
    // throughout) is short beside the second of I/O.
    let summary = trace_json(&shim, &["-S"], "trace_io.py", &["1.2"]);
    // The shim is a script; what was traced is the interpreter it exec'd.
    let exe = summary["python"]["executable"]
        .as_str()
        .expect("executable");
    assert!(exe.contains("python3"), "{summary}");
    assert_ne!(
        Path::new(exe),
        shim,
        "followed the launcher's exec: {summary}"
    );
    let io = workers(&summary);
    assert_eq!(io.len(), 4, "{summary}");
    for thread in io {
        assert!(num(thread, "released_pct") > 80.0, "{thread}");
    }
    assert!(num(&summary, "gil_load") < 0.2, "{summary}");
}

#[test]
fn an_io_thread_beside_a_cpu_thread_waits_about_an_interval_for_the_gil() {
    require_tracing!();
    let python = python_or_skip!("3.11", "3.12");
    let _turn = turn();
    let summary = trace_json(&python, &[], "trace_convoy.py", &["0.4"]);
    let threads = workers(&summary);
    assert_eq!(threads.len(), 2, "{summary}");
    // The I/O thread takes the GIL many times (two socket calls per round trip).
    let io = threads
        .iter()
        .max_by(|a, b| num(a, "takes").total_cmp(&num(b, "takes")))
        .expect("an I/O thread");
    eprintln!("convoy: {io}");
    assert!(num(io, "takes") > 50.0, "{io}");
    // Convoy: whenever it blocked, the CPU thread took the GIL, and getting
    // it back took a forced switch — about one 5 ms interval.
    let max = num(io, "wait_ms_max");
    assert!((2.5..=200.0).contains(&max), "longest wait {max} ms: {io}");
    assert!(num(io, "wait_pct") > 15.0, "{io}");
}

#[test]
fn hashing_with_hashlib_shows_as_native_code_without_the_gil() {
    require_tracing!();
    let python = python_or_skip!("3.11", "3.12", "3.13");
    let _turn = turn();
    let script_path = script("trace_hash.py");
    let done = run(trace_cmd(
        &["--json"],
        &[
            python.to_str().expect("utf-8"),
            script_path.to_str().expect("utf-8"),
            // Long enough (~0.6 s) that the first and last sampling periods,
            // whose CPU time schedstat books late, weigh little.
            "128",
        ],
    ));
    assert!(done.status.success(), "{}", done.stderr);
    let summary: Value = serde_json::from_str(&done.stdout).expect("one JSON document");
    let hasher = workers(&summary);
    assert_eq!(hasher.len(), 1, "{summary}");
    assert!(num(hasher[0], "hold_pct") < 30.0, "{summary}");
    // Native whenever it is on a CPU, and only then: its native share is
    // its own CPU share, however busy the machine (the program's output,
    // on threadlab's stderr with --json, says what that was).
    let on_cpu: f64 = done
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("hasher_cpu_pct ")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("the hasher's CPU share: {}", done.stderr));
    let native = num(hasher[0], "native_pct");
    eprintln!("native {native} %, on a CPU {on_cpu} %");
    assert!(native > 5.0, "{summary}");
    assert!(
        (native - on_cpu).abs() < 20.0,
        "native {native} % against {on_cpu} % on a CPU: {summary}"
    );
}

#[test]
fn export_writes_chrome_trace_json_with_one_track_per_thread() {
    require_tracing!();
    let python = python_or_skip!("3.11", "3.12", "3.13");
    let _turn = turn();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("gil.json");
    let script_path = script("trace_cpu.py");
    let done = run(trace_cmd(
        &["--export", file.to_str().expect("utf-8")],
        &[
            python.to_str().expect("utf-8"),
            script_path.to_str().expect("utf-8"),
            "0.2",
        ],
    ));
    assert!(done.status.success(), "{}", done.stderr);
    assert!(
        done.stdout.contains("real GIL"),
        "human table: {}",
        done.stdout
    );
    let trace: Value = serde_json::from_slice(&std::fs::read(&file).expect("export written"))
        .expect("export is JSON");
    let events = trace["traceEvents"].as_array().expect("traceEvents");
    let holders: std::collections::HashSet<_> = events
        .iter()
        .filter(|e| e["name"] == "holds GIL")
        .map(|e| e["tid"].as_u64())
        .collect();
    assert!(
        holders.len() >= 3,
        "main + two CPU threads hold it: {holders:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["name"] == "waits for GIL" && e["dur"].as_f64() > Some(1000.0))
    );
    assert!(events.iter().any(|e| e["name"] == "thread_name"));
}

/// Under `sudo`, what threadlab writes for the person (the export, the
/// flame graphs and a directory it made for them) is theirs, not root's:
/// before, they could not edit or delete it without sudo again. A file
/// that was already there keeps its owner.
#[test]
fn under_sudo_the_export_and_flame_graphs_belong_to_the_invoking_user() {
    use std::os::unix::fs::MetadataExt as _;
    require_tracing!();
    let python = python_or_skip!("3.11", "3.12", "3.13");
    let _turn = turn();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("gil.json");
    let flames = dir.path().join("flames");
    let script_path = script("trace_cpu.py");
    // --as-root: the program may read pyenv under /root; the outputs are
    // still the invoking user's.
    let traced = |flags: &[&str]| {
        let mut all = vec!["--as-root"];
        all.extend_from_slice(flags);
        let mut command = trace_cmd(
            &all,
            &[
                python.to_str().expect("utf-8"),
                script_path.to_str().expect("utf-8"),
                "0.2",
            ],
        );
        command.env("SUDO_UID", "65534").env("SUDO_GID", "65534");
        let done = run(command);
        assert!(done.status.success(), "{}", done.stderr);
    };
    // A file that was there keeps its owner (root's here): an export over
    // it must not hand it to the user.
    let kept = dir.path().join("kept.json");
    std::fs::write(&kept, "").expect("a root-owned file");
    traced(&["--export", kept.to_str().expect("utf-8")]);
    let meta = std::fs::metadata(&kept).expect("written");
    assert_eq!((meta.uid(), meta.gid()), (0, 0), "kept.json stays root's");
    traced(&[
        "--export",
        file.to_str().expect("utf-8"),
        "--flamegraph",
        flames.to_str().expect("utf-8"),
    ]);
    let mut outputs = vec![file, flames.clone()];
    outputs.extend(
        threadlab::trace::flame::FILES
            .iter()
            .map(|f| flames.join(f)),
    );
    for path in outputs {
        let meta = std::fs::metadata(&path).expect("written");
        assert_eq!(
            (meta.uid(), meta.gid()),
            (65534, 65534),
            "{} is the invoking user's",
            path.display()
        );
    }
}

#[test]
fn under_sudo_the_program_runs_as_the_invoking_user() {
    require_tracing!();
    let python = python_or_skip!("3.11", "3.12", "3.13");
    let can_unshare = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !can_unshare {
        threadlab_test_support::skip::skip(
            "cannot make a private mount namespace (unshare --mount needs root)",
        );
        return;
    }
    let _turn = turn();
    // uid 65534 cannot reach /root (mode 700), where pyenv lives here: in a
    // private mount namespace, lay a world-readable /root over it that
    // holds only .pyenv. The namespace dies with the command.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let copy = dir.path().join("trace_uid.py");
    std::fs::copy(script("trace_uid.py"), &copy).expect("copy script");
    let pyenv_root = python
        .ancestors()
        .nth(4)
        .expect("ROOT/versions/X/bin/python")
        .to_path_buf();
    let hide_root = pyenv_root.starts_with("/root");
    let saved = dir.path().join("pyenv");
    std::fs::create_dir(&saved).expect("mkdir");
    let setup = if hide_root {
        format!(
            "mount --bind {root} {saved} && mount -t tmpfs -o mode=755 tmpfs /root && mkdir -p {root} && mount --bind {saved} {root} && ",
            root = pyenv_root.display(),
            saved = saved.display()
        )
    } else {
        String::new()
    };
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "{setup}exec {BIN} trace --json -- {} {}",
            python.display(),
            copy.display()
        ))
        .env("SUDO_UID", "65534")
        .env("SUDO_GID", "65534");
    let done = run(command);
    assert!(done.status.success(), "{}", done.stderr);
    assert!(
        done.stderr.contains("uid=65534 gid=65534"),
        "the program's output (on stderr with --json): {}",
        done.stderr
    );
    // --as-root keeps root.
    let done = run(trace_cmd(
        &["--json", "--as-root"],
        &[
            python.to_str().expect("utf-8"),
            copy.to_str().expect("utf-8"),
        ],
    ));
    assert!(done.stderr.contains("uid=0 gid=0"), "{}", done.stderr);
}

/// One line on stderr, exit code 2, nothing on stdout.
fn assert_refused(done: &Run, needle: &str) {
    assert_eq!(done.status.code(), Some(2), "{}", done.stderr);
    assert_eq!(done.stderr.lines().count(), 1, "one line: {}", done.stderr);
    assert!(
        done.stderr.contains(needle),
        "{needle:?} in {}",
        done.stderr
    );
    assert!(done.stdout.is_empty(), "{}", done.stdout);
}

#[test]
fn untraceable_interpreters_and_processes_are_refused_in_one_line() {
    require_tracing!();
    let _turn = turn();
    // Python 2 and stripped builds whose take_gil no way finds are traced
    // sampled instead: tests/trace_sampled.rs, tests/trace_refusals.rs.
    let mut sleeper = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let done = run({
        let mut c = Command::new(BIN);
        c.args(["attach", &sleeper.id().to_string()]);
        c
    });
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_refused(&done, "is not a Python process");
    let vanished = sleeper.id();
    let done = run({
        let mut c = Command::new(BIN);
        c.args(["attach", &vanished.to_string()]);
        c
    });
    assert_refused(&done, "no process");
    let done = run(trace_cmd(&[], &["/bin/true"]));
    assert_refused(&done, "without running a Python interpreter");
}

#[test]
fn without_root_a_program_that_never_runs_python_is_named_as_such() {
    // Root is asked for once the program is a Python with a GIL (a
    // free-threaded one needs none): see tests/trace_refusals.rs, where a
    // stand-in interpreter gets the "run it with sudo" line as nobody.
    require_tracing!();
    if which("setpriv").is_err() {
        threadlab_test_support::skip::skip("no setpriv (util-linux) to run as another user");
        return;
    }
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
        .args(["trace", "--", "/bin/true"]);
    let done = run(command);
    assert_refused(&done, "without running a Python interpreter");
}

/// A program that loads another copy of libpython than the one its search
/// path names (here through `LD_PRELOAD`, whose soname satisfies the
/// `DT_NEEDED`): probes on the found one would never fire, so the trace is
/// refused in one line, exit code 2, before any Python ran, the program
/// killed and no probe left.
#[test]
fn a_program_that_maps_another_libpython_is_refused_before_python_runs() {
    require_tracing!();
    let python = python_or_skip!("3.11", "3.12", "3.13");
    let _turn = turn();
    let sentinel = threadlab_test_support::probes::Sentinel::start(&python);
    let dir = std::env::temp_dir().join(format!("threadlab-otherlib-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let name = sentinel.probed_file.file_name().expect("a libpython");
    let copy = dir.join(name);
    std::fs::copy(&sentinel.probed_file, &copy).expect("copy libpython");
    let marker = dir.join("python-ran");
    let code = format!("open({:?}, 'w').close()", marker.to_str().expect("utf-8"));
    let preload = format!("LD_PRELOAD={}", copy.display());
    let done = run(trace_cmd(
        &["--json"],
        &[
            "env",
            &preload,
            python.to_str().expect("utf-8"),
            "-c",
            &code,
        ],
    ));
    assert_eq!(done.status.code(), Some(2), "{}", done.stderr);
    let line = done.stderr.trim_end();
    assert!(!line.contains('\n'), "one line: {line}");
    assert!(
        line.contains(&copy.display().to_string()) && line.contains("not "),
        "names the library it loaded: {line}"
    );
    assert!(!marker.exists(), "no Python ran");
    sentinel.assert_no_probe_left("the refusal", std::time::Duration::from_secs(10));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Kills the process when the test ends, however it ends.
struct Busy(std::process::Child);

impl Drop for Busy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two pure-Python CPU threads on one CPU beside a busy process: a thread
/// that lost the GIL waits in `drop_gil` for the other to take it, and
/// once released it is runnable but often waiting for the CPU. None of
/// that is native code: both show ~0 % native (the `/proc` state sample
/// alone, where `R` also means waiting for a CPU, showed 4-14 %), and
/// almost nothing released (15-17 % before: the hand-over wait).
#[test]
fn starved_pure_python_threads_show_no_native_time() {
    require_tracing!();
    let python = python_or_skip!("3.11", "3.12", "3.13");
    let Ok(taskset) = which("taskset") else {
        skip("no taskset (util-linux) to pin the threads to one CPU");
        return;
    };
    let _turn = turn();
    // A CPU this test may run on: the first of its allowed list.
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let cpu: String = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list")
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let _busy = Busy(
        Command::new(&taskset)
            .args(["-c", &cpu])
            .arg(&python)
            .args(["-c", "while True: pass"])
            .spawn()
            .expect("a busy process"),
    );
    let script_path = script("trace_cpu.py");
    let done = run(trace_cmd(
        &["--json"],
        &[
            taskset.to_str().expect("utf-8"),
            "-c",
            &cpu,
            python.to_str().expect("utf-8"),
            script_path.to_str().expect("utf-8"),
            "1.0",
        ],
    ));
    assert!(done.status.success(), "{}", done.stderr);
    let summary: Value = serde_json::from_str(&done.stdout).expect("one JSON document");
    let cpu_threads = workers(&summary);
    assert_eq!(cpu_threads.len(), 2, "{summary}");
    for thread in cpu_threads {
        eprintln!("{thread}");
        assert!(num(thread, "takes") > 10.0, "they took turns: {thread}");
        assert!(num(thread, "native_pct") < 1.0, "{thread}");
        assert!(num(thread, "released_pct") < 3.0, "{thread}");
    }
}
