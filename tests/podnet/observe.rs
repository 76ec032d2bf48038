//! `meshctl edges`, `tap` and `routes` end to end: three meshed workloads in network
//! namespaces (a calls b's service, b calls c's, over mutual TLS), registered in a real
//! kube-apiserver and read through its pod proxy: the edges with both sides' identities,
//! a tap of b under load with the requests' real fields that stops at its limit and its
//! rate, a caller without the `pods/proxy` right refused, and b's routes' figures equal to
//! what a's proxy counted per route.

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::cluster;
use crate::load::paced_gets;
use crate::mesh_pki::{DAY, Files, Pki};
use crate::meshed::{Mesh, identity_of, service};
use crate::net::{Greeter, Says, http_get};
use crate::node::Pod;
use crate::node_or_skip;
use crate::registry::{Registry, cluster_available, meshctl_in_cluster};

fn identity(files: &Files) -> Value {
    json!({"roots": files.roots, "cert": files.cert, "key": files.key})
}

/// A STRICT proxy config with `pki`'s leaf for `id` and `services`.
pub fn config(pki: &Pki, id: &meshctl::identity::SpiffeId, services: &[Value]) -> String {
    json!({
        "identity": identity(&pki.files(id)),
        "inbound": {"tls": {"mode": "STRICT"}},
        "services": services,
    })
    .to_string()
}

/// `name`'s service at `pod` (its address, one meshed endpoint with `id`), with `routes`.
pub fn meshed_service(
    name: &str,
    pod: &Pod,
    id: &meshctl::identity::SpiffeId,
    routes: Value,
) -> Value {
    let addr = SocketAddr::new(pod.service_ip.into(), 80);
    let endpoint = SocketAddr::new(pod.ip.into(), 8080);
    let mut svc = service(&pod.name, name, addr, &[(&pod.name, &[endpoint])]);
    svc["backends"][0]["endpoints"][0]["identity"] = json!(id.to_string());
    if !routes.is_null() {
        svc["routes"] = routes;
    }
    svc
}

fn json_of(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

/// The JSON lines of `meshctl tap … -o json`.
fn tap_lines(out: &Output) -> Vec<Value> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    (out.stdout.split(|b| *b == b'\n'))
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("a JSON line"))
        .collect()
}

/// Requests `0..n` of a paced load (paths `/0`, `/1`, …) whose path starts with `/1`.
fn starting_with_one(n: u64) -> u64 {
    (0..n).filter(|i| i.to_string().starts_with('1')).count() as u64
}

