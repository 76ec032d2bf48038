//! Distributed tracing end to end: meshed pods injected with `--tracing-endpoint` and
//! `--tracing-sampling`, a real OpenTelemetry Collector in a pod of its own, and requests
//! from an app through both proxies (over mTLS for a → b). The collector receives one trace
//! per request whose SERVER span (the callee's proxy) has the caller's CLIENT span as
//! parent, with both identities, an app's own `traceparent` is continued, and a rate of 0
//! records only what comes sampled. A collector that goes away costs dropped spans only, and
//! one back at the same address gets the next ones.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::mesh_pki::{DAY, Pki};
use crate::meshed::{Mesh, config, identity_of, service};
use crate::net::{Greeter, Says, http_get, http_get_with};
use crate::node::Pod;
use crate::node_or_skip;
use crate::observe::{config as mtls_config, meshed_service};
use crate::otelcol::{CLIENT, Collector, SERVER, Span, otelcol_or_skip};

/// `<callee>-service:80` with the callee's app on 8080 as its one endpoint.
fn service_of(callee: &Pod) -> serde_json::Value {
    let host = format!("{}-service", callee.name);
    let endpoint = [SocketAddr::new(callee.ip.into(), 8080)];
    let addr = SocketAddr::new(callee.service_ip.into(), 80);
    service(&callee.name, &host, addr, &[(&callee.name, &endpoint)])
}

/// `GET path` from `pod`'s app to `<callee>-service:80` with `headers`; must be a 200.
fn call(mesh: &Mesh, pod: &Pod, callee: &Pod, path: &str, headers: &[&str]) {
    let host = format!("{}-service:80", callee.name);
    let (status, body) = http_get_with(pod, 0, &host, path, headers);
    assert_eq!(status, 200, "{body}\n{}", mesh.logs());
}

/// The one span of `spans` from `pod`'s proxy.
fn from<'a>(spans: &'a [Span], pod: &Pod) -> &'a Span {
    let mine: Vec<_> = spans.iter().filter(|s| s.pod == pod.name).collect();
    assert_eq!(mine.len(), 1, "one span from {}: {spans:?}", pod.name);
    mine[0]
}

