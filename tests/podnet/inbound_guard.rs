//! What a peer must not reach through B's inbound side: the proxy's own listeners (its
//! outbound port would dial out as B, its admin port would take the peer for a local caller),
//! and what B's app opened on localhost only.

use std::net::SocketAddr;

use crate::meshed::{Mesh, config, metric};
use crate::net::{Greeter, Says, http_get};
use crate::{meshctl, node_or_skip};

fn at(ip: impl Into<std::net::IpAddr>, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

/// `inbound_connection_refused_total` of `pod` for `port`.
fn refused(pod: &crate::node::Pod, port: u16) -> u64 {
    refused_for(pod, port, "proxy_port")
}

fn refused_for(pod: &crate::node::Pod, port: u16, reason: &str) -> u64 {
    let labels = [
        &format!("port=\"{port}\"")[..],
        &format!("reason=\"{reason}\""),
    ];
    metric(pod, "inbound_connection_refused_total", &labels)
}

#[test]
fn the_proxys_own_ports_and_localhost_only_app_ports_are_not_inbound_destinations() {
    let Some(node) = node_or_skip("inbound_guard", &["a", "b"]) else {
        return;
    };
    let (a, b) = (node.pod("a"), node.pod("b"));
    let _app = Greeter::start(
        b,
        at(std::net::Ipv6Addr::UNSPECIFIED, 8080),
        Says::Http("b"),
    );
    let _private = Greeter::start(b, at([127, 0, 0, 1], 8081), Says::Http("private"));
    let mut mesh = Mesh::new();
    mesh.start(b, "b.yaml", &config(&[]));
    let (status, body) = http_get(a, at(b.ip, 8080), "/");
    assert_eq!(
        (status, body.trim()),
        (200, "b saw 127.0.0.1"),
        "{}",
        mesh.logs()
    );

    // b:4140 is intercepted like any port: the inbound side must not hand it to the
    // outbound listener (which would call out as B).
    let (status, text) = http_get(a, at(b.ip, 4140), "/");
    assert_eq!(status, 0, "closed, not answered: {text}");
    assert_eq!(refused(b, 4140), 1, "{}", mesh.logs());

    // What b's app opened on localhost only stays b's own, as it is without a proxy...
    let (status, text) = http_get(a, at(b.ip, 8081), "/");
    assert_eq!(status, 0, "closed, not answered: {text}");
    assert_eq!(refused_for(b, 8081, "localhost_only"), 1, "{}", mesh.logs());
    // ...until the port is declared for peers (the config reloads on change).
    let localhost = serde_json::json!({ "inbound": { "localhostPorts": [8081] }, "services": [] });
    mesh.write_file("b.yaml", &localhost.to_string());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, body) = http_get(a, at(b.ip, 8081), "/");
        if status == 200 {
            assert_eq!(body.trim(), "private saw 127.0.0.1");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reloaded: {}",
            mesh.logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // The admin port is intercepted too when proxy-init was told another one.
    let out = b.run(meshctl(), &["proxy-init", "--admin-port", "4199"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, text) = http_get(a, at(b.ip, 4191), "/config");
    assert_eq!(status, 0, "closed, not answered: {text}");
    assert_eq!(refused(b, 4191), 1, "{}", mesh.logs());
    // And b:4143 dialed directly is no redirect to anything: closed as before.
    assert_eq!(http_get(a, at(b.ip, 4143), "/").0, 0);
}
