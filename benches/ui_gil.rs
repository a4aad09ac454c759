//! UI under the GIL, calibrated: real Python TUIs beside threadlab's
//! emulation of each (`--ui-python-ms table` and `light`).
//!
//! The real ones are `benches/python/textual_dashboard.py`, a Textual app (a
//! 30-row table refreshed ten times a second and a key counter; rows
//! `textual-3.12-N`, the `table` preset), and `textual_light.py` (one
//! `Static` of a few lines refreshed ten times a second, the counter its
//! first line; rows `textual-light-3.12-N`, the `light` preset), each with
//! 0 or 2 pure-Python CPU-bound threads, run by CPython 3.11 and 3.12 from pyenv
//! (`$(pyenv root)/versions/3.11.*`, `3.12.*`) in a private venv made under
//! a temp dir with `pip install textual`. A version that is missing, or
//! whose venv cannot be made, is skipped with one line. Each press types
//! `j` and ends when the pty reader has parsed "keys pressed N+1".
//!
//! The emulated one is threadlab with the UI under the GIL (`u`) and 0 or
//! 2 cpu workers in `--mode gil`, measured like `benches/latency.rs` (`?` /
//! Esc toggling the help overlay), with its default modelled Python cost per
//! key and per refresh (`threadlab-uigil-N`, the `table` preset), with
//! `--ui-python-ms light` (`threadlab-light-2`), and once with none
//! (`--ui-python-ms 0`, the UI's own microseconds only) for contrast. After
//! its presses each threadlab run writes its GIL timeline (`w`, the last
//! ten seconds: the presses) and prints the cpu workers' and the UI
//! thread's GIL waits (p50/p99, waits under 0.1 ms left out) and the UI's
//! share holding it.
//!
//! With 0 CPU threads the Textual app's CPU time is measured too (all its
//! threads, from `/proc/PID/task/*/schedstat`): its rate while no key comes
//! (its 10 Hz refresh: the rate × 100 ms is the CPU per refresh) and what
//! each key adds to it. Those two are what the default cost is calibrated
//! from (`src/ui/python_cost.rs`).
//!
//! Target: threadlab's p50 and p99 with 2 cpu workers within 0.5×–2× of the
//! Textual app's it models with 2 CPU threads (each ratio printed).
//!
//! Environment: `THREADLAB_BENCH_RUNS` (default 1) repeats each row;
//! `THREADLAB_BENCH_NICE=N` runs both apps under `nice -n N`;
//! `THREADLAB_BENCH_BIN=PATH` measures another threadlab build (an older
//! commit's, for a before/after) instead of `target/release/threadlab`;
//! `THREADLAB_BENCH_VENVS=DIR` keeps the venvs in DIR and reuses them (else a
//! fresh temp dir each run); `THREADLAB_BENCH_UI_PYTHON_MS=SPEC` passes SPEC
//! to threadlab's `--ui-python-ms` instead of the default.
//!
//! Run: `cargo build --release && cargo bench --bench ui_gil [-- NAME…]`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{Jitter, Pty, Summary, median, ms};

/// Measured presses per run.
const PRESSES: usize = 150;

/// How long one press may take before the run fails.
const PRESS_TIMEOUT: Duration = Duration::from_secs(30);

/// A Textual app of `benches/python/`: `textual_dashboard.py` (`table`) or
/// `textual_light.py` (`light`).
fn script(app: App) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches/python")
        .join(app.script())
}

/// Which real app, and which of threadlab's presets models it.
#[derive(Clone, Copy)]
enum App {
    /// `textual_dashboard.py`, a 30-row `DataTable` (the `table` preset).
    Table,
    /// `textual_light.py`, one `Static` of a few lines (the `light` preset).
    Light,
}

impl App {
    fn script(self) -> &'static str {
        match self {
            App::Table => "textual_dashboard.py",
            App::Light => "textual_light.py",
        }
    }

    /// The row name's part: `textual-3.12-2`, `textual-light-3.12-2`.
    fn row(self, minor: &str, threads: u32) -> String {
        match self {
            App::Table => format!("textual-{minor}-{threads}"),
            App::Light => format!("textual-light-{minor}-{threads}"),
        }
    }

    /// The `--ui-python-ms` preset that models it.
    fn preset(self) -> &'static str {
        match self {
            App::Table => "table",
            App::Light => "light",
        }
    }
}

