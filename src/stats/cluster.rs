//! Cluster mode of `meshctl stat`: every selected pod's proxy is asked for `/stats` through
//! the API server's pod proxy (bounded in flight, a timeout each), and the answers are merged
//! exactly per resource: inbound rows for the resource itself, outbound rows towards a
//! resource's service names for `--to`/`--from` edges.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::Client;

use super::fetch::{FetchError, FetchOptions, ask_all, stats_answer};
use super::report::{AnswerError, Merged, RowKey, Signals, StatsAnswer};
use super::select::{MeshPod, Selected, authority_matches};
use crate::k8s::pod_proxy;

/// Which traffic a row counts.
#[derive(Clone, Copy, Debug)]
pub enum Traffic<'a> {
    /// What the resource's pods received.
    Inbound,
    /// What the resource's pods sent to any of these.
    To(&'a [Selected]),
    /// What these resources' pods sent to the resource.
    From(&'a [Selected]),
}

/// One resource's figures.
#[derive(Clone, Debug)]
pub struct ResourceStats {
    pub selected: Selected,
    /// Pods whose proxy answered.
    pub answered: usize,
    /// `None` when no proxy answered or no traffic was seen.
    pub signals: Option<Signals>,
}

/// The whole table.
#[derive(Debug)]
pub struct ClusterStats {
    pub window_seconds: u64,
    pub rows: Vec<ResourceStats>,
    /// Meshed, running pods whose proxy gave no answer.
    pub unreachable: Vec<Unreachable>,
}

/// A meshed, running pod whose proxy gave no answer, and why.
#[derive(Debug)]
pub struct Unreachable {
    pub namespace: String,
    pub pod: String,
    pub error: FetchError,
}

impl Unreachable {
    /// The API server refused to proxy for the caller (403): a missing `pods/proxy` right,
    /// the same for every pod of the namespace, not something wrong with this pod.
    pub fn forbidden(&self) -> bool {
        matches!(self.error, FetchError::Status { status: 403, .. })
    }
}

/// The pods the caller may not proxy to ([`Unreachable::forbidden`]), by namespace.
pub fn forbidden_by_namespace(unreachable: &[Unreachable]) -> BTreeMap<&str, Vec<&Unreachable>> {
    let mut by_namespace: BTreeMap<&str, Vec<&Unreachable>> = BTreeMap::new();
    for u in unreachable.iter().filter(|u| u.forbidden()) {
        by_namespace.entry(&u.namespace).or_default().push(u);
    }
    by_namespace
}

pub type PodKey = (String, String);

/// What the proxies of some pods answered, by pod, and the pods that gave no answer.
#[derive(Debug, Default)]
pub struct Asked {
    pub answers: BTreeMap<PodKey, StatsAnswer>,
    pub unreachable: Vec<Unreachable>,
}

impl Asked {
    /// The answers of `selected`'s pods.
    pub fn of(&self, selected: &Selected) -> Vec<&StatsAnswer> {
        (selected.pods.iter())
            .filter_map(|p| self.answers.get(&(p.namespace.clone(), p.name.clone())))
            .collect()
    }
}

/// Asks the proxy of every meshed, running pod of `resources` (each pod once) for its
/// `/stats` through the API server. `client` should not retry 503s (`Connection::once`):
/// through the pod proxy they mean the pod does not answer.
pub async fn ask_pods<'a>(
    client: &Client,
    resources: impl IntoIterator<Item = &'a Selected>,
    options: FetchOptions,
) -> Asked {
    let mut askable: BTreeMap<PodKey, &MeshPod> = BTreeMap::new();
    for pod in resources.into_iter().flat_map(|s| &s.pods) {
        if pod.meshed && pod.running {
            askable.insert((pod.namespace.clone(), pod.name.clone()), pod);
        }
    }
    let pods: Vec<&MeshPod> = askable.into_values().collect();
    let results = ask_all(&pods, options.concurrency, options.timeout, |pod| {
        ask(client, pod, options.window)
    })
    .await;
    let mut asked = Asked::default();
    for (pod, result) in pods.iter().zip(results) {
        let key = (pod.namespace.clone(), pod.name.clone());
        match result {
            Ok(answer) => {
                asked.answers.insert(key, answer);
            }
            Err(error) => asked.unreachable.push(Unreachable {
                namespace: key.0,
                pod: key.1,
                error,
            }),
        }
    }
    asked
}

