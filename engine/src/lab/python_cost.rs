//! What a Python UI would spend in Python: with "UI under the GIL" on, the
//! UI thread runs a modelled amount of interpreted work for each key it
//! handles and for each refresh of its data on a timer, so forced switches
//! interrupt it as they interrupt a Python TUI's handlers and rendering.
//!
//! The work is the engine's CPU step (one "bytecode", the cpu workers' own
//! [`cpu_step`]) with the eval-breaker check ([`GilThread::check`]) between
//! steps. Milliseconds become steps with this machine's step rate, measured
//! once per process ([`steps_per_ms`]), so "4 ms" is 4 ms of work here.
//!
//! Two costs, as a Python TUI has them (a Textual app: a key's handler and
//! the repaint it causes; a `set_interval` refresh that updates a table and
//! repaints it, whether or not keys come):
//!
//! * **per key** — the handler and the repaint that shows the key;
//! * **per refresh** — every [`REFRESH_GAP`] the UI refreshes its data and
//!   repaints; a refresh that ends past the next tick skips the ticks it
//!   missed, as Textual's `set_interval` timer does (`skip=True`: the next
//!   tick is the grid's second after the late one ends, 1–2 gaps later).
//!   A key handled while a refresh is due waits for it,
//!   as a key's repaint in Textual includes the pending one. Threadlab's
//!   own extra frames (up to `--fps`) cost nothing modelled: a Python UI
//!   would not draw them.
//!
//! The cost comes as a [`Preset`] per kind of app, each measured on a real
//! Textual app with no CPU threads (`benches/ui_gil.rs`, BENCHMARKS.md "UI
//! under the GIL, calibrated" and "… per kind of app"), nothing fitted:
//!
//! * `table` (the default): the bench's Textual dashboard, a 30-row table
//!   refreshed 10 times a second, on CPython 3.12.1 on a quiet machine:
//!   43.6–49.4 ms of CPU per refresh (all its threads; the main thread
//!   alone 44–56 % of a core), so 46 ms
//!   ([`PythonCost::DEFAULT_REFRESH_MS`]), and 4–9 ms more per key (a
//!   difference of two rates, so noisy: 4.5, [`PythonCost::DEFAULT_KEY_MS`]);
//! * `light`: `benches/python/textual_light.py`, one `Static` of a few lines
//!   refreshed 10 times a second: 2.3 ms of CPU per refresh and 2.6 per
//!   key, modelled as 2.5 and 2.5 ms.
//!
//! Both run in as many event-loop iterations as their apps' `select` calls
//! were counted ([`KEY_ITERATIONS`], [`REFRESH_ITERATIONS`]: 7.8 and 8.4
//! more calls per key, 73 and 70 a second at 10 refreshes a second). (An
//! earlier calibration on a busy machine found 29–38 ms per refresh:
//! starved of CPU, the app skipped refreshes.)
//!
//! Between two event-loop iterations the loop's `select` releases the GIL
//! (a plain [`GilThread::blocking`]) and takes it back; whether a waiter
//! woken by the release gets it first is decided as in CPython, by glibc's
//! condvar and the kernel (`gil/pthread.rs`). What the kernel decides
//! depends on priorities too: all threads of a Python process run at one
//! nice value, while threadlab's workers normally run 19 below its UI
//! thread. So while the UI is under the GIL the emulated Python threads
//! run at the UI thread's priority ([`GilThread::share_priority`]).
//!
//! A key also crosses the input thread, which takes the GIL to hand it on
//! as Textual's `textual-input` thread does (`src/ui/helper_gil.rs`), and
//! its frame the output thread, which takes it again before writing, as
//! Textual's `textual-output` does (`src/ui/frame_out.rs`).

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;
use crate::gil::{Gil, GilThread, Mode, SwitchInterval};
use crate::work::cpu_step;