/// `$(pyenv root)`, from `PYENV_ROOT`, the `pyenv` command or `~/.pyenv`.
fn pyenv_root() -> Option<PathBuf> {
    if let Some(root) = std::env::var_os("PYENV_ROOT") {
        return Some(PathBuf::from(root));
    }
    let from_command = Command::new("pyenv")
        .arg("root")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    from_command.or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".pyenv")))
}

/// A Python with Textual installed, in a venv of its own.
struct Python {
    /// `3.12.1` and the like.
    version: String,
    /// The venv's interpreter.
    bin: PathBuf,
    textual: String,
    /// The venv's temp dir, removed on drop (none when kept in `THREADLAB_BENCH_VENVS`).
    _dir: Option<tempfile::TempDir>,
}

/// Finds pyenv's newest `minor` (`3.12`) and makes a venv with Textual.
fn python(minor: &str) -> Result<Python, String> {
    let root = pyenv_root().ok_or("no pyenv root")?;
    let versions = root.join("versions");
    let mut found: Vec<String> = std::fs::read_dir(&versions)
        .map_err(|e| format!("cannot list {}: {e}", versions.display()))?
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            name.strip_prefix(minor)
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|patch| patch.chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    found.sort_by_key(|name| {
        name.rsplit('.')
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0)
    });
    let version = found
        .pop()
        .ok_or_else(|| format!("no Python {minor} in {}", versions.display()))?;
    let base = versions.join(&version).join("bin/python3");
    let (dir, venv) = match std::env::var_os("THREADLAB_BENCH_VENVS") {
        Some(keep) => (None, Path::new(&keep).join(format!("textual-{version}"))),
        None => {
            let dir = tempfile::tempdir().map_err(|e| format!("no temp dir: {e}"))?;
            let venv = dir.path().join("venv");
            (Some(dir), venv)
        }
    };
    let bin = venv.join("bin/python");
    let textual = |bin: &Path| -> Option<String> {
        let out = Command::new(bin)
            .args([
                "-c",
                "import textual.app, importlib.metadata as m; print(m.version('textual'))",
            ])
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    if let Some(textual) = textual(&bin) {
        return Ok(Python {
            version,
            bin,
            textual,
            _dir: dir,
        });
    }
    let run = |cmd: &mut Command, what: &str| -> Result<(), String> {
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{what}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            Err(format!(
                "{what} failed: {}",
                err.lines().last().unwrap_or("").trim()
            ))
        }
    };
    run(
        Command::new(&base).arg("-m").arg("venv").arg(&venv),
        "python -m venv",
    )?;
    run(
        Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "textual",
        ]),
        "pip install textual",
    )?;
    let textual = textual(&bin).ok_or("textual does not import after pip install")?;
    Ok(Python {
        version,
        bin,
        textual,
        _dir: dir,
    })
}

/// Starts `bin args…` in a pty, under `nice -n N` when
/// `THREADLAB_BENCH_NICE=N` is set (on a machine shared with other work, a
/// negative N keeps their load out of both apps' numbers alike).
fn spawn(bin: &Path, args: &[&str]) -> Pty {
    match std::env::var("THREADLAB_BENCH_NICE") {
        Ok(nice) => {
            let bin = bin.to_str().expect("a UTF-8 path");
            let mut all = vec!["-n", nice.as_str(), bin];
            all.extend_from_slice(args);
            Pty::spawn(Path::new("/usr/bin/nice"), &all).0
        }
        Err(_) => Pty::spawn(bin, args).0,
    }
}

/// On-CPU nanoseconds of every thread of `pid` so far (Python names all its
/// threads after the process).
fn process_cpu_ns(pid: u32) -> Option<u64> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    common::sched_stats(pid, comm.trim()).map(|(run, _, _)| run)
}

/// What one run measured.
struct Run {
    latency: Summary,
    /// The Textual app's CPU per key (ms), measured with no CPU threads.
    cpu_per_key_ms: Option<f64>,
    /// The Textual app's CPU per 100-ms refresh while no key comes (ms),
    /// measured with no CPU threads.
    cpu_per_refresh_ms: Option<f64>,
    /// threadlab's own key→screen p50/p99 from its Responsiveness pane.
    app_key_ms: Option<(f64, f64)>,
    /// threadlab's GIL lanes over the presses (from a `w` export).
    gil: Option<Lanes>,
    foreign: f64,
}