/// Asks the proxies of every meshed, running pod of `selected` (and of the `--from`
/// resources) and merges their answers per resource.
pub async fn collect(
    client: &Client,
    selected: Vec<Selected>,
    traffic: Traffic<'_>,
    options: FetchOptions,
) -> Result<ClusterStats, AnswerError> {
    let sources: &[Selected] = match traffic {
        Traffic::From(sources) => sources,
        _ => &[],
    };
    let asked = ask_pods(client, selected.iter().chain(sources), options).await;
    let answers_of = |s: &Selected| asked.of(s);
    let mut rows = Vec::with_capacity(selected.len());
    for s in selected {
        let own = answers_of(&s);
        let signals = match traffic {
            Traffic::Inbound => {
                Merged::from_answers(own.iter().copied())?.and_then(|m| m.sum(whole_inbound))
            }
            Traffic::To(targets) => Merged::from_answers(own.iter().copied())?.and_then(|m| {
                edge(&m, |authority| {
                    targets
                        .iter()
                        .any(|t| authority_matches(authority, &t.hosts))
                })
            }),
            Traffic::From(sources) => {
                let theirs = sources.iter().flat_map(&answers_of);
                Merged::from_answers(theirs)?
                    .and_then(|m| edge(&m, |authority| authority_matches(authority, &s.hosts)))
            }
        };
        rows.push(ResourceStats {
            answered: own.len(),
            selected: s,
            signals,
        });
    }
    Ok(ClusterStats {
        window_seconds: options.window.as_secs(),
        rows,
        unreachable: asked.unreachable,
    })
}

/// The outbound traffic to the authorities `to` accepts: requests and latency from the
/// authorities' rows, retries, timeouts and ejections from their backends' rows.
pub fn edge(merged: &Merged, to: impl Fn(&str) -> bool) -> Option<Signals> {
    let mut signals = merged.sum(|k| outbound(k) && to(&k.authority))?;
    let backends = |k: &RowKey| {
        k.direction == "outbound" && k.route.is_none() && k.backend.is_some() && to(&k.authority)
    };
    if let Some(b) = merged.sum(backends) {
        (signals.retries, signals.timeouts, signals.ejections) =
            (b.retries, b.timeouts, b.ejections);
    }
    Some(signals)
}

/// A row about a whole authority, not one of its routes or backends.
pub fn whole(key: &RowKey) -> bool {
    key.route.is_none() && key.backend.is_none()
}

/// A row about everything a workload received: what `stat` and a canary's analysis count.
pub fn whole_inbound(key: &RowKey) -> bool {
    whole(key) && key.direction == "inbound"
}

pub fn outbound(key: &RowKey) -> bool {
    whole(key) && key.direction == "outbound"
}

async fn ask(client: &Client, pod: &MeshPod, window: Duration) -> Result<StatsAnswer, FetchError> {
    let path = format!("/stats?window={}s", window.as_secs());
    let body = pod_proxy::admin_get(client, &pod.namespace, &pod.name, &path).await?;
    stats_answer(body.as_bytes(), window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edge_counts_requests_to_the_peer_and_its_backends_retries_once() {
        let row = |key: &str, requests: u64, resilience: [u64; 3]| {
            let [retries, timeouts, ejections] = resilience;
            let key: serde_json::Value = serde_json::from_str(key).unwrap();
            let mut row = serde_json::json!({"requests": requests, "failures": requests / 10,
                "retries": retries, "timeouts": timeouts, "ejections": ejections,
                "latencyBuckets": [requests, 0]});
            row.as_object_mut()
                .unwrap()
                .extend(key.as_object().unwrap().clone());
            row
        };
        let answer: StatsAnswer = serde_json::from_value(serde_json::json!({
            "windowSeconds": 10, "latencyBucketsMs": [5.0],
            "rows": [
                row(r#"{"direction": "outbound", "authority": "db:5432"}"#, 20, [0; 3]),
                row(r#"{"direction": "outbound", "authority": "db.shop:5432"}"#, 10, [0; 3]),
                // The backend's own row, and the same requests again per route.
                row(r#"{"direction": "outbound", "authority": "db:5432",
                        "backend": "db/v1"}"#, 20, [3, 2, 1]),
                row(r#"{"direction": "outbound", "authority": "db:5432", "route": "r",
                        "backend": "db/v1"}"#, 20, [3, 2, 1]),
                row(r#"{"direction": "outbound", "authority": "web:80"}"#, 100, [9; 3]),
                row(r#"{"direction": "inbound", "authority": "app"}"#, 50, [0; 3]),
            ],
        }))
        .unwrap();
        let merged = Merged::from_answers([&answer]).unwrap().unwrap();
        let db = |authority: &str| authority.starts_with("db");
        let s = edge(&merged, db).expect("an edge");
        assert_eq!((s.requests, s.failures, s.rps), (30, 3, 3.0));
        assert_eq!((s.retries, s.timeouts, s.ejections), (3, 2, 1));
        assert!(s.latency_p99_ms.is_some_and(|ms| ms <= 5.0), "{s:?}");
        assert!(edge(&merged, |a| a == "api:80").is_none());
    }
}
