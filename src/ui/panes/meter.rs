//! The responsiveness meter: key-to-screen latency and frame time
//! histograms, events per second, and the latency sparkline.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline, Widget};

use crate::lab::python_cost::PythonCost;
use crate::ui::keys::{Action, KeyMap};
use crate::ui::panes::fit::{Item, first_fitting, fit_line, fit_title};
use crate::ui::theme::{Role, Theme};

/// Latencies kept for the responsiveness sparkline.
pub(crate) const RECENT_LATENCIES: usize = 120;

/// The meter's state.
#[derive(Debug)]
pub struct Meter {
    key_latency: Histogram<u64>,
    recent_latency: VecDeque<u64>,
    frame_time: Histogram<u64>,
    events_per_s: u64,
    events_this_second: u64,
    second_started: Option<Instant>,
}

impl Default for Meter {
    fn default() -> Self {
        Self {
            key_latency: crate::gil::micros_histogram(),
            recent_latency: VecDeque::new(),
            frame_time: crate::gil::micros_histogram(),
            events_per_s: 0,
            events_this_second: 0,
            second_started: None,
        }
    }
}

fn micros(duration: Duration) -> u64 {
    (duration.as_micros() as u64).clamp(1, 60_000_000)
}

impl Meter {
    /// Key-to-screen latency percentile `q` (0..=100) in ms, once measured.
    pub fn key_latency_ms(&self, q: f64) -> Option<f64> {
        (!self.key_latency.is_empty())
            .then(|| self.key_latency.value_at_percentile(q) as f64 / 1000.0)
    }

    /// Frame time percentile `q` in ms, once measured.
    pub fn frame_ms(&self, q: f64) -> Option<f64> {
        (!self.frame_time.is_empty())
            .then(|| self.frame_time.value_at_percentile(q) as f64 / 1000.0)
    }

    /// Keys measured so far.
    pub(crate) fn keys_measured(&self) -> u64 {
        self.key_latency.len()
    }

    /// Recent key-to-screen latencies (µs), newest last.
    pub fn recent_latency(&self) -> &VecDeque<u64> {
        &self.recent_latency
    }

    /// Events applied per second, over the last full second.
    pub fn events_per_s(&self) -> u64 {
        self.events_per_s
    }

    pub(in crate::ui) fn key_shown(&mut self, latency: Duration) {
        let micros = micros(latency);
        let _ = self.key_latency.record(micros);
        if self.recent_latency.len() == RECENT_LATENCIES {
            self.recent_latency.pop_front();
        }
        self.recent_latency.push_back(micros);
    }

    pub(in crate::ui) fn frame_drawn(&mut self, draw_time: Duration, at: Instant) {
        let _ = self.frame_time.record(micros(draw_time));
        let started = *self.second_started.get_or_insert(at);
        if at.duration_since(started) >= Duration::from_secs(1) {
            self.events_per_s = self.events_this_second;
            self.events_this_second = 0;
            self.second_started = Some(at);
        }
    }

    pub(in crate::ui) fn count_event(&mut self) {
        self.events_this_second += 1;
    }
}

/// The responsiveness pane.
pub struct MeterPane<'a> {
    /// Its state.
    pub meter: &'a Meter,
    /// Whether the UI thread takes the GIL (the pane says so loudly).
    pub ui_under_gil: bool,
    /// The Python work modelled per key and refresh under the GIL (the pane says what).
    pub python_cost: PythonCost,
    /// For the key that toggles it.
    pub keys: &'a KeyMap,
    /// Colours.
    pub theme: &'a Theme,
    /// Whether it has the keyboard focus (its border says so).
    pub focused: bool,
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_string(), |ms| format!("{ms:.1} ms"))
}

