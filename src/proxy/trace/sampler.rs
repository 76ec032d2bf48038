//! Which requests get a span: the caller's decision when it sent one (parent-based), else
//! the configured rate applied to the trace id, so every proxy a trace passes through
//! without a decision makes the same one.

/// A rate from 0.0 to 1.0 (checked by the model).
#[derive(Clone, Copy, Debug)]
pub struct Sampler {
    /// The rate scaled to the trace id's low 64 bits: sampled below it.
    threshold: u64,
    all: bool,
}

impl Sampler {
    pub fn new(rate: f64) -> Self {
        Self {
            // `as` saturates: a rate of 1.0 gives u64::MAX, and `all` covers that last value.
            threshold: (rate * u64::MAX as f64) as u64,
            all: rate >= 1.0,
        }
    }

    /// Whether the request of `trace` is sampled; `parent` is the caller's decision.
    pub fn sampled(&self, parent: Option<bool>, trace: u128) -> bool {
        parent.unwrap_or(self.all || (trace as u64) < self.threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callers_decision_wins_else_the_rate_decides() {
        let none = Sampler::new(0.0);
        let all = Sampler::new(1.0);
        assert!(none.sampled(Some(true), 7));
        assert!(!all.sampled(Some(false), 7));
        assert!(all.sampled(None, u128::MAX) && all.sampled(None, 0));
        assert!(!none.sampled(None, 0) && !none.sampled(None, u128::MAX));
        let quarter = Sampler::new(0.25);
        let hits = (0..10_000)
            .filter(|_| quarter.sampled(None, fastrand::u128(..)))
            .count();
        assert!((2_200..=2_800).contains(&hits), "{hits}");
        // The same trace id always gets the same answer.
        let id = fastrand::u128(..);
        assert_eq!(quarter.sampled(None, id), quarter.sampled(None, id));
    }
}
