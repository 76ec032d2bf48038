//! Pods made by hand for tests that read pods (`stat`, `check --proxy`): no kubelet runs, so
//! the test writes the status a kubelet would.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::harness::cluster;

/// Creates pod `ns/name` with an app container and, when `meshed`, the injected-version
/// annotation and a native-sidecar proxy container; then sets `status`.
pub async fn pod(ns: &str, name: &str, meshed: bool, status: Value) {
    let pods: Api<Pod> = Api::namespaced(cluster().admin().await, ns);
    let (annotations, inits) = if meshed {
        (
            json!({"meshctl.io/injected-version": "test"}),
            json!([{"name": "meshctl-proxy", "image": "meshctl:test", "restartPolicy": "Always"}]),
        )
    } else {
        (json!({}), json!([]))
    };
    let object: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}, "annotations": annotations},
        "spec": {
            "serviceAccountName": "default",
            "initContainers": inits,
            "containers": [{"name": "app", "image": "app:1"}],
        },
    }))
    .unwrap();
    pods.create(&PostParams::default(), &object).await.unwrap();
    pods.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": status})),
    )
    .await
    .unwrap_or_else(|e| panic!("status of {name}: {e}"));
}

/// A Running pod's status at `ip`; a meshed pod's proxy container is ready.
pub fn running(ip: &str, meshed: bool) -> Value {
    let mut status = json!({"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]});
    if meshed {
        status["initContainerStatuses"] = json!([proxy_status(true, json!({"running": {}}))]);
    }
    status
}

/// The proxy container's status.
pub fn proxy_status(ready: bool, state: Value) -> Value {
    json!({
        "name": "meshctl-proxy", "image": "meshctl:test", "imageID": "", "ready": ready,
        "restartCount": 0, "state": state,
    })
}
