//! The dashboard for `threadlab trace` / `attach`: a real program's threads
//! and GIL instead of emulated workers.
//!
//! The tracer writes the same [`GilEvent`](crate::gil::GilEvent) timeline
//! the emulation writes; this loop reads it into the dashboard's usual
//! timeline state and draws it with the usual timeline pane, beside a table
//! of the program's threads and its output. When the program ends the
//! picture stays, frozen, until `q`. Keys that drive the emulation say in
//! one line that they do not apply; `?` opens the dashboard's help overlay
//! listing the keys that work here and those that do not.

use std::mem::ManuallyDrop;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, after, never, select};
use crossterm::event::{Event, MouseEvent};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::layout::{Constraint, Layout, Rect};

use super::panes::help::ModeHelp;
use super::panes::timeline::draw::TimelinePane;
use super::panes::workers::Workers;
use super::runner::Input;
use super::terminal::{TerminalGuard, Tui};
use super::trace_panes::{ThreadTable, TraceConsole, TraceFooter, TraceHeader};
use super::trace_screen::{INAPPLICABLE, TraceScreen};
use super::{UiError, UiOptions, spawn_input_thread, spawn_signal_thread};
use crate::trace::console::ConsoleLog;
use crate::trace::recorder::Recorder;
use crate::trace::{Trace, TraceEnd, TraceReport};

/// The tracer applies events a few ms late (records from all CPUs are
/// sorted first): the picture ends that much before now, so its right edge
/// is never a guess.
const LAG: Duration = Duration::from_millis(6);
/// Frame gap while the program runs.
const FRAME: Duration = Duration::from_millis(33);

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

fn draw<B: Backend>(
    terminal: &mut Terminal<B>,
    screen: &TraceScreen,
    console: bool,
) -> Result<(), B::Error> {
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
                title: if screen.is_gil_disabled() {
                    "Thread states · no GIL"
                } else {
                    "GIL timeline"
                },
                states_only: screen.is_gil_disabled(),
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
        if screen.help_open() {
            frame.render_widget(
                ModeHelp {
                    keys: screen.keys(),
                    entries: &screen.help_entries(),
                    inapplicable: INAPPLICABLE,
                    why: "Not while tracing (emulation keys: they say so instead of acting)",
                    mode: "tracing a real program",
                },
                frame.area(),
            );
        }
    })?;
    Ok(())
}

/// Shows `run` until the user quits; the terminal is restored on return.
pub fn run(run: TraceRun, options: &UiOptions) -> Result<TraceClosed, UiError> {
    let (signals, signal_handle) = spawn_signal_thread()?;
    let (guard, terminal) = TerminalGuard::enter(options.mouse)?;
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
    if run.trace.python().gil_disabled {
        screen = screen.gil_disabled();
    }
    let closed = event_loop(run, &mut screen, &mut terminal, &input, &signals);
    drop(guard);
    signal_handle.close();
    Ok(closed)
}