/// One run of the Textual `app` with `threads` CPU threads.
fn run_textual(python: &Python, app: App, threads: u32) -> Run {
    let script = script(app);
    let threads_arg = threads.to_string();
    let args = [
        script.to_str().expect("a UTF-8 path"),
        "--threads",
        threads_arg.as_str(),
    ];
    let mut pty = spawn(&python.bin, &args);
    pty.wait(
        "the Textual app's first frame",
        Duration::from_secs(60),
        |s| s.contents().contains("keys pressed 000000"),
    );
    // Imports, first layout, threads at full speed.
    thread::sleep(Duration::from_millis(1500));
    let idle_from = (Instant::now(), process_cpu_ns(pty.pid()));
    thread::sleep(Duration::from_millis(1000));
    let idle_to = (Instant::now(), process_cpu_ns(pty.pid()));
    let interference = common::Interference::start(&[pty.pid()]);
    let mut jitter = Jitter::new();
    let mut samples = Vec::with_capacity(PRESSES);
    for press in 1..=PRESSES {
        thread::sleep(jitter.between(Duration::from_millis(5), Duration::from_millis(25)));
        let shown = format!("keys pressed {press:06}");
        match pty.press(b"j", PRESS_TIMEOUT, move |s| s.contents().contains(&shown)) {
            Some(latency) => samples.push(latency),
            None => panic!(
                "textual {} {} threads {threads}: press {press} not shown within {PRESS_TIMEOUT:?}\n{}",
                python.version,
                app.script(),
                pty.dump()
            ),
        }
    }
    let presses_to = (Instant::now(), process_cpu_ns(pty.pid()));
    let foreign = interference.foreign_cores();
    let (cpu_per_key_ms, cpu_per_refresh_ms) = match (threads, idle_from.1, idle_to.1, presses_to.1)
    {
        (0, Some(a), Some(b), Some(c)) => {
            let idle_rate = (b - a) as f64 / idle_to.0.duration_since(idle_from.0).as_secs_f64();
            let pressing = presses_to.0.duration_since(idle_to.0).as_secs_f64();
            let extra = (c - b) as f64 - idle_rate * pressing;
            // ns per s × 0.1 s per refresh → ms per refresh.
            (Some(extra / PRESSES as f64 / 1e6), Some(idle_rate / 1e7))
        }
        _ => (None, None),
    };
    pty.quit();
    Run {
        latency: Summary::of(&samples),
        cpu_per_key_ms,
        cpu_per_refresh_ms,
        app_key_ms: None,
        gil: None,
        foreign,
    }
}

/// The dashboard's own `key→screen p50 X ms  p99 Y ms`.
fn app_key_ms(screen: &vt100::Screen) -> Option<(f64, f64)> {
    screen.rows(0, common::COLS).find_map(|row| {
        let at = row.find("key→screen p50 ")?;
        let mut words = row[at..].split_whitespace();
        let p50 = words.nth(2)?.parse().ok()?;
        let p99 = words.nth(2)?.parse().ok()?;
        Some((p50, p99))
    })
}

/// GIL waits of the emulated threads over the presses, from the
/// dashboard's own timeline (`w` with `--export`): as the traced apps were
/// read in BENCHMARKS.md, waits under 0.1 ms are left out.
struct Lanes {
    /// The cpu workers' waits, all workers together: p50, p99 (ms).
    cpu_wait: (f64, f64),
    /// The UI thread's waits: p50, p99 (ms).
    ui_wait: (f64, f64),
    /// The share of the exported time the UI thread held the GIL.
    ui_holds: f64,
}

