//! `meshctl proxy-config` on the live API server: a Deployment's pods found through their
//! ReplicaSet's name, the same config for the Service selecting them, and an unknown
//! workload naming the namespace and what is there. (The version a running proxy acked is
//! compared in the pod-network test `controller`.)

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use crate::harness::cluster;
use crate::install::{ok, run};

#[tokio::test]
async fn a_deployments_pods_and_its_service_get_one_config_from_the_cluster() {
    let cluster = cluster();
    let client = cluster.admin().await;
    let ns = cluster.namespace("proxy-config").await;
    crate::canary::service(&client, &ns, "web").await;
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {
            "name": "web-5d9c-x2x",
            "labels": {"app": "web", "pod-template-hash": "5d9c"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "web-5d9c", "uid": "0b1c2d3e-0000-4000-8000-000000000001",
                "controller": true}],
        },
        "spec": {"containers": [{"name": "app", "image": "web",
            "ports": [{"containerPort": 8080}]}]},
    }))
    .unwrap();
    Api::<Pod>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();

    let config = |workload: &str| -> Value {
        let out = run(
            cluster,
            &["proxy-config", workload, "-n", &ns, "-o", "json"],
        );
        serde_json::from_str(&ok(&out)).unwrap()
    };
    let deploy = config("deploy/web");
    assert_eq!(deploy[0]["pods"], json!(["web-5d9c-x2x"]), "{deploy:#}");
    let web = format!("web.{ns}:8080");
    assert!(
        deploy[0]["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == web.as_str()),
        "{deploy:#}"
    );
    assert_eq!(config("svc/web"), deploy);
    assert_eq!(config("pod/web-5d9c-x2x"), deploy);

    let out = run(cluster, &["proxy-config", "deploy/nope", "-n", &ns]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!("error: deployment {ns}/nope not found; deployments in namespace {ns}: web")
    );
}
