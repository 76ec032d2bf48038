//! Latency histograms as the proxy reports them (per-bucket counts, not cumulative, plus an
//! overflow bucket): merging and percentiles interpolated inside the bucket, like Prometheus'
//! `histogram_quantile`.

/// Bucket upper bounds (ms, increasing) and one count per bound plus the overflow bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<u64>,
}

/// Two histograms (or a histogram and its bounds) that do not fit together.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MergeError {
    #[error("latency buckets differ ({0} bounds vs {1}): the proxies run different versions")]
    Bounds(usize, usize),
    #[error("{counts} latency counts for {bounds} bounds: expected one per bound plus one")]
    Counts { counts: usize, bounds: usize },
    #[error("latency bucket bounds must increase: {0:?}")]
    Order(Vec<f64>),
}

impl Histogram {
    /// An empty histogram over `bounds`.
    pub fn empty(bounds: &[f64]) -> Result<Self, MergeError> {
        Self::new(bounds.to_vec(), vec![0; bounds.len() + 1])
    }

    /// A histogram from the proxy's `latencyBucketsMs` and a row's `latencyBuckets`.
    pub fn new(bounds: Vec<f64>, counts: Vec<u64>) -> Result<Self, MergeError> {
        if counts.len() != bounds.len() + 1 {
            return Err(MergeError::Counts {
                counts: counts.len(),
                bounds: bounds.len(),
            });
        }
        use std::cmp::Ordering;
        // Positive and strictly increasing (NaN compares as neither).
        if bounds
            .windows(2)
            .any(|w| w[0].partial_cmp(&w[1]) != Some(Ordering::Less))
            || bounds
                .first()
                .is_some_and(|b| b.partial_cmp(&0.0) != Some(Ordering::Greater))
        {
            return Err(MergeError::Order(bounds));
        }
        Ok(Histogram { bounds, counts })
    }

    /// Adds `other`'s counts (same bounds required): the exact merge of two pods.
    pub fn merge(&mut self, other: &Histogram) -> Result<(), MergeError> {
        if self.bounds != other.bounds {
            return Err(MergeError::Bounds(self.bounds.len(), other.bounds.len()));
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine = mine.saturating_add(*theirs);
        }
        Ok(())
    }

    /// Number of observations.
    pub fn total(&self) -> u64 {
        self.counts
            .iter()
            .fold(0u64, |sum, c| sum.saturating_add(*c))
    }

    /// The `q`-quantile (0 ≤ q ≤ 1) in ms; `None` without observations. Inside a bucket the
    /// value is interpolated linearly between its bounds (the first bucket starts at 0); an
    /// answer in the overflow bucket is the highest bound (nothing more is known).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * total as f64;
        let mut below = 0u64;
        for (index, count) in self.counts.iter().enumerate() {
            let through = below.saturating_add(*count);
            if *count > 0 && through as f64 >= rank {
                let Some(upper) = self.bounds.get(index) else {
                    return self.bounds.last().copied();
                };
                let lower = if index == 0 {
                    0.0
                } else {
                    self.bounds[index - 1]
                };
                let inside = ((rank - below as f64) / *count as f64).clamp(0.0, 1.0);
                return Some(lower + (upper - lower) * inside);
            }
            below = through;
        }
        self.bounds.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bounds 10, 20, …, 100 ms.
    fn tens() -> Vec<f64> {
        (1..=10).map(|i| f64::from(i) * 10.0).collect()
    }

    /// A histogram of the given observations (ms) over `bounds`.
    fn observe(bounds: &[f64], values: impl IntoIterator<Item = f64>) -> Histogram {
        let mut counts = vec![0; bounds.len() + 1];
        for value in values {
            let index = bounds
                .iter()
                .position(|b| value <= *b)
                .unwrap_or(bounds.len());
            counts[index] += 1;
        }
        Histogram::new(bounds.to_vec(), counts).unwrap()
    }

    fn close(actual: Option<f64>, expected: f64) {
        let actual = actual.expect("a value");
        assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
    }