#[test]
fn two_proxies_spans_reach_a_real_collector_as_one_trace() {
    let Some(otelcol) = otelcol_or_skip("tracing") else {
        return;
    };
    let Some(node) = node_or_skip("tracing", &["a", "b", "c", "d", "otel"]) else {
        return;
    };
    let [a, b, c, d, otel] = ["a", "b", "c", "d", "otel"].map(|n| node.pod(n));
    let mut collector = Collector::start(otel, &otelcol);
    let any = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 8080);
    let _apps = [
        Greeter::start(b, any, Says::Http("b")),
        Greeter::start(d, any, Says::Http("d")),
    ];
    let mut mesh = Mesh::new();
    let traced = |rate: &'static str| {
        [
            "--tracing-endpoint",
            collector.endpoint.as_str(),
            "--tracing-sampling",
            rate,
        ]
    };
    // a → b (mTLS) samples everything; c → d (plaintext) nothing of its own.
    let pki = Pki::new(DAY);
    let (id_a, id_b) = (identity_of(a, "a.yaml"), identity_of(b, "b.yaml"));
    let to_b = meshed_service("b-service", b, &id_b, serde_json::Value::Null);
    mesh.start_injected(b, "b.yaml", &traced("1"), &mtls_config(&pki, &id_b, &[]));
    mesh.start_injected(
        a,
        "a.yaml",
        &traced("1"),
        &mtls_config(&pki, &id_a, &[to_b]),
    );
    mesh.start_injected(d, "c.yaml", &traced("0"), &config(&[]));
    mesh.start_injected(c, "c.yaml", &traced("0"), &config(&[service_of(d)]));
    let logs = || format!("{}\n--- collector:\n{}", mesh.logs(), collector.log());

    // A request without context: a's proxy starts the trace, b's continues it.
    call(&mesh, a, b, "/first", &[]);
    let spans = collector.wait_for("/first", 2, &logs);
    let (client, server) = (from(&spans, a), from(&spans, b));
    assert_eq!((client.kind, server.kind), (CLIENT, SERVER), "{spans:?}");
    assert_eq!(client.trace, server.trace, "one trace: {spans:?}");
    assert_eq!(client.trace.len(), 32);
    assert_eq!(client.parent, "", "a's proxy started the trace");
    assert_eq!(
        server.parent, client.id,
        "b's SERVER span is a child of a's CLIENT span"
    );
    // The resource (service.name from the pod's `app` label, as injected) and attributes.
    assert_eq!(
        (client.service.as_str(), server.service.as_str()),
        ("a", "b")
    );
    assert_eq!(client.namespace, "shop");
    let attr = |s: &Span, k: &str| s.attr(k).unwrap_or_else(|| panic!("{k}: {s:?}"));
    for s in [client, server] {
        assert_eq!(attr(s, "http.request.method"), "GET");
        assert_eq!(attr(s, "http.response.status_code"), "200");
        assert_eq!(attr(s, "network.protocol.version"), "1.1");
    }
    assert_eq!(attr(client, "meshctl.direction"), "outbound");
    assert_eq!(attr(server, "meshctl.direction"), "inbound");
    // Backends are named `<service>/<backend>`, as in /stats.
    assert_eq!(attr(client, "meshctl.backend"), "b/b");
    assert!(
        attr(client, "server.address").starts_with("b-service"),
        "{client:?}"
    );
    // Both sides name both identities.
    for s in [client, server] {
        assert_eq!(attr(s, "meshctl.client.id"), id_a.to_string());
        assert_eq!(attr(s, "meshctl.server.id"), id_b.to_string());
    }

    // The app's own context is continued: same trace, the app's span as a's parent.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = format!("traceparent: 00-{trace}-00f067aa0ba902b7-01");
    call(&mesh, a, b, "/second", &[&parent]);
    let spans = collector.wait_for("/second", 2, &logs);
    let (client, server) = (from(&spans, a), from(&spans, b));
    assert_eq!(
        (client.trace.as_str(), server.trace.as_str()),
        (trace, trace)
    );
    assert_eq!(client.parent, "00f067aa0ba902b7");
    assert_eq!(server.parent, client.id);

    // Rate 0: a request without context leaves no span; one the app sampled does (B3 here).
    call(&mesh, c, d, "/unsampled", &[]);
    let b3 = "b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1";
    call(&mesh, c, d, "/sampled", &[b3]);
    let spans = collector.wait_for("/sampled", 2, &logs);
    let (client, server) = (from(&spans, c), from(&spans, d));
    assert_eq!(client.trace, "80f198ee56343ba864fe8b2a57d3eff7");
    assert_eq!(
        (client.parent.as_str(), server.parent.as_str()),
        ("e457b5a2e4d86bd1", client.id.as_str())
    );
    // Spans leave in order: /unsampled's would be there by now.
    let unsampled = collector
        .spans()
        .into_iter()
        .filter(|s| s.attr("url.path").as_deref() == Some("/unsampled"));
    assert_eq!(unsampled.count(), 0, "{}", logs());

    // The collector goes away: spans are dropped and counted, requests still answered; a new
    // one at the same address gets the next spans without a proxy restart.
    collector.kill(otel);
    call(&mesh, a, b, "/while-down", &[]);
    let admin: SocketAddr = "127.0.0.1:4191".parse().unwrap();
    let dropped = || {
        let (_, text) = http_get(a, admin, "/metrics");
        let line = text
            .lines()
            .find(|l| l.starts_with("trace_spans_dropped_total "));
        line.and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while dropped() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no span dropped: {}",
            logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    collector = Collector::start(otel, &otelcol);
    call(&mesh, a, b, "/after", &[]);
    let logs = || format!("{}\n--- collector:\n{}", mesh.logs(), collector.log());
    let spans = collector.wait_for("/after", 2, &logs);
    assert_eq!(from(&spans, b).parent, from(&spans, a).id);
}
