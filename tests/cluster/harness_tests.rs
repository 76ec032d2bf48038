//! Proves the harness itself: the server answers, namespaces work, RBAC denies an
//! unprivileged service account, server-side dry-run persists nothing.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, ListParams, PostParams};

use crate::harness::cluster;

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "data": {"k": "v"}
    }))
    .unwrap()
}

#[tokio::test]
async fn server_answers_version_and_namespaces() {
    let cluster = cluster();
    let client = cluster.admin().await;
    let version = client.apiserver_version().await.unwrap();
    let pinned = include_str!("kube/KUBE_VERSION").trim();
    assert_eq!(version.git_version, pinned);
    let ns = cluster.namespace("harness").await;
    let found = Api::<Namespace>::all(client).get(&ns).await.unwrap();
    assert_eq!(found.metadata.name.as_deref(), Some(ns.as_str()));
}

#[tokio::test]
async fn rbac_denies_an_unprivileged_service_account() {
    let cluster = cluster();
    let ns = cluster.namespace("rbac").await;
    let sa = cluster.client_for_service_account(&ns, "nobody").await;
    let err = Api::<Secret>::namespaced(sa, &ns)
        .list(&ListParams::default())
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert!(
                status
                    .message
                    .contains(&format!("system:serviceaccount:{ns}:nobody")),
                "{}",
                status.message
            );
        }
        other => panic!("expected a 403, got {other}"),
    }
    // The same request as admin works, so the denial is RBAC, not a broken server.
    Api::<Secret>::namespaced(cluster.admin().await, &ns)
        .list(&ListParams::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn client_cert_users_get_their_groups() {
    let cluster = cluster();
    let ns = cluster.namespace("users").await;
    let alice = cluster.client_for_user("alice", &["devs"]).await;
    let err = Api::<ConfigMap>::namespaced(alice, &ns)
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403 && s.message.contains("\"alice\"")),
        "{err}"
    );
    let root = cluster.client_for_user("root", &["system:masters"]).await;
    Api::<ConfigMap>::namespaced(root, &ns)
        .list(&ListParams::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn server_side_dry_run_persists_nothing() {
    let cluster = cluster();
    let ns = cluster.namespace("dryrun").await;
    let api = Api::<ConfigMap>::namespaced(cluster.admin().await, &ns);
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let answer = api.create(&dry, &config_map("ghost")).await.unwrap();
    assert_eq!(answer.metadata.name.as_deref(), Some("ghost"));
    assert!(api.get_opt("ghost").await.unwrap().is_none());
    api.create(&PostParams::default(), &config_map("real"))
        .await
        .unwrap();
    assert!(api.get_opt("real").await.unwrap().is_some());
}

#[test]
fn kubectl_works_with_the_admin_kubeconfig() {
    let cluster = cluster();
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .args(["get", "namespace", "default", "-o", "name"])
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "namespace/default"
    );
}
