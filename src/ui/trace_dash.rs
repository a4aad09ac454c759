//! The dashboard for `threadlab trace` / `attach`: a real program's threads
//! and GIL instead of emulated workers.
//!
//! The tracer writes the same [`GilEvent`](crate::gil::GilEvent) timeline
//! the emulation writes; this loop reads it into the dashboard's usual
//! timeline state and draws it with the usual timeline pane, beside a table
//! of the program's threads and its output. When the program ends the
//! picture stays, frozen, until `q`. Keys that drive the emulation say in
//! one line that they do not apply.

use std::collections::{HashMap, VecDeque};
use std::mem::ManuallyDrop;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, after, never, select};
use crossterm::event::{Event, KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};

use super::keys::{Action, KeyMap};
use super::panes::timeline::Timeline;
use super::panes::timeline::draw::TimelinePane;
use super::panes::workers::Workers;
use super::runner::Input;
use super::terminal::{TerminalGuard, Tui};
use super::theme::Theme;
use super::trace_panes::{ThreadTable, TraceConsole, TraceFooter, TraceHeader};
use super::{UiError, UiOptions, spawn_input_thread, spawn_signal_thread};
use crate::gil::ThreadTag;
use crate::trace::console::ConsoleLog;
use crate::trace::live::{ThreadRow, thread_rows};
use crate::trace::recorder::Recorder;
use crate::trace::{Trace, TraceEnd, TraceReport};

/// The tracer applies events a few ms late (records from all CPUs are
/// sorted first): the picture ends that much before now, so its right edge
/// is never a guess.
const LAG: Duration = Duration::from_millis(6);
/// Frame gap while the program runs.
const FRAME: Duration = Duration::from_millis(33);
/// Console lines kept on screen.
const CONSOLE_KEEP: usize = 500;

/// A trace to show.
pub struct TraceRun {
    /// The live trace.
    pub trace: Trace,
    /// The launched program's output, if launched with pipes.
    pub console: Option<Arc<ConsoleLog>>,
    /// Gets how the program ended, once it has.
    pub ended: Receiver<TraceEnd>,
    /// Attached (q detaches) rather than launched (q stops it).
    pub attached: bool,
}

/// How the dashboard closed.
pub enum TraceClosed {
    /// The program had ended; this is the summary.
    Finished(TraceReport),
    /// The user quit while it ran: the caller stops or detaches.
    Quit(Trace),
}

/// What the trace dashboard shows.
#[derive(Debug)]
pub struct TraceScreen {
    title: String,
    pid: u32,
    timeline: Timeline,
    seq: u64,
    rows: Vec<ThreadRow>,
    rate_base: HashMap<ThreadTag, (u64, Instant)>,
    rates: HashMap<ThreadTag, f64>,
    console: VecDeque<String>,
    console_seq: u64,
    partial: String,
    ended: Option<String>,
    notice: Option<String>,
    lost: u64,
    attached: bool,
    theme: Theme,
    keys: KeyMap,
}

impl TraceScreen {
    /// A screen for `python VERSION` in process `pid`.
    pub fn new(version: &str, pid: u32, attached: bool, theme: Theme, keys: KeyMap) -> Self {
        Self {
            title: format!("python {version} · pid {pid} · real GIL"),
            pid,
            timeline: Timeline::default(),
            seq: 0,
            rows: Vec::new(),
            rate_base: HashMap::new(),
            rates: HashMap::new(),
            console: VecDeque::new(),
            console_seq: 0,
            partial: String::new(),
            ended: None,
            notice: None,
            lost: 0,
            attached,
            theme,
            keys,
        }
    }

    /// `python 3.11.7 · pid 4242 · real GIL`.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// How the program ended, once it has (`exited with code 0`).
    pub fn ended(&self) -> Option<&str> {
        self.ended.as_deref()
    }

    /// Probe records the kernel dropped.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// The program's threads.
    pub fn rows(&self) -> &[ThreadRow] {
        &self.rows
    }

    /// Hand-overs to this thread per second, over the last second or so.
    pub fn switch_rate(&self, tag: ThreadTag) -> f64 {
        self.rates.get(&tag).copied().unwrap_or(0.0)
    }

