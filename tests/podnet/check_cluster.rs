//! `meshctl check --proxy` against real proxies in network namespaces registered in a real
//! kube-apiserver: their versions from `/metrics` and their identities from `/identity`
//! through the API server's pod proxy; a proxy with a foreign CA and a dead one are named.

use serde_json::{Value, json};

use crate::harness::cluster;
use crate::mesh_pki::{DAY, Pki};
use crate::meshed::{Mesh, identity_of};
use crate::node_or_skip;
use crate::registry::{Registry, cluster_available, meshctl_in_cluster};

/// A proxy config with an identity from `pki` for the pod injected from `fixture`.
fn config(pki: &Pki, pod: &crate::node::Pod, fixture: &str) -> String {
    let files = pki.files(&identity_of(pod, fixture));
    json!({"identity": {"roots": files.roots, "cert": files.cert, "key": files.key}}).to_string()
}

#[test]
fn check_proxy_reads_versions_and_identities_through_the_api_server() {
    if !cluster_available("check_proxy_cluster") {
        return;
    }
    let Some(mut node) = node_or_skip("check_proxy_cluster", &["a", "b", "c"]) else {
        return;
    };
    node.link_host();
    let (a, b, c) = (node.pod("a"), node.pod("b"), node.pod("c"));
    let (mesh_pki, foreign_pki) = (Pki::new(DAY), Pki::new(DAY));
    let mut mesh = Mesh::new();
    mesh.start(a, "a.yaml", &config(&mesh_pki, a, "a.yaml"));
    mesh.start(b, "b.yaml", &config(&mesh_pki, b, "b.yaml"));
    // c's certificate and roots come from another CA than the cluster's.
    mesh.start(c, "b.yaml", &config(&foreign_pki, c, "b.yaml"));
    // b's proxy dies after the kubelet (here: the registry) last said it was ready.
    mesh.kill_proxy(b);
    let anchors = std::fs::read_to_string(mesh_pki.roots_path()).expect("anchors");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (ns, mesh_ns, a_pods, b_pods) = runtime.block_on(async {
        let registry = Registry::new(cluster(), "checkproxy").await;
        let mesh_ns = cluster().namespace("mesh").await;
        registry.trust_anchors(&mesh_ns, &anchors).await;
        let a_pods = registry.deployment("a.yaml", &[a]).await;
        let b_pods = registry.deployment("b.yaml", &[b, c]).await;
        (registry.namespace, mesh_ns, a_pods, b_pods)
    });

    let args = [
        "check",
        "--proxy",
        "-n",
        &ns,
        "--mesh-namespace",
        &mesh_ns,
        "-o",
        "json",
    ];
    let started = std::time::Instant::now();
    let out = meshctl_in_cluster(&args);
    // A figure for the log (--nocapture), not an assertion.
    eprintln!("check --proxy over 3 pods took {:?}", started.elapsed());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("check JSON");
    let checks = doc["categories"][1]["checks"].as_array().expect("checks");
    let check = |id: &str| {
        let c = checks.iter().find(|c| c["id"] == id);
        c.unwrap_or_else(|| panic!("no {id} in {doc}")).clone()
    };
    assert_eq!(check("proxy-ready")["message"], "3 proxies ready", "{doc}");
    let (dead, foreign) = (format!("{ns}/{}", b_pods[0]), format!("{ns}/{}", b_pods[1]));

    let version = check("proxy-version");
    assert_eq!(version["status"], "error", "{doc}");
    let message = version["message"].as_str().expect("message");
    assert!(
        message.starts_with(&format!("cannot read the admin port of {dead}: ")),
        "{message}"
    );
    // a and c answered with this build's version (else they would be named as skewed).
    let fine = format!("; 2 other proxies run {}", env!("CARGO_PKG_VERSION"));
    assert!(message.ends_with(&fine), "{message}");
    // And who may read their operator endpoints (the fixtures' meshctl.io/admin-operator-from).
    let exposed = "/config /identity /stats served to: loopback,10.213.0.1/32 (2)";
    assert!(message.contains(exposed), "{message}");

    let identity = check("proxy-identity");
    assert_eq!(identity["status"], "error", "{doc}");
    let message = identity["message"].as_str().expect("message");
    assert!(
        message.contains(&format!(
            "{foreign}: its trust roots are not the cluster's trust anchors"
        )),
        "{message}"
    );
    assert!(
        message.contains("does not chain to the trust anchors"),
        "{message}"
    );
    assert!(
        message.contains(&format!("{dead}: cannot read /identity: ")),
        "{message}"
    );
    // a's certificate chains to the cluster's anchor: it is not named.
    assert!(!message.contains(&a_pods[0]), "{message}");
}
