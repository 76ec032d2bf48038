//! `install --apply`: CRDs first (never over another product's) until Established, then the
//! rest in template order, then the controller's readiness; each step reported as an event.

use std::time::Duration;

use kube::api::DynamicObject;

use super::InstallError;
use crate::k8s::Applier;
use crate::k8s::Connection;
use crate::k8s::apply::{condition_true, describe};
use crate::manifests::render::{MANAGED_BY_LABEL, MESHCTL};
use crate::manifests::{CrdSet, Manifest};

/// Which of meshctl's CRDs to install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrdMode {
    /// Those the cluster lacks, and updates of ours; another product's are kept as they are.
    Auto,
    /// All of ours; another product's CRD of the same name is an error.
    All,
    /// None.
    None,
}

impl CrdMode {
    /// The CRDs to render. Applying sees the cluster and keeps what another product owns;
    /// a printed stream cannot, so `Auto` prints meshctl's own CRDs only (`kubectl apply` of
    /// a Gateway API or Istio CRD would overwrite that product's).
    pub fn rendered(self, printing: bool) -> CrdSet {
        match self {
            CrdMode::None => CrdSet::None,
            CrdMode::Auto if printing => CrdSet::Owned,
            CrdMode::Auto | CrdMode::All => CrdSet::All,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub crds: CrdMode,
    /// Server-side dry-run: the server checks every object but stores nothing.
    pub dry_run: bool,
    /// Wait until the controller is ready.
    pub wait: bool,
    /// For each wait (CRDs Established, controller ready).
    pub timeout: Duration,
}

/// One step of an apply, for progress displays.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    Applied { what: &'a str },
    KeptCrd { name: &'a str, owner: &'a str },
    NotChecked { what: &'a str, reason: &'a str },
    Waiting { what: &'a str, condition: &'a str },
    Ready { what: &'a str },
}

/// What an apply did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub applied: usize,
    /// CRDs left alone because another product owns them.
    pub kept_crds: Vec<String>,
    /// Objects a dry run could not check (their namespace does not exist yet).
    pub not_checked: usize,
}

/// Applies `manifests` (rendered in apply order) to the cluster.
pub async fn apply(
    conn: &Connection,
    manifests: &[Manifest],
    options: &ApplyOptions,
    report: &mut dyn FnMut(Event<'_>),
) -> Result<Summary, InstallError> {
    let mut applier = Applier::new(conn, options.dry_run);
    let mut summary = Summary::default();
    let (crds, rest): (Vec<&Manifest>, Vec<&Manifest>) = manifests.iter().partition(|m| m.is_crd());

    let mut applied_crds = Vec::new();
    if options.crds != CrdMode::None {
        for crd in crds {
            if let Some(existing) = applier.get(&crd.object).await?
                && let Some(owner) = foreign_owner(&existing)
            {
                if options.crds == CrdMode::All {
                    return Err(InstallError::ForeignCrd {
                        name: crd.name().to_owned(),
                        owner,
                    });
                }
                report(Event::KeptCrd {
                    name: crd.name(),
                    owner: &owner,
                });
                summary.kept_crds.push(crd.name().to_owned());
                continue;
            }
            applier.apply(&crd.object).await?;
            summary.applied += 1;
            report(Event::Applied {
                what: &describe(&crd.object),
            });
            applied_crds.push(crd);
        }
    }
    if !options.dry_run {
        for crd in applied_crds {
            wait(
                &mut applier,
                &crd.object,
                "Established",
                options,
                report,
                |o| condition_true(o, "Established"),
            )
            .await?;
        }
    }

    // A dry run cannot create the namespace, so objects inside it cannot be checked.
    let mut missing_namespace = None;
    if options.dry_run
        && let Some(ns) = rest.iter().find(|m| m.kind() == "Namespace")
        && applier.get(&ns.object).await?.is_none()
    {
        missing_namespace = Some(ns.name().to_owned());
    }
    let not_checked = missing_namespace
        .as_ref()
        .map(|ns| format!("namespace {ns} does not exist yet, a dry run cannot create it"));
    for manifest in rest {
        let what = describe(&manifest.object);
        if let Some(reason) = &not_checked
            && manifest.object.metadata.namespace == missing_namespace
        {
            summary.not_checked += 1;
            report(Event::NotChecked {
                what: &what,
                reason,
            });
            continue;
        }
        applier.apply(&manifest.object).await?;
        summary.applied += 1;
        report(Event::Applied { what: &what });
    }

    if options.wait && !options.dry_run {
        for deployment in manifests.iter().filter(|m| m.kind() == "Deployment") {
            wait(
                &mut applier,
                &deployment.object,
                "ready",
                options,
                report,
                deployment_ready,
            )
            .await?;
        }
    }
    Ok(summary)
}

async fn wait(
    applier: &mut Applier<'_>,
    object: &DynamicObject,
    condition: &str,
    options: &ApplyOptions,
    report: &mut dyn FnMut(Event<'_>),
    ready: impl Fn(&DynamicObject) -> bool,
) -> Result<(), InstallError> {
    let what = describe(object);
    report(Event::Waiting {
        what: &what,
        condition,
    });
    applier
        .wait_for(object, condition, options.timeout, ready)
        .await?;
    report(Event::Ready { what: &what });
    Ok(())
}

/// Who owns an existing CRD when it is not meshctl (`None` when it is ours).
fn foreign_owner(existing: &DynamicObject) -> Option<String> {
    let labels = existing.metadata.labels.as_ref();
    let label = |key: &str| labels.and_then(|l| l.get(key)).cloned();
    match label(MANAGED_BY_LABEL) {
        Some(owner) if owner == MESHCTL => None,
        Some(owner) => Some(owner),
        None => Some("another product (no app.kubernetes.io/managed-by label)".to_owned()),
    }
}

/// A Deployment whose current generation is rolled out and available.
pub fn deployment_ready(obj: &DynamicObject) -> bool {
    let int = |pointer: &str| obj.data.pointer(pointer).and_then(|v| v.as_i64());
    let generation = obj.metadata.generation.unwrap_or(0);
    let wanted = int("/spec/replicas").unwrap_or(1);
    int("/status/observedGeneration").unwrap_or(0) >= generation
        && int("/status/updatedReplicas").unwrap_or(0) >= wanted
        && int("/status/availableReplicas").unwrap_or(0) >= wanted
        && condition_true(obj, "Available")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: serde_json::Value) -> DynamicObject {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_deployment_is_ready_once_its_generation_is_available() {
        let mut value = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "c", "generation": 2},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "updatedReplicas": 2, "availableReplicas": 2,
                       "conditions": [{"type": "Available", "status": "True"}]}
        });
        assert!(!deployment_ready(&object(value.clone())), "old generation");
        value["status"]["observedGeneration"] = 2.into();
        assert!(deployment_ready(&object(value.clone())));
        value["status"]["availableReplicas"] = 1.into();
        assert!(
            !deployment_ready(&object(value.clone())),
            "one replica short"
        );
        value["status"]["availableReplicas"] = 2.into();
        value["status"]["conditions"][0]["status"] = "False".into();
        assert!(!deployment_ready(&object(value)), "not Available");
    }

    #[test]
    fn crds_without_our_label_belong_to_someone_else() {
        let crd = |labels: serde_json::Value| {
            object(serde_json::json!({
                "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "x.example.io", "labels": labels}
            }))
        };
        assert_eq!(
            foreign_owner(&crd(
                serde_json::json!({"app.kubernetes.io/managed-by": "meshctl"})
            )),
            None
        );
        assert_eq!(
            foreign_owner(&crd(
                serde_json::json!({"app.kubernetes.io/managed-by": "Helm"})
            ))
            .as_deref(),
            Some("Helm")
        );
        assert!(
            foreign_owner(&crd(serde_json::json!({})))
                .unwrap()
                .starts_with("another product")
        );
    }
}
