//! `meshctl install` / `upgrade` / `uninstall` against the real API server: apply on an empty
//! cluster, again without change, server-side dry run, the printed manifests through
//! `kubectl apply -f -`, an upgrade with a changed value and pruning, the controller's RBAC
//! checked with SubjectAccessReview, the webhook's caBundle against its
//! serving certificate, and an uninstall refused while a pod is meshed.
//! One test drives the whole life cycle: installs share cluster-scoped names.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use meshctl::manifests::certs::verify_serving_cert;

use crate::failed::failed;
use crate::harness::Cluster;

const NS: &str = "meshctl-system";
const FOREIGN_CRD: &str = "trafficsplits.split.smi-spec.io";

pub fn meshctl(cluster: &Cluster, args: &[&str]) -> Command {
    meshctl_with(&cluster.kubeconfig, args)
}

/// meshctl with the given kubeconfig.
pub fn meshctl_with(kubeconfig: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_meshctl"));
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env_remove("MESHCTL_LOG")
        .env("NO_COLOR", "1");
    cmd
}

pub fn run(cluster: &Cluster, args: &[&str]) -> Output {
    meshctl(cluster, args).output().expect("run meshctl")
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs meshctl with `args` while playing the kubelet: once the controller Deployment's
/// current generation exists, its status is set to available (no kubelet runs here).
pub async fn run_marking_ready(cluster: &Cluster, client: &Client, args: &[&str]) -> Output {
    let mut child = meshctl(cluster, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn meshctl");
    let ns = args
        .iter()
        .position(|a| *a == "-n")
        .map_or(NS, |i| args[i + 1]);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    while child.try_wait().expect("poll meshctl").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "meshctl did not finish"
        );
        if let Some(d) = deployments.get_opt("meshctl-controller").await.unwrap() {
            let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let status = serde_json::json!({"status": {
                "observedGeneration": d.metadata.generation,
                "replicas": replicas, "updatedReplicas": replicas,
                "readyReplicas": replicas, "availableReplicas": replicas,
                "conditions": [{"type": "Available", "status": "True",
                                "reason": "MinimumReplicasAvailable", "message": "test"}]
            }});
            deployments
                .patch_status(
                    "meshctl-controller",
                    &PatchParams::default(),
                    &Patch::Merge(&status),
                )
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    child.wait_with_output().expect("meshctl output")
}

/// Resource versions of everything the install owns, to prove a repeat changed nothing.
async fn versions(client: &Client) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    add_versions(&mut out, Api::<ConfigMap>::namespaced(client.clone(), NS)).await;
    add_versions(&mut out, Api::<Deployment>::namespaced(client.clone(), NS)).await;
    add_versions(
        &mut out,
        Api::<CustomResourceDefinition>::all(client.clone()),
    )
    .await;
    add_versions(&mut out, Api::<ClusterRole>::all(client.clone())).await;
    out
}

async fn add_versions<K>(out: &mut BTreeMap<String, String>, api: Api<K>)
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let lp = ListParams::default().labels("app.kubernetes.io/part-of=meshctl");
    for object in api.list(&lp).await.unwrap() {
        let key = format!("{}/{}", K::kind(&()), object.name_any());
        out.insert(key, object.resource_version().unwrap());
    }
}

