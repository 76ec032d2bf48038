//! `meshctl stat` in cluster mode end to end: meshed pods in network namespaces registered in
//! a real kube-apiserver, traffic through their real proxies, and the figures read through the
//! API server's pod proxy equal to asking the proxies directly; a pod whose proxy is gone is a
//! warning, not a failure.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::harness::cluster;
use crate::load::paced_gets;
use crate::meshed::{Mesh, config, service};
use crate::net::{Greeter, Says};
use crate::node::Pod;
use crate::node_or_skip;
use crate::registry::{Registry, cluster_available, meshctl_in_cluster};

fn at(pod: &Pod, port: u16) -> SocketAddr {
    SocketAddr::new(pod.ip.into(), port)
}

fn meshctl_stat(args: &[&str]) -> Output {
    meshctl_in_cluster(&[&["stat"], args].concat())
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stat JSON")
}

/// The signal fields of a row (cluster or local mode: same names).
fn signals(row: &Value) -> Vec<(&'static str, Value)> {
    [
        "requests",
        "failures",
        "successRate",
        "rps",
        "latencyP50Ms",
        "latencyP95Ms",
        "latencyP99Ms",
        "tcpConnectionsOpened",
    ]
    .into_iter()
    .map(|field| (field, row[field].clone()))
    .collect()
}

/// The one row of `stat --proxy ADDR -o json` with this direction and authority.
fn direct_row(admin: SocketAddr, direction: &str, authority: &str) -> Value {
    let report = json_of(&meshctl_stat(&[
        "--proxy",
        &admin.to_string(),
        "-o",
        "json",
    ]));
    let rows = report["rows"].as_array().expect("rows");
    let row = rows.iter().find(|r| {
        r["direction"] == direction
            && r["authority"] == authority
            && r["route"].is_null()
            && r["backend"].is_null()
    });
    row.unwrap_or_else(|| panic!("no {direction} {authority} row in {report}"))
        .clone()
}

fn row_named<'a>(report: &'a Value, name: &str) -> &'a Value {
    let rows = report["rows"].as_array().expect("rows");
    rows.iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name} in {report}"))
}

