//! Counters of the forwarding layer (retries, timeouts, ejections, overflows, rate limiting),
//! registered once and shared by every backend through cheap per-backend handles.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TimeoutLabels {
    backend: String,
    kind: &'static str,
}

/// The families; clone it freely (clones share the counters).
#[derive(Clone, Debug, Default)]
pub struct ForwardMetrics {
    retries: Family<BackendLabels, Counter>,
    budget_exhausted: Family<BackendLabels, Counter>,
    timeouts: Family<TimeoutLabels, Counter>,
    ejections: Family<BackendLabels, Counter>,
    overflows: Family<BackendLabels, Counter>,
    no_endpoint: Family<BackendLabels, Counter>,
    rate_limited: Family<LimitLabels, Counter>,
}

/// One backend's counters (atomic increments on the request path, no lookups).
#[derive(Clone, Debug, Default)]
pub struct BackendCounters {
    pub retries: Counter,
    pub budget_exhausted: Counter,
    pub request_timeouts: Counter,
    pub per_try_timeouts: Counter,
    pub ejections: Counter,
    pub overflows: Counter,
    pub no_endpoint: Counter,
}

impl ForwardMetrics {
    /// Adds the families to the proxy's registry (exposed on `/metrics`).
    pub fn register(&self, registry: &mut Registry) {
        let r = registry;
        r.register("retry", "Retries sent, by backend", self.retries.clone());
        r.register(
            "retry_budget_exhausted",
            "Retries not sent because the retry budget was spent, by backend",
            self.budget_exhausted.clone(),
        );
        r.register(
            "timeout",
            "Timeouts, by backend and kind (request, per-try)",
            self.timeouts.clone(),
        );
        r.register(
            "ejection",
            "Endpoints ejected by outlier detection, by backend",
            self.ejections.clone(),
        );
        r.register(
            "pool_overflow",
            "Requests answered 503 by the circuit breaker, by backend",
            self.overflows.clone(),
        );
        r.register(
            "no_endpoint",
            "Requests answered 503 because the backend had no endpoint, by backend",
            self.no_endpoint.clone(),
        );
        r.register(
            "rate_limited",
            "Requests answered 429 by a local rate limit, by name",
            self.rate_limited.clone(),
        );
    }

    /// The counters of backend `name` (created on first use).
    pub fn backend(&self, name: &str) -> BackendCounters {
        let backend = |family: &Family<BackendLabels, Counter>| {
            let labels = BackendLabels {
                backend: name.to_owned(),
            };
            family.get_or_create_owned(&labels)
        };
        let timeout = |kind| {
            let labels = TimeoutLabels {
                backend: name.to_owned(),
                kind,
            };
            self.timeouts.get_or_create_owned(&labels)
        };
        let request_timeouts = timeout("request");
        let per_try_timeouts = timeout("per-try");
        BackendCounters {
            retries: backend(&self.retries),
            budget_exhausted: backend(&self.budget_exhausted),
            request_timeouts,
            per_try_timeouts,
            ejections: backend(&self.ejections),
            overflows: backend(&self.overflows),
            no_endpoint: backend(&self.no_endpoint),
        }
    }

    /// The 429 counter of the rate limit called `name` (a service or route).
    pub fn rate_limited(&self, name: &str) -> Counter {
        let labels = LimitLabels {
            name: name.to_owned(),
        };
        self.rate_limited.get_or_create_owned(&labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_shared_with_the_registry_under_their_names() {
        let m = ForwardMetrics::default();
        let mut r = Registry::default();
        m.register(&mut r);
        let c = m.backend("web/v1");
        c.retries.inc();
        c.per_try_timeouts.inc();
        c.ejections.inc();
        // A second handle to the same backend shares the counters.
        m.backend("web/v1").overflows.inc();
        m.rate_limited("web").inc();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        for want in [
            r#"retry_total{backend="web/v1"} 1"#,
            r#"timeout_total{backend="web/v1",kind="per-try"} 1"#,
            r#"timeout_total{backend="web/v1",kind="request"} 0"#,
            r#"ejection_total{backend="web/v1"} 1"#,
            r#"pool_overflow_total{backend="web/v1"} 1"#,
            r#"rate_limited_total{name="web"} 1"#,
        ] {
            assert!(text.contains(want), "{want} missing in\n{text}");
        }
        assert_eq!(c.overflows.get(), 1);
    }
}
