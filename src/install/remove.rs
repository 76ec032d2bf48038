//! Finding what an install owns (by its `app.kubernetes.io/part-of` label), pruning what a
//! new render no longer has, deleting all of it, and the meshed pods that block an uninstall.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams, TypeMeta};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;

use super::InstallError;
use crate::k8s::apply::describe;
use crate::k8s::{Applier, Connection, pods};
use crate::manifests::Manifest;
use crate::manifests::render::{MANAGED_BY_LABEL, MESHCTL, PART_OF_LABEL};

/// Every kind the templates can hold (CRDs and the namespace aside), in deletion order (the
/// webhook first, so no pod creation calls a controller that is going away), and whether it
/// is namespaced.
const OWNED_KINDS: &[(&str, &str, &str, bool)] = &[
    (
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        false,
    ),
    ("apps", "v1", "Deployment", true),
    ("policy", "v1", "PodDisruptionBudget", true),
    ("", "v1", "Service", true),
    ("", "v1", "ConfigMap", true),
    ("", "v1", "Secret", true),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", true),
    ("rbac.authorization.k8s.io", "v1", "Role", true),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        false,
    ),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", false),
    ("", "v1", "ServiceAccount", true),
];
const NAMESPACE: (&str, &str, &str, bool) = ("", "v1", "Namespace", false);
const CRD: (&str, &str, &str, bool) = (
    "apiextensions.k8s.io",
    "v1",
    "CustomResourceDefinition",
    false,
);

/// The objects an install in `namespace` owns, in deletion order: the kinds above, then the
/// namespace, then (with `with_crds`) the CRDs meshctl manages.
pub async fn owned_objects(
    conn: &Connection,
    namespace: &str,
    with_crds: bool,
) -> Result<Vec<DynamicObject>, InstallError> {
    let mut found = Vec::new();
    for kind in OWNED_KINDS.iter().chain([&NAMESPACE]) {
        list(conn, *kind, namespace, PART_OF_LABEL, &mut found).await?;
    }
    // The namespace is labelled like the rest; only the install's own counts.
    found.retain(|o| !is_kind(o, "Namespace") || o.metadata.name.as_deref() == Some(namespace));
    if with_crds {
        list(conn, CRD, namespace, MANAGED_BY_LABEL, &mut found).await?;
    }
    Ok(found)
}

/// Deletes `objects` in order (or, with `dry_run`, has the server check the deletions),
/// reporting each; returns how many existed.
pub async fn remove(
    conn: &Connection,
    objects: &[DynamicObject],
    dry_run: bool,
    report: &mut dyn FnMut(&str),
) -> Result<usize, InstallError> {
    let mut applier = Applier::new(conn, dry_run);
    let mut deleted = 0;
    for object in objects {
        if applier.delete(object).await? {
            deleted += 1;
            report(&describe(object));
        }
    }
    Ok(deleted)
}

/// The owned objects (CRDs and the namespace aside) that `manifests` no longer has.
pub async fn prune(
    conn: &Connection,
    namespace: &str,
    manifests: &[Manifest],
) -> Result<Vec<DynamicObject>, InstallError> {
    let mut stale = owned_objects(conn, namespace, false).await?;
    stale.retain(|o| {
        !is_kind(o, "Namespace")
            && !manifests.iter().any(|m| {
                m.kind() == kind_of(o)
                    && m.object.metadata.name == o.metadata.name
                    && m.object.metadata.namespace == o.metadata.namespace
            })
    });
    Ok(stale)
}

/// Running pods (`namespace/name`) that carry meshctl's proxy.
pub async fn meshed_pods(conn: &Connection) -> Result<Vec<String>, InstallError> {
    let pods: Api<Pod> = Api::all(conn.client.clone());
    let list = pods
        .list(&ListParams::default())
        .await
        .map_err(|e| conn.request_error("listing", "pods in all namespaces", &e))?;
    Ok(list
        .items
        .iter()
        .filter(|pod| pods::is_meshed(pod) && !pods::has_finished(pod))
        .map(|pod| {
            format!(
                "{}/{}",
                pod.metadata.namespace.as_deref().unwrap_or(""),
                pod.metadata.name.as_deref().unwrap_or("")
            )
        })
        .collect())
}

async fn list(
    conn: &Connection,
    (group, version, kind, namespaced): (&str, &str, &str, bool),
    namespace: &str,
    label: &str,
    out: &mut Vec<DynamicObject>,
) -> Result<(), InstallError> {
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let resource = ApiResource::from_gvk(&gvk);
    let api: Api<DynamicObject> = if namespaced {
        Api::namespaced_with(conn.client.clone(), namespace, &resource)
    } else {
        Api::all_with(conn.client.clone(), &resource)
    };
    let params = ListParams::default().labels(&format!("{label}={MESHCTL}"));
    let what = if namespaced {
        format!("{kind}s in namespace {namespace}")
    } else {
        format!("{kind}s")
    };
    let items = match api.list(&params).await {
        Ok(list) => list.items,
        // A namespace that is already gone holds nothing.
        Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
        Err(e) => return Err(conn.request_error("listing", &what, &e).into()),
    };
    // List items come without apiVersion/kind; deleting needs them.
    out.extend(items.into_iter().map(|mut item| {
        item.types = Some(TypeMeta {
            api_version: resource.api_version.clone(),
            kind: kind.to_owned(),
        });
        item
    }));
    Ok(())
}

fn kind_of(object: &DynamicObject) -> &str {
    object.types.as_ref().map_or("", |t| t.kind.as_str())
}

fn is_kind(object: &DynamicObject, kind: &str) -> bool {
    kind_of(object) == kind
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::{InstallCerts, Overrides, Values, certs, render};
    use std::time::SystemTime;

    /// A kind added to the templates but not listed would never be pruned or uninstalled.
    #[test]
    fn every_rendered_kind_is_owned() {
        let now = SystemTime::now();
        let certs = InstallCerts {
            identity: certs::generate_identity("cluster.local", now).unwrap(),
            webhook: certs::generate_webhook("meshctl-system", now).unwrap(),
        };
        let ha = Overrides {
            ha: true,
            ..Overrides::default()
        }
        .apply(&Values::default())
        .unwrap();
        let rendered: Vec<String> =
            render(&Values::default(), &certs, crate::manifests::CrdSet::All)
                .unwrap()
                .iter()
                .filter(|m| m.is_crd())
                .map(|m| m.name().to_owned())
                .collect();
        let named: Vec<String> = crate::manifests::templates::crd_names().collect();
        assert_eq!(
            rendered, named,
            "CRD file names must be <group>_<plural>.yaml"
        );
        for values in [Values::default(), ha] {
            for manifest in render(&values, &certs, crate::manifests::CrdSet::All).unwrap() {
                let kind = manifest.kind();
                let listed = OWNED_KINDS
                    .iter()
                    .chain([&NAMESPACE, &CRD])
                    .any(|(_, _, k, _)| *k == kind);
                assert!(listed, "{kind} is not in OWNED_KINDS");
            }
        }
    }
}
