//! Pod-network tests: network namespaces as pods on a bridge, `meshctl proxy-init`
//! installing real iptables rules, real interception. They need root, iproute2 and
//! iptables; without them they say why and pass locally, and fail in CI (`CI=true`).

mod admin_access;
mod canary;
mod capture;
mod check_cluster;
mod controller;
// The cluster test binary's benchmark uses more of it.
#[allow(dead_code)]
#[path = "../common/controller_process.rs"]
mod controller_process;
// The cluster tests' kube-apiserver + etcd, for pods registered in a real API server; this
// binary uses only part of it.
#[path = "../cluster/harness/mod.rs"]
#[allow(dead_code)]
mod harness;
mod inbound_guard;
mod injected;
mod interception;
#[path = "../common/jwt_keys.rs"]
mod jwt_keys;
mod load;
mod mesh;
// The shared test PKI; pod-network tests use only its file-writing part.
#[allow(dead_code)]
#[path = "../common/mesh_pki.rs"]
mod mesh_pki;
mod meshed;
mod mtls;
mod net;
mod node;
mod observe;
mod otelcol;
mod proxy_init;
mod registry;
mod security;
mod spec;
mod stat_cluster;
mod traces;
mod traffic;

use std::io::Write;

use node::{Node, run_quiet};

/// Why these tests cannot run here, if they cannot.
fn missing_prerequisite() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("");
    if euid != "0" {
        return Some(format!("root is needed (effective uid is {euid})"));
    }
    for program in [
        "ip",
        "iptables",
        "iptables-nft",
        "iptables-legacy",
        "setpriv",
        "tshark",
    ] {
        if run_quiet(program, &["--version"]).is_err() {
            return Some(format!(
                "`{program}` is missing (bash .ci/setup installs it)"
            ));
        }
    }
    None
}

/// A node with `pods`, or `None` (after saying why) when this machine cannot build one.
/// In CI a missing prerequisite is a failure: .ci/setup is there to provide them.
pub fn node_or_skip(test: &str, pods: &[&str]) -> Option<Node> {
    let Some(why) = missing_prerequisite() else {
        return Some(Node::new(pods));
    };
    skip(test, &format!("pod-network tests cannot run here: {why}"));
    None
}

/// Says why `test` does not run here; in CI, where `.ci/setup` provides everything, fails.
pub fn skip(test: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {why}");
    }
    // Straight to the stderr handle: libtest captures eprintln! of passing tests.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// The meshctl binary under test.
pub fn meshctl() -> &'static str {
    env!("CARGO_BIN_EXE_meshctl")
}
