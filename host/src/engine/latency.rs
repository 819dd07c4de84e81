//! The latency histogram of a rule's calls: how long each call into it (`on-events` with a
//! batch, or `on-tick`) took, counted in fixed buckets from 10 µs to 1 s, plus their sum.
//!
//! It is plain counters, owned by the engine's thread beside the rule's other stats, so
//! recording takes no lock; the server copies it into `/metrics` when it publishes them.

use std::time::Duration;

/// The upper bounds of the buckets but the last (`+Inf`), in nanoseconds, with their `le`
/// label as Prometheus writes it (seconds).
const LATENCY_BUCKETS: [(u64, &str); 11] = [
    (10_000, "0.00001"),
    (50_000, "0.00005"),
    (100_000, "0.0001"),
    (500_000, "0.0005"),
    (1_000_000, "0.001"),
    (5_000_000, "0.005"),
    (10_000_000, "0.01"),
    (50_000_000, "0.05"),
    (100_000_000, "0.1"),
    (500_000_000, "0.5"),
    (1_000_000_000, "1"),
];

/// Calls counted by bucket (not cumulative: a call is in the first bucket whose bound it does
/// not exceed, or in the last, `+Inf`), and the total time of them all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: [u64; LATENCY_BUCKETS.len() + 1],
    sum: Duration,
}

impl LatencyHistogram {
    /// Counts one call that took `took`.
    pub fn record(&mut self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let at = LATENCY_BUCKETS
            .iter()
            .position(|(bound, _)| nanos <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.counts[at] += 1;
        self.sum = self.sum.saturating_add(took);
    }

    /// This histogram with `other`'s calls added (a rule's counts across its versions).
    #[must_use]
    pub(crate) fn merged(mut self, other: &LatencyHistogram) -> LatencyHistogram {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine += theirs;
        }
        self.sum = self.sum.saturating_add(other.sum);
        self
    }

    /// The calls counted since `earlier` (an earlier copy of this histogram).
    #[must_use]
    pub fn since(mut self, earlier: &LatencyHistogram) -> LatencyHistogram {
        for (mine, before) in self.counts.iter_mut().zip(earlier.counts) {
            *mine = mine.saturating_sub(before);
        }
        self.sum = self.sum.saturating_sub(earlier.sum);
        self
    }

    /// The upper bound of the bucket holding quantile `q` (0 to 1) of the calls: a call at
    /// that rank took at most this long. `None` without calls, or when that call is in the
    /// last bucket (over 1 s).
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        // the rank of the call, 1-based: at least the first, at most the last
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        for (at, n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return LATENCY_BUCKETS
                    .get(at)
                    .map(|(bound, _)| Duration::from_nanos(*bound));
            }
        }
        None
    }

    /// Calls counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Total time of the calls counted.
    pub fn sum(&self) -> Duration {
        self.sum
    }

    /// `(le, calls that took at most le)` for every bucket, `+Inf` last: cumulative, as the
    /// Prometheus `_bucket` series are.
    pub fn cumulative(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        let labels = LATENCY_BUCKETS
            .iter()
            .map(|(_, le)| *le)
            .chain(std::iter::once("+Inf"));
        labels.zip(self.counts.iter().scan(0u64, |total, n| {
            *total += n;
            Some(*total)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_land_in_the_first_bucket_they_fit_and_buckets_are_cumulative() {
        let mut h = LatencyHistogram::default();
        h.record(Duration::from_micros(10)); // on the bound: le 0.00001
        h.record(Duration::from_micros(11)); // le 0.00005
        h.record(Duration::from_millis(3)); // le 0.005
        h.record(Duration::from_secs(2)); // +Inf only
        let buckets: Vec<(&str, u64)> = h.cumulative().collect();
        assert_eq!(buckets.len(), 12);
        assert_eq!(buckets[0], ("0.00001", 1));
        assert_eq!(buckets[1], ("0.00005", 2));
        assert_eq!(buckets[4], ("0.001", 2));
        assert_eq!(buckets[5], ("0.005", 3));
        assert_eq!(buckets[10], ("1", 3));
        assert_eq!(buckets[11], ("+Inf", 4));
        assert_eq!(h.count(), 4);
        assert_eq!(
            h.sum(),
            Duration::from_micros(21) + Duration::from_millis(3) + Duration::from_secs(2)
        );
        assert_eq!(h.quantile(0.5), Some(Duration::from_micros(50)));
        assert_eq!(h.quantile(0.75), Some(Duration::from_millis(5)));
        assert_eq!(h.quantile(0.99), None, "the slowest call is over 1 s");
        assert_eq!(LatencyHistogram::default().quantile(0.5), None);
        let twice = h.merged(&h);
        assert_eq!(twice.since(&h), h);
        assert_eq!(twice.count(), 8);
        assert_eq!(twice.cumulative().nth(5), Some(("0.005", 6)));
    }
}