    /// The newest `n` console lines (the unfinished one last).
    pub fn console_tail(&self, n: usize) -> Vec<String> {
        let partial = usize::from(!self.partial.is_empty());
        let skip = (self.console.len() + partial).saturating_sub(n);
        let mut lines: Vec<String> = self.console.iter().skip(skip).cloned().collect();
        if partial == 1 {
            lines.push(self.partial.clone());
        }
        lines
    }

    /// Attached rather than launched.
    pub fn attached(&self) -> bool {
        self.attached
    }

    /// The latest one-line notice.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Colours.
    pub fn theme(&self) -> &Theme {
        &self.theme
    }

    /// The timeline's state.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Reads what is new from the recorder; the picture ends at `now_ns`
    /// (ns since the trace's epoch).
    pub fn pull(&mut self, recorder: &Mutex<Recorder>, now_ns: u64, lost: u64) {
        let recorder = recorder.lock().unwrap_or_else(PoisonError::into_inner);
        let mut events = Vec::new();
        if let Some(next) = recorder.timeline().try_read_since(self.seq, &mut events) {
            self.seq = next;
        }
        self.timeline.apply(&events, |_, _| {});
        self.timeline.set_now(now_ns / 1000);
        self.rows = thread_rows(&recorder, now_ns);
        drop(recorder);
        for row in &self.rows {
            let label = if row.tid == self.pid {
                "main".to_string()
            } else {
                row.tid.to_string()
            };
            self.timeline.set_name(row.tag, label);
        }
        let now = Instant::now();
        for row in &self.rows {
            let base = self.rate_base.entry(row.tag).or_insert((row.switches, now));
            let span = now.duration_since(base.1);
            if span >= Duration::from_secs(1) {
                let rate = (row.switches - base.0) as f64 / span.as_secs_f64();
                self.rates.insert(row.tag, rate);
                *base = (row.switches, now);
            }
        }
        self.lost = lost;
    }

    /// Reads new program output.
    pub fn pull_console(&mut self, log: &ConsoleLog) {
        let mut lines = Vec::new();
        self.console_seq = log.read_since(self.console_seq, &mut lines);
        for line in lines {
            if self.console.len() == CONSOLE_KEEP {
                self.console.pop_front();
            }
            self.console.push_back(line);
        }
        self.partial = log.partial();
    }

    /// Zooms out until the timeline spans `run` (as far as it can): the
    /// final picture shows the whole run, not its last moments.
    pub fn fit_span(&mut self, run: Duration) {
        let (_, max_ms) = super::panes::timeline::SPAN_RANGE_MS;
        while (self.timeline.span_ms() as u128) < run.as_millis()
            && self.timeline.span_ms() < max_ms
        {
            self.timeline.zoom(false);
        }
    }

    /// The program ended this way.
    pub fn set_ended(&mut self, text: String) {
        self.ended = Some(text);
    }

    /// A key press; true to quit.
    pub fn on_key(&mut self, key: &KeyEvent) -> bool {
        let Some(action) = self.keys.action_for(key) else {
            return false;
        };
        match action {
            Action::Quit | Action::ForceQuit => return true,
            Action::ZoomIn => self.timeline.zoom(true),
            Action::ZoomOut => self.timeline.zoom(false),
            Action::Spawn(_)
            | Action::ToggleGil
            | Action::CycleGilKind
            | Action::IntervalDown
            | Action::IntervalUp
            | Action::Cancel
            | Action::CancelAll
            | Action::ToggleUiGil
            | Action::Experiments
            | Action::Confirm => {
                let name = match key.code {
                    KeyCode::Char(c) => c.to_string(),
                    other => format!("{other:?}"),
                };
                self.notice = Some(format!(
                    "{name}: drives the emulation; it does not apply to a traced program"
                ));
            }
            _ => {}
        }
        false
    }
}

