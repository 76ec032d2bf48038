//! Checks of automatic injection: the API server can call the injector (a dry-run pod in an
//! injection-enabled namespace comes back with the proxy), no pod there runs without a proxy,
//! and which namespaces opt in with another mesh's label or annotation (or only by annotation,
//! which the API server cannot select).

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams, PostParams};

use super::Outcome;
use crate::inject::config::INJECT_ANNOTATION;
use crate::inject::review::{
    ISTIO_NAMESPACE_LABEL, LINKERD_ANNOTATION, NamespaceMeta, namespace_entry,
};
use crate::inject::sidecar::PROXY_CONTAINER;
use crate::install::read_state;
use crate::k8s::Connection;

/// The namespaces whose pods the API server sends to the injector, with the entry that matches.
struct Enabled {
    namespaces: Vec<(NamespaceMeta, &'static str)>,
    all: Vec<NamespaceMeta>,
    accept_foreign: bool,
}

async fn enabled(conn: &Connection, mesh_ns: &str) -> Result<Enabled, Outcome> {
    let accept_foreign = match read_state(conn, mesh_ns).await {
        Ok(state) => state
            .values
            .is_some_and(|v| v.injection.accept_foreign_labels),
        Err(e) => return Err(Outcome::error(e.to_string())),
    };
    let list = Api::<Namespace>::all(conn.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| Outcome::error(conn.request_error("listing", "namespaces", &e).to_string()))?;
    let all: Vec<NamespaceMeta> = list
        .items
        .iter()
        .filter(|ns| ns.metadata.deletion_timestamp.is_none())
        .map(|ns| NamespaceMeta {
            name: ns.metadata.name.clone().unwrap_or_default(),
            labels: ns.metadata.labels.clone().unwrap_or_default(),
            annotations: ns.metadata.annotations.clone().unwrap_or_default(),
        })
        .collect();
    let namespaces = all
        .iter()
        .filter_map(|ns| Some((ns.clone(), namespace_entry(ns, mesh_ns, accept_foreign)?)))
        .collect();
    Ok(Enabled {
        namespaces,
        all,
        accept_foreign,
    })
}

/// A server-side dry-run pod in the first injection-enabled namespace: admitted, with the proxy.
pub async fn admission(conn: &Connection, mesh_ns: &str) -> Outcome {
    let enabled = match enabled(conn, mesh_ns).await {
        Ok(e) => e,
        Err(outcome) => return outcome,
    };
    let Some((ns, entry)) = enabled.namespaces.first() else {
        return Outcome::ok(format!(
            "no namespace is labelled {INJECT_ANNOTATION}=enabled: nothing calls the injector"
        ));
    };
    let probe: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"generateName": "meshctl-check-", "labels": {"app.kubernetes.io/name": "meshctl-check"}},
        // The ServiceAccount admission plugin would set the name; the proxy's token needs one.
        "spec": {"serviceAccountName": "default",
                 "containers": [{"name": "probe", "image": "registry.k8s.io/pause:3.10"}]},
    }))
    .expect("a pod");
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let api: Api<Pod> = Api::namespaced(conn.client.clone(), &ns.name);
    match api.create(&params, &probe).await {
        Ok(pod) => {
            let injected = pod
                .spec
                .iter()
                .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers))
                .any(|c| c.name == PROXY_CONTAINER);
            if injected {
                Outcome::ok(format!(
                    "a dry-run pod in namespace {} was injected (webhook {entry})",
                    ns.name
                ))
            } else {
                Outcome::error(format!(
                    "a dry-run pod in namespace {} was admitted without the proxy: the webhook \
                     {entry} did not inject it (is the MutatingWebhookConfiguration \
                     meshctl-proxy-injector there?)",
                    ns.name
                ))
            }
        }
        Err(kube::Error::Api(status)) if status.code == 403 => Outcome::warning(format!(
            "cannot probe the injector: you may not create pods in namespace {} ({})",
            ns.name, status.message
        )),
        Err(kube::Error::Api(status)) => Outcome::error(format!(
            "the API server refuses pods in namespace {} ({} namespace(s) opt in): {}",
            ns.name,
            enabled.namespaces.len(),
            status.message
        )),
        Err(e) => Outcome::error(
            conn.request_error(
                "creating (dry run)",
                &format!("a pod in namespace {}", ns.name),
                &e,
            )
            .to_string(),
        ),
    }
}

/// Running pods in injection-enabled namespaces without the proxy, each with the command that
/// gets it one.
pub async fn unmeshed_pods(conn: &Connection, mesh_ns: &str) -> Outcome {
    let enabled = match enabled(conn, mesh_ns).await {
        Ok(e) => e,
        Err(outcome) => return outcome,
    };
    let mut unmeshed = Vec::new();
    for (ns, _) in &enabled.namespaces {
        let pods = match Api::<Pod>::namespaced(conn.client.clone(), &ns.name)
            .list(&ListParams::default())
            .await
        {
            Ok(list) => list.items,
            Err(e) => {
                let what = format!("pods in namespace {}", ns.name);
                return Outcome::error(conn.request_error("listing", &what, &e).to_string());
            }
        };
        for pod in pods {
            if finished(&pod) || has_proxy(&pod) || opted_out(&pod) || host_network(&pod) {
                continue;
            }
            unmeshed.push(restart_command(conn, &ns.name, &pod).await);
        }
    }
    if unmeshed.is_empty() {
        return Outcome::ok(format!(
            "every pod in the {} injection-enabled namespace(s) has the proxy",
            enabled.namespaces.len()
        ));
    }
    let commands: BTreeSet<String> = unmeshed.into_iter().collect();
    Outcome::warning(format!(
        "{} pod owner(s) in injection-enabled namespaces run without the proxy (created before \
         the namespace opted in, or while the injector was down); restart them: {}",
        commands.len(),
        commands.into_iter().collect::<Vec<_>>().join("; ")
    ))
}

