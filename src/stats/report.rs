//! The proxy's `/stats?window=` answer (shape documented in `proxy::stats`), merged across
//! pods row by row into golden signals.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::histogram::{Histogram, MergeError};
use crate::proxy::peers::Peer;
use crate::proxy::stats::Counts;

/// One proxy's `/stats` answer.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatsAnswer {
    pub window_seconds: u64,
    pub latency_buckets_ms: Vec<f64>,
    pub rows: Vec<Row>,
    /// The proxy's own mesh identity; absent in plaintext and from older proxies.
    #[serde(default)]
    pub identity: Option<String>,
}

/// One row: a direction and authority, optionally narrowed to a route and a backend.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    #[serde(flatten)]
    pub key: RowKey,
    #[serde(flatten)]
    pub counts: Counts,
    /// Bytes from clients and back to them; absent from older proxies' answers.
    #[serde(default)]
    pub received_bytes: u64,
    #[serde(default)]
    pub sent_bytes: u64,
    pub latency_buckets: Vec<u64>,
    /// The mesh peers seen (whole-authority rows); absent from older proxies' answers.
    #[serde(default)]
    pub peers: Vec<Peer>,
}

/// What a row is about; rows with equal keys from several pods are merged.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowKey {
    pub direction: String,
    pub authority: String,
    #[serde(default)]
    pub route: Option<String>,
    #[serde(default)]
    pub backend: Option<String>,
}

/// Several pods' answers summed: counts added, histograms merged.
#[derive(Clone, Debug, PartialEq)]
pub struct Merged {
    window_seconds: u64,
    bounds: Vec<f64>,
    rows: BTreeMap<RowKey, Totals>,
}

#[derive(Clone, Debug, PartialEq)]
struct Totals {
    counts: Counts,
    received_bytes: u64,
    sent_bytes: u64,
    latency: Histogram,
    peers: BTreeSet<Peer>,
}

/// Golden signals of one merged row.
#[derive(Clone, Debug, PartialEq)]
pub struct Signals {
    pub requests: u64,
    pub failures: u64,
    /// `None` without requests.
    pub success_rate: Option<f64>,
    pub rps: f64,
    pub tcp_connections_opened: u64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// Retries sent, timeouts and endpoints ejected (backend rows).
    pub retries: u64,
    pub timeouts: u64,
    pub ejections: u64,
    /// Bytes from clients to servers (requests) and back (responses), Istio's received and
    /// sent, with their rates over the window.
    pub received_bytes: u64,
    pub sent_bytes: u64,
    pub received_bytes_per_second: f64,
    pub sent_bytes_per_second: f64,
}

/// A `/stats` answer that cannot be merged with the others.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AnswerError {
    #[error("window of {found} s where the others have {expected} s; ask every proxy the same")]
    Window { expected: u64, found: u64 },
    #[error("{direction} {authority}: {source}")]
    Latency {
        direction: String,
        authority: String,
        source: MergeError,
    },
    #[error("{0}")]
    Bounds(MergeError),
}

impl Merged {
    /// Nothing merged yet, for a window of `window_seconds` over the given bucket bounds.
    pub fn new(window_seconds: u64, bounds: Vec<f64>) -> Result<Self, AnswerError> {
        Histogram::empty(&bounds).map_err(AnswerError::Bounds)?;
        Ok(Merged {
            window_seconds,
            bounds,
            rows: BTreeMap::new(),
        })
    }

