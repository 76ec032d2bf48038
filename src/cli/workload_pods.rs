//! Which pods a `KIND/NAME` names among the objects translation reads: a pod, the pods of a
//! deployment (through their ReplicaSet's name), stateful set or daemon set (by owner), or
//! those a Service selects. Read from files, a workload is the one pod standing for its
//! replicas (`web-deployment-template`).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;
use meshctl::stats::select::{Kind, ResourceRef};
use meshctl::translate::{Inputs, template_pod_name};

use super::UsageError;

/// The workload named on the command line.
#[derive(Debug)]
pub struct Workload {
    kind: Kind,
    name: String,
}

/// The workload is not among the objects read.
#[derive(Debug, thiserror::Error)]
pub enum NotFound {
    #[error("{noun} {namespace}/{name} not found; {noun}s in namespace {namespace}: {}", list(.existing))]
    Missing {
        noun: &'static str,
        namespace: String,
        name: String,
        existing: BTreeSet<String>,
    },
    #[error(
        "service {namespace}/{name} has no selector: no pod is behind it; name a pod or a deployment"
    )]
    NoSelector { namespace: String, name: String },
    #[error(
        "service {namespace}/{name} selects no pod (selector {selector}): its proxies' config is per pod"
    )]
    NoPods {
        namespace: String,
        name: String,
        selector: String,
    },
}

fn list(names: &BTreeSet<String>) -> String {
    if names.is_empty() {
        return "none (is -n right?)".to_owned();
    }
    names.iter().cloned().collect::<Vec<_>>().join(", ")
}

impl Workload {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let usage = || {
            UsageError(format!(
                "`{text}`: name a workload as pod/NAME, deploy/NAME, sts/NAME, ds/NAME or svc/NAME"
            ))
        };
        let parsed: ResourceRef = text.parse().map_err(|_| usage())?;
        match (parsed.kind, parsed.name) {
            (Kind::Namespace, _) | (_, None) => Err(usage().into()),
            (kind, Some(name)) => Ok(Self { kind, name }),
        }
    }

    /// Its pods in `namespace` (finished ones left out), in name order.
    pub fn pods<'a>(&self, inputs: &'a Inputs, namespace: &str) -> Result<Vec<&'a Pod>, NotFound> {
        let live = inputs.pods.iter().map(|p| &**p).filter(|p| {
            p.metadata.namespace.as_deref().unwrap_or("default") == namespace
                && !p
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.as_deref())
                    .is_some_and(|phase| phase == "Succeeded" || phase == "Failed")
        });
        let mut pods: Vec<&Pod> = match self.kind {
            Kind::Service => return self.selected(inputs, namespace, live.collect()),
            kind => live
                .filter(|p| owner(kind, p).as_deref() == Some(self.name.as_str()))
                .collect(),
        };
        if pods.is_empty() {
            let existing = inputs
                .pods
                .iter()
                .filter(|p| p.metadata.namespace.as_deref().unwrap_or("default") == namespace)
                .filter_map(|p| owner(self.kind, p))
                .collect();
            return Err(self.missing(namespace, existing));
        }
        pods.sort_by_key(|p| p.metadata.name.clone());
        Ok(pods)
    }

    fn missing(&self, namespace: &str, existing: BTreeSet<String>) -> NotFound {
        NotFound::Missing {
            noun: self.kind.noun(),
            namespace: namespace.to_owned(),
            name: self.name.clone(),
            existing,
        }
    }

    /// The pods the Service selects.
    fn selected<'a>(
        &self,
        inputs: &Inputs,
        namespace: &str,
        live: Vec<&'a Pod>,
    ) -> Result<Vec<&'a Pod>, NotFound> {
        let in_namespace = inputs
            .services
            .iter()
            .filter(|s| s.metadata.namespace.as_deref().unwrap_or("default") == namespace);
        let Some(service) = in_namespace
            .clone()
            .find(|s| s.metadata.name.as_deref() == Some(self.name.as_str()))
        else {
            let existing = in_namespace
                .filter_map(|s| s.metadata.name.clone())
                .collect();
            return Err(self.missing(namespace, existing));
        };
        let selector = service
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default();
        let (namespace, name) = (namespace.to_owned(), self.name.clone());
        if selector.is_empty() {
            return Err(NotFound::NoSelector { namespace, name });
        }
        let mut pods: Vec<&Pod> = live
            .into_iter()
            .filter(|p| {
                let labels = p.metadata.labels.as_ref();
                selector
                    .iter()
                    .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
            })
            .collect();
        if pods.is_empty() {
            let selector = selector
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            return Err(NotFound::NoPods {
                namespace,
                name,
                selector,
            });
        }
        pods.sort_by_key(|p| p.metadata.name.clone());
        Ok(pods)
    }
}

/// The name of the `kind` workload `pod` belongs to, if it belongs to one of that kind.
fn owner(kind: Kind, pod: &Pod) -> Option<String> {
    let name = pod.metadata.name.clone()?;
    let (owner_kind, template_kind) = match kind {
        Kind::Pod => return Some(name),
        Kind::Deployment => ("ReplicaSet", "Deployment"),
        Kind::StatefulSet => ("StatefulSet", "StatefulSet"),
        Kind::DaemonSet => ("DaemonSet", "DaemonSet"),
        Kind::Service | Kind::Namespace => return None,
    };
    let suffix = template_pod_name("", template_kind);
    if let Some(workload) = name.strip_suffix(&suffix) {
        return Some(workload.to_owned());
    }
    let owner = pod
        .metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.kind == owner_kind)?;
    if kind != Kind::Deployment {
        return Some(owner.name.clone());
    }
    // A Deployment's ReplicaSet is named after it and the pods' template hash.
    let hash = pod.metadata.labels.as_ref()?.get("pod-template-hash")?;
    owner
        .name
        .strip_suffix(&format!("-{hash}"))
        .map(str::to_owned)
}
