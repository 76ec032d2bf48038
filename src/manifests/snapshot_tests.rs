//! Snapshot tests of the rendered manifests (default, HA, custom certificates), compared with
//! `tests/fixtures/install/*.yaml`. Regenerate with `UPDATE_SNAPSHOTS=1 cargo test --lib manifests`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::certs::{IdentityCerts, IdentityFiles, InstallCerts, WebhookCerts};
use super::overrides::Overrides;
use super::render::CrdSet;
use super::render::{render, to_yaml_stream};
use super::values::Values;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/install")
}

/// Certificates that do not change between runs: the snapshots must be stable.
fn placeholder_webhook() -> WebhookCerts {
    WebhookCerts {
        ca: "WEBHOOK CA PEM\n".to_owned(),
        cert: "WEBHOOK CERT PEM\n".to_owned(),
        key: "WEBHOOK KEY PEM\n".into(),
    }
}

fn placeholder_certs() -> InstallCerts {
    InstallCerts {
        identity: IdentityCerts {
            trust_anchors: "TRUST ANCHORS PEM\n".to_owned(),
            issuer_cert: "ISSUER CERT PEM\n".to_owned(),
            issuer_key: "ISSUER KEY PEM\n".into(),
        },
        webhook: placeholder_webhook(),
    }
}

fn check(name: &str, values: &Values, certs: &InstallCerts) {
    let rendered = to_yaml_stream(&render(values, certs, CrdSet::All).unwrap());
    let path = fixtures().join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_SNAPSHOTS=1 writes it)", path.display()));
    if rendered != expected {
        let line = rendered
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .map_or(
                rendered.lines().count().min(expected.lines().count()),
                |i| i,
            );
        panic!(
            "{} differs from the rendering at line {}:\n  rendered: {:?}\n  snapshot: {:?}\n\
             (UPDATE_SNAPSHOTS=1 rewrites it if the change is intended)",
            path.display(),
            line + 1,
            rendered.lines().nth(line),
            expected.lines().nth(line)
        );
    }
}

#[test]
fn default_install() {
    check("default.yaml", &Values::default(), &placeholder_certs());
}

#[test]
fn high_availability_install() {
    let values = Overrides {
        ha: true,
        ..Overrides::default()
    }
    .apply(&Values::default())
    .unwrap();
    check("ha.yaml", &values, &placeholder_certs());
}

#[test]
fn custom_certificates_install() {
    let dir = fixtures().join("certs");
    let files = IdentityFiles {
        trust_anchors: Some(dir.join("ca.crt")),
        issuer_cert: Some(dir.join("issuer.crt")),
        issuer_key: Some(dir.join("issuer.key")),
    };
    let identity = files.load(SystemTime::now()).unwrap().unwrap();
    let values = Overrides {
        sets: vec![
            "identity.trustDomain=example.org".to_owned(),
            "namespace=mesh".to_owned(),
        ],
        ..Overrides::default()
    }
    .apply(&Values::default())
    .unwrap();
    let certs = InstallCerts {
        identity,
        webhook: placeholder_webhook(),
    };
    check("custom-certs.yaml", &values, &certs);
}

#[test]
fn order_is_crds_namespace_rbac_config_workloads_webhook() {
    let kinds: Vec<String> = render(&Values::default(), &placeholder_certs(), CrdSet::All)
        .unwrap()
        .iter()
        .map(|m| m.kind().to_owned())
        .collect();
    let mut deduped = kinds.clone();
    deduped.dedup();
    assert_eq!(
        deduped,
        [
            "CustomResourceDefinition",
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "ConfigMap",
            "Secret",
            "Service",
            "Deployment",
            "MutatingWebhookConfiguration"
        ]
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "CustomResourceDefinition")
            .count(),
        16
    );
    let without = render(&Values::default(), &placeholder_certs(), CrdSet::None).unwrap();
    assert!(without.iter().all(|m| !m.is_crd()));
}

/// The injector's entries and what the controller is told, with and without the migration value.
#[test]
fn accept_foreign_labels_adds_the_istio_and_linkerd_entries() {
    let entries = |values: &Values| {
        let manifests = render(values, &placeholder_certs(), CrdSet::None).unwrap();
        let hooks = manifests
            .iter()
            .find(|m| m.kind() == "MutatingWebhookConfiguration")
            .unwrap();
        let env = manifests
            .iter()
            .find(|m| m.kind() == "Deployment")
            .unwrap()
            .object
            .data["spec"]["template"]["spec"]["containers"][0]["env"]
            .clone();
        let flag = env
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "MESHCTL_ACCEPT_FOREIGN_LABELS")
            .map(|e| e["value"].clone());
        let names: Vec<String> = hooks.object.data["webhooks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                // Every entry keeps kube-system and the mesh's namespace out.
                let never = &w["namespaceSelector"]["matchExpressions"];
                assert!(
                    never.as_array().unwrap().iter().any(|e| {
                        e["key"] == "kubernetes.io/metadata.name"
                            && e["operator"] == "NotIn"
                            && e["values"] == serde_json::json!(["kube-system", "meshctl-system"])
                    }),
                    "{w}"
                );
                assert_eq!(w["failurePolicy"], "Fail");
                w["name"].as_str().unwrap().to_owned()
            })
            .collect();
        (names, flag)
    };
    assert_eq!(
        entries(&Values::default()),
        (
            vec![
                "namespace.inject.meshctl.io".into(),
                "pod.inject.meshctl.io".into()
            ],
            Some(serde_json::json!("false"))
        )
    );
    let mut migrating = Values::default();
    migrating.injection.accept_foreign_labels = true;
    let (names, flag) = entries(&migrating);
    assert_eq!(names.len(), 4);
    assert_eq!(names[2], "istio.inject.meshctl.io");
    assert_eq!(names[3], "linkerd.inject.meshctl.io");
    assert_eq!(flag, Some(serde_json::json!("true")));
}
