//! Who may read a meshed pod's admin port: probes, `/metrics`, `/stats` and `/identity`
//! anyone; the routing config (`/config`) and live requests (`/tap`) loopback and the
//! networks the pod's `meshctl.io/admin-operator-from` lists (the fixtures: the node,
//! where the API server is).

use std::net::SocketAddr;

use crate::meshed::{Mesh, config};
use crate::net::http_get;
use crate::node_or_skip;

#[test]
fn operator_endpoints_are_served_to_loopback_and_the_listed_networks_only() {
    let Some(node) = node_or_skip("admin_access", &["a", "b"]) else {
        return;
    };
    let (a, b) = (node.pod("a"), node.pod("b"));
    let mut mesh = Mesh::new();
    mesh.start(b, "b.yaml", &config(&[]));
    let remote = SocketAddr::new(b.ip.into(), 4191);
    let local: SocketAddr = "127.0.0.1:4191".parse().unwrap();
    for open in ["/ready", "/live", "/metrics", "/stats"] {
        assert_eq!(http_get(a, remote, open).0, 200, "{open} from another pod");
    }
    // 404 on a proxy without identity: served, just nothing to show.
    assert_eq!(http_get(a, remote, "/identity").0, 404);
    let (status, body) = http_get(a, remote, "/config");
    assert_eq!(status, 403, "/config from another pod: {body}");
    assert!(body.contains("meshctl.io/admin-operator-from"), "{body}");
    // Live requests (`/tap`) likewise: paths and identities as they happen.
    let (status, body) = http_get(a, remote, "/tap?limit=1");
    assert_eq!(status, 403, "/tap from another pod: {body}");
    let (status, body) = http_get(b, local, "/config");
    assert_eq!(status, 200, "/config on loopback: {body}");
    let (_, metrics) = http_get(a, remote, "/metrics");
    let exposed = r#"proxy_admin_operator_info{from="loopback,10.213.0.1/32"} 1"#;
    assert!(metrics.contains(exposed), "{metrics}");
}