/// Hands a mouse event to the screen, saying whether it is over the timeline.
fn on_mouse(screen: &mut TraceScreen, terminal: &Tui, mouse: &MouseEvent, console: bool) {
    let Ok(size) = terminal.size() else { return };
    let area = Rect::new(0, 0, size.width, size.height);
    let timeline = layout(area, screen.rows().len(), console)[2];
    let over = timeline.contains(ratatui::layout::Position::new(mouse.column, mouse.row));
    screen.on_mouse(mouse.kind, over);
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
                Ok(Input { event: Ok(Event::Mouse(mouse)), .. }) => {
                    on_mouse(screen, terminal, &mouse, console.is_some());
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

#[cfg(test)]
mod tests {
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::gil::Timeline as GilTimeline;
    use crate::trace::recorder::{Happening, Stamped};
    use crate::ui::keys::KeyMap;
    use crate::ui::theme::Theme;

    fn screen() -> TraceScreen {
        TraceScreen::new("3.11.7", 100, false, Theme::default(), KeyMap::default())
    }

    fn text(terminal: &Terminal<TestBackend>) -> String {
        let buffer = terminal.backend().buffer();
        let width = buffer.area.width as usize;
        let cells: Vec<&str> = buffer.content().iter().map(|c| c.symbol()).collect();
        cells
            .chunks(width)
            .map(|row| row.concat())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn question_mark_draws_the_help_overlay_over_the_trace_and_esc_removes_it() {
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let mut screen = screen();
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("test terminal");
        draw(&mut terminal, &screen, true).expect("draw");
        let before = text(&terminal);
        assert!(!before.contains("Help · keys"));
        assert!(before.contains("? help"), "the footer names the help key");
        screen.on_key(&KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE));
        draw(&mut terminal, &screen, true).expect("draw");
        let open = text(&terminal);
        for needle in [
            "Help · keys · tracing a real program · Esc closes",
            "+ =  zoom the GIL timeline in (down to 25 ms)",
            "-  zoom the GIL timeline out (up to 10 s)",
            "↑ k  scroll the lanes to older threads",
            "?  this help",
            "Esc  close this help",
            "q  stop the program (SIGINT, then SIGTERM, then SIGKILL) and quit",
            "Ctrl-C  quit (always)",
            "Not while tracing (emulation keys: they say so instead of acting):",
            "f d c s g m [ ] e r D t u x X Home End l z Tab Enter",
        ] {
            assert!(open.contains(needle), "{needle:?} missing\n{open}");
        }
        // Emulation commands are not offered as if they worked.
        assert!(!open.contains("spawn a cpu worker"), "{open}");
        screen.on_key(&KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
        draw(&mut terminal, &screen, true).expect("draw");
        assert_eq!(text(&terminal), before, "Esc leaves the picture as it was");
    }

    #[test]
    fn the_wheel_over_the_timeline_scrolls_its_lanes_and_elsewhere_does_nothing() {
        use crossterm::event::MouseEventKind;
        let mut screen = screen();
        screen.on_mouse(MouseEventKind::ScrollUp, false);
        assert_eq!(screen.timeline().scroll(), 0);
        let recorder = Mutex::new(Recorder::new(0, Arc::new(GilTimeline::default()), |tid| {
            format!("py-{tid}")
        }));
        {
            let mut rec = recorder.lock().expect("recorder");
            for tid in [100, 101, 102] {
                rec.apply(Stamped {
                    time_ns: u64::from(tid) * 1000,
                    tid,
                    what: Happening::TakeEntry,
                });
            }
        }
        screen.pull(&recorder, 1_000_000, 0);
        screen.on_mouse(MouseEventKind::ScrollUp, true);
        assert_eq!(screen.timeline().scroll(), 1);
        screen.on_mouse(MouseEventKind::ScrollDown, true);
        assert_eq!(screen.timeline().scroll(), 0);
    }

    #[test]
    fn a_traced_program_draws_header_threads_lanes_and_output() {
        let recorder = Mutex::new(Recorder::new(0, Arc::new(GilTimeline::default()), |tid| {
            format!("py-{tid}")
        }));
        {
            let mut rec = recorder.lock().expect("recorder");
            let mut at = |ms: u64, tid: u32, what| {
                rec.apply(Stamped {
                    time_ns: ms * 1_000_000,
                    tid,
                    what,
                })
            };
            at(0, 100, Happening::TakeEntry);
            at(1, 100, Happening::TakeReturn);
            at(2, 101, Happening::TakeEntry);
            at(6, 100, Happening::Drop);
            at(6, 101, Happening::TakeReturn);
        }
        let mut screen = screen();
        screen.pull(&recorder, 50_000_000, 0);
        let log = ConsoleLog::default();
        log.push("hello from python".into());
        screen.pull_console(&log);
        screen.set_ended("exited with code 0".into());
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("test terminal");
        draw(&mut terminal, &screen, true).expect("draw");
        let text: String = terminal
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect();
        for needle in [
            "TRACE python 3.11.7 · pid 100 · real GIL",
            "exited with code 0",
            "Threads · 2",
            "py-101",
            "▶ holds GIL",
            "main",
            "█",
            "hello from python",
            "q quit",
        ] {
            assert!(text.contains(needle), "{needle:?} missing");
        }
    }

    /// A free-threaded build's trace: the timeline's figures are each
    /// thread's running and blocked shares, and the thread table has no
    /// GIL columns — holds, waits and switches would all read 0.
    #[test]
    fn a_gil_less_trace_shows_running_and_blocked_shares_per_lane() {
        use crate::trace::recorder::SchedState;
        let timeline = Arc::new(GilTimeline::default());
        let recorder = Mutex::new(
            Recorder::new(0, Arc::clone(&timeline), |tid| format!("py-{tid}")).states_only(),
        );
        {
            let mut rec = recorder.lock().expect("recorder");
            for ms in 0..=1000 {
                for (tid, state) in [(100, SchedState::Running), (101, SchedState::Blocked)] {
                    rec.apply(Stamped {
                        time_ns: ms * 1_000_000,
                        tid,
                        what: Happening::Sampled(state),
                    });
                }
            }
        }
        let mut screen = screen().gil_disabled();
        screen.pull(&recorder, 1_000_000_000, 0);
        let mut terminal = Terminal::new(TestBackend::new(120, 36)).expect("test terminal");
        draw(&mut terminal, &screen, true).expect("draw");
        let text = text(&terminal);
        assert!(text.contains("run  blk"), "no state figures:\n{text}");
        assert!(!text.contains("hold wait"), "GIL figures:\n{text}");
        assert!(
            !text.contains("hold %"),
            "GIL columns in the table:\n{text}"
        );
        let lane = |name: &str| {
            text.lines()
                .find(|l| l.contains(name) && l.contains('%'))
                .map(str::to_owned)
                .unwrap_or_else(|| panic!("no {name} lane:\n{text}"))
        };
        assert!(lane("main").contains("100%   0%"), "{}", lane("main"));
        assert!(lane("│101 ").contains("  0% 100%"), "{}", lane("│101 "));
    }
}