/// How often a Python UI refreshes its data and repaints, whether or not
/// keys come: the bench's Textual dashboard's `set_interval(0.1)`.
pub(crate) const REFRESH_GAP: Duration = Duration::from_millis(100);

/// Event-loop iterations a key's Python runs in: a Python TUI's event loop
/// (asyncio, under Textual) handles a key as a chain of messages, one
/// callback per loop iteration, and each iteration starts with a `select`
/// that releases the GIL (`Py_BEGIN_ALLOW_THREADS`, even with a zero
/// timeout). Measured on the bench's Textual app with 0 CPU threads: 7.8
/// more `selector.select` calls per second per key pressed per second.
pub(crate) const KEY_ITERATIONS: u32 = 8;

/// Event-loop iterations a refresh runs in: the same app, no keys, made 73
/// `select` calls a second at 10 refreshes a second.
pub(crate) const REFRESH_ITERATIONS: u32 = 7;

/// The most Python per key or per refresh that can be configured, in ms.
pub(crate) const MAX_MS: f64 = 1000.0;

/// A kind of Python UI whose cost was measured: `--ui-python-ms table` or
/// `light` (BENCHMARKS.md, "UI under the GIL, per kind of app").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// The bench's Textual dashboard (`benches/python/textual_dashboard.py`:
    /// a 30-row `DataTable` refreshed 10 times a second): the default.
    Table,
    /// A light Textual app (`benches/python/textual_light.py`: one `Static`
    /// of a few lines refreshed 10 times a second).
    Light,
}

impl Preset {
    /// Every preset, in the order error messages and docs name them.
    pub const ALL: [Preset; 2] = [Preset::Table, Preset::Light];

    /// Its name on the command line and in the config.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Table => "table",
            Preset::Light => "light",
        }
    }

    /// The cost it models.
    pub fn cost(self) -> PythonCost {
        let (key_ms, refresh_ms, key_iterations, refresh_iterations) = match self {
            Preset::Table => (
                PythonCost::DEFAULT_KEY_MS,
                PythonCost::DEFAULT_REFRESH_MS,
                KEY_ITERATIONS,
                REFRESH_ITERATIONS,
            ),
            Preset::Light => (
                LIGHT_KEY_MS,
                LIGHT_REFRESH_MS,
                LIGHT_KEY_ITERATIONS,
                LIGHT_REFRESH_ITERATIONS,
            ),
        };
        PythonCost {
            key_ms,
            refresh_ms,
            key_iterations,
            refresh_iterations,
            preset: Some(self),
        }
    }

    /// The preset named `name`, if any.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// The light app's Python per key, ms: measured with `benches/ui_gil.rs`
/// (BENCHMARKS.md, "UI under the GIL, per kind of app").
const LIGHT_KEY_MS: f64 = 2.5;
/// The light app's Python per refresh (every [`REFRESH_GAP`]), ms.
const LIGHT_REFRESH_MS: f64 = 2.5;
/// Event-loop iterations per key in the light app: counted as the table
/// app's were, 8.4 more `selector.select` calls a second per key pressed
/// a second (0 CPU threads), the same as the table app's 7.8.
const LIGHT_KEY_ITERATIONS: u32 = 8;
/// Event-loop iterations per refresh in the light app: 70 `select` calls
/// a second with no keys, at 10 refreshes a second.
const LIGHT_REFRESH_ITERATIONS: u32 = 7;

/// Modelled Python time per key (its handler and the repaint that shows
/// it) and per refresh (every [`REFRESH_GAP`]), in ms, the event-loop
/// iterations each runs in, and the preset it came from, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PythonCost {
    key_ms: f64,
    refresh_ms: f64,
    key_iterations: u32,
    refresh_iterations: u32,
    preset: Option<Preset>,
}

/// A cost outside 0 to [`MAX_MS`] ms, not a number, nor a preset's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Python cost {0:?} is not a preset (table, light) nor KEY or KEY,REFRESH in milliseconds from 0 to 1000 (e.g. 4.5,46)"
)]
pub struct CostOutOfRange(pub String);

