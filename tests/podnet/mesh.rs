//! Meshed pods talking through real proxies: A's app calls B's service name and B's app
//! answers through A's outbound and B's inbound proxy; what must bypass the proxies does.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::capture::Capture;
use crate::meshed::{Mesh, config, metric, service, stats_bytes};
use crate::net::{Greeter, Says, dial, http_get, http_get_as};
use crate::node::Pod;
use crate::node_or_skip;

fn at(ip: impl Into<std::net::IpAddr>, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

fn any(port: u16) -> SocketAddr {
    at(std::net::Ipv6Addr::UNSPECIFIED, port)
}

/// `<pod>-service:80` with the pod's app on 8080 as its one endpoint.
fn service_of(pod: &Pod) -> serde_json::Value {
    let host = format!("{}-service", pod.name);
    let endpoints = [at(pod.ip, 8080)];
    service(
        &pod.name,
        &host,
        at(pod.service_ip, 80),
        &[(&pod.name, &endpoints)],
    )
}

/// `GET /` from `pod`'s app to `host_port` must be answered 200 with `body`.
fn assert_answer(mesh: &Mesh, pod: &Pod, host_port: &str, body: &str) {
    let (status, got) = http_get_as(pod, 0, host_port, "/");
    assert_eq!((status, got.trim()), (200, body), "{}", mesh.logs());
}

/// Connections A's outbound proxy accepted from A's app.
fn outbound_accepted(a: &Pod) -> u64 {
    let labels = ["direction=\"outbound\"", "peer=\"src\""];
    metric(a, "tcp_open_total", &labels)
}

#[test]
fn app_a_reaches_b_service_through_both_proxies() {
    let Some(node) = node_or_skip("mesh_a_to_b", &["a", "b"]) else {
        return;
    };
    let (a, b) = (node.pod("a"), node.pod("b"));
    let _app = Greeter::start(b, any(8080), Says::Http("b"));
    let mut mesh = Mesh::new();
    mesh.start(a, "a.yaml", &config(&[service_of(b)]));
    mesh.start(b, "b.yaml", &config(&[]));

    // b-service's address belongs to nobody: only A's proxy can route it. B's app seeing
    // a loopback peer shows the request came out of B's inbound proxy.
    for _ in 0..3 {
        assert_answer(&mesh, a, "b-service:80", "b saw 127.0.0.1");
    }
    let out = ["direction=\"outbound\"", "authority=\"b-service:80\""];
    assert_eq!(metric(a, "request_total", &out), 3, "A's outbound requests");
    let inbound = ["direction=\"inbound\""];
    assert_eq!(
        metric(b, "request_total", &inbound),
        3,
        "B's inbound requests"
    );
    // /stats windows the bytes of A's connections under the service they were sent to, and
    // B's under its app: the same bytes the connections' counters saw.
    for (pod, direction) in [(a, "outbound"), (b, "inbound")] {
        let side = [&format!("direction=\"{direction}\"")[..], "peer=\"src\""];
        let counted = (
            metric(pod, "tcp_read_bytes_total", &side),
            metric(pod, "tcp_write_bytes_total", &side),
        );
        assert!(counted.0 > 0 && counted.1 > 0, "{direction}: {counted:?}");
        assert_eq!(stats_bytes(pod, direction), counted, "{direction} bytes");
    }
}

#[test]
fn a_skipped_outbound_port_bypasses_the_proxy() {
    let Some(node) = node_or_skip("mesh_skip_outbound", &["a", "b"]) else {
        return;
    };
    let (a, b) = (node.pod("a"), node.pod("b"));
    // a.yaml's annotation skips outbound port 3306; B is not meshed here.
    let _apps = [
        Greeter::start(b, any(3306), Says::Name("b-db")),
        Greeter::start(b, any(3307), Says::Name("b-other")),
    ];
    let mut mesh = Mesh::new();
    mesh.start(a, "a.yaml", &config(&[]));

    let before = outbound_accepted(a);
    assert_eq!(dial(a, at(b.ip, 3306)), "b-db", "{}", mesh.logs());
    assert_eq!(
        outbound_accepted(a),
        before,
        "3306 must not reach A's proxy"
    );
    assert_eq!(dial(a, at(b.ip, 3307)), "b-other", "{}", mesh.logs());
    assert_eq!(
        outbound_accepted(a),
        before + 1,
        "3307 goes through A's proxy"
    );
}

#[test]
fn an_opaque_port_carries_a_server_speaks_first_protocol_without_a_stall() {
    let Some(node) = node_or_skip("mesh_opaque", &["a", "b"]) else {
        return;
    };
    let (a, b) = (node.pod("a"), node.pod("b"));
    // Like a database: the server greets first, the client waits for it.
    let _db = Greeter::start(b, any(5432), Says::Name("b-db ready"));
    let mut mesh = Mesh::new();
    let mut db = service(
        "b-db",
        "b-service",
        at(b.service_ip, 5432),
        &[("b", &[at(b.ip, 5432)])],
    );
    db["protocol"] = "opaque".into();
    mesh.start(a, "a.yaml", &config(&[db]));
    // b.yaml's opaque-ports annotation makes B's inbound side skip detection on 5432.
    mesh.start(b, "b.yaml", &config(&[]));

    let started = Instant::now();
    let greeting = dial(a, at(b.service_ip, 5432));
    let took = started.elapsed();
    assert_eq!(greeting, "b-db ready", "{}", mesh.logs());
    // Waiting for the client to speak would cost a detection timeout (1 s) per proxy.
    assert!(
        took < Duration::from_millis(900),
        "the greeting took {took:?}"
    );
    let through = |pod: &Pod, direction: &str| {
        metric(
            pod,
            "tcp_open_total",
            &[&format!("direction=\"{direction}\""), "peer=\"src\""],
        )
    };
    assert_eq!(through(a, "outbound"), 1, "A's outbound proxy carried it");
    assert_eq!(through(b, "inbound"), 1, "B's inbound proxy carried it");
}

#[test]
fn a_destination_no_service_claims_passes_through_as_plain_tcp() {
    let Some(node) = node_or_skip("mesh_passthrough", &["a", "b"]) else {
        return;
    };
    let (a, b) = (node.pod("a"), node.pod("b"));
    let _app = Greeter::start(b, any(8080), Says::Http("b"));
    let mut mesh = Mesh::new();
    mesh.start(a, "a.yaml", &config(&[]));

    // HTTP to an address A's config does not know: forwarded as dialed, not answered 503,
    // and on B's veth it is the app's own plaintext request.
    let capture = Capture::start(b, "tcp port 8080");
    assert_answer(&mesh, a, "b:8080", "b saw 10.213.0.10");
    let uris = capture.stop_and_read("http.request", "http.request.uri");
    assert_eq!(uris, ["/"], "HTTP requests seen on B's eth0");
    let passthrough = [
        "direction=\"outbound\"",
        "peer=\"dst\"",
        "authority=\"passthrough\"",
    ];
    assert_eq!(metric(a, "tcp_open_total", &passthrough), 1);
    assert_eq!(
        metric(a, "request_total", &[]),
        0,
        "not handled as a request"
    );
}

#[test]
fn a_pod_calling_its_own_service_goes_through_its_inbound_side_without_a_loop() {
    let Some(node) = node_or_skip("mesh_own_service", &["a", "b"]) else {
        return;
    };
    let (a, b) = (node.pod("a"), node.pod("b"));
    let _app = Greeter::start(a, any(8080), Says::Http("a"));
    let mut mesh = Mesh::new();
    mesh.start(a, "a.yaml", &config(&[service_of(a)]));
    let inbound = ["direction=\"inbound\""];

    // Its own service: out through the outbound side, back in through the inbound side.
    assert_answer(&mesh, a, "a-service:80", "a saw 127.0.0.1");
    assert_eq!(metric(a, "request_total", &inbound), 1);
    // Its own pod IP: straight to the app.
    assert_answer(&mesh, a, "a:8080", "a saw 10.213.0.10");
    assert_eq!(metric(a, "request_total", &inbound), 1);

    // A peer dialing the inbound port itself is not taken for a redirect to that port:
    // the proxy closes it instead of connecting to itself over and over.
    assert!(!dial(b, at(a.ip, 4143)).contains("a saw"));
    std::thread::sleep(Duration::from_millis(200));
    let inbound_conns = ["direction=\"inbound\"", "peer=\"src\""];
    let accepted = metric(a, "tcp_open_total", &inbound_conns);
    assert!(accepted <= 2, "{accepted} inbound connections: a loop");
    assert_answer(&mesh, a, "a-service:80", "a saw 127.0.0.1");
}

#[test]
fn ipv6_traffic_goes_through_the_proxies_too() {
    let Some(node) = node_or_skip("mesh_ipv6", &["a", "b"]) else {
        return;
    };
    let (a, b) = (node.pod("a"), node.pod("b"));
    let _apps = [
        Greeter::start(a, any(8080), Says::Http("a")),
        Greeter::start(b, any(8080), Says::Http("b")),
    ];
    let mut mesh = Mesh::new();
    mesh.start(a, "a.yaml", &config(&[]));
    mesh.start(b, "b.yaml", &config(&[]));

    // Out through A's outbound side (passthrough) and in through B's inbound side.
    let (status, body) = http_get(a, at(b.ip6, 8080), "/");
    assert_eq!(
        (status, body.trim()),
        (200, "b saw 127.0.0.1"),
        "{}",
        mesh.logs()
    );
    let passthrough = ["direction=\"outbound\"", "authority=\"passthrough\""];
    assert_eq!(metric(a, "tcp_open_total", &passthrough), 1);
    assert_eq!(metric(b, "request_total", &["direction=\"inbound\""]), 1);
    // Probes of an IPv6-only pod reach the admin port over IPv6.
    assert_eq!(http_get(a, at(b.ip6, 4191), "/ready").0, 200);
}

#[test]
fn a_pod_with_ipv6_off_is_meshed_over_ipv4() {
    let Some(node) = node_or_skip("mesh_ipv6_off", &["a", "b"]) else {
        return;
    };
    let (a, b) = (node.pod("a"), node.pod("b"));
    let off = a.run("sysctl", &["-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"]);
    assert!(
        off.status.success(),
        "{}",
        String::from_utf8_lossy(&off.stderr)
    );
    let _app = Greeter::start(b, any(8080), Says::Http("b"));
    let mut mesh = Mesh::new();
    // The init step and the proxy start anyway (no IPv6 twin where there is no ::1).
    mesh.start(a, "a.yaml", &config(&[service_of(b)]));
    assert_answer(&mesh, a, "b-service:80", "b saw 10.213.0.10");
}