#[tokio::test]
async fn install_upgrade_uninstall_life_cycle() {
    // A cluster of its own: installs write cluster-wide objects (CRDs, webhooks, cluster
    // roles), and a CRD another test deleted can stay Terminating for minutes on a loaded
    // machine (the API server's finalizer backs off), which a shared server would inherit.
    let cluster = &Cluster::start().await.expect("a test cluster of its own");
    let client = cluster.admin().await;

    // A server-side dry run on the empty cluster stores nothing.
    let out = ok(&run(cluster, &["install", "--dry-run=server"]));
    assert!(out.contains("objects accepted"), "{out}");
    assert!(
        out.contains("not checked (namespace meshctl-system does not exist yet)"),
        "{out}"
    );
    assert!(
        Api::<Namespace>::all(client.clone())
            .get_opt(NS)
            .await
            .unwrap()
            .is_none()
    );

    // Another product's CRD for one of our APIs is kept as it is.
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let foreign: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
        "metadata": {"name": FOREIGN_CRD, "labels": {"app.kubernetes.io/managed-by": "other-mesh"}},
        "spec": {"group": "split.smi-spec.io", "scope": "Namespaced",
                 "names": {"kind": "TrafficSplit", "plural": "trafficsplits"},
                 "versions": [{"name": "v1alpha4", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object",
                                          "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap();
    crds.create(&PostParams::default(), &foreign).await.unwrap();
    let refused = run(cluster, &["install", "--dry-run=server", "--crds", "all"]);
    failed(&refused, 1, &[FOREIGN_CRD, "other-mesh"]);

    // Install on the empty cluster, waiting for the controller.
    let out = ok(&run_marking_ready(
        cluster,
        &client,
        &["install", "--apply", "--timeout", "60s"],
    )
    .await);
    assert!(
        out.contains("installed in namespace meshctl-system"),
        "{out}"
    );
    assert!(out.contains("controller ready"), "{out}");
    assert!(
        out.contains(&format!(
            "CRDs kept as another product installed them: {FOREIGN_CRD}"
        )),
        "{out}"
    );
    let kept = crds.get(FOREIGN_CRD).await.unwrap();
    assert_eq!(kept.labels()["app.kubernetes.io/managed-by"], "other-mesh");
    assert_eq!(kept.spec.versions[0].name, "v1alpha4");
    let httproutes = crds
        .get("httproutes.gateway.networking.k8s.io")
        .await
        .unwrap();
    assert!(
        httproutes
            .status
            .unwrap()
            .conditions
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );

    // Again: nothing changes, nothing fails.
    let before = versions(&client).await;
    assert!(before.len() > 8, "{before:?}");
    ok(&run_marking_ready(
        cluster,
        &client,
        &["install", "--apply", "--timeout", "60s"],
    )
    .await);
    assert_eq!(
        versions(&client).await,
        before,
        "a repeated install changed objects"
    );

    // Every rendered object passes a server-side dry run once the namespace exists.
    let out = ok(&run(cluster, &["install", "--dry-run=server"]));
    assert!(!out.contains("not checked"), "{out}");

    controller_rbac_is_exactly_its_roles(&client).await;
    webhook_ca_bundle_verifies_the_serving_cert(&client).await;

    // The printed manifests apply with kubectl.
    let printed = run(cluster, &["install"]);
    let yaml = ok(&printed);
    let mut kubectl = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl");
    kubectl
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let applied = kubectl.wait_with_output().unwrap();
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );

    // Upgrade with a changed value, then to HA and back: the PDB is pruned.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    ok(&run_marking_ready(
        cluster,
        &client,
        &[
            "upgrade",
            "--apply",
            "--set",
            "controller.logLevel=debug",
            "--timeout",
            "60s",
        ],
    )
    .await);
    let values = Api::<ConfigMap>::namespaced(client.clone(), NS)
        .get("meshctl-values")
        .await
        .unwrap();
    assert!(values.data.unwrap()["values.json"].contains("\"logLevel\":\"debug\""));
    ok(&run_marking_ready(
        cluster,
        &client,
        &["upgrade", "--apply", "--ha", "--timeout", "60s"],
    )
    .await);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), NS);
    assert!(pdbs.get_opt("meshctl-controller").await.unwrap().is_some());
    assert_eq!(
        deployments
            .get("meshctl-controller")
            .await
            .unwrap()
            .spec
            .unwrap()
            .replicas,
        Some(3)
    );
    let out = ok(&run_marking_ready(
        cluster,
        &client,
        &[
            "upgrade",
            "--apply",
            "--set",
            "highAvailability=false",
            "--set",
            "controller.replicas=1",
            "--timeout",
            "60s",
        ],
    )
    .await);
    assert!(out.contains("pruned 1 objects"), "{out}");
    assert!(pdbs.get_opt("meshctl-controller").await.unwrap().is_none());
    // The debug level from the first upgrade is still recorded.
    let values = Api::<ConfigMap>::namespaced(client.clone(), NS)
        .get("meshctl-values")
        .await
        .unwrap();
    assert!(values.data.unwrap()["values.json"].contains("\"logLevel\":\"debug\""));

    // Uninstall: a plan, a refusal while a meshed pod runs, then the deletion.
    let plan = ok(&run(cluster, &["uninstall"]));
    assert!(
        plan.contains("would delete MutatingWebhookConfiguration meshctl-proxy-injector"),
        "{plan}"
    );
    assert!(
        plan.contains("would delete Namespace meshctl-system"),
        "{plan}"
    );
    let app_ns = cluster.namespace("meshed").await;
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "annotations": {"meshctl.io/injected-version": "test"}},
        "spec": {"containers": [{"name": "web", "image": "example.invalid/web"}]}
    }))
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &app_ns);
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let refused = run(cluster, &["uninstall", "--apply"]);
    failed(&refused, 1, &[&format!("{app_ns}/web"), "--force"]);
    let out = ok(&run(cluster, &["uninstall", "--apply", "--force"]));
    assert!(out.contains("objects deleted"), "{out}");
    assert!(
        deployments
            .get_opt("meshctl-controller")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        crds.get_opt("httproutes.gateway.networking.k8s.io")
            .await
            .unwrap()
            .is_none_or(|c| c.metadata.deletion_timestamp.is_some())
    );
    assert!(
        crds.get_opt(FOREIGN_CRD).await.unwrap().is_some(),
        "uninstall deleted a foreign CRD"
    );
    crds.delete(FOREIGN_CRD, &Default::default()).await.unwrap();
    // No namespace controller runs here: the namespace stays Terminating.
    let ns = Api::<Namespace>::all(client.clone())
        .get_opt(NS)
        .await
        .unwrap();
    assert!(ns.is_none_or(|ns| ns.metadata.deletion_timestamp.is_some()));
}