/// Reads a Chrome Trace export of the emulated timeline.
fn lanes(path: &Path) -> Option<Lanes> {
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let events = json.get("traceEvents")?.as_array()?;
    let mut names = std::collections::HashMap::new();
    for event in events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
    {
        names.insert(
            event["tid"].as_u64()?,
            event["args"]["name"].as_str()?.to_string(),
        );
    }
    let is_cpu = |tid: u64| names.get(&tid).is_some_and(|n| n.contains("cpu-"));
    let is_ui = |tid: u64| {
        names
            .get(&tid)
            .is_some_and(|n| n.to_lowercase().contains("ui"))
    };
    let (mut cpu, mut ui, mut ui_hold) = (Vec::new(), Vec::new(), 0.0);
    let (mut first, mut last) = (f64::MAX, 0.0f64);
    for event in events.iter().filter(|e| e["ph"] == "X") {
        let (tid, dur, ts) = (
            event["tid"].as_u64()?,
            event["dur"].as_f64()? / 1000.0,
            event["ts"].as_f64()? / 1000.0,
        );
        first = first.min(ts);
        last = last.max(ts + dur);
        match event["name"].as_str()? {
            "waits for GIL" if dur >= 0.1 && is_cpu(tid) => cpu.push(dur),
            "waits for GIL" if dur >= 0.1 && is_ui(tid) => ui.push(dur),
            "holds GIL" if is_ui(tid) => ui_hold += dur,
            _ => {}
        }
    }
    let pq = |v: &mut Vec<f64>| -> (f64, f64) {
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return (0.0, 0.0);
        }
        (common::percentile(v, 50.0), common::percentile(v, 99.0))
    };
    Some(Lanes {
        cpu_wait: pq(&mut cpu),
        ui_wait: pq(&mut ui),
        ui_holds: ui_hold / (last - first).max(1e-9),
    })
}

/// One run of threadlab, UI under the GIL, `workers` cpu workers in `gil`;
/// `cost`: the `--ui-python-ms` value, if any.
fn run_threadlab(bin: &Path, workers: u64, cost: Option<&str>) -> Run {
    let dir = tempfile::tempdir().expect("a temp dir for the export");
    let export = dir.path().join("gil.json");
    let export_arg = export.to_str().expect("a UTF-8 path").to_string();
    let mut args = vec!["--mode", "gil", "--cpu-steps", "100000000000"];
    args.extend(["--export", export_arg.as_str()]);
    if let Some(cost) = cost {
        args.extend(["--ui-python-ms", cost]);
    }
    let mut pty = spawn(bin, &args);
    pty.wait(
        "the first frame",
        Duration::from_secs(20),
        common::first_frame_done,
    );
    if workers > 0 {
        pty.send("c".repeat(workers as usize).as_bytes());
        pty.wait(
            &format!("{workers} running workers"),
            Duration::from_secs(60),
            |s| common::header_count(s, "running") == Some(workers),
        );
    }
    pty.send(b"u");
    pty.wait("the UI under the GIL", Duration::from_secs(30), |s| {
        s.contents().contains("UI UNDER THE GIL")
    });
    thread::sleep(Duration::from_millis(1000));
    let interference = common::Interference::start(&[pty.pid()]);
    let mut jitter = Jitter::new();
    let mut samples = Vec::with_capacity(PRESSES);
    for press in 0..PRESSES {
        thread::sleep(jitter.between(Duration::from_millis(5), Duration::from_millis(25)));
        match pty.toggle_help(PRESS_TIMEOUT) {
            Some(latency) => samples.push(latency),
            None => panic!(
                "threadlab {workers} workers: press {press} not shown within {PRESS_TIMEOUT:?}\n{}",
                pty.dump()
            ),
        }
    }
    let foreign = interference.foreign_cores();
    // Let a frame with the last readings go out.
    thread::sleep(Duration::from_millis(300));
    let app_key_ms = pty.with_screen(app_key_ms);
    // The timeline's last ten seconds: the presses.
    pty.send(b"w");
    // Written on a thread of its own: read it once it parses.
    let deadline = Instant::now() + Duration::from_secs(20);
    let gil = loop {
        match lanes(&export) {
            Some(lanes) => break Some(lanes),
            None if Instant::now() < deadline => thread::sleep(Duration::from_millis(100)),
            None => break None,
        }
    };
    pty.quit();
    Run {
        latency: Summary::of(&samples),
        cpu_per_key_ms: None,
        cpu_per_refresh_ms: None,
        app_key_ms,
        gil,
        foreign,
    }
}

/// A row's medians over its runs.
#[derive(Clone, Copy)]
struct Row {
    p50: f64,
    p99: f64,
}

