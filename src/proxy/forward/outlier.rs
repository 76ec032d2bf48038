//! Outlier detection: endpoints with consecutive 5xx or gateway errors are ejected for
//! `baseEjectionTime x n` (n grows with repeated ejections), within `maxEjectionPercent`,
//! and ejection is ignored while fewer than `minHealthPercent` endpoints are healthy.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use super::balance::EndpointSet;
use crate::model::policy::OutlierDetection;

/// Longest ejection, however often an endpoint was ejected (Envoy's default).
const MAX_EJECTION_NS: u64 = 300_000_000_000;

/// What one try to an endpoint showed about its health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Success,
    /// A 5xx other than 502, 503, 504.
    Status5xx,
    /// 502, 503 or 504.
    GatewayError,
    /// Connect failure, reset or timeout: the endpoint did not answer.
    LocalFailure,
}

impl Outcome {
    pub(super) fn of_status(status: http::StatusCode) -> Self {
        match status.as_u16() {
            502..=504 => Outcome::GatewayError,
            500..=599 => Outcome::Status5xx,
            _ => Outcome::Success,
        }
    }
}

/// Per-endpoint health state (atomics: updated on the request path without locks).
#[derive(Debug, Default)]
pub(super) struct Health {
    consecutive_5xx: AtomicU32,
    consecutive_gateway: AtomicU32,
    /// 0 when in service, else when the ejection ends (ns since the backend's epoch).
    ejected_until: AtomicU64,
    /// The multiplier of the last ejection.
    ejections: AtomicU32,
    /// When the endpoint last came back (ns since epoch).
    returned_at: AtomicU64,
}

impl Health {
    pub(super) fn is_ejected(&self) -> bool {
        self.ejected_until.load(Relaxed) != 0
    }
}

/// The policy, in the units the request path uses, and the sweep schedule.
#[derive(Debug)]
pub(super) struct Detector {
    consecutive_5xx: u32,
    consecutive_gateway: u32,
    interval_ns: u64,
    base_ns: u64,
    max_ejection_percent: usize,
    min_health_percent: usize,
    next_sweep_ns: AtomicU64,
}

fn ns(d: crate::model::duration::Duration) -> u64 {
    u64::try_from(d.get().as_nanos()).unwrap_or(u64::MAX)
}

impl Detector {
    pub(super) fn new(policy: &OutlierDetection) -> Self {
        Self {
            consecutive_5xx: policy.consecutive_5xx,
            consecutive_gateway: policy.consecutive_gateway_errors,
            interval_ns: ns(policy.interval).max(1),
            base_ns: ns(policy.base_ejection_time),
            max_ejection_percent: usize::from(policy.max_ejection_percent),
            min_health_percent: usize::from(policy.min_health_percent),
            next_sweep_ns: AtomicU64::new(0),
        }
    }

    /// Whether ejected endpoints must be skipped now (false in panic mode).
    pub(super) fn skip_ejected(&self, set: &EndpointSet) -> bool {
        let n = set.endpoints.len();
        let ejected = set.ejected.load(Relaxed) as usize;
        ejected > 0 && (n - ejected.min(n)) * 100 >= n * self.min_health_percent
    }

    /// Returns endpoints whose ejection is over; runs at most once per interval.
    pub(super) fn maybe_sweep(&self, set: &EndpointSet, now_ns: u64) {
        if set.ejected.load(Relaxed) == 0 {
            return;
        }
        let next = self.next_sweep_ns.load(Relaxed);
        if now_ns < next
            || self
                .next_sweep_ns
                .compare_exchange(next, now_ns + self.interval_ns, Relaxed, Relaxed)
                .is_err()
        {
            return;
        }
        for ep in &set.endpoints {
            let h = &ep.health;
            let until = h.ejected_until.load(Relaxed);
            if until != 0
                && until <= now_ns
                && h.ejected_until
                    .compare_exchange(until, 0, Relaxed, Relaxed)
                    .is_ok()
            {
                h.returned_at.store(now_ns, Relaxed);
                set.ejected.fetch_sub(1, Relaxed);
            }
        }
    }

    /// Records one try's outcome on endpoint `i`; true when this ejected it.
    pub(super) fn record(
        &self,
        set: &EndpointSet,
        i: usize,
        outcome: Outcome,
        now_ns: u64,
    ) -> bool {
        let h = &set.endpoints[i].health;
        let (c5xx, cgw) = match outcome {
            Outcome::Success => {
                h.consecutive_5xx.store(0, Relaxed);
                h.consecutive_gateway.store(0, Relaxed);
                return false;
            }
            Outcome::Status5xx => {
                h.consecutive_gateway.store(0, Relaxed);
                (h.consecutive_5xx.fetch_add(1, Relaxed) + 1, 0)
            }
            Outcome::GatewayError | Outcome::LocalFailure => (
                h.consecutive_5xx.fetch_add(1, Relaxed) + 1,
                h.consecutive_gateway.fetch_add(1, Relaxed) + 1,
            ),
        };
        let tripped = (self.consecutive_5xx > 0 && c5xx >= self.consecutive_5xx)
            || (self.consecutive_gateway > 0 && cgw >= self.consecutive_gateway);
        tripped && self.eject(set, i, now_ns)
    }

    fn eject(&self, set: &EndpointSet, i: usize, now_ns: u64) -> bool {
        let h = &set.endpoints[i].health;
        if h.is_ejected() || self.max_ejection_percent == 0 {
            return false;
        }
        let allowed = (set.endpoints.len() * self.max_ejection_percent / 100).max(1) as u32;
        if set
            .ejected
            .fetch_update(Relaxed, Relaxed, |e| (e < allowed).then_some(e + 1))
            .is_err()
        {
            return false;
        }
        // The multiplier decays by one per interval spent back in service.
        let back_for = now_ns.saturating_sub(h.returned_at.load(Relaxed));
        let decay = u32::try_from(back_for / self.interval_ns).unwrap_or(u32::MAX);
        let multiplier = h.ejections.load(Relaxed).saturating_sub(decay) + 1;
        let duration = self
            .base_ns
            .saturating_mul(u64::from(multiplier))
            .min(MAX_EJECTION_NS.max(self.base_ns));
        let until = now_ns.saturating_add(duration).max(1);
        if h.ejected_until
            .compare_exchange(0, until, Relaxed, Relaxed)
            .is_err()
        {
            set.ejected.fetch_sub(1, Relaxed);
            return false;
        }
        h.ejections.store(multiplier, Relaxed);
        h.consecutive_5xx.store(0, Relaxed);
        h.consecutive_gateway.store(0, Relaxed);
        true
    }
}
