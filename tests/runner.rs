//! The run loop without a pty: a [`Runner`] on ratatui's `TestBackend`,
//! fed through channels the test fills, stepped at instants the test picks.

use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, unbounded};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use threadlab::gil::{Mode, SwitchInterval};
use threadlab::lab::python_cost::PythonCost;
use threadlab::session::{Session, SessionOptions};
use threadlab::ui::app::{App, AppEvent};
use threadlab::ui::runner::{
    CATCH_UP, Feeds, Flow, Input, Runner, STILL_AFTER, STILL_FRAME_GAP, Wake,
};
use threadlab::work::{WorkerEvent, WorkerKind};

/// The test's ends of the runner's channels.
struct Script {
    input: Sender<Input>,
    _signals: Sender<i32>,
    progress: Sender<WorkerEvent>,
    lifecycle: Sender<WorkerEvent>,
}

fn feeds() -> (Feeds, Script) {
    let (input, input_rx) = unbounded();
    let (signals, signals_rx) = unbounded();
    let (progress, progress_rx) = unbounded();
    let (lifecycle, lifecycle_rx) = unbounded();
    (
        Feeds {
            input: input_rx,
            signals: signals_rx,
            progress: progress_rx,
            lifecycle: lifecycle_rx,
        },
        Script {
            input,
            _signals: signals,
            progress,
            lifecycle,
        },
    )
}

/// A runner at 60 fps on a 100×30 test screen; `workers` live workers
/// (ids 1..) are already in the table. The second instant is the start
/// of the script: no earlier than the runner's own start.
fn runner(workers: u64) -> (Runner<TestBackend>, Session, Instant) {
    let t0 = Instant::now();
    let session = Session::start(&SessionOptions::default()).expect("a session");
    let mut app = App::new(Mode::Gil, SwitchInterval::DEFAULT);
    for id in 1..=workers {
        app.apply(AppEvent::Spawned {
            id,
            kind: WorkerKind::Cpu,
            at: t0,
        });
    }
    let terminal = Terminal::new(TestBackend::new(100, 30)).expect("a test terminal");
    let runner = Runner::new(terminal, app, &session, 60, false);
    (runner, session, Instant::now())
}

fn key(c: char, read_at: Instant) -> Input {
    Input {
        event: Ok(Event::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        ))),
        read_at,
    }
}

fn screen(runner: &Runner<TestBackend>) -> String {
    format!("{:?}", runner.terminal().backend())
}

fn done_of(runner: &Runner<TestBackend>, id: u64) -> u64 {
    runner.app().workers().rows()[id as usize - 1].done
}

#[test]
fn a_keys_frame_is_drawn_before_the_progress_backlog() {
    let (mut runner, mut session, t0) = runner(1);
    let (feeds, script) = feeds();
    // A first frame: the next one is not due for a frame gap.
    assert_eq!(
        runner.step(Wake::Timer, &mut session, &feeds, t0),
        Flow::Continue
    );
    assert!(runner.pacer().next_frame() > t0);
    for done in 1..=1000 {
        script
            .progress
            .send(WorkerEvent::Progress {
                id: 1,
                done,
                total: Some(1000),
                at: t0,
            })
            .unwrap();
    }
    // The key arrives at once, before the frame is due.
    let flow = runner.step(Wake::Input(key('?', t0)), &mut session, &feeds, t0);
    assert_eq!(flow, Flow::Continue);
    assert!(
        screen(&runner).contains("Help · keys"),
        "the key's frame went out"
    );
    assert_eq!(done_of(&runner, 1), 0, "progress waits for the next frame");
    assert_eq!(feeds.progress.len(), 1000);
    // Without keys, the backlog goes in with the next frame.
    let later = (t0 + CATCH_UP).max(runner.pacer().next_frame());
    runner.step(Wake::Timer, &mut session, &feeds, later);
    assert_eq!(done_of(&runner, 1), 1000);
    assert!(feeds.progress.is_empty());
}

#[test]
fn keys_held_down_let_progress_in_after_the_catch_up_time() {
    let (mut runner, mut session, t0) = runner(1);
    let (feeds, script) = feeds();
    runner.step(Wake::Timer, &mut session, &feeds, t0);
    let progress = |done| WorkerEvent::Progress {
        id: 1,
        done,
        total: Some(1000),
        at: t0,
    };
    script.progress.send(progress(10)).unwrap();
    let soon = t0 + CATCH_UP / 2;
    runner.step(Wake::Input(key('j', soon)), &mut session, &feeds, soon);
    assert_eq!(done_of(&runner, 1), 0);
    let late = t0 + CATCH_UP;
    runner.step(Wake::Input(key('k', late)), &mut session, &feeds, late);
    assert_eq!(
        done_of(&runner, 1),
        10,
        "a key stream cannot starve progress"
    );
}

