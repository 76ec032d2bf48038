//! `meshctl stat` in cluster mode where no proxy can answer: an unknown name, a namespace
//! without meshed pods (the message says how to inject), and a meshed pod the API server will
//! not proxy to (reported by name; none answering is an error). The figures themselves are
//! tested through real proxies in tests/podnet/stat_cluster.rs (that needs root).

use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::failed::failed;
use crate::harness::cluster;
use crate::install::run;
use crate::pods::{pod, running};

/// A StatefulSet or DaemonSet `name` (no controller runs: it makes no pods); returns its uid.
async fn owner(ns: &str, kind: &str, name: &str) -> String {
    let mut object = json!({
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "app:1"}]},
            },
        },
    });
    let meta = if kind == "StatefulSet" {
        object["spec"]["serviceName"] = json!(name);
        create::<StatefulSet>(ns, object).await
    } else {
        create::<DaemonSet>(ns, object).await
    };
    meta.uid.expect("uid")
}

/// A Service `name` selecting pods labelled `app: selects`.
async fn service(ns: &str, name: &str, selects: &str) {
    let spec = json!({"selector": {"app": selects}, "ports": [{"port": 80}]});
    create::<Service>(ns, json!({"metadata": {"name": name}, "spec": spec})).await;
}

/// Creates `object` as a `K` in `ns`; returns its metadata as stored.
async fn create<K>(ns: &str, object: serde_json::Value) -> ObjectMeta
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(cluster().admin().await, ns);
    let object: K = serde_json::from_value(object).unwrap();
    let created = api.create(&PostParams::default(), &object).await.unwrap();
    created.meta().clone()
}

/// A meshed, running pod at 127.0.0.1 controlled by `kind/owner`.
async fn owned_pod(ns: &str, name: &str, kind: &str, owner: &str, uid: &str) {
    pod(ns, name, true, running("127.0.0.1", true)).await;
    let pods: Api<Pod> = Api::namespaced(cluster().admin().await, ns);
    let refs = json!({"metadata": {"ownerReferences": [{
        "apiVersion": "apps/v1", "kind": kind, "name": owner, "uid": uid, "controller": true,
    }]}});
    pods.patch(name, &PatchParams::default(), &Patch::Merge(&refs))
        .await
        .unwrap();
}

