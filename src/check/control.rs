//! What the controller replicas say about the proxies (`/proxies` on their admin port, read
//! through the API server's pod proxy): who is subscribed, which version each was sent and
//! acked, which refused one. Read once per `check` run and shared by the checks that need it.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use tokio::sync::OnceCell;

use super::Outcome;
use crate::controller::{ADMIN_PORT, ProxyRecord};
use crate::k8s::{Connection, pod_proxy, pods};

const CONTROLLER: &str = "meshctl-controller";
const REPLICA_TIMEOUT: Duration = Duration::from_secs(5);

/// Every controller replica's list, by replica.
#[derive(Debug)]
pub struct Subscriptions {
    pub replicas: Vec<(String, Result<Vec<ProxyRecord>, String>)>,
}

impl Subscriptions {
    /// The streams of one proxy pod, across replicas (a proxy subscribes to one; a reconnect
    /// may briefly show two).
    pub fn of(&self, namespace: &str, pod: &str) -> Vec<&ProxyRecord> {
        self.replicas
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .flatten()
            .filter(|p| p.namespace == namespace && p.pod == pod)
            .collect()
    }

    fn answering(&self) -> usize {
        self.replicas.iter().filter(|(_, r)| r.is_ok()).count()
    }
}

/// Read on first use by the checks of one run.
#[derive(Debug, Default)]
pub struct Controllers {
    read: OnceCell<Result<Subscriptions, Outcome>>,
}

impl Controllers {
    pub async fn get(&self, conn: &Connection, ns: &str) -> Result<&Subscriptions, Outcome> {
        let read = self.read.get_or_init(|| read(conn, ns));
        read.await.as_ref().map_err(Clone::clone)
    }
}

/// The running pods of the controller Deployment in `ns` (`controller-version` asks them too).
pub(super) async fn replicas(conn: &Connection, ns: &str) -> Result<Vec<Pod>, Outcome> {
    let deployment = Api::<Deployment>::namespaced(conn.client.clone(), ns)
        .get_opt(CONTROLLER)
        .await
        .map_err(|e| {
            Outcome::error(
                conn.request_error("reading", &format!("Deployment {ns}/{CONTROLLER}"), &e)
                    .to_string(),
            )
        })?
        // controller-ready says so; here it only means there is nothing to ask.
        .ok_or_else(|| {
            Outcome::skipped(format!(
                "no controller is installed in {ns} (Deployment {CONTROLLER}; --mesh-namespace)"
            ))
        })?;
    let selector = deployment
        .spec
        .and_then(|s| s.selector.match_labels)
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let list = Api::<Pod>::namespaced(conn.client.clone(), ns)
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| {
            Outcome::error(
                conn.request_error("listing", &format!("the controller's pods in {ns}"), &e)
                    .to_string(),
            )
        })?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| pods::phase(p) == Some("Running"))
        .collect())
}

async fn read(conn: &Connection, ns: &str) -> Result<Subscriptions, Outcome> {
    let pods = replicas(conn, ns).await?;
    if pods.is_empty() {
        // controller-ready owns the replicas' availability; here there is no one to ask.
        return Err(Outcome::skipped(format!(
            "no controller pod runs in {ns} (see controller-ready)"
        )));
    }
    let mut replicas = Vec::new();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let answer = tokio::time::timeout(
            REPLICA_TIMEOUT,
            pod_proxy::get(&conn.once, ns, &name, ADMIN_PORT, "/proxies"),
        )
        .await;
        let records = match answer {
            Err(_) => Err(format!("no answer within {}s", REPLICA_TIMEOUT.as_secs())),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(body)) => serde_json::from_str::<Vec<ProxyRecord>>(&body)
                .map_err(|e| format!("/proxies is not its JSON: {e}")),
        };
        replicas.push((name, records));
    }
    Ok(Subscriptions { replicas })
}

/// `controller-proxies`: proxies subscribed to the replicas, and the configs they refused.
pub async fn proxies(conn: &Connection, ns: &str, controllers: &Controllers) -> Outcome {
    let subs = match controllers.get(conn, ns).await {
        Ok(s) => s,
        Err(outcome) => return outcome,
    };
    let unreachable: Vec<String> = subs
        .replicas
        .iter()
        .filter_map(|(name, r)| r.as_ref().err().map(|e| format!("{ns}/{name}: {e}")))
        .collect();
    let mut by_replica = BTreeMap::new();
    let mut nacked = Vec::new();
    for (name, records) in &subs.replicas {
        let Ok(records) = records else { continue };
        by_replica.insert(name.as_str(), records.len());
        for r in records {
            if let Some(n) = &r.nacked {
                nacked.push(format!(
                    "{}/{} refused {}: {}",
                    r.namespace, r.pod, n.version, n.reason
                ));
            }
        }
    }
    let total: usize = by_replica.values().sum();
    let mut message = format!(
        "{total} proxies subscribed to {} of {} replicas",
        subs.answering(),
        subs.replicas.len()
    );
    if !unreachable.is_empty() {
        message.push_str(&format!("; cannot read {}", unreachable.join("; ")));
    }
    if !nacked.is_empty() {
        return Outcome::error(format!("{message}; {}", nacked.join("; ")));
    }
    if subs.answering() == 0 {
        return Outcome::error(message);
    }
    if !unreachable.is_empty() {
        return Outcome::warning(message);
    }
    Outcome::ok(message)
}