#[test]
fn a_still_screen_drops_to_the_still_frame_rate() {
    let (mut runner, mut session, t0) = runner(1);
    let (feeds, _script) = feeds();
    let gap = |runner: &Runner<TestBackend>| {
        let pacer = runner.pacer();
        pacer.next_frame() - pacer.last_frame()
    };
    runner.step(Wake::Timer, &mut session, &feeds, t0);
    assert!(gap(&runner) < STILL_FRAME_GAP, "moving: full rate");
    // Nothing changes; the live worker's clock keeps frames coming, slower.
    let still = (t0 + STILL_AFTER).max(runner.pacer().next_frame());
    runner.step(Wake::Timer, &mut session, &feeds, still);
    assert!(runner.pacer().last_frame() >= still, "a frame went out");
    assert!(runner.deadline().is_some(), "a live worker keeps a timer");
    assert_eq!(
        gap(&runner),
        STILL_FRAME_GAP,
        "still: a few frames a second"
    );
    // A key brings the full rate back.
    let key_at = runner.pacer().next_frame();
    runner.step(Wake::Input(key('j', key_at)), &mut session, &feeds, key_at);
    assert!(gap(&runner) < STILL_FRAME_GAP);
}

#[test]
fn nothing_alive_and_nothing_dirty_arms_no_timer() {
    let (mut runner, mut session, t0) = runner(1);
    let (feeds, script) = feeds();
    assert!(runner.deadline().is_some(), "the first frame is owed");
    runner.step(Wake::Timer, &mut session, &feeds, t0);
    assert!(runner.deadline().is_some(), "a live worker animates");
    script
        .lifecycle
        .send(WorkerEvent::Finished {
            id: 1,
            done: 5,
            summary: "5 steps".into(),
            at: t0,
        })
        .unwrap();
    let then = runner.pacer().next_frame();
    runner.step(Wake::Timer, &mut session, &feeds, then);
    assert!(screen(&runner).contains("done 1"), "the end was drawn");
    assert_eq!(runner.deadline(), None, "idle: the UI thread sleeps");
}

#[test]
fn resizes_and_a_closed_input_channel_go_through_the_reducer() {
    let (mut runner, mut session, t0) = runner(0);
    let (feeds, script) = feeds();
    runner.step(Wake::Timer, &mut session, &feeds, t0);
    let resize = Input {
        event: Ok(Event::Resize(100, 30)),
        read_at: t0,
    };
    script.input.send(resize).unwrap();
    runner.step(Wake::Timer, &mut session, &feeds, t0);
    assert!(runner.app().needs_clear(), "a frame gap has not passed");
    let later = runner.pacer().next_frame();
    runner.step(Wake::Timer, &mut session, &feeds, later);
    assert!(!runner.app().needs_clear(), "the repaint happened");
    assert_eq!(runner.deadline(), None);
    // Nothing else can wake it now: the closed input is what it hears.
    let Script {
        input,
        _signals,
        progress,
        lifecycle,
    } = script;
    drop(input);
    let wake = runner.wait(&session, &feeds);
    assert!(matches!(wake, Wake::Quit), "{wake:?}");
    assert_eq!(runner.step(wake, &mut session, &feeds, later), Flow::Quit);
    assert!(runner.app().quit());
    drop((_signals, progress, lifecycle));
}

#[test]
fn ui_under_the_gil_is_a_key_the_runner_obeys() {
    let (mut runner, mut session, t0) = runner(0);
    let (feeds, _script) = feeds();
    runner.step(Wake::Input(key('u', t0)), &mut session, &feeds, t0);
    assert!(runner.app().ui_under_gil());
    assert!(screen(&runner).contains("UI UNDER THE GIL"));
    let later = t0 + Duration::from_millis(20);
    runner.step(Wake::Input(key('u', later)), &mut session, &feeds, later);
    assert!(!runner.app().ui_under_gil());
}