    /// Merged from the first answer's window and bounds.
    pub fn from_answers<'a>(
        answers: impl IntoIterator<Item = &'a StatsAnswer>,
    ) -> Result<Option<Self>, AnswerError> {
        let mut merged: Option<Merged> = None;
        for answer in answers {
            let target = match &mut merged {
                Some(merged) => merged,
                None => merged.insert(Merged::new(
                    answer.window_seconds,
                    answer.latency_buckets_ms.clone(),
                )?),
            };
            target.add(answer)?;
        }
        Ok(merged)
    }

    /// Adds one pod's answer.
    pub fn add(&mut self, answer: &StatsAnswer) -> Result<(), AnswerError> {
        if answer.window_seconds != self.window_seconds {
            return Err(AnswerError::Window {
                expected: self.window_seconds,
                found: answer.window_seconds,
            });
        }
        if answer.latency_buckets_ms != self.bounds {
            return Err(AnswerError::Bounds(MergeError::Bounds(
                self.bounds.len(),
                answer.latency_buckets_ms.len(),
            )));
        }
        for row in &answer.rows {
            let latency_error = |source| AnswerError::Latency {
                direction: row.key.direction.clone(),
                authority: row.key.authority.clone(),
                source,
            };
            let latency = Histogram::new(self.bounds.clone(), row.latency_buckets.clone())
                .map_err(latency_error)?;
            let totals = Totals {
                counts: row.counts,
                received_bytes: row.received_bytes,
                sent_bytes: row.sent_bytes,
                latency,
                peers: row.peers.iter().cloned().collect(),
            };
            match self.rows.get_mut(&row.key) {
                Some(sum) => sum.add(&totals).map_err(latency_error)?,
                None => {
                    self.rows.insert(row.key.clone(), totals);
                }
            }
        }
        Ok(())
    }

    /// The merged rows, in key order, with their signals.
    pub fn signals(&self) -> impl Iterator<Item = (&RowKey, Signals)> {
        self.rows
            .iter()
            .map(|(key, totals)| (key, totals.signals(self.window_seconds)))
    }

    /// The signals of every row `wanted` picks, merged into one (e.g. all inbound rows of a
    /// workload, or the outbound rows towards one service); `None` when no row is picked.
    pub fn sum(&self, wanted: impl Fn(&RowKey) -> bool) -> Option<Signals> {
        let mut picked = self.rows.iter().filter(|(key, _)| wanted(key));
        let (_, first) = picked.next()?;
        let mut total = first.clone();
        for (_, totals) in picked {
            // Same bounds by construction: every row was checked against `self.bounds`.
            total.add(totals).ok()?;
        }
        Some(total.signals(self.window_seconds))
    }

    /// The peers of every row `wanted` picks.
    pub fn peers(&self, wanted: impl Fn(&RowKey) -> bool) -> BTreeSet<Peer> {
        (self.rows.iter())
            .filter(|(key, _)| wanted(key))
            .flat_map(|(_, totals)| totals.peers.iter().cloned())
            .collect()
    }

    pub fn window_seconds(&self) -> u64 {
        self.window_seconds
    }
}

impl Totals {
    /// Adds `other` (same latency bounds required).
    fn add(&mut self, other: &Totals) -> Result<(), MergeError> {
        self.counts.add(&other.counts);
        self.received_bytes = self.received_bytes.saturating_add(other.received_bytes);
        self.sent_bytes = self.sent_bytes.saturating_add(other.sent_bytes);
        self.peers.extend(other.peers.iter().cloned());
        self.latency.merge(&other.latency)
    }

    fn signals(&self, window_seconds: u64) -> Signals {
        let per_second = |n: u64| n as f64 / window_seconds.max(1) as f64;
        let c = &self.counts;
        Signals {
            requests: c.requests,
            failures: c.failures,
            success_rate: c.success_rate(),
            rps: per_second(c.requests),
            tcp_connections_opened: c.tcp_opened,
            latency_p50_ms: self.latency.quantile(0.5),
            latency_p95_ms: self.latency.quantile(0.95),
            latency_p99_ms: self.latency.quantile(0.99),
            retries: c.retries,
            timeouts: c.timeouts,
            ejections: c.ejections,
            received_bytes: self.received_bytes,
            sent_bytes: self.sent_bytes,
            received_bytes_per_second: per_second(self.received_bytes),
            sent_bytes_per_second: per_second(self.sent_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `/stats` answer as the proxy writes it, over bounds 10, 20, 30 ms.
    fn answer(rows: &str) -> StatsAnswer {
        serde_json::from_str(&format!(
            r#"{{"windowSeconds": 60, "latencyBucketsMs": [10.0, 20.0, 30.0], "rows": [{rows}]}}"#
        ))
        .unwrap()
    }

    const INBOUND: &str = r#"{"direction": "inbound", "authority": "app", "requests": 100,
        "failures": 5, "rps": 1.67, "successRate": 0.95, "tcpConnectionsOpened": 3,
        "latencyBuckets": [50, 40, 10, 0]}"#;

    #[test]
    fn a_single_pod_reads_back_its_own_figures() {
        let merged = Merged::from_answers([&answer(INBOUND)]).unwrap().unwrap();
        let rows: Vec<_> = merged.signals().collect();
        assert_eq!(rows.len(), 1);
        let (key, s) = &rows[0];
        assert_eq!(key.direction, "inbound");
        assert_eq!(
            (s.requests, s.failures, s.tcp_connections_opened),
            (100, 5, 3)
        );
        assert_eq!(s.success_rate, Some(0.95));
        assert!((s.rps - 100.0 / 60.0).abs() < 1e-9);
        assert_eq!(s.latency_p50_ms, Some(10.0));
        assert_eq!(s.latency_p95_ms, Some(25.0));
    }

    #[test]
    fn pods_are_merged_by_row_before_percentiles() {
        // Pod A: fast; pod B: all in the 20-30 ms bucket. Averaging their p50s (5 + 25) / 2
        // would say 15 ms; the merged histogram says 10 ms.
        let a = answer(
            r#"{"direction": "inbound", "authority": "app", "requests": 100, "failures": 0,
                "latencyBuckets": [100, 0, 0, 0]}"#,
        );
        let b = answer(
            r#"{"direction": "inbound", "authority": "app", "requests": 100, "failures": 10,
                "latencyBuckets": [0, 0, 100, 0]},
               {"direction": "outbound", "authority": "db:5432", "route": "r", "backend": "db",
                "requests": 0, "failures": 0, "latencyBuckets": [0, 0, 0, 0]}"#,
        );
        let merged = Merged::from_answers([&a, &b]).unwrap().unwrap();
        let rows: Vec<_> = merged.signals().collect();
        assert_eq!(rows.len(), 2);
        let inbound = &rows[0].1;
        assert_eq!(inbound.requests, 200);
        assert_eq!(inbound.success_rate, Some(0.95));
        assert_eq!(inbound.latency_p50_ms, Some(10.0));
        let outbound = &rows[1];
        assert_eq!(outbound.0.route.as_deref(), Some("r"));
        assert_eq!(outbound.1.success_rate, None, "an empty window has no rate");
        assert_eq!(outbound.1.latency_p99_ms, None);
    }