/// Runs `once` `runs` times, prints each run and the medians.
fn measure(name: &str, runs: usize, mut once: impl FnMut() -> Run) -> Row {
    let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
    for run_no in 1..=runs {
        common::wait_quiet(Duration::from_secs(15));
        let run = once();
        let l = run.latency;
        println!(
            "{name:<24} run {run_no}: p50 {:7.2} ms  p90 {:7.2}  p99 {:7.2}  max {:7.2}  min {:6.2}  (n {}){}{}{}; other processes {:.2} cores{}",
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.max),
            ms(l.min),
            l.n,
            run.cpu_per_key_ms
                .zip(run.cpu_per_refresh_ms)
                .map_or(String::new(), |(k, r)| format!(
                    ", CPU per key {k:.1} ms, per refresh {r:.1} ms"
                )),
            run.app_key_ms.map_or(String::new(), |(a, b)| format!(
                ", app: key p50/p99 {a}/{b} ms"
            )),
            run.gil.as_ref().map_or(String::new(), |g| format!(
                ", GIL waits p50/p99: cpu workers {:.1}/{:.1} ms, UI {:.1}/{:.1} ms, UI holds {:.0} %",
                g.cpu_wait.0, g.cpu_wait.1, g.ui_wait.0, g.ui_wait.1, g.ui_holds * 100.0
            )),
            run.foreign,
            common::disturbed_mark(run.foreign),
        );
        p50s.push(ms(l.p50));
        p99s.push(ms(l.p99));
    }
    let row = Row {
        p50: median(&p50s),
        p99: median(&p99s),
    };
    println!(
        "{name:<24} RESULT ({runs} runs, medians): p50 {:.2} ms, p99 {:.2} ms",
        row.p50, row.p99
    );
    row
}

fn main() {
    if !common::should_run("ui_gil") {
        return;
    }
    let filters = common::filters();
    let runs = common::runs(1);
    // THREADLAB_BENCH_BIN: another build (an older commit's, for a
    // before/after), else target/release/threadlab.
    let bin =
        std::env::var_os("THREADLAB_BENCH_BIN").map_or_else(common::release_binary, PathBuf::from);
    let cost = std::env::var("THREADLAB_BENCH_UI_PYTHON_MS").ok();
    println!("{}", common::machine_line());
    println!(
        "key→screen latency, pty {}×{}, {PRESSES} presses per run (gaps 5–25 ms): a real Textual app vs threadlab's UI under the GIL",
        common::COLS,
        common::ROWS
    );
    let started = Instant::now();
    let mut real = Vec::new();
    for minor in ["3.11", "3.12"] {
        let rows: Vec<(App, u32, String)> = [App::Table, App::Light]
            .into_iter()
            .flat_map(|app| [(app, 0), (app, 2)])
            .map(|(app, threads)| (app, threads, app.row(minor, threads)))
            .filter(|(_, _, name)| common::wanted(&filters, name))
            .collect();
        if rows.is_empty() {
            continue;
        }
        let python = match python(minor) {
            Ok(python) => python,
            Err(why) => {
                println!("textual-{minor}: skipped ({why})");
                continue;
            }
        };
        println!(
            "textual-{minor}: CPython {}, Textual {}",
            python.version, python.textual
        );
        for (app, threads, name) in rows {
            let row = measure(&name, runs, || run_textual(&python, app, threads));
            if threads == 2 {
                real.push((app.preset(), name, row));
            }
        }
    }
    let cost = cost.as_deref();
    if common::wanted(&filters, "threadlab-uigil-0") {
        measure("threadlab-uigil-0", runs, || run_threadlab(&bin, 0, cost));
    }
    let mut emulated = Vec::new();
    if common::wanted(&filters, "threadlab-uigil-2") {
        let row = measure("threadlab-uigil-2", runs, || run_threadlab(&bin, 2, cost));
        emulated.push((cost.unwrap_or("table"), "threadlab-uigil-2", row));
    }
    if common::wanted(&filters, "threadlab-light-2") {
        let row = measure("threadlab-light-2", runs, || {
            run_threadlab(&bin, 2, Some("light"))
        });
        emulated.push(("light", "threadlab-light-2", row));
    }
    if common::wanted(&filters, "threadlab-nocost-2") {
        measure("threadlab-nocost-2", runs, || {
            run_threadlab(&bin, 2, Some("0"))
        });
    }
    for (preset, name, emulated) in &emulated {
        for (_, real_name, real) in real.iter().filter(|(p, _, _)| p == preset) {
            let (r50, r99) = (emulated.p50 / real.p50, emulated.p99 / real.p99);
            let within = |r: f64| {
                if (0.5..=2.0).contains(&r) {
                    "✅"
                } else {
                    "❌"
                }
            };
            println!(
                "ratio {name} / {real_name}: p50 {r50:.2}× {} · p99 {r99:.2}× {} (target 0.5×–2×)",
                within(r50),
                within(r99)
            );
        }
    }
    println!("ui_gil: done in {:.0} s", started.elapsed().as_secs_f64());
}
