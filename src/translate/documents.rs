//! Reading manifests into [`Inputs`]: every document of every file (`List` kinds expanded),
//! typed by kind; workloads give one synthetic pod each (labels and spec of their
//! template) so that offline analysis can resolve subsets and meshed-ness without a cluster.
//! `meshctl analyze` and `meshctl controller --from-dir` read files through here.

use k8s_openapi::api::core::v1::{Namespace, Pod, PodTemplateSpec, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::sync::Arc;

use kube::api::{DynamicObject, TypeMeta};
use serde_json::Value;

use super::catalog::namespace_of;
use super::finding::{Finding, ObjectRef, Severity};
use super::{Inputs, Origins};
use crate::inject;

/// API groups whose objects are config for the mesh (kept for translation, which reports
/// the kinds it does not implement).
pub const CONFIG_GROUPS: [&str; 7] = [
    "networking.istio.io",
    "security.istio.io",
    "split.smi-spec.io",
    "gateway.networking.k8s.io",
    "linkerd.io",
    "policy.linkerd.io",
    "meshctl.io",
];

impl Inputs {
    /// Reads every document of `inputs`. A document that cannot be read is a finding (with
    /// file, document and line) and the rest is still read.
    pub fn from_documents(inputs: &[inject::Input<'_>]) -> (Inputs, Vec<Finding>) {
        let mut out = Inputs::default();
        let mut findings = Vec::new();
        for doc in inject::documents(inputs) {
            match doc {
                Ok(doc) => {
                    let at = ObjectRef {
                        file: Some(doc.file.clone()),
                        document: Some(doc.document),
                        line: Some(doc.line),
                        ..ObjectRef::default()
                    };
                    out.add_value(doc.value, &at, &mut findings);
                }
                Err(e) => findings.push(document_finding(&e)),
            }
        }
        (out, findings)
    }

    /// Adds one parsed object (a `List` adds its items); `at` says where it came from.
    pub fn add_value(&mut self, value: Value, at: &ObjectRef, findings: &mut Vec<Finding>) {
        if value.is_null() {
            return;
        }
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let api_version = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let (kind, api_version) = (kind.as_str(), api_version.as_str());
        if kind == "List" || (kind.ends_with("List") && value.get("items").is_some()) {
            if let Some(Value::Array(items)) = value.get("items") {
                for item in items.clone() {
                    self.add_value(item, at, findings);
                }
            }
            return;
        }
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let namespace = value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
            .to_owned();
        let mut object = ObjectRef {
            kind: kind.to_owned(),
            namespace: namespace.clone(),
            name: name.clone(),
            ..at.clone()
        };
        if kind.is_empty() || api_version.is_empty() {
            findings.push(finding(
                &object,
                if kind.is_empty() {
                    "kind"
                } else {
                    "apiVersion"
                },
                "not a Kubernetes object: it needs apiVersion and kind; it is skipped".to_owned(),
            ));
            return;
        }
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let result = match (group, kind) {
            ("", "Service") => self.push_typed::<Service>(value, |i| &mut i.services),
            ("discovery.k8s.io", "EndpointSlice") => {
                self.push_typed::<EndpointSlice>(value, |i| &mut i.endpoint_slices)
            }
            ("", "Pod") => self.push_typed::<Pod>(value, |i| &mut i.pods),
            ("", "Namespace") => {
                object.namespace.clear();
                self.push_typed::<Namespace>(value, |i| &mut i.namespaces)
            }
            _ if inject::workload::template_path(api_version, kind).is_some() => {
                self.synthetic_pod(&value, api_version, kind)
            }
            _ if CONFIG_GROUPS.contains(&group) => {
                match serde_json::from_value::<DynamicObject>(value) {
                    Ok(mut obj) => {
                        obj.types = Some(TypeMeta {
                            api_version: api_version.to_owned(),
                            kind: kind.to_owned(),
                        });
                        self.objects.push(Arc::new(obj));
                        Ok(())
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            // Istio's mesh-wide settings: findings only (they are install values here).
            ("", "ConfigMap") | ("install.istio.io", "IstioOperator") => {
                findings.extend(super::mesh_config::findings(&value, kind, &object));
                return;
            }
            // Other kinds (other ConfigMaps, RBAC...) are not the mesh's business.
            _ => return,
        };
        match result {
            Ok(()) => {
                let key = (kind.to_owned(), object.namespace.clone(), name);
                self.origins.0.entry(key).or_insert(object);
            }
            Err(message) => findings.push(finding(
                &object,
                "",
                format!("cannot read this {kind}: {message}; it is skipped"),
            )),
        }
    }

    fn push_typed<T: serde::de::DeserializeOwned>(
        &mut self,
        value: Value,
        list: impl FnOnce(&mut Inputs) -> &mut Vec<Arc<T>>,
    ) -> Result<(), String> {
        let typed = serde_json::from_value::<T>(value).map_err(|e| e.to_string())?;
        list(self).push(Arc::new(typed));
        Ok(())
    }

    /// One pod standing for a workload's replicas, named `<workload>-<kind>-template`.
    fn synthetic_pod(
        &mut self,
        value: &Value,
        api_version: &str,
        kind: &str,
    ) -> Result<(), String> {
        let path = inject::workload::template_path(api_version, kind).unwrap_or(&[]);
        let mut template = value;
        for step in path {
            template = template
                .get(*step)
                .ok_or_else(|| format!("{} is missing", path.join(".")))?;
        }
        let template: PodTemplateSpec = serde_json::from_value(template.clone())
            .map_err(|e| format!("{}: {e}", path.join(".")))?;
        let meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta =
            serde_json::from_value(value.get("metadata").cloned().unwrap_or(Value::Null))
                .unwrap_or_default();
        let mut pod_meta = template.metadata.unwrap_or_default();
        pod_meta.name = Some(template_pod_name(
            meta.name.as_deref().unwrap_or("unnamed"),
            kind,
        ));
        pod_meta.namespace = Some(namespace_of(&meta));
        self.pods.push(Arc::new(Pod {
            metadata: pod_meta,
            spec: template.spec,
            status: None,
        }));
        Ok(())
    }
}

/// The name of the pod that stands for the replicas of workload `name` of `kind` read from
/// files (`web-deployment-template`).
pub fn template_pod_name(name: &str, kind: &str) -> String {
    format!("{name}-{}-template", kind.to_ascii_lowercase())
}

fn finding(object: &ObjectRef, field: &str, message: String) -> Finding {
    Finding {
        object: object.clone(),
        field: field.to_owned(),
        severity: Severity::Error,
        message,
    }
}

/// A document that did not parse, as a finding with its position.
fn document_finding(e: &inject::Error) -> Finding {
    let (file, document, line) = match e {
        inject::Error::Encoding { file, line, .. } => (file.clone(), None, Some(*line)),
        inject::Error::Syntax {
            file,
            document,
            line,
            ..
        }
        | inject::Error::Object {
            file,
            document,
            line,
            ..
        }
        | inject::Error::Write {
            file,
            document,
            line,
            ..
        } => (file.clone(), Some(*document), Some(*line)),
    };
    Finding {
        object: ObjectRef {
            file: Some(file),
            document,
            line,
            ..ObjectRef::default()
        },
        field: String::new(),
        severity: Severity::Error,
        message: e.to_string(),
    }
}

impl Origins {
    /// Adds the position of an object read from a file.
    pub fn insert(&mut self, object: ObjectRef) {
        let key = (
            object.kind.clone(),
            object.namespace.clone(),
            object.name.clone(),
        );
        self.0.entry(key).or_insert(object);
    }
}