    #[test]
    fn rows_are_summed_into_one_before_percentiles() {
        let a = answer(
            r#"{"direction": "inbound", "authority": "app", "requests": 10, "failures": 1,
                "tcpConnectionsOpened": 1, "latencyBuckets": [10, 0, 0, 0]},
               {"direction": "inbound", "authority": "metrics", "requests": 30, "failures": 3,
                "tcpConnectionsOpened": 2, "receivedBytes": 600, "sentBytes": 1200,
                "latencyBuckets": [0, 0, 30, 0]},
               {"direction": "outbound", "authority": "db:5432", "requests": 50, "failures": 0,
                "latencyBuckets": [50, 0, 0, 0]}"#,
        );
        let merged = Merged::from_answers([&a]).unwrap().unwrap();
        let inbound = merged.sum(|k| k.direction == "inbound").unwrap();
        assert_eq!((inbound.requests, inbound.failures), (40, 4));
        assert_eq!(inbound.tcp_connections_opened, 3);
        // A row without byte counts (an older proxy) adds nothing.
        assert_eq!((inbound.received_bytes, inbound.sent_bytes), (600, 1200));
        assert_eq!(inbound.received_bytes_per_second, 10.0);
        assert_eq!(inbound.sent_bytes_per_second, 20.0);
        assert_eq!(inbound.success_rate, Some(0.9));
        // 10 of 40 within 10 ms, 30 in 20-30 ms: the median is in the slow bucket.
        let p50 = inbound.latency_p50_ms.unwrap();
        assert!(p50 > 20.0 && p50 <= 30.0, "{p50}");
        assert_eq!(merged.sum(|k| k.direction == "sideways"), None);
    }

    #[test]
    fn answers_that_do_not_fit_are_refused() {
        assert_eq!(Merged::from_answers([]).unwrap(), None);
        let mut other_window = answer(INBOUND);
        other_window.window_seconds = 10;
        let err = Merged::from_answers([&answer(INBOUND), &other_window]).unwrap_err();
        assert!(err.to_string().contains("window of 10 s"), "{err}");
        let bad_counts = answer(
            r#"{"direction": "inbound", "authority": "app", "requests": 1, "failures": 0,
                "latencyBuckets": [1]}"#,
        );
        let err = Merged::from_answers([&bad_counts]).unwrap_err();
        assert!(
            err.to_string().starts_with("inbound app: 1 latency counts"),
            "{err}"
        );
    }

    #[test]
    fn reads_what_the_proxy_writes() {
        use crate::proxy::stats::Stats;
        use std::sync::Arc;
        use std::time::Duration;
        let stats = Stats::default();
        let authority: Arc<str> = Arc::from("web.shop:80");
        let route: Arc<str> = Arc::from("canary");
        let window = stats.window(
            crate::proxy::Direction::Outbound,
            &authority,
            Some(&route),
            None,
        );
        window.record(true, Duration::from_millis(3));
        window.record(false, Duration::from_millis(40));
        window.tcp_opened();
        window.received(100);
        window.sent(250);
        let json = serde_json::to_string(&stats.report(Duration::from_secs(60))).unwrap();
        let answer: StatsAnswer = serde_json::from_str(&json).unwrap();
        let merged = Merged::from_answers([&answer, &answer]).unwrap().unwrap();
        let (key, signals) = merged.signals().next().unwrap();
        assert_eq!(key.authority, "web.shop:80");
        assert_eq!(key.route.as_deref(), Some("canary"));
        assert_eq!(key.backend, None);
        assert_eq!((signals.requests, signals.failures), (4, 2));
        assert_eq!(signals.tcp_connections_opened, 2);
        assert_eq!((signals.received_bytes, signals.sent_bytes), (200, 500));
        assert_eq!(signals.success_rate, Some(0.5));
        assert_eq!(
            signals.latency_p99_ms.map(|p| p > 30.0 && p <= 40.0),
            Some(true)
        );
    }
}
