//! Which workloads an Istio security policy (PeerAuthentication, AuthorizationPolicy,
//! RequestAuthentication) selects: its namespace's pods, all or those its `selector`
//! matches; a policy in the mesh's root namespace (the mesh namespace, or `istio-system`
//! for clusters moving from Istio) is mesh-wide.

use std::collections::BTreeMap;

use kube::api::DynamicObject;
use serde::{Deserialize, Serialize};

use super::Options;
use super::catalog::{Catalog, namespace_of};
use super::finding::ObjectRef;

/// The Istio security API group.
pub const SECURITY_GROUP: &str = "security.istio.io";

/// Istio's own root namespace, accepted as a root namespace for migration.
pub const ISTIO_ROOT: &str = "istio-system";

/// `selector: { matchLabels: {...} }`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkloadSelector {
    pub match_labels: Option<BTreeMap<String, String>>,
}

impl WorkloadSelector {
    /// The labels, or None for an absent or empty selector (every workload).
    pub fn labels(selector: &Option<Self>) -> Option<BTreeMap<String, String>> {
        selector
            .as_ref()
            .and_then(|s| s.match_labels.clone())
            .filter(|l| !l.is_empty())
    }
}

/// Whether `labels` carry every label of `selector`.
pub(crate) fn selects(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Where a policy applies: its namespace (every namespace for a root one), and the labels
/// its selector asks for (None: every pod).
#[derive(Clone, Debug)]
pub(crate) struct Scope {
    pub namespace: String,
    pub root: bool,
    pub selector: Option<BTreeMap<String, String>>,
}

impl Scope {
    pub fn new(options: &Options, namespace: &str, selector: &Option<WorkloadSelector>) -> Self {
        Scope {
            namespace: namespace.to_owned(),
            root: is_root(options, namespace),
            selector: WorkloadSelector::labels(selector),
        }
    }

    /// Whether it applies to a pod in `namespace` with `labels`.
    pub fn applies(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        (self.root || self.namespace == namespace)
            && self.selector.as_ref().is_none_or(|s| selects(s, labels))
    }
}

/// Whether `namespace` is a root namespace: its policies apply mesh-wide.
pub(crate) fn is_root(options: &Options, namespace: &str) -> bool {
    namespace == options.mesh_namespace || namespace == ISTIO_ROOT
}

/// Whether an apiVersion is of the Istio security group (v1, v1beta1).
pub(crate) fn is_security(api_version: &str) -> bool {
    is_group(api_version, SECURITY_GROUP)
}

/// Whether an apiVersion is of API group `group`.
pub(crate) fn is_group(api_version: &str, group: &str) -> bool {
    api_version
        .rsplit_once('/')
        .is_some_and(|(g, _)| g == group)
}

static NULL: serde_json::Value = serde_json::Value::Null;

/// One policy object of `kind`, with where it lives and its `spec`.
pub(crate) struct PolicyObject<'a> {
    pub namespace: String,
    pub name: String,
    pub object: ObjectRef,
    pub labels: BTreeMap<String, String>,
    pub spec: &'a serde_json::Value,
}

/// The `kind` objects of the security group, oldest first (`creationTimestamp`, then
/// namespace and name), the order in which Istio lets the first of equals win.
pub(crate) fn policies<'a>(catalog: &Catalog<'a>, kind: &str) -> Vec<PolicyObject<'a>> {
    policies_of(catalog, SECURITY_GROUP, kind)
}

/// The `kind` objects of API group `group`, oldest first.
pub(crate) fn policies_of<'a>(
    catalog: &Catalog<'a>,
    group: &str,
    kind: &str,
) -> Vec<PolicyObject<'a>> {
    let mut objects: Vec<&'a DynamicObject> = catalog
        .inputs
        .objects
        .iter()
        .map(|o| &**o)
        .filter(|o| {
            o.types
                .as_ref()
                .is_some_and(|t| t.kind == kind && is_group(&t.api_version, group))
        })
        .collect();
    objects.sort_by_key(|o| {
        (
            o.metadata.creation_timestamp.clone().map(|t| t.0),
            namespace_of(&o.metadata),
            o.metadata.name.clone(),
        )
    });
    objects
        .into_iter()
        .map(|o| {
            let namespace = namespace_of(&o.metadata);
            let name = o.metadata.name.clone().unwrap_or_default();
            PolicyObject {
                object: catalog.object(kind, &namespace, &name),
                labels: o.metadata.labels.clone().unwrap_or_default(),
                namespace,
                name,
                spec: o.data.get("spec").unwrap_or(&NULL),
            }
        })
        .collect()
}

/// A policy's `spec`, unless it is unreadable or attached by `targetRef(s)` to a Gateway or
/// waypoint (it applies to no sidecar; reported).
pub(crate) fn read_spec<T: serde::de::DeserializeOwned + Serialize>(
    spec: &serde_json::Value,
    report: &mut super::finding::Report<'_>,
    targeted: impl Fn(&T) -> bool,
) -> Option<T> {
    let spec = super::spec::parse::<T>(spec, "spec", report)?;
    if targeted(&spec) {
        report.warn(
            "spec.targetRef",
            "policies attached to a Gateway or waypoint apply to no sidecar: this policy has \
             no effect here (use a selector)",
        );
        return None;
    }
    Some(spec)
}
