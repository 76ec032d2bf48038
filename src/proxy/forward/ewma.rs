//! Peak-EWMA latency of one endpoint: jumps up to any slower sample at once, decays
//! towards faster ones (and towards zero while idle, so a once-slow endpoint is probed again).

use std::sync::Mutex;

/// Time constant of the decay.
const DECAY_NS: f64 = 10e9;
/// Estimate of an endpoint that has not answered yet.
pub(super) const DEFAULT_RTT_NS: f64 = 30e6;

#[derive(Debug)]
pub(super) struct PeakEwma {
    /// (estimate in ns, time of last update in ns since the backend's epoch).
    state: Mutex<(f64, u64)>,
}

impl PeakEwma {
    /// An estimate that starts at `estimate_ns` (a new endpoint of a service whose endpoints
    /// answer that fast: a default far above theirs would starve it of traffic for seconds).
    pub(super) fn starting_at(estimate_ns: f64, now_ns: u64) -> Self {
        Self {
            state: Mutex::new((estimate_ns, now_ns)),
        }
    }

    fn decay(estimate: f64, since_ns: u64, now_ns: u64) -> (f64, f64) {
        let elapsed = now_ns.saturating_sub(since_ns) as f64;
        let w = (-elapsed / DECAY_NS).exp();
        (estimate * w, w)
    }

    /// The estimate at `now_ns`, in ns.
    pub(super) fn get(&self, now_ns: u64) -> f64 {
        let (estimate, at) = *self.state.lock().unwrap_or_else(|e| e.into_inner());
        Self::decay(estimate, at, now_ns).0
    }

    /// Folds in one observed round trip.
    pub(super) fn observe(&self, rtt_ns: u64, now_ns: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let rtt = rtt_ns as f64;
        let (decayed, w) = Self::decay(state.0, state.1, now_ns);
        state.0 = if rtt > decayed {
            rtt
        } else {
            decayed + rtt * (1.0 - w)
        };
        state.1 = now_ns;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_to_peaks_and_decays_towards_fast_samples() {
        let e = PeakEwma::starting_at(DEFAULT_RTT_NS, 0);
        assert_eq!(e.get(0), DEFAULT_RTT_NS);
        e.observe(100_000_000, 1);
        assert_eq!(e.get(1), 100e6);
        // Many fast samples over 30 s bring it close to the fast latency.
        for i in 1..=300u64 {
            e.observe(1_000_000, i * 100_000_000);
        }
        let now = 30_000_000_000;
        assert!(e.get(now) < 10e6, "{}", e.get(now));
        // Idle: decays towards zero.
        assert!(e.get(now + 60_000_000_000) < e.get(now) / 100.0);
    }
}