#[tokio::test]
async fn unknown_names_unmeshed_pods_and_unreachable_proxies_are_explained() {
    let cluster = cluster();
    let ns = cluster.namespace("stat").await;

    let out = run(cluster, &["stat", "deploy", "web", "-n", &ns]);
    let missing = format!(
        "deployment `web` not found in namespace {ns}; list them with `kubectl get deploy -n {ns}`"
    );
    failed(&out, 1, &[&missing]);
    let out = run(cluster, &["stat", "deploy", "-n", &ns]);
    failed(&out, 1, &[&format!("no deploy in namespace {ns}")]);

    let out = run(cluster, &["stat", "ns", "nowhere-x"]);
    failed(
        &out,
        1,
        &["namespace `nowhere-x` not found; list them with `kubectl get ns`"],
    );

    pod(&ns, "plain", false, running("10.0.0.5", false)).await;
    // Pods and services are meshed through the workloads that run them, never in place.
    let inject = format!("`kubectl get deploy -n {ns} -o yaml | meshctl inject - | kubectl");
    let out = run(cluster, &["stat", "pod", "-n", &ns]);
    let unmeshed = format!("no meshed pod among 1 pod (pod in namespace {ns}): add the proxy");
    failed(&out, 1, &[&unmeshed, &inject]);
    service(&ns, "plain", "plain").await;
    service(&ns, "empty", "nothing").await;
    let out = run(cluster, &["stat", "svc", "plain", "-n", &ns]);
    failed(
        &out,
        1,
        &["no meshed pod among 1 pod (svc/plain in namespace", &inject],
    );
    let out = run(cluster, &["stat", "svc", "empty", "-n", &ns]);
    let nothing = format!("svc/empty in namespace {ns} has no pods to ask");
    failed(&out, 1, &[&nothing]);
    let out = run(cluster, &["stat", "pod", "-n", &ns, "--to", "deploy/web"]);
    failed(&out, 1, &[&missing]);
    // `stat ns NAME` looks its peer up in that namespace, not the context's; --from-namespace
    // (or --to-namespace) in the one it names.
    let out = run(cluster, &["stat", "ns", &ns, "--from", "deploy/web"]);
    failed(&out, 1, &[&missing]);
    let args = [
        "stat",
        "pod",
        "-A",
        "--to",
        "deploy/web",
        "--to-namespace",
        "elsewhere",
    ];
    let out = run(cluster, &args);
    failed(
        &out,
        1,
        &["deployment `web` not found in namespace elsewhere"],
    );

    // Stateful and daemon sets' pods are found by owner reference (here ones the API server
    // will not proxy to, so the pod is named), and only their own.
    let uid = owner(&ns, "StatefulSet", "db").await;
    owned_pod(&ns, "db-0", "StatefulSet", "db", &uid).await;
    let uid = owner(&ns, "DaemonSet", "logs").await;
    owned_pod(&ns, "logs-x1", "DaemonSet", "logs", &uid).await;
    for (kind, pod, other) in [("sts", "db-0", "logs-x1"), ("ds", "logs-x1", "db-0")] {
        let out = run(cluster, &["stat", kind, "-n", &ns]);
        let err = failed(&out, 1, &[&format!("warning: pod {ns}/{pod}: ")]);
        assert!(!err.contains(other), "{kind}: {err}");
    }

    // The API server refuses to proxy to a loopback address: the pod is named with why.
    pod(&ns, "meshed", true, running("127.0.0.1", true)).await;
    let out = run(cluster, &["stat", "pod", "meshed", "-n", &ns, "-o", "json"]);
    let why = format!(
        "warning: pod {ns}/meshed: its proxy gave no figures: answered HTTP 400: address not \
         allowed"
    );
    failed(&out, 1, &[&why, "no proxy answered (1 asked)"]);

    // A meshed pod not running yet is named, not silently a 0 in MESHED.
    pod(&ns, "starting", true, json!({"phase": "Pending"})).await;
    let out = run(
        cluster,
        &["stat", "pod", "starting", "-n", &ns, "-o", "json"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let waiting =
        format!("warning: pod {ns}/starting: not running yet, so its proxy was not asked");
    assert!(err.contains(&waiting), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stat JSON");
    assert_eq!(
        (&report["rows"][0]["pods"], &report["rows"][0]["answered"]),
        (&1.into(), &0.into())
    );

    // An edge whose peer cannot count anything says so instead of a row of dashes: --from
    // needs the peer's own proxies, --to a peer that exists.
    let out = run(
        cluster,
        &["stat", "pod", "meshed", "-n", &ns, "--from", "pod/plain"],
    );
    let from = format!("--from pod/plain: no meshed pod among 1 pod (pod/plain in namespace {ns})");
    failed(&out, 1, &[&from, &inject]);
    let out = run(
        cluster,
        &["stat", "pod", "meshed", "-n", &ns, "--to", "deploy"],
    );
    failed(
        &out,
        1,
        &[&format!("--to deploy: no deploy in namespace {ns}")],
    );
}

/// A Role `name` in `ns` granting `rules`, bound to service account `sa`.
pub async fn grant(ns: &str, sa: &str, name: &str, rules: serde_json::Value) {
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    create::<Role>(ns, json!({"metadata": {"name": name}, "rules": rules})).await;
    let binding = json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
    });
    create::<RoleBinding>(ns, binding).await;
}

#[tokio::test]
async fn stat_goes_through_the_callers_rbac() {
    let cluster = cluster();
    let ns = cluster.namespace("statrbac").await;
    // The API server would dial the 10.0.0.x pods, and refuses loopback at once.
    for (name, ip) in [
        ("web", "10.0.0.9"),
        ("api", "10.0.0.10"),
        ("db", "10.0.0.11"),
        ("local", "127.0.0.1"),
    ] {
        pod(&ns, name, true, running(ip, true)).await;
    }
    let kubeconfig = cluster.kubeconfig_for_service_account(&ns, "viewer").await;
    let stat = |args: &[&str]| {
        crate::install::meshctl_with(&kubeconfig, args)
            .output()
            .expect("run meshctl")
    };

    // Without the right to list pods: the request, the cluster and the reason are named.
    let out = stat(&["stat", "pod", "-n", &ns]);
    let listing = format!("listing pods in namespace {ns} on https://127.0.0.1:");
    failed(&out, 1, &[&listing, "forbidden"]);

    // Reading pods but not proxying to them (`pods/proxy`): one error names the missing
    // right, the namespace and the user (the API server's words), not a 403 per pod.
    let read =
        json!([{"apiGroups": [""], "resources": ["pods", "services"], "verbs": ["get", "list"]}]);
    grant(&ns, "viewer", "read", read).await;
    let out = stat(&["stat", "pod", "-n", &ns]);
    let denied =
        format!("not allowed to read the proxies of 4 meshed pods in namespace {ns} through");
    let user = format!("User \"system:serviceaccount:{ns}:viewer\" cannot get resource");
    let right = "stat needs `get` on `pods/proxy` there";
    let err = failed(
        &out,
        1,
        &[&denied, &user, right, "kubectl auth can-i get pods/proxy"],
    );
    assert_eq!(
        err.matches("pods/proxy\"").count(),
        1,
        "one 403 quoted: {err}"
    );
    assert!(!err.contains("warning:"), "{err}");

    // Allowed to proxy to one pod only (the name RBAC sees carries the port): that pod's own
    // failure is named, the others are one warning about the right.
    let one = json!([{"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get"],
        "resourceNames": ["local:4191"]}]);
    grant(&ns, "viewer", "proxy-local", one).await;
    let out = stat(&["stat", "pod", "-n", &ns]);
    let local = format!("warning: pod {ns}/local: its proxy gave no figures: answered HTTP 400");
    let denied = format!(
        "warning: not allowed to read the proxies of 3 meshed pods in namespace {ns} through"
    );
    let err = failed(&out, 1, &[&local, &denied, "no proxy answered (4 asked)"]);
    assert_eq!(err.matches("warning:").count(), 2, "{err}");
}