/// A runner like [`runner`] modelling `key` ms of Python per key and
/// `refresh` ms per refresh, its GIL on.
fn runner_with_python(key: f64, refresh: f64) -> (Runner<TestBackend>, Session, Instant) {
    let session = Session::start(&SessionOptions::default()).expect("a session");
    session.gil.set_mode(Mode::Gil);
    let cost = PythonCost::with_refresh(key, refresh).expect("a cost in range");
    let app = App::new(Mode::Gil, SwitchInterval::DEFAULT).with_python_cost(cost);
    let terminal = Terminal::new(TestBackend::new(100, 30)).expect("a test terminal");
    let runner = Runner::new(terminal, app, &session, 60, false);
    (runner, session, Instant::now())
}

#[test]
fn the_modelled_python_runs_only_while_the_ui_is_under_the_gil() {
    let (mut runner, mut session, t0) = runner_with_python(2.0, 3.0);
    let (feeds, _script) = feeds();
    let work = runner.python_work().clone();
    let (per_key, per_refresh) = (work.key_steps(), work.refresh_steps());
    assert!(per_key > 0 && per_refresh > per_key);
    let at = |ms: u64| t0 + Duration::from_millis(ms);

    // Off: keys and timer turns run no Python, and no refresh timer is armed.
    runner.step(Wake::Input(key('j', at(0))), &mut session, &feeds, at(0));
    runner.step(Wake::Timer, &mut session, &feeds, at(500));
    assert_eq!(runner.python_work().executed(), 0);
    assert_eq!(runner.deadline(), None, "nothing moves, no timer");

    // On: the key that turns it on is handled in Python, and so is each
    // key after it, exactly the configured steps.
    runner.step(
        Wake::Input(key('u', at(1000))),
        &mut session,
        &feeds,
        at(1000),
    );
    assert_eq!(runner.python_work().executed(), per_key);
    runner.step(
        Wake::Input(key('j', at(1050))),
        &mut session,
        &feeds,
        at(1050),
    );
    assert_eq!(runner.python_work().executed(), 2 * per_key);
    assert!(
        screen(&runner).contains("Python 2+3 ms"),
        "the pane says what is assumed:\n{}",
        screen(&runner)
    );
    // The refresh timer runs with nothing else moving: one refresh 100 ms
    // after the UI went under the GIL, the next on the timer's grid.
    assert_eq!(runner.deadline(), Some(at(1100)));
    runner.step(Wake::Timer, &mut session, &feeds, at(1100));
    assert_eq!(runner.python_work().refreshes(), 1);
    assert_eq!(runner.python_work().executed(), 2 * per_key + per_refresh);
    assert_eq!(runner.deadline(), Some(at(1200)));

    // Off again: nothing more runs, and the timer is gone.
    runner.step(
        Wake::Input(key('u', at(1150))),
        &mut session,
        &feeds,
        at(1150),
    );
    runner.step(
        Wake::Input(key('j', at(1300))),
        &mut session,
        &feeds,
        at(1300),
    );
    runner.step(Wake::Timer, &mut session, &feeds, at(2000));
    assert_eq!(runner.python_work().executed(), 2 * per_key + per_refresh);
    assert_eq!(runner.python_work().refreshes(), 1);
    assert_eq!(runner.deadline(), None);
}

#[test]
fn no_modelled_python_is_the_rust_ui_alone() {
    let (mut runner, mut session, t0) = runner_with_python(0.0, 0.0);
    let (feeds, _script) = feeds();
    runner.step(Wake::Input(key('u', t0)), &mut session, &feeds, t0);
    assert!(runner.app().ui_under_gil());
    assert_eq!(runner.python_work().executed(), 0);
}

/// A thread that takes the session's GIL and keeps it — a C extension that
/// never releases it, or CPU workers the UI would queue behind for as long —
/// until `release` says so (or 20 s, so that a broken runner fails the test
/// instead of hanging it). When it holds the GIL it calls `holding`.
fn gil_holder(
    session: &Session,
    holding: impl FnOnce() + Send + 'static,
) -> (
    Sender<()>,
    std::thread::JoinHandle<()>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut thread = session.gil.register(threadlab::cancel::CancelToken::new());
    let released = std::sync::Arc::new(AtomicBool::new(false));
    let (release, told) = unbounded::<()>();
    let handle = std::thread::spawn({
        let released = released.clone();
        move || {
            thread.enter().expect("the holder takes the GIL");
            holding();
            let _ = told.recv_timeout(Duration::from_secs(20));
            released.store(true, Ordering::SeqCst);
            thread.exit();
        }
    });
    (release, handle, released)
}