impl PythonCost {
    /// The calibrated default per key, ms (BENCHMARKS.md, "UI under the GIL, calibrated").
    pub const DEFAULT_KEY_MS: f64 = 4.5;

    /// The `table` preset's Python per refresh, ms: the CPU the app spends
    /// per refresh on an idle machine (BENCHMARKS.md, "UI under the GIL,
    /// calibrated": 43.6-49.4 ms, all its threads).
    pub const DEFAULT_REFRESH_MS: f64 = 46.0;

    /// No modelled cost: the Rust UI's own microseconds only.
    pub const NONE: Self = Self {
        key_ms: 0.0,
        refresh_ms: 0.0,
        key_iterations: KEY_ITERATIONS,
        refresh_iterations: REFRESH_ITERATIONS,
        preset: None,
    };

    /// `ms` of Python per key and none per refresh, 0 to [`MAX_MS`].
    pub fn from_millis(ms: f64) -> Result<Self, CostOutOfRange> {
        Self::with_refresh(ms, 0.0)
    }

    /// `key_ms` per key and `refresh_ms` per refresh, each 0 to [`MAX_MS`].
    pub fn with_refresh(key_ms: f64, refresh_ms: f64) -> Result<Self, CostOutOfRange> {
        let ok = |ms: f64| ms.is_finite() && (0.0..=MAX_MS).contains(&ms);
        if ok(key_ms) && ok(refresh_ms) {
            Ok(Self {
                key_ms,
                refresh_ms,
                ..Self::NONE
            })
        } else {
            Err(CostOutOfRange(format!("{key_ms},{refresh_ms}")))
        }
    }

    /// This cost with `refresh_ms` per refresh instead (no longer a
    /// preset's: the pane shows the numbers).
    pub fn refresh(self, refresh_ms: f64) -> Result<Self, CostOutOfRange> {
        Ok(Self {
            key_iterations: self.key_iterations,
            refresh_iterations: self.refresh_iterations,
            ..Self::with_refresh(self.key_ms, refresh_ms)?
        })
    }

    /// The preset this cost is, if it is one.
    pub fn preset(self) -> Option<Preset> {
        self.preset
    }

    /// Per key, handler and repaint together, in ms.
    pub(crate) fn per_key_ms(self) -> f64 {
        self.key_ms
    }

    /// Per refresh (one every [`REFRESH_GAP`]), in ms.
    pub fn per_refresh_ms(self) -> f64 {
        self.refresh_ms
    }

    /// True when nothing is modelled.
    pub fn is_none(self) -> bool {
        self.key_ms == 0.0 && self.refresh_ms == 0.0
    }
}

impl Default for PythonCost {
    /// The `table` preset.
    fn default() -> Self {
        Preset::Table.cost()
    }
}

/// "12", "2.5", "0.25": no trailing zeros.
fn millis(ms: f64) -> String {
    let text = format!("{ms:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl fmt::Display for PythonCost {
    /// "4.5 ms/key + 46 ms/refresh", or "4.5 ms/key" without refreshes; a
    /// preset's name first: "table (4.5 ms/key + 46 ms/refresh)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut numbers = format!("{} ms/key", millis(self.key_ms));
        if self.refresh_ms > 0.0 {
            numbers += &format!(" + {} ms/refresh", millis(self.refresh_ms));
        }
        match self.preset {
            Some(preset) => write!(f, "{} ({numbers})", preset.name()),
            None => f.write_str(&numbers),
        }
    }
}

impl PythonCost {
    /// The short form: "4.5+46 ms" (per key + per refresh), "2 ms" without
    /// refreshes.
    pub fn brief(self) -> String {
        let numbers = if self.refresh_ms > 0.0 {
            format!("{}+{} ms", millis(self.key_ms), millis(self.refresh_ms))
        } else {
            format!("{} ms", millis(self.key_ms))
        };
        match self.preset {
            Some(preset) => format!("{} ({numbers})", preset.name()),
            None => numbers,
        }
    }
}