    #[test]
    fn counts_near_the_top_saturate_instead_of_overflowing() {
        // A proxy's answer is not ours to trust: found by src/stats/proptests.rs.
        let h = Histogram::new(vec![10.0], vec![1, u64::MAX]).unwrap();
        assert_eq!(h.total(), u64::MAX);
        assert_eq!(h.quantile(0.99), Some(10.0));
    }

    #[test]
    fn uniform_latencies_give_their_percentiles() {
        // 1..=100 ms, ten per bucket: the interpolation is exact for a uniform spread.
        let h = observe(&tens(), (1..=100).map(f64::from));
        close(h.quantile(0.5), 50.0);
        close(h.quantile(0.95), 95.0);
        close(h.quantile(0.99), 99.0);
        close(h.quantile(1.0), 100.0);
        close(h.quantile(0.0), 0.0);
    }

    #[test]
    fn values_on_a_bound_count_in_that_bucket() {
        // Every request took exactly 20 ms: the `≤ 20` bucket, never the next one.
        let h = observe(&tens(), std::iter::repeat_n(20.0, 7));
        assert_eq!(h.counts[1], 7);
        close(h.quantile(1.0), 20.0);
        let p50 = h.quantile(0.5).unwrap();
        assert!(p50 > 10.0 && p50 <= 20.0, "{p50}");
    }

    #[test]
    fn a_bimodal_distribution_puts_p99_in_the_slow_mode() {
        // 95 fast requests (≤ 10 ms) and 5 at 80 ms.
        let values = std::iter::repeat_n(5.0, 95).chain(std::iter::repeat_n(80.0, 5));
        let h = observe(&tens(), values);
        assert!(h.quantile(0.5).unwrap() <= 10.0);
        assert!(h.quantile(0.95).unwrap() <= 10.0);
        let p99 = h.quantile(0.99).unwrap();
        assert!(p99 > 70.0 && p99 <= 80.0, "{p99}");
    }

    #[test]
    fn slower_than_every_bound_reports_the_highest_bound() {
        let h = observe(&tens(), [500.0, 900.0]);
        close(h.quantile(0.5), 100.0);
    }

    #[test]
    fn an_empty_window_has_no_percentiles() {
        let h = Histogram::empty(&tens()).unwrap();
        assert_eq!(h.total(), 0);
        assert_eq!(h.quantile(0.5), None);
        assert_eq!(observe(&tens(), [1.0]).quantile(1.5), None);
    }

    #[test]
    fn merging_pods_equals_observing_all_their_requests() {
        let a: Vec<f64> = (1..=60).map(f64::from).collect();
        let b: Vec<f64> = (30..=100).map(|v| f64::from(v) * 0.9).collect();
        let mut merged = observe(&tens(), a.iter().copied());
        merged.merge(&observe(&tens(), b.iter().copied())).unwrap();
        let all = observe(&tens(), a.into_iter().chain(b));
        assert_eq!(merged, all);
        for q in [0.5, 0.95, 0.99] {
            assert_eq!(merged.quantile(q), all.quantile(q));
        }
        // Not the average of the two pods' percentiles.
        let mut empty = Histogram::empty(&tens()).unwrap();
        empty.merge(&all).unwrap();
        assert_eq!(empty, all, "a single pod merges into itself");
    }

    #[test]
    fn mismatched_histograms_are_refused() {
        let mut h = Histogram::empty(&tens()).unwrap();
        let other = Histogram::empty(&[1.0, 2.0]).unwrap();
        assert_eq!(h.merge(&other), Err(MergeError::Bounds(10, 2)));
        assert!(matches!(
            Histogram::new(vec![1.0, 2.0], vec![0, 0]),
            Err(MergeError::Counts { .. })
        ));
        assert!(matches!(
            Histogram::new(vec![2.0, 1.0], vec![0, 0, 0]),
            Err(MergeError::Order(_))
        ));
        assert!(Histogram::new(vec![f64::NAN], vec![0, 0]).is_err());
    }
}
