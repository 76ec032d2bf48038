//! Traffic policy through the mesh under steady load: a weighted split between two pods
//! of B, and one of B's pods dying mid-load without a request lost.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;

use crate::load::paced_gets;
use crate::meshed::{Mesh, config, metric, service};
use crate::net::{Greeter, Says};
use crate::node::Pod;
use crate::node_or_skip;

fn app(pod: &Pod, name: &'static str) -> Greeter {
    Greeter::start(pod, "[::]:8080".parse().expect("addr"), Says::Http(name))
}

fn at(pod: &Pod, port: u16) -> SocketAddr {
    SocketAddr::new(pod.ip.into(), port)
}

/// b-service's address: b1's service IP (b1-service in /etc/hosts; only A's proxy knows it).
fn b_service(b1: &Pod) -> SocketAddr {
    SocketAddr::new(b1.service_ip.into(), 80)
}

#[test]
fn a_weighted_split_between_two_pods_of_b_holds() {
    let Some(node) = node_or_skip("mesh_weighted_split", &["a", "b1", "b2"]) else {
        return;
    };
    let (a, b1, b2) = (node.pod("a"), node.pod("b1"), node.pod("b2"));
    let _apps = [app(b1, "b1"), app(b2, "b2")];
    let mut mesh = Mesh::new();
    let b1_eps = [at(b1, 8080)];
    let b2_eps = [at(b2, 8080)];
    let mut svc = service(
        "b",
        "b-service",
        b_service(b1),
        &[("b1", &b1_eps), ("b2", &b2_eps)],
    );
    svc["routes"] = json!([{
        "name": "split",
        "backends": [{ "name": "b1", "weight": 80 }, { "name": "b2", "weight": 20 }],
    }]);
    mesh.start(a, "a.yaml", &config(&[svc]));
    mesh.start(b1, "b.yaml", &config(&[]));
    mesh.start(b2, "b.yaml", &config(&[]));

    let tally = paced_gets(
        a,
        b_service(b1),
        "b-service",
        200,
        Duration::from_millis(2500),
    );
    tally.assert_all_answered(500, &mesh.logs());
    let share = tally.answered_by.get("b2").copied().unwrap_or(0) as f64 / 500.0;
    let _ = writeln!(
        std::io::stderr(),
        "weighted split 80/20: {:?}",
        tally.answered_by
    );
    // 500 draws at p = 0.2 have a standard deviation of 1.8 points: 6 points is 3.4 of them.
    assert!(
        (0.14..=0.26).contains(&share),
        "b2 got {share:.3} of the requests, not 0.20"
    );
}

/// How b2 dies mid-load.
#[derive(Clone, Copy, Debug)]
enum Death {
    /// Deleted: off the network first, so packets to it go unanswered (tries time out).
    Deleted,
    /// Crashed: its processes die, its address answers with resets (fast failures).
    Crashed,
}

#[test]
fn deleting_a_pod_of_b_at_200_rps_for_20_s_loses_no_request() {
    b2_dies_mid_load("mesh_pod_deleted_mid_load", Death::Deleted, 20);
}

#[test]
fn a_pod_of_b_crashing_mid_load_loses_no_request() {
    b2_dies_mid_load("mesh_pod_crashed_mid_load", Death::Crashed, 10);
}

/// 200 RPS from A to b-service (b1 and b2, round robin) for `seconds`; b2 dies after 3 s.
fn b2_dies_mid_load(test: &str, death: Death, seconds: u64) {
    let Some(node) = node_or_skip(test, &["a", "b1", "b2"]) else {
        return;
    };
    let (a, b1, b2) = (node.pod("a"), node.pod("b1"), node.pod("b2"));
    let _b1_app = app(b1, "b1");
    let b2_app = app(b2, "b2");
    let mut mesh = Mesh::new();
    let mut svc = service(
        "b",
        "b-service",
        b_service(b1),
        &[("b", &[at(b1, 8080), at(b2, 8080)])],
    );
    // Round robin: b2 takes half the load until it dies, the hardest case for retries.
    svc["policy"] = json!({
        "loadBalancer": { "algorithm": "round-robin" },
        "timeouts": { "perTry": "1s" },
        "retries": { "attempts": 3 },
        "outlierDetection": { "consecutiveGatewayErrors": 2, "interval": "1s" },
    });
    mesh.start(a, "a.yaml", &config(&[svc]));
    mesh.start(b1, "b.yaml", &config(&[]));
    mesh.start(b2, "b.yaml", &config(&[]));

    let run = Duration::from_secs(seconds);
    let tally = std::thread::scope(|scope| {
        let load = scope.spawn(|| paced_gets(a, b_service(b1), "b-service", 200, run));
        std::thread::sleep(Duration::from_secs(3));
        if let Death::Deleted = death {
            b2.unplug();
        }
        mesh.kill_proxy(b2);
        drop(b2_app);
        load.join().expect("load generator")
    });
    let (retries, ejections) = (
        metric(a, "retry_total", &[]),
        metric(a, "ejection_total", &[]),
    );
    let _ = writeln!(
        std::io::stderr(),
        "200 RPS for {seconds} s, b2 {death:?} at 3 s: answered by {:?}, {} failed, {} started \
         late, {retries} retries, {ejections} ejections",
        tally.answered_by,
        tally.failures.len(),
        tally.late
    );
    tally.assert_all_answered(200 * seconds, &mesh.logs());
    // A constant rate: the load did not ease off while requests were stuck (1% slack for
    // a busy machine).
    let late = tally.late as u64;
    assert!(late * 100 <= 200 * seconds, "{late} requests started late");
    let by_b2 = tally.answered_by.get("b2").copied().unwrap_or(0);
    // b2 took half of the first 3 s (about 300 of 600), then nothing.
    assert!((250..=350).contains(&by_b2), "b2 answered {by_b2}");
    // Nothing was lost because the proxy retried and then stopped picking b2.
    assert!(
        retries > 0 && ejections > 0,
        "{retries} retries, {ejections} ejections"
    );
}