impl FromStr for PythonCost {
    type Err = CostOutOfRange;

    /// A preset's name (`table`, `light`), or `KEY` or `KEY,REFRESH`,
    /// each in ms with an optional `ms` suffix.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(preset) = Preset::named(s.trim()) {
            return Ok(preset.cost());
        }
        let bad = || CostOutOfRange(s.to_string());
        let number = |text: &str| -> Result<f64, CostOutOfRange> {
            let text = text.trim();
            let ms = text.strip_suffix("ms").unwrap_or(text).trim();
            ms.parse::<f64>().map_err(|_| bad())
        };
        let (key, refresh) = match s.split_once(',') {
            Some((key, refresh)) => (number(key)?, number(refresh)?),
            None => (number(s)?, 0.0),
        };
        Self::with_refresh(key, refresh).map_err(|_| bad())
    }
}

/// Emulated steps per millisecond on this machine: the fastest of a few
/// short timed runs of the same loop the UI runs (a step and a check, here
/// on a private GIL in `free` mode, whose check costs what a held GIL's
/// does), measured once per process.
pub fn steps_per_ms() -> u64 {
    static RATE: OnceLock<u64> = OnceLock::new();
    *RATE.get_or_init(|| {
        const STEPS: u64 = 20_000;
        let mut thread = Gil::new(Mode::Free, SwitchInterval::DEFAULT).register(CancelToken::new());
        let mut state = 0x2545_F491_4F6C_DD1D;
        let mut best = f64::MAX;
        for _ in 0..7 {
            let started = Instant::now();
            for _ in 0..STEPS {
                if thread.check().is_err() {
                    break;
                }
                state = cpu_step(state);
            }
            best = best.min(started.elapsed().as_secs_f64());
        }
        thread.exit();
        std::hint::black_box(state);
        ((STEPS as f64 / (best * 1000.0)) as u64).max(1)
    })
}

/// The modelled work in steps, what has been executed, and when the next
/// refresh is due.
#[derive(Debug, Clone)]
pub struct PythonWork {
    key_steps: u64,
    refresh_steps: u64,
    key_iterations: u32,
    refresh_iterations: u32,
    executed: u64,
    refreshes: u64,
    next_refresh: Option<Instant>,
    state: u64,
}

