//! Who calls whom, from a proxy's `/metrics`: its inbound `response_total` and
//! `response_latency_ms` series by `client_id` and `tls` (cumulative), so an edge is a caller
//! identity into this workload. Two readings some seconds apart give the edge's golden
//! signals over that time; percentiles come from the stats merge's histogram.

use std::collections::BTreeMap;

use crate::stats::Histogram;

/// An edge into one workload: the caller's identity ("" when unauthenticated) and whether
/// mesh TLS carried it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EdgeKey {
    pub client_id: String,
    pub tls: String,
}

/// Cumulative counts of one edge at one reading.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EdgeCounts {
    pub responses: u64,
    pub failures: u64,
    /// Cumulative `le` bucket counts by bound (`+Inf` as infinity).
    pub buckets: BTreeMap<Bound, u64>,
}

/// A bucket bound that orders as a number (`+Inf` last).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bound(pub f64);

impl Eq for Bound {}
impl PartialOrd for Bound {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bound {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// The inbound edges of a `/metrics` text, cumulative.
pub fn inbound_edges(metrics: &str) -> BTreeMap<EdgeKey, EdgeCounts> {
    let mut edges: BTreeMap<EdgeKey, EdgeCounts> = BTreeMap::new();
    for sample in crate::exposition::samples(metrics) {
        if sample.label("direction") != Some("inbound") {
            continue;
        }
        let key = EdgeKey {
            client_id: sample.label("client_id").unwrap_or("").to_owned(),
            tls: sample.label("tls").unwrap_or("").to_owned(),
        };
        let count = sample.value as u64;
        match sample.name {
            "response_total" => {
                let edge = edges.entry(key).or_default();
                edge.responses += count;
                if sample.label("classification") == Some("failure") {
                    edge.failures += count;
                }
            }
            "response_latency_ms_bucket" => {
                let Some(le) = sample.label("le") else {
                    continue;
                };
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    match le.parse() {
                        Ok(b) => b,
                        Err(_) => continue,
                    }
                };
                *edges
                    .entry(key)
                    .or_default()
                    .buckets
                    .entry(Bound(bound))
                    .or_default() += count;
            }
            _ => {}
        }
    }
    edges
}

/// An edge's golden signals between two readings.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeSignals {
    pub requests: u64,
    pub rps: f64,
    pub success_rate: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
}

/// The signals of the responses between `before` and `now`, `seconds` apart (a counter
/// that went down, a restarted proxy, counts from zero).
pub fn between(before: Option<&EdgeCounts>, now: &EdgeCounts, seconds: f64) -> EdgeSignals {
    let restarted = before.is_some_and(|b| b.responses > now.responses);
    let before = before.filter(|_| !restarted);
    let base = |f: fn(&EdgeCounts) -> u64| before.map_or(0, f);
    let requests = now.responses.saturating_sub(base(|c| c.responses));
    let failures = now.failures.saturating_sub(base(|c| c.failures));
    // Cumulative `le` counts into per-bucket counts of the window.
    let bounds: Vec<f64> = now
        .buckets
        .keys()
        .map(|b| b.0)
        .filter(|b| b.is_finite())
        .collect();
    let mut counts = Vec::with_capacity(bounds.len() + 1);
    let mut previous = 0;
    for (bound, cumulative) in &now.buckets {
        let then = before
            .and_then(|b| b.buckets.get(bound))
            .copied()
            .unwrap_or(0);
        let in_window = cumulative.saturating_sub(then);
        counts.push(in_window.saturating_sub(previous));
        previous = in_window;
    }
    let histogram = Histogram::new(bounds, counts).ok();
    let quantile = |q| histogram.as_ref().and_then(|h| h.quantile(q));
    EdgeSignals {
        requests,
        rps: if seconds > 0.0 {
            requests as f64 / seconds
        } else {
            0.0
        },
        success_rate: (requests > 0).then(|| (requests - failures) as f64 / requests as f64),
        latency_p50_ms: quantile(0.5),
        latency_p95_ms: quantile(0.95),
        latency_p99_ms: quantile(0.99),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(ok: u64, failed: u64, fast: u64, slow: u64) -> String {
        let total = fast + slow;
        format!(
            "# HELP response Responses sent\n\
             response_total{{direction=\"inbound\",authority=\"web:80\",tls=\"true\",client_id=\"spiffe://td/ns/demo/sa/client\",status_code=\"200\",classification=\"success\"}} {ok}\n\
             response_total{{direction=\"inbound\",authority=\"web:80\",tls=\"true\",client_id=\"spiffe://td/ns/demo/sa/client\",status_code=\"503\",classification=\"failure\"}} {failed}\n\
             response_total{{direction=\"outbound\",authority=\"x:80\",tls=\"true\",server_id=\"spiffe://td/ns/demo/sa/x\",status_code=\"200\",classification=\"success\"}} 99\n\
             response_total{{direction=\"inbound\",authority=\"web:80\",tls=\"no_identity\",status_code=\"200\",classification=\"success\"}} 3\n\
             response_latency_ms_bucket{{le=\"1.0\",direction=\"inbound\",authority=\"web:80\",tls=\"true\",client_id=\"spiffe://td/ns/demo/sa/client\",status_code=\"200\",classification=\"success\"}} {fast}\n\
             response_latency_ms_bucket{{le=\"10.0\",direction=\"inbound\",authority=\"web:80\",tls=\"true\",client_id=\"spiffe://td/ns/demo/sa/client\",status_code=\"200\",classification=\"success\"}} {total}\n\
             response_latency_ms_bucket{{le=\"+Inf\",direction=\"inbound\",authority=\"web:80\",tls=\"true\",client_id=\"spiffe://td/ns/demo/sa/client\",status_code=\"200\",classification=\"success\"}} {total}\n"
        )
    }

    #[test]
    fn edges_by_caller_and_tls_with_signals_between_readings() {
        let before = inbound_edges(&metrics(100, 0, 100, 0));
        let now = inbound_edges(&metrics(190, 10, 110, 90));
        assert_eq!(now.len(), 2, "{now:?}");
        let mtls = EdgeKey {
            client_id: "spiffe://td/ns/demo/sa/client".to_owned(),
            tls: "true".to_owned(),
        };
        let plain = EdgeKey {
            client_id: String::new(),
            tls: "no_identity".to_owned(),
        };
        assert_eq!(now[&plain].responses, 3);
        let s = between(before.get(&mtls), &now[&mtls], 10.0);
        assert_eq!(s.requests, 100);
        assert_eq!(s.rps, 10.0);
        assert_eq!(s.success_rate, Some(0.9));
        // 10 of the 100 within 1 ms, 90 between 1 and 10 ms.
        let p50 = s.latency_p50_ms.unwrap();
        assert!(p50 > 1.0 && p50 <= 10.0, "{s:?}");
        assert!(s.latency_p99_ms.unwrap() <= 10.0, "{s:?}");
        // A restarted proxy counts from zero.
        let restarted = between(now.get(&mtls), &before[&mtls], 10.0);
        assert_eq!(restarted.requests, 100);
    }
}
