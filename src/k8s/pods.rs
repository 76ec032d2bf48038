//! What meshctl asks of a Pod object, in one place so that `uninstall`, `stat` and
//! `check --proxy` agree on which pods are meshed.

use k8s_openapi::api::core::v1::Pod;

use crate::inject::sidecar::{ANNOTATION_VERSION, PROXY_CONTAINER};

/// Whether the pod carries meshctl's proxy: injected (its annotation) or declaring the proxy
/// container (as a native sidecar or a classic container).
pub fn is_meshed(pod: &Pod) -> bool {
    let annotated = pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(ANNOTATION_VERSION));
    annotated
        || pod.spec.as_ref().is_some_and(|spec| {
            (spec.init_containers.iter().flatten())
                .chain(&spec.containers)
                .any(|c| c.name == PROXY_CONTAINER)
        })
}

/// The pod's phase, when the API server has one.
pub fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref().and_then(|s| s.phase.as_deref())
}

/// Whether the pod has run to its end (succeeded or failed): its proxy is gone for good.
pub fn has_finished(pod: &Pod) -> bool {
    matches!(phase(pod), Some("Succeeded" | "Failed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn meshed_by_annotation_or_by_proxy_container() {
        let annotated =
            pod(serde_json::json!({"metadata": {"annotations": {ANNOTATION_VERSION: "v1"}}}));
        let native = pod(serde_json::json!({"spec": {"containers": [{"name": "app"}],
            "initContainers": [{"name": PROXY_CONTAINER}]}}));
        let classic = pod(serde_json::json!({"spec": {"containers": [{"name": PROXY_CONTAINER}]}}));
        let plain = pod(serde_json::json!({"spec": {"containers": [{"name": "app"}]}}));
        assert!(is_meshed(&annotated) && is_meshed(&native) && is_meshed(&classic));
        assert!(!is_meshed(&plain));
        let done = pod(serde_json::json!({"status": {"phase": "Failed"}}));
        assert!(has_finished(&done) && !has_finished(&plain));
    }
}
