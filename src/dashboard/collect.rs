//! Reading the proxies every couple of seconds into one snapshot: per workload the golden
//! signals of its `/stats` (the `stats` merge, 10 s window), per edge those of its inbound
//! `/metrics` between readings, and each proxy's identity; the last minutes are kept.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

use super::edges::{self, EdgeCounts, EdgeKey, EdgeSignals};
use crate::stats::fetch::stats_answer;
use crate::stats::{Merged, Signals};

/// A proxy to read: a workload name and its admin address (`HOST:PORT`).
#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub admin: String,
}

/// How often the proxies are read, and how far back readings are kept for edges' windows.
pub const INTERVAL: Duration = Duration::from_secs(2);
const EDGE_WINDOW_READINGS: usize = 5;
/// The workloads' `/stats` window: its 10 s slots make a shorter one jumpy (the current slot
/// is partly filled), so a minute, as `meshctl stat` shows by default.
const WINDOW: Duration = Duration::from_secs(60);

/// What the page shows at one moment.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Unix time, ms.
    pub time: u64,
    /// The workloads' window, and the edges' (between readings of `/metrics`).
    pub window_seconds: u64,
    pub edge_window_seconds: u64,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub id: String,
    pub admin: String,
    pub identity: Option<String>,
    /// Why it gave no figures this time, if it did not.
    pub error: Option<String>,
    pub inbound: Option<Figures>,
    pub outbound: Option<Figures>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    pub requests: u64,
    pub rps: f64,
    pub success_rate: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
}