fn finished(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    matches!(phase, Some("Succeeded" | "Failed")) || pod.metadata.deletion_timestamp.is_some()
}

fn has_proxy(pod: &Pod) -> bool {
    pod.spec.iter().any(|s| {
        s.init_containers
            .iter()
            .flatten()
            .chain(&s.containers)
            .any(|c| c.name == PROXY_CONTAINER)
    })
}

fn opted_out(pod: &Pod) -> bool {
    let says = |map: &Option<std::collections::BTreeMap<String, String>>| {
        map.as_ref()
            .and_then(|m| m.get(INJECT_ANNOTATION))
            .is_some_and(|v| v == "disabled")
    };
    says(&pod.metadata.labels) || says(&pod.metadata.annotations)
}

fn host_network(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false)
}

/// `kubectl rollout restart deployment/web -n shop` for a Deployment's pod (through its
/// ReplicaSet), the owner's kind otherwise, or recreating a bare pod.
async fn restart_command(conn: &Connection, ns: &str, pod: &Pod) -> String {
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let owner = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .or_else(|| pod.metadata.owner_references.iter().flatten().next());
    let Some(owner) = owner else {
        return format!("pod {ns}/{name} has no owner: delete and create it again");
    };
    let mut owner = (owner.kind.clone(), owner.name.clone());
    if owner.0 == "ReplicaSet"
        && let Ok(Some(rs)) = Api::<ReplicaSet>::namespaced(conn.client.clone(), ns)
            .get_opt(&owner.1)
            .await
        && let Some(deployment) = rs
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.kind == "Deployment")
    {
        owner = ("Deployment".to_owned(), deployment.name.clone());
    }
    match owner.0.as_str() {
        "Deployment" | "StatefulSet" | "DaemonSet" => format!(
            "kubectl rollout restart {}/{} -n {ns}",
            owner.0.to_ascii_lowercase(),
            owner.1
        ),
        kind => format!(
            "pod {ns}/{name} belongs to {kind} {}: delete the pod so it is created again",
            owner.1
        ),
    }
}

/// Namespaces that carry Istio's or Linkerd's injection key (either value), and namespaces that
/// opt in by annotation only (the API server selects by label).
pub async fn foreign_labels(conn: &Connection, mesh_ns: &str) -> Outcome {
    let enabled = match enabled(conn, mesh_ns).await {
        Ok(e) => e,
        Err(outcome) => return outcome,
    };
    let selected: BTreeSet<&str> = enabled
        .namespaces
        .iter()
        .map(|(ns, _)| ns.name.as_str())
        .collect();
    let mut foreign = Vec::new();
    let mut annotation_only = Vec::new();
    for ns in &enabled.all {
        let mut keys = Vec::new();
        if let Some(v) = ns.labels.get(ISTIO_NAMESPACE_LABEL) {
            keys.push(format!("{ISTIO_NAMESPACE_LABEL}={v}"));
        }
        for (kind, map) in [("label", &ns.labels), ("annotation", &ns.annotations)] {
            if let Some(v) = map.get(LINKERD_ANNOTATION) {
                keys.push(format!("{kind} {LINKERD_ANNOTATION}: {v}"));
            }
        }
        if !keys.is_empty() {
            let state = if selected.contains(ns.name.as_str()) {
                "injected by meshctl"
            } else {
                "not injected by meshctl"
            };
            foreign.push(format!("{} ({}; {state})", ns.name, keys.join(", ")));
        }
        let annotated = |key: &str| ns.annotations.get(key).is_some_and(|v| v == "enabled");
        if !selected.contains(ns.name.as_str())
            && (annotated(INJECT_ANNOTATION)
                || (enabled.accept_foreign && annotated(LINKERD_ANNOTATION)))
        {
            annotation_only.push(ns.name.clone());
        }
    }
    let mut problems = Vec::new();
    if !annotation_only.is_empty() {
        problems.push(format!(
            "opted in by annotation only, which the API server cannot select, so their pods \
             are not injected: {} (`kubectl label namespace NS {INJECT_ANNOTATION}=enabled`)",
            annotation_only.join(", ")
        ));
    }
    let unaccepted = foreign
        .iter()
        .any(|f| f.ends_with("not injected by meshctl)"));
    if !foreign.is_empty() {
        let mut line = format!("another mesh's injection keys: {}", foreign.join("; "));
        if unaccepted && !enabled.accept_foreign {
            line.push_str(
                "; to mesh them with meshctl, label them meshctl.io/inject=enabled or \
                 `meshctl upgrade --apply --set injection.acceptForeignLabels=true`",
            );
        }
        if unaccepted {
            problems.push(line);
        } else {
            return if problems.is_empty() {
                Outcome::ok(line)
            } else {
                problems.push(line);
                Outcome::warning(problems.join("; "))
            };
        }
    }
    if problems.is_empty() {
        Outcome::ok("no namespace carries Istio's or Linkerd's injection label or annotation")
    } else {
        Outcome::warning(problems.join("; "))
    }
}
