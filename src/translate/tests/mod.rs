//! YAML in, model out: fixtures as strings, expected services and findings.

mod core;
mod gateway;
mod kinds;
mod profiles;
mod quickstart;

use super::{Inputs, Mesh, Options, translate};
use crate::inject::Input;
use crate::model::Config;
use crate::model::service::Service;

/// The objects of a YAML stream; the stream must read without findings.
pub(super) fn inputs(yaml: &str) -> Inputs {
    let (inputs, findings) = Inputs::from_documents(&[Input {
        name: "test.yaml",
        bytes: yaml.as_bytes(),
    }]);
    assert!(findings.is_empty(), "{findings:#?}");
    inputs
}

/// Translates `yaml` and checks that every namespace's view plus every pod's inbound side
/// passes `Config::validate`.
pub(super) fn mesh(yaml: &str) -> Mesh {
    let inputs = inputs(yaml);
    let mesh = translate(&inputs, &Options::default());
    assert_valid(&mesh, &inputs);
    mesh
}

pub(super) fn assert_valid(mesh: &Mesh, inputs: &Inputs) {
    let mut namespaces: Vec<String> = inputs
        .services
        .iter()
        .filter_map(|s| s.metadata.namespace.clone())
        .collect();
    namespaces.extend(["default".to_owned(), "other".to_owned()]);
    for ns in namespaces {
        let config = Config {
            services: mesh.view(&ns).values().map(|s| (**s).clone()).collect(),
            ..Config::default()
        };
        if let Err(e) = config.validate() {
            panic!("view of {ns} refused: {e}\n{config:#?}");
        }
    }
    for pod in &inputs.pods {
        let mut config = mesh.config(pod);
        // As in cluster mode: the proxy's identity comes from the controller's CA.
        config.identity = Some(crate::model::identity::Identity {
            roots: "roots.pem".into(),
            cert: None,
            key: None,
            ca: Some(crate::model::identity::CaSource {
                addr: "ca:8443".into(),
                identity: "spiffe://cluster.local/ns/x/sa/y".parse().expect("id"),
                token: None,
                token_file: None,
                server: None,
            }),
        });
        if let Err(e) = config.validate() {
            panic!("config of pod {:?} refused: {e}", pod.metadata.name);
        }
    }
}

/// The service `name` as namespace `ns` sees it.
pub(super) fn service(mesh: &Mesh, ns: &str, name: &str) -> Service {
    match mesh.view(ns).get(name) {
        Some(s) => (**s).clone(),
        None => panic!(
            "no service {name} in the view of {ns}: {:?}",
            mesh.view(ns).keys()
        ),
    }
}

/// (severity, kind/name, field, message) of every finding, for assertions.
pub(super) fn findings(mesh: &Mesh) -> Vec<(String, String, String, String)> {
    mesh.findings
        .iter()
        .map(|f| {
            (
                f.severity.to_string(),
                format!("{}/{}", f.object.kind, f.object.name),
                f.field.clone(),
                f.message.clone(),
            )
        })
        .collect()
}

/// Whether a finding on `field` with `needle` in its message exists.
pub(super) fn has_finding(mesh: &Mesh, field: &str, needle: &str) -> bool {
    mesh.findings
        .iter()
        .any(|f| f.field == field && f.message.contains(needle))
}

/// Pods for the security policies' tests: web and db in shop, job in batch.
pub(super) const SECURITY_PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: { name: web, namespace: shop, labels: { app: web } }
---
apiVersion: v1
kind: Pod
metadata: { name: db, namespace: shop, labels: { app: db } }
---
apiVersion: v1
kind: Pod
metadata: { name: job, namespace: batch, labels: { app: job } }
"#;

/// The inbound side `mesh` gives the pod `ns/name` of [`SECURITY_PODS`].
pub(super) fn security_inbound(mesh: &Mesh, ns: &str, name: &str) -> crate::model::config::Inbound {
    let inputs = inputs(SECURITY_PODS);
    let pod = inputs
        .pods
        .iter()
        .find(|p| {
            p.metadata.name.as_deref() == Some(name) && p.metadata.namespace.as_deref() == Some(ns)
        })
        .expect("pod");
    mesh.inbound(pod)
}
