//! Python 2's interpreter lock, for `legacy` mode.

use std::sync::atomic::{AtomicU32, Ordering};

/// Python 2's `sys.getcheckinterval()` default: 100.
pub(crate) const CHECK_INTERVAL: u32 = 100;

/// Ticks per release of Python 2's lock at the default check interval:
/// 101. CPython 2.7's eval loop resets `_Py_Ticker` to the check interval
/// and releases when `--_Py_Ticker < 0`, so an interval of 100 lets 101
/// ticks run between two releases.
pub(crate) const DEFAULT_LEGACY_TICKS: u32 = CHECK_INTERVAL + 1;

/// How long one tick of CPython 2.7.18 takes here, in nanoseconds: its
/// `cpu_step` (the same integer work as the emulated step, written in
/// Python in `assets/python/threadlab_bench.py`) counts 83 ticks on
/// `_Py_Ticker` and runs in 1.3–1.6 µs on a quiet machine, 16–19 ns a
/// tick (`tests/python2_ticks.rs` measures it whenever a 2.7 is
/// installed). 101 ticks hold the lock ~1.7 µs between two releases.
/// (It was 40 ns, timed at load 11–14, where every tick took twice as
/// long: beside one CPU thread the emulated convoy then slowed 4–10×
/// where 2.7.18 slows 1.5–2×; BENCHMARKS.md, "Python 2's tick, timed on a
/// quiet machine".)
///
/// An emulated step is Rust: 10–20 ns with its check. Counted alone, 101
/// of them would release the lock a little sooner than Python 2 does, and
/// a thread waiting for it (the convoy's I/O thread) would get more
/// chances than beside Python 2. So in `legacy` mode a hold lasts 101
/// ticks *and* at least 101 of Python 2's ticks in time
/// ([`GilThread::check`](super::GilThread::check)); the race lab, which
/// models where in a loop body the release lands, counts ticks alone.
pub const PY27_TICK_NS: u64 = 17;

/// Past the tick count, the hold's clock is read once every this many
/// ticks (an `Instant::now()` per tick would slow the work it times).
pub(super) const CLOCK_EVERY_TICKS: u32 = 16;

/// Python 2's interpreter lock as it ran on Linux: a POSIX semaphore
/// (`sem_post` / `sem_wait`), i.e. a futex word. Release sets it free and
/// wakes one sleeper; acquire grabs it if free, else sleeps until the word
/// changes. No mutex around it: the releasing thread's immediate re-acquire
/// races the woken thread, as it did in CPython 2.
///
/// Bit 0 of `word` is 1 when free; the upper bits count interruptions
/// (cancel, mode switch) so a sleeper always sees the word change.
#[derive(Debug)]
pub(super) struct LegacyLock {
    word: AtomicU32,
    sleepers: AtomicU32,
    /// The thread that held it last (to count hand-overs).
    pub(super) last_holder: AtomicU32,
}

impl Default for LegacyLock {
    fn default() -> Self {
        Self {
            word: AtomicU32::new(1),
            sleepers: AtomicU32::new(0),
            last_holder: AtomicU32::new(0),
        }
    }
}

impl LegacyLock {
    /// One attempt: true if this thread now holds it.
    pub(super) fn try_acquire(&self) -> Result<(), u32> {
        let word = self.word.load(Ordering::SeqCst);
        if word & 1 == 1 {
            self.word
                .compare_exchange(word, word & !1, Ordering::SeqCst, Ordering::SeqCst)
                .map(|_| ())
        } else {
            Err(word)
        }
    }

    /// Sleeps until the word is no longer `seen`.
    pub(super) fn sleep(&self, seen: u32) {
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        atomic_wait::wait(&self.word, seen);
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    pub(super) fn release(&self) {
        self.word.fetch_or(1, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            atomic_wait::wake_one(&self.word);
        }
    }

    pub(super) fn interrupt(&self) {
        self.word.fetch_add(2, Ordering::SeqCst);
        atomic_wait::wake_all(&self.word);
    }
}
