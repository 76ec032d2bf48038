//! HTTP/1 forwarding by authority, the admin endpoints and the metrics names.

use crate::support::*;

fn one_service(addr: std::net::SocketAddr) -> String {
    format!(
        "services:\n  - name: web\n    authorities: [web.test, 'web.test:80']\n    \
         backends: [{{ name: v1, endpoints: [{{ addr: '{addr}' }}] }}]\n"
    )
}

#[tokio::test]
async fn forwards_http1_by_authority_and_counts_it() {
    let backend = named("v1").await;
    let proxy = TestProxy::start(&one_service(backend)).await;
    let client = http1_client();
    for _ in 0..3 {
        let (status, headers, body) =
            send(&client, proxy.outbound, "web.test", "/hello", &[]).await;
        assert_eq!((status, body.as_str()), (200, "v1"));
        assert_eq!(headers["x-seen-host"], "web.test");
    }
    // Host with a port and upper case finds the same service.
    let (status, _, body) = send(&client, proxy.outbound, "WEB.test:80", "/", &[]).await;
    assert_eq!((status, body.as_str()), (200, "v1"));
    // An unknown authority is a 503 from the proxy, saying so.
    let (status, headers, body) = send(&client, proxy.outbound, "nope.test", "/", &[]).await;
    assert_eq!(status, 503);
    assert_eq!(headers["meshctl-proxy-error"], "unknown service");
    assert!(body.contains("nope.test"), "{body}");

    // Two Host headers name no one service: a 400 saying so, not a 503.
    let two = "GET / HTTP/1.1\r\nhost: web.test\r\nhost: other.test\r\nconnection: close\r\n\r\n";
    let (status, body) = raw_request(proxy.outbound, two).await;
    assert_eq!(
        (status, body.as_str()),
        (
            400,
            "two Host headers: a request carries one `host` header\n"
        )
    );

    assert_eq!(proxy.admin_get("/live").await.0, 200);
    let (status, text) = proxy.admin_get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        text.contains(
            r#"request_total{direction="outbound",authority="web.test",tls="no_identity"} 4"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"response_total{direction="outbound",authority="web.test",tls="no_identity",status_code="200",classification="success"} 4"#),
        "{text}"
    );
    assert!(text.contains("response_latency_ms_bucket{"), "{text}");
    assert!(
        text.contains("tcp_open_total{direction=\"outbound\",peer=\"src\""),
        "{text}"
    );
    let (status, config) = proxy.admin_get("/config").await;
    assert_eq!(status, 200);
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["services"][0]["name"], "web");
    let (status, _) = proxy.admin_get("/nothing").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn stats_answer_windowed_counts_and_mergeable_buckets_per_service_route_and_backend() {
    let backend = named("v1").await;
    let proxy = TestProxy::start(&one_service(backend)).await;
    let client = http1_client();
    for _ in 0..5 {
        assert_eq!(
            send(&client, proxy.outbound, "web.test", "/", &[]).await.0,
            200
        );
    }
    let (status, text) = proxy.admin_get("/stats?window=30s").await;
    assert_eq!(status, 200, "{text}");
    let stats: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stats["windowSeconds"], 30);
    let bounds = stats["latencyBucketsMs"].as_array().unwrap().len();
    let rows = stats["rows"].as_array().unwrap();
    let row = |route: Option<&str>, backend: Option<&str>| {
        rows.iter()
            .find(|r| {
                r["direction"] == "outbound"
                    && r["authority"] == "web.test"
                    && r["route"].as_str() == route
                    && r["backend"].as_str() == backend
            })
            .unwrap_or_else(|| panic!("no row for {route:?} {backend:?} in {text}"))
    };
    for r in [
        row(None, None),
        row(Some("default"), None),
        row(None, Some("web/v1")),
    ] {
        assert_eq!(r["requests"], 5, "{r}");
        assert_eq!(r["failures"], 0, "{r}");
        let buckets = r["latencyBuckets"].as_array().unwrap();
        assert_eq!(buckets.len(), bounds + 1);
        assert_eq!(buckets.iter().map(|b| b.as_u64().unwrap()).sum::<u64>(), 5);
    }
    assert_eq!(proxy.admin_get("/stats?window=1s").await.0, 400);
    assert_eq!(proxy.admin_get("/ready").await.0, 200);
}

#[tokio::test]
async fn keep_alive_clients_and_pooled_upstream_connections_are_reused() {
    let (backend, conns) = serve_counting(|_req: http::Request<hyper::body::Incoming>| async {
        http::Response::new(full("pooled"))
    })
    .await;
    let proxy = TestProxy::start(&one_service(backend)).await;
    let client = http1_client();
    for _ in 0..20 {
        let (status, _, body) = send(&client, proxy.outbound, "web.test", "/", &[]).await;
        assert_eq!((status, body.as_str()), (200, "pooled"));
    }
    let accepted = proxy
        .metric(r#"tcp_open_total{direction="outbound",peer="src""#)
        .await;
    assert_eq!(accepted, 1.0, "the client's connection was kept alive");
    assert_eq!(
        conns.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "one pooled upstream connection"
    );
}