impl MeterPane<'_> {
    fn lines(&self, room: usize) -> Vec<Line<'static>> {
        let meter = self.meter;
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let keys = vec![
            Item::spans(
                0,
                "",
                vec![
                    Span::raw(" key→screen p50 "),
                    Span::styled(ms(meter.key_latency_ms(50.0)), bold),
                ],
            ),
            Item::spans(
                1,
                "  ",
                vec![
                    Span::raw("p99 "),
                    Span::styled(ms(meter.key_latency_ms(99.0)), bold),
                ],
            ),
            Item::new(2, "  ", format!("({} keys)", meter.keys_measured())),
        ];
        let frames = vec![
            Item::new(0, "", format!(" frame p50 {}", ms(meter.frame_ms(50.0)))),
            Item::new(1, "  ", format!("p99 {}", ms(meter.frame_ms(99.0)))),
            Item::new(2, "  ", format!("events {}/s", meter.events_per_s)),
        ];
        let key = self.keys.label(Action::ToggleUiGil);
        let cost = self.python_cost;
        let (assumes, brief) = if !cost.is_none() {
            (format!("assumes Python: {cost}"), format!("Python {cost}"))
        } else {
            (
                "assumes no Python work".to_string(),
                "no Python work".to_string(),
            )
        };
        let every = if cost.per_refresh_ms() > 0.0 {
            " every 100 ms"
        } else {
            ""
        };
        let choices = if self.ui_under_gil && cost.preset().is_some() {
            // "UI under GIL: light (2.5+2.5 ms)": the preset in force, named.
            vec![
                format!(
                    " {key}: the UI takes the GIL for every key and frame · assumes Python: {cost}{every}"
                ),
                format!(" {key}: UI under the GIL · assumes Python: {cost}"),
                format!(" {key}: UI under GIL: {}", cost.brief()),
                format!(
                    " {key}: UI under GIL: {}",
                    cost.preset().map_or("", |preset| preset.name())
                ),
                format!(" {key}: UI takes the GIL"),
            ]
        } else if self.ui_under_gil {
            vec![
                format!(" {key}: the UI takes the GIL for every key and frame · {assumes}{every}"),
                format!(" {key}: UI under the GIL · {assumes}"),
                format!(" {key}: UI takes the GIL · {brief}"),
                format!(" {key}: UI takes the GIL · Python {}", cost.brief()),
                format!(" {key}: UI takes the GIL"),
            ]
        } else {
            vec![
                format!(" {key}: make the UI take the GIL, like a Python UI"),
                format!(" {key}: UI under the GIL"),
            ]
        };
        let choices: Vec<&str> = choices.iter().map(String::as_str).collect();
        vec![
            fit_line(keys, room),
            fit_line(frames, room),
            Line::from(first_fitting(&choices, room).to_string()),
        ]
    }
}

impl Widget for MeterPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let room = area.width.saturating_sub(2) as usize;
        let (title, border) = if self.ui_under_gil {
            (
                fit_title(&[(0, "Responsiveness"), (1, "UI UNDER THE GIL")], room),
                self.theme.fg(Role::Accent).add_modifier(Modifier::BOLD),
            )
        } else {
            (fit_title(&[(0, "Responsiveness")], room), Style::new())
        };
        let border = if self.focused {
            border.add_modifier(Modifier::BOLD)
        } else {
            border
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(border)
            .title(title);
        let inner = block.inner(area);
        block.render(area, buf);
        // The figures first; the sparkline only below them.
        let [text, spark] =
            Layout::vertical([Constraint::Length(3), Constraint::Min(0)]).areas(inner);
        Paragraph::new(self.lines(inner.width as usize)).render(text, buf);
        let data: Vec<u64> = self.meter.recent_latency.iter().copied().collect();
        let data = &data[data.len().saturating_sub(spark.width as usize)..];
        let role = if self.ui_under_gil {
            Role::Accent
        } else {
            Role::Chart
        };
        Sparkline::default()
            .data(data)
            .style(self.theme.fg(role))
            .render(spark, buf);
    }
}
