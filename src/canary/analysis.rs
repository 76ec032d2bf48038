//! A canary's analysis: the inbound figures of its pods' proxies (a Service's, or a
//! DestinationRule subset's) and of the stable pods', asked of their admin ports
//! (`/stats?window=`) and merged exactly as `meshctl stat` merges them.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Api;
use kube::api::ListParams;

use super::resource::VersionFigures;
use crate::inject::sidecar::ADMIN_PORT;
use crate::stats::Merged;
use crate::stats::fetch::fetch_each;

/// The running pods a Service selects: (name, admin address).
pub async fn service_pods(
    client: &kube::Client,
    namespace: &str,
    service: &str,
) -> Result<Vec<(String, String)>, kube::Error> {
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let Some(selector) = services
        .get_opt(service)
        .await?
        .and_then(|s| s.spec?.selector)
        .filter(|s| !s.is_empty())
    else {
        return Ok(Vec::new());
    };
    let labels: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    running_pods(client, namespace, &labels.join(","), ADMIN_PORT).await
}

/// The running pods of the canary of `service`: the Service named `canary`, else the pods
/// of `service` in its DestinationRule subset `canary` (a VirtualService canary). `what`
/// names them for messages.
pub async fn canary_pods(
    client: &kube::Client,
    namespace: &str,
    service: &str,
    canary: &str,
) -> Result<(Vec<(String, String)>, String), kube::Error> {
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    if services.get_opt(canary).await?.is_some() {
        let pods = service_pods(client, namespace, canary).await?;
        return Ok((pods, format!("Service {namespace}/{canary}")));
    }
    let what = format!("subset {canary} of {namespace}/{service} (DestinationRule)");
    let Some(mut labels) = services
        .get_opt(service)
        .await?
        .and_then(|s| s.spec?.selector)
        .filter(|s| !s.is_empty())
    else {
        return Ok((Vec::new(), what));
    };
    let Some(subset) = subset_labels(client, namespace, service, canary).await? else {
        return Ok((Vec::new(), what));
    };
    labels.extend(subset);
    let selector: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let pods = running_pods(client, namespace, &selector.join(","), ADMIN_PORT).await?;
    Ok((pods, what))
}

/// The labels of subset `subset` in a DestinationRule of `namespace` for host `service`.
async fn subset_labels(
    client: &kube::Client,
    namespace: &str,
    service: &str,
    subset: &str,
) -> Result<Option<std::collections::BTreeMap<String, String>>, kube::Error> {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let gvk = GroupVersionKind::gvk("networking.istio.io", "v1", "DestinationRule");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "destinationrules");
    let rules: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let list = match rules.list(&ListParams::default()).await {
        Ok(list) => list,
        // No DestinationRule API here: no subsets.
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(None),
        Err(e) => return Err(e),
    };
    let found = list.items.iter().find_map(|rule| {
        let host = rule.data.pointer("/spec/host")?.as_str()?;
        if !super::host_is(host, service, namespace) {
            return None;
        }
        let subsets = rule.data.pointer("/spec/subsets")?.as_array()?;
        let subset = subsets.iter().find(|s| s["name"] == subset)?;
        serde_json::from_value(subset.get("labels")?.clone()).ok()
    });
    Ok(found)
}

/// The running pods `selector` picks in `namespace`: (name, `podIP:port`).
pub async fn running_pods(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
    port: u16,
) -> Result<Vec<(String, String)>, kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let list = pods.list(&ListParams::default().labels(selector)).await?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|p| {
            let status = p.status?;
            if status.phase.as_deref() != Some("Running") {
                return None;
            }
            let ip: std::net::IpAddr = status.pod_ip?.parse().ok()?;
            let address = std::net::SocketAddr::new(ip, port).to_string();
            Some((p.metadata.name?, address))
        })
        .collect())
}

/// The merged inbound figures of `pods` over the last `window`.
pub async fn figures(pods: &[(String, String)], window: Duration) -> VersionFigures {
    let addresses: Vec<String> = pods.iter().map(|p| p.1.clone()).collect();
    let answers: Vec<_> = fetch_each(&addresses, window, Duration::from_secs(3))
        .await
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    let signals = Merged::from_answers(&answers)
        .ok()
        .flatten()
        .and_then(|m| m.sum(crate::stats::cluster::whole_inbound));
    VersionFigures {
        requests: signals.as_ref().map_or(0, |s| s.requests),
        success_rate: signals
            .as_ref()
            .and_then(|s| s.success_rate)
            .map(|r| r * 100.0),
        p99_ms: signals.as_ref().and_then(|s| s.latency_p99_ms),
        pods_answered: answers.len(),
        pods: pods.len(),
    }
}

/// `all` without the pods in `minus` (the stable pods: the Service's, less the canary's).
pub fn without(all: Vec<(String, String)>, minus: &[(String, String)]) -> Vec<(String, String)> {
    let names: BTreeSet<&str> = minus.iter().map(|p| p.0.as_str()).collect();
    all.into_iter()
        .filter(|p| !names.contains(p.0.as_str()))
        .collect()
}