impl PythonWork {
    /// `cost` in steps at `rate` steps per ms.
    pub fn new(cost: PythonCost, rate: u64) -> Self {
        let steps = |ms: f64| (ms * rate as f64).round() as u64;
        Self {
            key_steps: steps(cost.per_key_ms()),
            refresh_steps: steps(cost.per_refresh_ms()),
            key_iterations: cost.key_iterations,
            refresh_iterations: cost.refresh_iterations,
            executed: 0,
            refreshes: 0,
            next_refresh: None,
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Steps run for each key handled.
    pub fn key_steps(&self) -> u64 {
        self.key_steps
    }

    /// Steps run for each refresh.
    pub fn refresh_steps(&self) -> u64 {
        self.refresh_steps
    }

    /// Steps executed so far.
    pub fn executed(&self) -> u64 {
        self.executed
    }

    /// Refreshes run so far.
    pub fn refreshes(&self) -> u64 {
        self.refreshes
    }

    /// A key's handler and repaint, run by `thread` (which takes the GIL if
    /// it must).
    pub fn key(&mut self, thread: &mut GilThread) {
        self.run_iterations(thread, self.key_steps, self.key_iterations);
    }

    /// When the next refresh is due, if refreshes are modelled and the
    /// timer runs (see [`start_refreshes`](Self::start_refreshes)).
    pub fn next_refresh(&self) -> Option<Instant> {
        self.next_refresh.filter(|_| self.refresh_steps > 0)
    }

    /// Starts the refresh timer: the first refresh is due one
    /// [`REFRESH_GAP`] after `now` (the UI just went under the GIL).
    pub fn start_refreshes(&mut self, now: Instant) {
        if self.next_refresh.is_none() {
            self.next_refresh = Some(now + REFRESH_GAP);
        }
    }

    /// Stops the refresh timer (the UI left the GIL).
    pub fn stop_refreshes(&mut self) {
        self.next_refresh = None;
    }

    /// Runs a refresh with `thread` if one is due at `now`. The timer ticks
    /// every [`REFRESH_GAP`] on a fixed grid, as Textual's `Timer._run`
    /// with `skip` (`set_interval`'s default): a refresh that ends before
    /// the next tick is followed by that tick; one that ends later (it
    /// started late, or a UI that gets too little of the GIL took long)
    /// skips the ticks it missed, and the next is the grid's second tick
    /// after its end (Textual recounts from the end: `count = int(elapsed
    /// / interval + 1)`, then waits for tick `count + 1`). True if one ran.
    pub fn refresh_if_due(&mut self, thread: &mut GilThread, now: Instant) -> bool {
        let Some(due) = self.next_refresh() else {
            return false;
        };
        if now < due {
            return false;
        }
        self.run_iterations(thread, self.refresh_steps, self.refresh_iterations);
        self.refreshes += 1;
        let ended = Instant::now().max(now);
        let next = due + REFRESH_GAP;
        self.next_refresh = Some(if ended <= next {
            next
        } else {
            let late = ended.duration_since(due).as_nanos() / REFRESH_GAP.as_nanos();
            due + REFRESH_GAP * u32::try_from(late + 2).unwrap_or(u32::MAX)
        });
        true
    }

    /// `steps` steps split evenly over `iterations` event-loop iterations:
    /// between two iterations the loop's `select` releases the GIL and
    /// takes it back, and a waiter the release woke may get it first (the
    /// kernel decides, at the priorities the threads run at).
    fn run_iterations(&mut self, thread: &mut GilThread, steps: u64, iterations: u32) {
        let n = u64::from(iterations.max(1));
        for i in 0..n {
            if i > 0 && steps > 0 && thread.blocking(|| ()).is_err() {
                return;
            }
            let chunk = steps * (i + 1) / n - steps * i / n;
            self.run(thread, chunk);
        }
    }

    /// `steps` steps with the eval-breaker check before each, as the cpu
    /// workers run them. The UI's token is never cancelled, but a
    /// cancelled check would end the work early rather than hang.
    fn run(&mut self, thread: &mut GilThread, steps: u64) {
        let mut state = self.state;
        for _ in 0..steps {
            if thread.check().is_err() {
                break;
            }
            state = cpu_step(state);
            self.executed += 1;
        }
        self.state = state;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_bounds_the_cost() {
        assert_eq!("12".parse::<PythonCost>(), PythonCost::from_millis(12.0));
        assert_eq!("2.5 ms".parse::<PythonCost>(), PythonCost::from_millis(2.5));
        assert_eq!(
            "4.5,33".parse::<PythonCost>(),
            PythonCost::with_refresh(4.5, 33.0)
        );
        assert_eq!(
            "4.5 ms, 33 ms".parse::<PythonCost>(),
            PythonCost::with_refresh(4.5, 33.0)
        );
        for bad in ["-1", "1001", "NaN", "twelve", "4,", "4,-1", "4,1001", ",3"] {
            assert!(bad.parse::<PythonCost>().is_err(), "{bad}");
        }
        assert_eq!(
            PythonCost::default().to_string(),
            "table (4.5 ms/key + 46 ms/refresh)"
        );
        assert_eq!(
            PythonCost::from_millis(2.5).map(|c| c.to_string()),
            Ok("2.5 ms/key".into())
        );
        assert!(PythonCost::NONE.is_none() && !PythonCost::default().is_none());
        assert_eq!(PythonCost::default().brief(), "table (4.5+46 ms)");
    }

    #[test]
    fn presets_parse_by_name_and_table_is_the_default() {
        assert_eq!("table".parse::<PythonCost>(), Ok(Preset::Table.cost()));
        assert_eq!(" light ".parse::<PythonCost>(), Ok(Preset::Light.cost()));
        assert_eq!(PythonCost::default().preset(), Some(Preset::Table));
        assert_eq!("4.5,46".parse::<PythonCost>().map(|c| c.preset()), Ok(None));
        for bad in ["Table", "heavy", "light,3", ""] {
            let error = bad.parse::<PythonCost>().expect_err(bad).to_string();
            assert!(error.contains("table, light"), "{bad}: {error}");
        }
        // A preset with its refresh changed is numbers, not the preset.
        let changed = Preset::Light.cost().refresh(9.0).expect("in range");
        assert_eq!(changed.preset(), None);
        assert!(changed.brief().ends_with("+9 ms"), "{}", changed.brief());
        assert!(!changed.brief().contains("light"));
        assert!(Preset::Light.cost().brief().starts_with("light ("));
    }

    /// The light app's Python costs less than the table's in the model:
    /// fewer steps per key and per refresh, so less of the GIL a second.
    #[test]
    fn light_costs_less_than_table() {
        let rate = 1000;
        let table = PythonWork::new(Preset::Table.cost(), rate);
        let light = PythonWork::new(Preset::Light.cost(), rate);
        assert!(light.key_steps() < table.key_steps());
        assert!(light.refresh_steps() < table.refresh_steps());
        assert!(light.refresh_steps() > 0, "it still refreshes");
    }

    /// A modelled millisecond is a millisecond where the UI runs it: the
    /// rate measured in `free` mode is the rate under a held GIL (a check
    /// that cost 2.8 times as much in `free` mode once made "46 ms" run 17).
    #[test]
    fn the_measured_rate_is_the_rate_under_a_held_gil() {
        const STEPS: u64 = 20_000;
        let gil = Gil::new(Mode::Gil, SwitchInterval::DEFAULT);
        let mut thread = gil.register(CancelToken::new());
        thread.enter().expect("an uncontended GIL");
        let (mut state, mut best) = (1u64, f64::MAX);
        for _ in 0..7 {
            let started = Instant::now();
            for _ in 0..STEPS {
                thread.check().expect("never cancelled");
                state = cpu_step(state);
            }
            best = best.min(started.elapsed().as_secs_f64());
        }
        thread.exit();
        std::hint::black_box(state);
        let held = STEPS as f64 / (best * 1000.0);
        let measured = steps_per_ms() as f64;
        assert!(
            (0.5..=2.0).contains(&(held / measured)),
            "{held:.0} steps/ms under a held GIL, {measured:.0} measured"
        );
    }

    #[test]
    fn costs_become_steps() {
        let cost = PythonCost::with_refresh(8.0, 30.0).expect("in range");
        let work = PythonWork::new(cost, 1000);
        assert_eq!((work.key_steps(), work.refresh_steps()), (8000, 30_000));
    }

    #[test]
    fn runs_exactly_its_steps_under_a_held_gil() {
        let gil = Gil::new(Mode::Gil, SwitchInterval::DEFAULT);
        let mut thread = gil.register(CancelToken::new());
        let cost = PythonCost::with_refresh(4.0, 2.0).expect("in range");
        let mut work = PythonWork::new(cost, 100);
        work.key(&mut thread);
        assert!(thread.is_holding(), "the work takes the GIL");
        let t0 = Instant::now();
        assert!(!work.refresh_if_due(&mut thread, t0 + REFRESH_GAP * 5));
        work.start_refreshes(t0);
        assert!(!work.refresh_if_due(&mut thread, t0), "not due yet");
        assert!(work.refresh_if_due(&mut thread, t0 + REFRESH_GAP));
        assert_eq!(work.executed(), 400 + 200);
        assert!(steps_per_ms() > 0);
        thread.exit();
    }

    #[test]
    fn a_late_refresh_takes_in_the_ticks_before_it() {
        let gil = Gil::new(Mode::Free, SwitchInterval::DEFAULT);
        let mut thread = gil.register(CancelToken::new());
        let mut work = PythonWork::new(PythonCost::with_refresh(0.0, 1.0).expect("in range"), 10);
        let t0 = Instant::now();
        work.start_refreshes(t0);
        let due = work.next_refresh().expect("the timer runs");
        // Woken 3.5 gaps late: one refresh for all the ticks it missed,
        // then, as Textual's timer skips, the grid's second tick after it.
        let late = due + REFRESH_GAP * 7 / 2;
        assert!(work.refresh_if_due(&mut thread, late));
        assert_eq!(work.next_refresh(), Some(due + REFRESH_GAP * 5));
        assert_eq!(work.refreshes(), 1);
        // On time: the next tick.
        let on_time = due + REFRESH_GAP * 5;
        assert!(work.refresh_if_due(&mut thread, on_time));
        assert_eq!(work.next_refresh(), Some(due + REFRESH_GAP * 6));
        work.stop_refreshes();
        assert_eq!(work.next_refresh(), None);
        // No refresh cost: no timer.
        let mut keys_only = PythonWork::new(PythonCost::from_millis(1.0).expect("in range"), 10);
        keys_only.start_refreshes(t0);
        assert_eq!(keys_only.next_refresh(), None);
        thread.exit();
    }

    /// Beside two CPU threads the UI's refresh is forced off again and
    /// again, as the real main thread is beside them (traced: hold p50 =
    /// the switch interval, wait p50 two intervals): its Python is
    /// interrupted by the eval breaker like any thread's. A UI whose work
    /// never checked for drop requests would keep the GIL for a whole
    /// refresh and show none.
    #[test]
    fn a_refresh_beside_cpu_threads_is_forced_off_mid_repaint() {
        // Up to three tries: on a machine busy with other work the CPU
        // threads may wake too late to ask within a refresh. A UI that
        // ignored drop requests is forced off in none of them.
        let forced: Vec<u64> = (0..3)
            .map(|_| forced_drops_in_refreshes(5))
            .take_while(|&forced| forced == 0)
            .collect();
        assert!(
            forced.len() < 3,
            "never forced off in 5 refreshes, three times: {forced:?}"
        );
    }

    /// Runs `n` default refreshes beside two CPU threads; the UI's forced drops.
    fn forced_drops_in_refreshes(n: u32) -> u64 {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let gil = Gil::new(Mode::Gil, SwitchInterval::DEFAULT);
        let stop = Arc::new(AtomicBool::new(false));
        let spinners: Vec<_> = (0..2)
            .map(|_| {
                let mut cpu = gil.register(CancelToken::new());
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut state = 1u64;
                    while !stop.load(Ordering::Relaxed) && cpu.check().is_ok() {
                        state = cpu_step(state);
                    }
                    cpu.exit();
                    std::hint::black_box(state);
                })
            })
            .collect();
        let mut ui = gil.register(CancelToken::new());
        let cost = PythonCost::with_refresh(0.0, PythonCost::DEFAULT_REFRESH_MS).expect("in range");
        let mut work = PythonWork::new(cost, steps_per_ms());
        let t0 = Instant::now();
        work.start_refreshes(t0);
        for _ in 0..n {
            // Each at its tick: a late one moves the next (Textual's skip).
            let due = work.next_refresh().expect("the timer runs");
            assert!(work.refresh_if_due(&mut ui, due));
        }
        let forced = ui.stats().snapshot().forced_drops;
        ui.exit();
        stop.store(true, Ordering::Relaxed);
        for spinner in spinners {
            spinner.join().expect("a CPU thread");
        }
        forced
    }
}
