//! The trust anchors, copied into every application namespace: a pod can mount only a
//! ConfigMap of its own namespace, and the proxy verifies the CA and its peers with these
//! (Istio keeps its root cert in every namespace the same way). Written with server-side
//! apply under the field manager `meshctl`; rewritten when the roots change or a copy drifts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use tokio::sync::watch;

use super::source::Stores;
use super::trust::{TRUST_ROOTS_CONFIGMAP, TRUST_ROOTS_KEY, Trust};
use crate::identity::pem;
use crate::k8s::apply::FIELD_MANAGER;

/// Namespaces of the cluster itself, where no meshed pod runs.
fn is_system(namespace: &str) -> bool {
    matches!(namespace, "kube-system" | "kube-public" | "kube-node-lease")
}

/// Keeps the copies current: compares every namespace's copy (watched) with the roots every
/// `interval` and at once when the roots change; a failed write is retried after a minute.
pub async fn distribute(
    client: kube::Client,
    stores: Stores,
    mesh_namespace: String,
    mut trust: watch::Receiver<Option<Arc<Trust>>>,
    interval: Duration,
) {
    let (copies, writer) = reflector::store();
    let watch_copies = watcher::watcher(
        Api::<ConfigMap>::all(client.clone()),
        watcher::Config::default().fields(&format!("metadata.name={TRUST_ROOTS_CONFIGMAP}")),
    )
    .default_backoff()
    .reflect(writer)
    .for_each(|_| futures::future::ready(()));
    tokio::spawn(watch_copies);
    if copies.wait_until_ready().await.is_err() {
        return;
    }
    let mut failed: HashMap<String, Instant> = HashMap::new();
    loop {
        let roots = trust
            .borrow_and_update()
            .as_ref()
            .map(|t| pem::encode_certs(&t.roots));
        if let Some(roots) = roots
            && stores.synced()
        {
            for ns in stores.namespaces.state() {
                let Some(name) = ns.metadata.name.as_deref() else {
                    continue;
                };
                if is_system(name)
                    || name == mesh_namespace
                    || ns.metadata.deletion_timestamp.is_some()
                {
                    continue;
                }
                let current = copies.get(&ObjectRef::new(TRUST_ROOTS_CONFIGMAP).within(name));
                let holds = current
                    .as_ref()
                    .and_then(|m| m.data.as_ref()?.get(TRUST_ROOTS_KEY).cloned());
                if holds.as_deref() == Some(roots.as_str())
                    || failed.get(name).is_some_and(|at| at.elapsed() < RETRY)
                {
                    continue;
                }
                match apply(&client, name, &roots).await {
                    Ok(()) => {
                        failed.remove(name);
                        tracing::info!(namespace = name, "trust roots copied");
                    }
                    Err(error) => {
                        failed.insert(name.to_owned(), Instant::now());
                        tracing::warn!(namespace = name, %error, "cannot write the trust roots copy");
                    }
                }
            }
        }
        tokio::select! {
            changed = trust.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(interval) => {}
        }
    }
}

const RETRY: Duration = Duration::from_secs(60);

async fn apply(client: &kube::Client, namespace: &str, roots: &str) -> Result<(), kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let map = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": TRUST_ROOTS_CONFIGMAP,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "meshctl", "app.kubernetes.io/managed-by": "meshctl-controller"},
        },
        "data": {TRUST_ROOTS_KEY: roots},
    });
    api.patch(
        TRUST_ROOTS_CONFIGMAP,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&map),
    )
    .await
    .map(drop)
}