#[test]
fn stat_through_the_api_server_equals_asking_the_proxies() {
    if !cluster_available("stat_cluster") {
        return;
    }
    let Some(mut node) = node_or_skip("stat_cluster", &["a", "b", "c"]) else {
        return;
    };
    // The API server runs outside the pods and proxies to their addresses.
    node.link_host();
    let (a, b, c) = (node.pod("a"), node.pod("b"), node.pod("c"));
    let any: SocketAddr = "[::]:8080".parse().expect("addr");
    let _apps = [
        Greeter::start(b, any, Says::Http("b")),
        Greeter::start(c, any, Says::Http("c")),
    ];
    let mut mesh = Mesh::new();
    let b_service = SocketAddr::new(b.service_ip.into(), 80);
    let endpoints = [at(b, 8080), at(c, 8080)];
    let to_b = service("b", "b-service", b_service, &[("b", &endpoints)]);
    mesh.start(a, "a.yaml", &config(&[to_b]));
    mesh.start(b, "b.yaml", &config(&[]));
    mesh.start(c, "b.yaml", &config(&[]));

    // Rounds of 100 requests until both of b's pods have answered some (the balancer picks
    // which), so the pod that dies below takes figures with it.
    let mut sent = 0;
    let mut answered_by: BTreeMap<String, u64> = BTreeMap::new();
    for _ in 0..5 {
        let tally = paced_gets(a, b_service, "b-service:80", 50, Duration::from_secs(2));
        tally.assert_all_answered(100, &mesh.logs());
        sent += 100;
        for (app, n) in tally.answered_by {
            *answered_by.entry(app).or_default() += n;
        }
        if answered_by.len() == 2 {
            break;
        }
    }
    // A figure for the log (--nocapture): how the balancer split the requests.
    eprintln!("{sent} requests to b's service answered by {answered_by:?}");
    let served = |app: &str| answered_by.get(app).copied().unwrap_or_default();
    assert!(
        served("b") > 0 && served("c") > 0,
        "{sent} requests: {answered_by:?}"
    );
    // What c's proxy counted, read while it lives: every request c's app answered.
    let c_direct = direct_row(at(c, 4191), "inbound", "app");
    assert_eq!(c_direct["requests"], served("c"), "{c_direct}");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (ns, b_pods) = runtime.block_on(async {
        let registry = Registry::new(cluster(), "stat").await;
        registry.deployment("a.yaml", &[a]).await;
        let b_pods = registry.deployment("b.yaml", &[b, c]).await;
        registry.service("b-service", "b").await;
        (registry.namespace, b_pods)
    });
    // While both of b's proxies live: deployment b is their two answers merged, exactly as
    // stat --proxy merges them, and every request sent.
    let both = json_of(&meshctl_stat(&["deploy", "b", "-n", &ns, "-o", "json"]));
    let both = row_named(&both, "b");
    assert_eq!(
        (&both["answered"], &both["requests"]),
        (&2.into(), &sent.into()),
        "{both}"
    );
    let merged = json_of(&meshctl_stat(&[
        "--proxy",
        &at(b, 4191).to_string(),
        "--proxy",
        &at(c, 4191).to_string(),
        "-o",
        "json",
    ]));
    let rows = merged["rows"].as_array().expect("rows");
    let merged = rows
        .iter()
        .find(|r| r["direction"] == "inbound" && r["authority"] == "app");
    let merged = merged.unwrap_or_else(|| panic!("no inbound app row in {rows:?}"));
    assert_eq!(signals(both), signals(merged), "{both}\n{merged}");

    // Pod c of deployment b loses its proxy: its figures cannot be had any more.
    mesh.kill_proxy(c);

    // Deployment b: what its one answering proxy received, exactly; c is named, not fatal.
    let started = std::time::Instant::now();
    let out = meshctl_stat(&["deploy", "-n", &ns, "-o", "json"]);
    // A figure for the log (--nocapture), not an assertion.
    eprintln!(
        "stat deploy over 3 pods (1 unreachable) took {:?}",
        started.elapsed()
    );
    let report = json_of(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let dead = format!("{ns}/{}", b_pods[1]);
    assert!(
        stderr.contains(&format!("warning: pod {dead}: ")),
        "{stderr}"
    );
    assert_eq!(report["unreachable"][0]["pod"], dead.as_str(), "{report}");
    // The API server's own answer (not a retry loop ending in our timeout).
    let why = report["unreachable"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(why.starts_with("answered HTTP 503: "), "{why}");
    let b_row = row_named(&report, "b");
    assert_eq!((&b_row["pods"], &b_row["answered"]), (&2.into(), &1.into()));
    // Exactly what b's live proxy says, which is what b's app answered: c's share is gone.
    let direct = direct_row(at(b, 4191), "inbound", "app");
    assert_eq!(signals(b_row), signals(&direct), "{report}\n{direct}");
    assert_eq!(b_row["requests"], served("b"), "{report}");
    assert_eq!(served("b") + served("c"), sent);
    // Deployment a received nothing.
    let a_row = row_named(&report, "a");
    assert_eq!(a_row["answered"], 1);
    assert_eq!(a_row["requests"], 0, "{a_row}");

    // The edge a → b: a's outbound requests to b's service, all of them.
    let edge = json_of(&meshctl_stat(&[
        "deploy", "a", "-n", &ns, "--to", "deploy/b", "-o", "json",
    ]));
    let a_to_b = row_named(&edge, "a");
    let direct = direct_row(at(a, 4191), "outbound", "b-service:80");
    assert_eq!(signals(a_to_b), signals(&direct), "{edge}\n{direct}");
    assert_eq!(a_to_b["requests"], sent);
    // The same edge seen from b's side.
    let edge = json_of(&meshctl_stat(&[
        "deploy", "b", "-n", &ns, "--from", "deploy/a", "-o", "json",
    ]));
    assert_eq!(signals(row_named(&edge, "b")), signals(&direct), "{edge}");

    // The same pods through the other kinds: the service selecting b's pods, each pod, the
    // namespace (only b received anything), every namespace.
    let by_service = json_of(&meshctl_stat(&[
        "svc",
        "b-service",
        "-n",
        &ns,
        "-o",
        "json",
    ]));
    assert_eq!(signals(row_named(&by_service, "b-service")), signals(b_row));
    let by_pod = json_of(&meshctl_stat(&["pod", "-n", &ns, "-o", "json"]));
    assert_eq!(signals(row_named(&by_pod, &b_pods[0])), signals(b_row));
    assert_eq!(row_named(&by_pod, &b_pods[1])["answered"], 0);
    let by_ns = json_of(&meshctl_stat(&["ns", &ns, "-o", "json"]));
    assert_eq!(signals(row_named(&by_ns, &ns)), signals(b_row));
    assert_eq!(row_named(&by_ns, &ns)["pods"], 3);
    let everywhere = json_of(&meshctl_stat(&["deploy", "-A", "-o", "json"]));
    let rows = everywhere["rows"].as_array().expect("rows");
    assert!(
        rows.iter()
            .any(|r| r["namespace"] == ns.as_str() && r["name"] == "b"),
        "{everywhere}"
    );

    // The table says the same in columns.
    let out = meshctl_stat(&["deploy", "-n", &ns]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    assert!(table.contains("LATENCY_P99"), "{table}");
    let b_line = table.lines().find(|l| l.trim_start().starts_with("b "));
    let b_line = b_line.unwrap_or_else(|| panic!("no b line in\n{table}"));
    assert!(b_line.contains("1/2"), "{table}");
    assert!(b_line.contains("100.00%"), "{table}");
    // Every namespace: a NAMESPACE column first, as kubectl -A.
    let out = meshctl_stat(&["deploy", "-A"]);
    let table = String::from_utf8_lossy(&out.stdout);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(header[..3], ["NAMESPACE", "NAME", "MESHED"], "{table}");
    let b_line = table
        .lines()
        .find(|l| l.split_whitespace().take(2).eq([ns.as_str(), "b"]));
    let b_line = b_line.unwrap_or_else(|| panic!("no {ns} b line in\n{table}"));
    assert!(
        b_line.contains("1/2") && b_line.contains("100.00%"),
        "{table}"
    );
}