impl From<&Signals> for Figures {
    fn from(s: &Signals) -> Self {
        Self {
            requests: s.requests,
            rps: s.rps,
            success_rate: s.success_rate,
            latency_p50_ms: s.latency_p50_ms,
            latency_p95_ms: s.latency_p95_ms,
            latency_p99_ms: s.latency_p99_ms,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    /// `source->target`.
    pub id: String,
    pub source: String,
    pub target: String,
    /// The caller's SPIFFE id ("" when it presented none).
    pub client_id: String,
    /// Every request of the window over mesh TLS.
    pub mtls: bool,
    #[serde(flatten)]
    pub signals: EdgeSignals,
}

/// One proxy's inbound edges, cumulative, as read at an instant.
type Reading = (Instant, BTreeMap<EdgeKey, EdgeCounts>);

/// Reads the targets and keeps what it read.
pub struct Collector {
    targets: Vec<Target>,
    client: Client<HttpConnector, Empty<Bytes>>,
    identities: BTreeMap<String, String>,
    /// Per target, its last readings of inbound edges (oldest first).
    readings: BTreeMap<String, VecDeque<Reading>>,
}

impl Collector {
    pub fn new(targets: Vec<Target>) -> Self {
        Self {
            targets,
            client: Client::builder(TokioExecutor::new()).build_http(),
            identities: BTreeMap::new(),
            readings: BTreeMap::new(),
        }
    }

    /// Reads every proxy once.
    pub async fn poll(&mut self) -> Snapshot {
        let addresses: Vec<String> = self.targets.iter().map(|t| t.admin.clone()).collect();
        // (fetch_all's borrowed futures cannot live in a spawned task; same answer check.)
        let stats_path = format!("/stats?window={}s", WINDOW.as_secs());
        let stats = futures::future::join_all(addresses.iter().cloned().map(|a| {
            let (client, path) = (self.client.clone(), stats_path.clone());
            async move {
                let body = get(&client, &a, &path).await?;
                stats_answer(body.as_bytes(), WINDOW).map_err(|e| e.to_string())
            }
        }))
        .await;
        let metrics = futures::future::join_all(addresses.iter().cloned().map(|a| {
            let client = self.client.clone();
            async move { get(&client, &a, "/metrics").await }
        }))
        .await;
        let now = Instant::now();
        let unknown: Vec<Target> = (self.targets.iter())
            .filter(|t| !self.identities.contains_key(&t.name))
            .cloned()
            .collect();
        for target in unknown {
            let Ok(body) = get(&self.client, &target.admin, "/identity").await else {
                continue;
            };
            let view = serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default();
            if let Some(id) = view.get("identity").and_then(|v| v.as_str()) {
                self.identities.insert(target.name, id.to_owned());
            }
        }
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        for ((target, stats), metrics) in self.targets.iter().zip(stats).zip(metrics) {
            let mut node = Node {
                id: target.name.clone(),
                admin: target.admin.clone(),
                identity: self.identities.get(&target.name).cloned(),
                error: None,
                inbound: None,
                outbound: None,
            };
            match stats {
                Ok(answer) => match Merged::from_answers([&answer]) {
                    Ok(Some(merged)) => {
                        let whole = |dir: &'static str| {
                            move |k: &crate::stats::RowKey| {
                                k.direction == dir && k.route.is_none() && k.backend.is_none()
                            }
                        };
                        node.inbound = merged.sum(whole("inbound")).as_ref().map(Figures::from);
                        node.outbound = merged.sum(whole("outbound")).as_ref().map(Figures::from);
                    }
                    Ok(None) => {}
                    Err(e) => node.error = Some(e.to_string()),
                },
                Err(e) => node.error = Some(e),
            }
            if let Ok(text) = metrics {
                let readings = self.readings.entry(target.name.clone()).or_default();
                readings.push_back((now, edges::inbound_edges(&text)));
                while readings.len() > EDGE_WINDOW_READINGS + 1 {
                    readings.pop_front();
                }
                edges.extend(self.edges_into(&target.name));
            }
            nodes.push(node);
        }
        Snapshot {
            time: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            window_seconds: WINDOW.as_secs(),
            edge_window_seconds: INTERVAL.as_secs() * EDGE_WINDOW_READINGS as u64,
            nodes,
            edges,
        }
    }

    /// The edges into `target`, over its oldest and newest readings kept.
    fn edges_into(&self, target: &str) -> Vec<Edge> {
        let Some(readings) = self.readings.get(target) else {
            return Vec::new();
        };
        let (Some((then, before)), Some((now, latest))) = (readings.front(), readings.back())
        else {
            return Vec::new();
        };
        let seconds = now.duration_since(*then).as_secs_f64();
        let mut by_source: BTreeMap<(String, String), Vec<(&EdgeKey, EdgeSignals)>> =
            BTreeMap::new();
        for (key, counts) in latest {
            let signals = if readings.len() == 1 {
                // One reading: nothing to compare with yet.
                edges::between(Some(counts), counts, 0.0)
            } else {
                edges::between(before.get(key), counts, seconds)
            };
            let source = self.caller(&key.client_id);
            by_source
                .entry((source, key.client_id.clone()))
                .or_default()
                .push((key, signals));
        }
        by_source
            .into_iter()
            .filter_map(|((source, client_id), parts)| {
                // One caller may show as several series (tls values): the busiest speaks for
                // the figures, and mTLS holds only if no request of the window went without.
                let mtls = parts
                    .iter()
                    .all(|(k, s)| k.tls == "true" || s.requests == 0);
                let (_, signals) = parts.into_iter().max_by_key(|(_, s)| s.requests)?;
                Some(Edge {
                    id: format!("{source}->{target}"),
                    source,
                    target: target.to_owned(),
                    client_id,
                    mtls,
                    signals,
                })
            })
            .collect()
    }

    /// The workload that runs as `identity`, or a short name for the identity itself.
    fn caller(&self, identity: &str) -> String {
        if identity.is_empty() {
            return "unauthenticated".to_owned();
        }
        let mut named = self.identities.iter().filter(|(_, id)| *id == identity);
        match (named.next(), named.next()) {
            (Some((name, _)), None) => name.clone(),
            _ => crate::stats::edges::short_identity(identity),
        }
    }
}

async fn get(
    client: &Client<HttpConnector, Empty<Bytes>>,
    admin: &str,
    path: &str,
) -> Result<String, String> {
    let uri: http::Uri = format!("http://{admin}{path}")
        .parse()
        .map_err(|e| format!("{admin}: {e}"))?;
    let answer = tokio::time::timeout(Duration::from_secs(2), async {
        let response = client.get(uri).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    })
    .await;
    answer.unwrap_or_else(|_| Err("no answer within 2s".to_owned()))
}
