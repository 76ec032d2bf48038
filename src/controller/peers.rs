//! The proxies subscribed to every controller replica: a canary's leader counts acks over
//! all replicas' streams (each one's admin `/proxies`, as `check` reads them), not only its
//! own. Without controller pods (a local process) there is nobody else to ask.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::ADMIN_PORT;
use super::proxies::ProxyRecord;
use crate::canary::analysis::running_pods;

/// The labels of the install's controller pods.
const SELECTOR: &str = "app.kubernetes.io/name=meshctl,app.kubernetes.io/component=controller";
const TIMEOUT: Duration = Duration::from_secs(2);

/// Every running replica's subscribed proxies; an error names the replica that did not
/// answer (its proxies' acks are unknown, so no shift can count as done).
pub async fn records(
    client: &kube::Client,
    mesh_namespace: &str,
) -> Result<Vec<ProxyRecord>, String> {
    let replicas = running_pods(client, mesh_namespace, SELECTOR, ADMIN_PORT)
        .await
        .map_err(|e| format!("cannot list the controller's pods in {mesh_namespace}: {e}"))?;
    let http: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut out = Vec::new();
    for (name, address) in replicas {
        let read = async {
            let uri: http::Uri = format!("http://{address}/proxies")
                .parse()
                .map_err(|e| format!("{e}"))?;
            let response = http.get(uri).await.map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("answered {}", response.status()));
            }
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?;
            serde_json::from_slice::<Vec<ProxyRecord>>(&body.to_bytes())
                .map_err(|e| format!("/proxies is not its JSON: {e}"))
        };
        let records = tokio::time::timeout(TIMEOUT, read)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {TIMEOUT:?}")))
            .map_err(|e| format!("controller replica {mesh_namespace}/{name} ({address}): {e}"))?;
        out.extend(records);
    }
    Ok(out)
}