/// The API server trusts the controller's webhook: the caBundle verifies the served cert.
async fn webhook_ca_bundle_verifies_the_serving_cert(client: &Client) {
    let config = Api::<MutatingWebhookConfiguration>::all(client.clone())
        .get("meshctl-proxy-injector")
        .await
        .unwrap();
    let webhook = &config.webhooks.unwrap()[0];
    let ca_bundle = webhook.client_config.ca_bundle.clone().unwrap();
    let service = webhook.client_config.service.clone().unwrap();
    let secret = Api::<Secret>::namespaced(client.clone(), NS)
        .get("meshctl-webhook-tls")
        .await
        .unwrap();
    let cert = secret.data.unwrap()["tls.crt"].0.clone();
    verify_serving_cert(
        std::str::from_utf8(&ca_bundle.0).unwrap(),
        std::str::from_utf8(&cert).unwrap(),
        &format!("{}.{}.svc", service.name, service.namespace),
        std::time::SystemTime::now(),
    )
    .unwrap();
}

/// The controller's service account may do what its roles list and nothing else we probe.
async fn controller_rbac_is_exactly_its_roles(client: &Client) {
    let user = format!("system:serviceaccount:{NS}:meshctl-controller");
    let role = Api::<ClusterRole>::all(client.clone())
        .get("meshctl-controller")
        .await
        .unwrap();
    let ns_role = Api::<Role>::namespaced(client.clone(), NS)
        .get("meshctl-controller")
        .await
        .unwrap();
    let mut allowed = Vec::new();
    let mut expand = |rules: Vec<PolicyRule>, namespace: Option<&str>| {
        for rule in rules {
            let names = rule
                .resource_names
                .clone()
                .unwrap_or_else(|| vec![String::new()]);
            for group in rule.api_groups.iter().flatten() {
                for resource in rule.resources.iter().flatten() {
                    for verb in &rule.verbs {
                        for name in &names {
                            allowed.push((
                                group.clone(),
                                resource.clone(),
                                verb.clone(),
                                name.clone(),
                                namespace.map(str::to_owned),
                            ));
                        }
                    }
                }
            }
        }
    };
    expand(role.rules.unwrap(), None);
    expand(ns_role.rules.unwrap(), Some(NS));
    assert!(allowed.len() > 10);
    let reviews: Api<SubjectAccessReview> = Api::all(client.clone());
    let check =
        async |group: &str, resource: &str, verb: &str, name: &str, namespace: Option<&str>| {
            let review = SubjectAccessReview {
                spec: SubjectAccessReviewSpec {
                    user: Some(user.clone()),
                    groups: Some(vec!["system:serviceaccounts".to_owned()]),
                    resource_attributes: Some(ResourceAttributes {
                        group: Some(group.to_owned()),
                        resource: Some(resource.to_owned()),
                        verb: Some(verb.to_owned()),
                        name: (!name.is_empty()).then(|| name.to_owned()),
                        namespace: namespace.map(str::to_owned),
                        ..ResourceAttributes::default()
                    }),
                    ..SubjectAccessReviewSpec::default()
                },
                ..SubjectAccessReview::default()
            };
            reviews
                .create(&PostParams::default(), &review)
                .await
                .unwrap()
                .status
                .unwrap()
                .allowed
        };
    for (group, resource, verb, name, namespace) in &allowed {
        assert!(
            check(group, resource, verb, name, namespace.as_deref()).await,
            "{verb} {group}/{resource} {name} should be allowed"
        );
    }
    for (group, resource, verb, name, namespace) in [
        ("", "secrets", "list", "", Some(NS)),
        ("", "secrets", "get", "someone-elses", Some(NS)),
        (
            "",
            "secrets",
            "get",
            "meshctl-identity-issuer",
            Some("default"),
        ),
        ("", "pods", "delete", "", None),
        ("", "configmaps", "update", "meshctl-values", Some(NS)),
        (
            "rbac.authorization.k8s.io",
            "clusterroles",
            "create",
            "",
            None,
        ),
        ("apps", "deployments", "patch", "", Some(NS)),
        (
            "coordination.k8s.io",
            "leases",
            "update",
            "another-lease",
            Some(NS),
        ),
    ] {
        assert!(
            !check(group, resource, verb, name, namespace).await,
            "{verb} {group}/{resource} {name} in {namespace:?} should be denied"
        );
    }
}