/// Where each part goes.
fn layout(area: Rect, rows: usize, console: bool) -> [Rect; 5] {
    let body = area.height.saturating_sub(2);
    let table = (rows as u16 + 3).min(body / 3).max(4);
    let console_rows = if console { (body / 4).clamp(3, 10) } else { 0 };
    let [header, table, timeline, console, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(table),
        Constraint::Min(5),
        Constraint::Length(console_rows),
        Constraint::Length(1),
    ])
    .areas(area);
    [header, table, timeline, console, footer]
}

fn draw(terminal: &mut Tui, screen: &TraceScreen, console: bool) -> std::io::Result<()> {
    terminal.draw(|frame| {
        let [header, table, timeline, console_area, footer] =
            layout(frame.area(), screen.rows().len(), console);
        frame.render_widget(TraceHeader { screen }, header);
        frame.render_widget(ThreadTable { screen }, table);
        let workers = Workers::default();
        frame.render_widget(
            TimelinePane {
                timeline: screen.timeline(),
                workers: &workers,
                theme: screen.theme(),
                focused: false,
            },
            timeline,
        );
        if console {
            frame.render_widget(TraceConsole { screen }, console_area);
        }
        frame.render_widget(
            TraceFooter {
                screen,
                theme: screen.theme(),
            },
            footer,
        );
    })?;
    Ok(())
}

/// Shows `run` until the user quits; the terminal is restored on return.
pub fn run(run: TraceRun, options: &UiOptions) -> Result<TraceClosed, UiError> {
    let (signals, signal_handle) = spawn_signal_thread()?;
    let (guard, terminal) = TerminalGuard::enter(false)?;
    let mut terminal = ManuallyDrop::new(terminal);
    let input = spawn_input_thread()?;
    let python = run.trace.python().version.clone();
    let mut screen = TraceScreen::new(
        &python,
        run.trace.pid(),
        run.attached,
        options.theme,
        options.keys.clone(),
    );
    let closed = event_loop(run, &mut screen, &mut terminal, &input, &signals);
    drop(guard);
    signal_handle.close();
    Ok(closed)
}

fn event_loop(
    run: TraceRun,
    screen: &mut TraceScreen,
    terminal: &mut Tui,
    input: &Receiver<Input>,
    signals: &Receiver<i32>,
) -> TraceClosed {
    let TraceRun {
        trace,
        console,
        ended,
        ..
    } = run;
    let recorder: Arc<Mutex<Recorder>> = trace.shared_recorder();
    let epoch = trace.epoch();
    let mut live = Some(trace);
    let mut report = None;
    let mut frozen_at: Option<Duration> = None;
    let mut ended = ended;
    loop {
        let now = frozen_at.unwrap_or_else(|| epoch.elapsed().saturating_sub(LAG));
        screen.pull(
            &recorder,
            now.as_nanos() as u64,
            live.as_ref().map_or(screen.lost(), Trace::lost),
        );
        if let Some(log) = &console {
            screen.pull_console(log);
        }
        if draw(terminal, screen, console.is_some()).is_err() {
            break;
        }
        let tick = if live.is_some() {
            after(FRAME)
        } else {
            never()
        };
        select! {
            recv(input) -> event => match event {
                Ok(Input { event: Ok(Event::Key(key)), .. }) => {
                    if screen.on_key(&key) {
                        break;
                    }
                }
                Ok(Input { event: Ok(_), .. }) => {}
                _ => break,
            },
            recv(signals) -> _ => break,
            recv(ended) -> end => {
                ended = never();
                if let (Ok(end), Some(trace)) = (end, live.take()) {
                    let at = epoch.elapsed();
                    frozen_at = Some(at.saturating_sub(LAG));
                    screen.fit_span(at);
                    let (summary, _) = trace.finish(end);
                    screen.set_ended(match summary.exit_code {
                        Some(code) => format!("exited with code {code}"),
                        None => "the program has ended".to_string(),
                    });
                    report = Some(summary);
                    if let Some(log) = &console {
                        // Its last words: the pipes close as it exits.
                        log.wait_closed(Duration::from_millis(500));
                    }
                }
            },
            recv(tick) -> _ => {}
        }
    }
    match live {
        Some(trace) => TraceClosed::Quit(trace),
        None => TraceClosed::Finished(report.expect("a finished trace leaves its report")),
    }
}