#[test]
fn edges_tap_and_routes_of_three_meshed_workloads_through_the_api_server() {
    if !cluster_available("observe") {
        return;
    }
    let Some(mut node) = node_or_skip("observe", &["a", "b", "c"]) else {
        return;
    };
    node.link_host();
    let (a, b, c) = (node.pod("a"), node.pod("b"), node.pod("c"));
    let any: SocketAddr = "[::]:8080".parse().expect("addr");
    let _apps = [
        Greeter::start(b, any, Says::Http("b")),
        Greeter::start(c, any, Says::Http("c")),
    ];
    let pki = Pki::new(DAY);
    let ids = [a, b, c].map(|p| identity_of(p, &format!("{}.yaml", p.name)));
    let routes = json!([
        {"name": "ones", "matches": [{"path": {"regex": "/1[0-9]*"}}], "backends": [{"name": "b"}]},
        {"name": "rest", "backends": [{"name": "b"}]},
    ]);
    let to_b = meshed_service("b-service", b, &ids[1], routes);
    let to_c = meshed_service("c-service", c, &ids[2], Value::Null);
    let mut mesh = Mesh::new();
    mesh.start(c, "c.yaml", &config(&pki, &ids[2], &[]));
    mesh.start(b, "b.yaml", &config(&pki, &ids[1], &[to_c]));
    mesh.start(a, "a.yaml", &config(&pki, &ids[0], &[to_b]));

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (registry, viewer) = runtime.block_on(async {
        let registry = Registry::new(cluster(), "observe").await;
        for (file, pod) in [("a.yaml", a), ("b.yaml", b), ("c.yaml", c)] {
            registry.deployment(file, &[pod]).await;
        }
        registry.service("b-service", "b").await;
        registry.service("c-service", "c").await;
        let viewer = (cluster())
            .kubeconfig_for_service_account(&registry.namespace, "viewer")
            .await;
        (registry, viewer)
    });
    let ns = registry.namespace.clone();

    // a → b and b → c, 200 requests each.
    let b_addr = SocketAddr::new(b.service_ip.into(), 80);
    let c_addr = SocketAddr::new(c.service_ip.into(), 80);
    std::thread::scope(|s| {
        let to_c = s.spawn(|| paced_gets(b, c_addr, "c-service:80", 100, Duration::from_secs(2)));
        let to_b = paced_gets(a, b_addr, "b-service:80", 100, Duration::from_secs(2));
        to_b.assert_all_answered(200, &mesh.logs());
        to_c.join()
            .expect("b's load")
            .assert_all_answered(200, &mesh.logs());
    });

    // Edges: exactly a → b and b → c, each with both identities and mTLS.
    let edges = json_of(&meshctl_in_cluster(&[
        "edges", "deploy", "-n", &ns, "-o", "json",
    ]));
    let id = |i: usize| json!([ids[i].to_string()]);
    let expected = json!([
        {"src": "a", "srcNamespace": ns, "dst": "b", "dstNamespace": ns, "clientIds": id(0),
         "serverIds": id(1), "secured": true, "reason": null, "requests": 200},
        {"src": "b", "srcNamespace": ns, "dst": "c", "dstNamespace": ns, "clientIds": id(1),
         "serverIds": id(2), "secured": true, "reason": null, "requests": 200},
    ]);
    assert_eq!(edges["edges"], expected, "{edges}");
    let out = meshctl_in_cluster(&["edges", "deploy", "-n", &ns]);
    let table = String::from_utf8_lossy(&out.stdout);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let columns = [
        "SRC",
        "DST",
        "SRC_NS",
        "DST_NS",
        "CLIENT_ID",
        "SERVER_ID",
        "SECURED",
    ];
    assert_eq!(header, columns, "{table}");
    assert!(
        table.contains("shop/a") && table.contains("shop/b") && table.contains("yes (mTLS)"),
        "{table}"
    );

    // Routes of b's service, as a's proxy counted them: /1, /10… on `ones`, the rest on
    // `rest`.
    let routes = json_of(&meshctl_in_cluster(&[
        "routes",
        "svc/b-service",
        "-n",
        &ns,
        "-o",
        "json",
    ]));
    let ones = starting_with_one(200);
    let figures: Vec<(Value, Value, Value)> = (routes["routes"].as_array().expect("routes"))
        .iter()
        .map(|r| {
            (
                r["route"].clone(),
                r["requests"].clone(),
                r["successRate"].clone(),
            )
        })
        .collect();
    assert_eq!(
        figures,
        [
            (json!("ones"), json!(ones), json!(1.0)),
            (json!("rest"), json!(200 - ones), json!(1.0)),
        ],
        "{routes}"
    );
    // Exactly what a's own /stats says of its `ones` route.
    let (_, stats) = http_get(a, "127.0.0.1:4191".parse().expect("addr"), "/stats");
    let stats: Value = serde_json::from_str(&stats).expect("/stats");
    let own = (stats["rows"].as_array().expect("rows").iter())
        .find(|r| r["route"] == "ones" && r["backend"].is_null())
        .cloned()
        .unwrap_or_default();
    assert_eq!(own["requests"], json!(ones), "{stats}");
    assert_eq!(routes["routes"][0]["rps"], own["rps"], "{routes}\n{own}");

    // Tap b's inbound side under a's load: the requests with their fields, 30 and no more.
    let tap = |args: &[&str]| {
        let mut all = vec!["tap", "deploy/b", "-n", &ns, "-o", "json"];
        all.extend(args);
        meshctl_in_cluster(&all)
    };
    let (tapped, _) = std::thread::scope(|s| {
        let tapped = s.spawn(|| {
            tap(&[
                "--direction",
                "inbound",
                "--limit",
                "30",
                "--max-rps",
                "1000",
            ])
        });
        let load = paced_gets(a, b_addr, "b-service:80", 50, Duration::from_secs(4));
        (tapped.join().expect("tap"), load)
    });
    let lines = tap_lines(&tapped);
    assert_eq!(lines.len(), 30, "{lines:?}");
    for e in &lines {
        assert_eq!(e["direction"], "inbound", "{e}");
        assert_eq!(e["method"], "GET");
        assert_eq!(e["authority"], "b-service:80");
        assert!(
            e["path"]
                .as_str()
                .is_some_and(|p| p[1..].parse::<u32>().is_ok()),
            "{e}"
        );
        assert_eq!(e["status"], 200);
        assert_eq!(e["tls"], true);
        assert_eq!(e["clientId"], ids[0].to_string());
        assert!(e["latencyMs"].as_f64().is_some_and(|ms| ms > 0.0), "{e}");
        assert!(
            e["proxy"]
                .as_str()
                .is_some_and(|p| p.starts_with(&format!("{ns}/b-")))
        );
    }
    let stderr = String::from_utf8_lossy(&tapped.stderr);
    assert!(stderr.contains("tap: 30 events from 1 proxies"), "{stderr}");

    // Its rate: 5 a second from the proxy, so 10 events take over a second and the rest of
    // the load is skipped in the proxy.
    let started = std::time::Instant::now();
    let (slow, _) = std::thread::scope(|s| {
        let slow = s.spawn(|| tap(&["--direction", "outbound", "--limit", "10", "--max-rps", "5"]));
        let load = paced_gets(b, c_addr, "c-service:80", 50, Duration::from_secs(4));
        (slow.join().expect("tap"), load)
    });
    let lines = tap_lines(&slow);
    assert_eq!(lines.len(), 10, "{lines:?}");
    assert!(
        started.elapsed() > Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(
        lines.iter().all(|e| e["serverId"] == ids[2].to_string()),
        "{lines:?}"
    );
    let stderr = String::from_utf8_lossy(&slow.stderr);
    assert!(!stderr.contains("(0 skipped"), "{stderr}");

    // A caller who may read the workloads but not proxy to pods is refused.
    let read = json!([{"apiGroups": ["", "apps"], "verbs": ["get", "list"],
        "resources": ["pods", "services", "deployments", "replicasets"]}]);
    runtime.block_on(registry.grant("viewer", "read", read));
    let kubeconfig = viewer.to_string_lossy().into_owned();
    let out = std::process::Command::new(crate::meshctl())
        .args([
            "--kubeconfig",
            &kubeconfig,
            "tap",
            "deploy/b",
            "-n",
            &ns,
            "--limit",
            "1",
        ])
        .output()
        .expect("run meshctl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let denied = format!("not allowed to read the proxies of 1 meshed pod in namespace {ns}");
    assert!(stderr.contains(&denied), "{stderr}");
    assert!(
        stderr.contains("tap needs `get` on `pods/proxy`"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("system:serviceaccount:{ns}:viewer")),
        "{stderr}"
    );
}