/// With the UI under the GIL, `q`, Ctrl-C and a signal end the loop while
/// another thread holds the GIL and never lets go: the runner does not take
/// the GIL back for a wake that quits, nor run the key's Python.
#[test]
fn quitting_under_the_gil_never_waits_for_the_gil() {
    use std::sync::atomic::Ordering;
    let ctrl_c = || Input {
        event: Ok(Event::Key(KeyEvent::new(
            KeyCode::Char('c'),
            KeyModifiers::CONTROL,
        ))),
        read_at: Instant::now(),
    };
    for how in ["q", "ctrl-c", "signal"] {
        let (mut runner, mut session, t0) = runner_with_python(2.0, 0.0);
        let (feeds, script) = feeds();
        runner.step(Wake::Input(key('u', t0)), &mut session, &feeds, t0);
        assert!(runner.app().ui_under_gil());
        let executed = runner.python_work().executed();
        // The holder gets the GIL once the UI releases it to wait; then the
        // quit arrives.
        let (input, signals) = (script.input.clone(), script._signals.clone());
        let (release, holder, released) = gil_holder(&session, move || match how {
            "q" => input.send(key('q', Instant::now())).expect("runner alive"),
            "ctrl-c" => input.send(ctrl_c()).expect("runner alive"),
            _ => signals.send(15).expect("runner alive"),
        });
        let wake = runner.wait(&session, &feeds);
        let flow = runner.step(wake, &mut session, &feeds, Instant::now());
        let waited = released.load(Ordering::SeqCst);
        let _ = release.send(()); // gone after 20 s if the runner waited
        holder.join().expect("the holder ends");
        assert!(!waited, "{how}: the runner waited for the GIL to quit");
        assert_eq!(flow, Flow::Quit, "{how}");
        assert!(runner.app().quit(), "{how}");
        assert_eq!(
            runner.python_work().executed(),
            executed,
            "{how}: no Python ran for the quit"
        );
    }
}

/// A quit decided by another thread (the input or signal thread, through
/// the runner's `Quitter`) ends the UI thread's wait for the GIL after a
/// wake that does not quit, and the next turn quits.
#[test]
fn a_quitter_ends_the_ui_threads_wait_for_the_gil() {
    use std::sync::atomic::Ordering;
    let (mut runner, mut session, t0) = runner_with_python(2.0, 0.0);
    let (feeds, script) = feeds();
    runner.step(Wake::Input(key('u', t0)), &mut session, &feeds, t0);
    let quitter = runner.quitter();
    let input = script.input.clone();
    let (release, holder, released) = gil_holder(&session, move || {
        // A key that does not quit wakes the runner, which then wants the
        // GIL back; meanwhile the input thread sees `q` and quits.
        input.send(key('j', Instant::now())).expect("runner alive");
        quitter.quit();
    });
    let wake = runner.wait(&session, &feeds);
    let flow = runner.step(wake, &mut session, &feeds, Instant::now());
    let waited = released.load(Ordering::SeqCst);
    let _ = release.send(()); // gone after 20 s if the runner waited
    holder.join().expect("the holder ends");
    assert!(!waited, "the runner waited for the GIL");
    assert_eq!(flow, Flow::Quit);
}

