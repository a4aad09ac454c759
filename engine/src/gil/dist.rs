//! How long each hold of the GIL and each wait for it lasted, as
//! distributions rather than totals.
//!
//! A [`GilThread`](super::GilThread) records them only when asked
//! ([`GilThread::record_distributions`](super::GilThread::record_distributions)):
//! the experiments do, the dashboard's workers need only the totals. The
//! samples are the same lane segments the [`Timeline`](super::Timeline)
//! stamps — from entering the hold (or wait) lane to leaving it — so either
//! can be computed from the other.

use std::time::Duration;

use hdrhistogram::Histogram;

/// The one histogram shape threadlab uses for times: microseconds from 1 µs
/// to 60 s at three significant digits (0.1 % resolution).
pub fn micros_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant histogram bounds are valid")
}

/// Records `duration` in a [`micros_histogram`], clamped to its range.
pub(crate) fn record_micros(histogram: &mut Histogram<u64>, duration: Duration) {
    histogram.saturating_record(duration.as_micros().min(u128::from(u64::MAX)) as u64);
}

/// The `q`th percentile of a [`micros_histogram`] in milliseconds; `None`
/// when it is empty.
pub(crate) fn percentile_ms(histogram: &Histogram<u64>, q: f64) -> Option<f64> {
    (!histogram.is_empty()).then(|| histogram.value_at_percentile(q) as f64 / 1000.0)
}

/// One or more threads' hold and wait times.
#[derive(Debug, Clone)]
pub(crate) struct LaneDist {
    /// Each stay in the hold lane: from taking the GIL to letting it go.
    pub(crate) hold: Histogram<u64>,
    /// Each stay in the wait lane: from asking for the GIL to getting it (or
    /// giving up).
    pub(crate) wait: Histogram<u64>,
}

impl Default for LaneDist {
    fn default() -> Self {
        Self {
            hold: micros_histogram(),
            wait: micros_histogram(),
        }
    }
}

impl LaneDist {
    /// Adds `other`'s samples to these.
    pub(crate) fn merge(&mut self, other: &LaneDist) {
        // Same bounds on both sides, and saturating: adding cannot fail.
        let _ = self.hold.add(&other.hold);
        let _ = self.wait.add(&other.wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_in_milliseconds_and_absent_when_empty() {
        let mut dist = LaneDist::default();
        assert_eq!(percentile_ms(&dist.hold, 50.0), None);
        for ms in 1..=100 {
            record_micros(&mut dist.hold, Duration::from_millis(ms));
        }
        let mut other = LaneDist::default();
        record_micros(&mut other.wait, Duration::from_secs(3600));
        dist.merge(&other);
        let p50 = percentile_ms(&dist.hold, 50.0).unwrap();
        assert!((p50 - 50.0).abs() < 0.1, "{p50}");
        let p99 = percentile_ms(&dist.hold, 99.0).unwrap();
        assert!((p99 - 99.0).abs() < 0.1, "{p99}");
        // An hour is clamped to the histogram's 60 s, not lost.
        assert_eq!(dist.wait.len(), 1);
    }
}