/// `w` copies the timeline's lanes and writes them as Chrome trace JSON on
/// a thread of its own; the loop hears back through its wait and says what
/// it wrote. The file has a track per lane and their hold slices.
#[test]
fn w_writes_the_gil_timeline_as_chrome_trace_json_and_says_so() {
    use threadlab::cancel::CancelToken;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gil.json");
    let mut session = Session::start(&SessionOptions {
        mode: Mode::Gil,
        ..SessionOptions::default()
    })
    .expect("a session");
    let app = App::new(Mode::Gil, SwitchInterval::DEFAULT).with_export_path(Some(path.clone()));
    let terminal = Terminal::new(TestBackend::new(100, 30)).expect("a test terminal");
    let mut runner = Runner::new(terminal, app, &session, 60, false);
    let (feeds, _script) = feeds();
    // Two threads' turns on the session's GIL: hold, I/O, hold; then hold.
    let mut a = session.gil.register(CancelToken::new());
    let mut b = session.gil.register(CancelToken::new());
    a.enter().expect("a takes the GIL");
    a.blocking(|| ()).expect("a's I/O");
    a.exit();
    b.enter().expect("b takes the GIL");
    // A hold the timeline's microseconds can see (a stay within one
    // microsecond is exported too, with no length).
    let held = Instant::now();
    while held.elapsed() < Duration::from_micros(50) {
        b.check().expect("b keeps the GIL");
    }
    b.exit();
    let t0 = Instant::now();
    runner.step(Wake::Timer, &mut session, &feeds, t0);
    runner.step(Wake::Input(key('w', t0)), &mut session, &feeds, t0);
    assert!(
        runner
            .app()
            .notice()
            .is_some_and(|n| n.starts_with("writing the GIL timeline to")),
        "{:?}",
        runner.app().notice()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let line = loop {
        assert!(Instant::now() < deadline, "the export never reported");
        if let Wake::Exported(line) = runner.wait(&session, &feeds) {
            break line;
        }
    };
    runner.step(Wake::Exported(line), &mut session, &feeds, Instant::now());
    let notice = runner.app().notice().unwrap_or_default().to_string();
    assert!(notice.starts_with("wrote the GIL timeline ("), "{notice}");
    assert!(notice.contains("gil.json"), "{notice}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the file")).expect("JSON");
    let events = doc["traceEvents"].as_array().expect("traceEvents");
    let tracks = events.iter().filter(|e| e["name"] == "thread_name").count();
    assert!(tracks >= 2, "a track per lane: {doc}");
    for tag in [a.tag(), b.tag()] {
        assert!(
            events
                .iter()
                .any(|e| e["ph"] == "X" && e["name"] == "holds GIL" && e["tid"] == tag),
            "thread {tag} held the GIL: {doc}"
        );
    }
    assert!(
        events.iter().any(|e| e["name"] == "blocked, GIL released"),
        "a's I/O is a slice: {doc}"
    );
}

/// A thread's nice from `/proc/self/task/TID/stat` (field 19).
fn nice_of_task(tid: &str) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(16)?.parse().ok()
}

/// The id of this process's thread named `name`, if there is one.
fn task_named(name: &str) -> Option<String> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .flatten()
        .find_map(|task| {
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            (comm.trim() == name).then(|| task.file_name().to_string_lossy().into_owned())
        })
}

/// While the UI is under the GIL (`u`), a real cpu worker runs at the UI
/// thread's nice, as every thread of one Python process shares one; off
/// again, it is back at `[workers] nice` (19) below it, where the Rust UI
/// has its head start. (Without the privilege to raise the worker, the UI
/// thread comes down to the worker's nice instead: equal all the same.)
#[test]
fn under_the_gil_the_workers_run_at_the_ui_threads_priority() {
    let mut session = Session::start(&SessionOptions {
        nice: 19,
        cpu_steps: Some(u64::MAX / 2),
        ..SessionOptions::default()
    })
    .expect("a session");
    let app = App::new(Mode::Gil, SwitchInterval::DEFAULT).with_python_cost(PythonCost::NONE);
    let terminal = Terminal::new(TestBackend::new(100, 30)).expect("a test terminal");
    let mut runner = Runner::new(terminal, app, &session, 60, false);
    let (feeds, _script) = feeds();
    let me = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|link| link.file_name().map(|n| n.to_string_lossy().into_owned()))
        .expect("this thread's id");
    let t0 = Instant::now();
    runner.step(Wake::Input(key('c', t0)), &mut session, &feeds, t0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let worker = loop {
        if let Some(tid) = task_named("cpu-1").filter(|tid| nice_of_task(tid) == Some(19)) {
            break tid;
        }
        assert!(Instant::now() < deadline, "no cpu-1 thread at nice 19");
        std::thread::sleep(Duration::from_millis(5));
    };
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    runner.step(Wake::Input(key('u', at(10))), &mut session, &feeds, at(10));
    assert!(runner.app().ui_under_gil());
    let ui = nice_of_task(&me).expect("the UI thread's nice");
    assert_eq!(nice_of_task(&worker), Some(ui), "u on: the UI's nice");
    assert_eq!(session.gil.shared_nice(), Some(ui));
    runner.step(Wake::Input(key('u', at(20))), &mut session, &feeds, at(20));
    assert!(!runner.app().ui_under_gil());
    assert_eq!(nice_of_task(&worker), Some(19), "u off: 19 below again");
    assert_eq!(session.gil.shared_nice(), None);
    drop(runner);
    session.shutdown(Duration::from_secs(10));
}
