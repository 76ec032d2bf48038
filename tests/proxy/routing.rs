//! Route matching, weighted splits, header filters and trace context through the proxy.

use crate::support::*;

fn routed(v1: std::net::SocketAddr, v2: std::net::SocketAddr) -> String {
    web_service(&[("v1", v1), ("v2", v2)], ROUTES)
}

const ROUTES: &str = r#"      - name: canary-header
        matches: [{ headers: [{ name: x-canary, exact: "1" }] }]
        backends: [{ name: v2 }]
      - name: api-split
        matches: [{ path: { prefix: /api } }]
        backends: [{ name: v1, weight: 90 }, { name: v2, weight: 10 }]
      - name: post-only
        matches: [{ method: POST, queryParams: [{ name: to, exact: v2 }] }]
        backends: [{ name: v2 }]
      - name: rest
        backends: [{ name: v1 }]
        requestHeaders: { set: [{ name: x-route, value: rest }], remove: [x-secret] }
        responseHeaders: { add: [{ name: x-proxied, value: "yes" }], remove: [x-served-by] }
"#;

#[tokio::test]
async fn first_matching_route_wins_on_headers_paths_methods_and_query() {
    let (v1, v2) = (named("v1").await, named("v2").await);
    let proxy = TestProxy::start(&routed(v1, v2)).await;
    let c = http1_client();
    let to = proxy.outbound;
    assert_eq!(
        send(&c, to, "web.test", "/", &[("x-canary", "1")]).await.2,
        "v2"
    );
    assert_eq!(
        send(&c, to, "web.test", "/api/x", &[("x-canary", "1")])
            .await
            .2,
        "v2"
    );
    assert_eq!(
        send(&c, to, "web.test", "/", &[("x-canary", "0")]).await.2,
        "v1"
    );
    assert_eq!(
        send(&c, to, "web.test", "/?to=v2", &[]).await.2,
        "v1",
        "GET is not POST"
    );
    let (status, _, body) = send_method(&c, to, "POST", "web.test", "/x?a=b&to=v2").await;
    assert_eq!((status, body.as_str()), (200, "v2"));
}

#[tokio::test]
async fn a_90_10_split_holds_within_3_percent_over_2000_requests() {
    let (v1, v2) = (named("v1").await, named("v2").await);
    let proxy = TestProxy::start(&routed(v1, v2)).await;
    let c = http1_client();
    let mut to_v1 = 0;
    for _ in 0..2_000 {
        let (status, _, body) = send(&c, proxy.outbound, "web.test", "/api", &[]).await;
        assert_eq!(status, 200);
        to_v1 += usize::from(body == "v1");
    }
    let share = to_v1 as f64 / 2_000.0;
    assert!((0.87..=0.93).contains(&share), "v1 got {share}");
}

#[tokio::test]
async fn header_filters_change_requests_and_responses_and_traceparent_gets_a_new_span() {
    let (v1, v2) = (named("v1").await, named("v2").await);
    let proxy = TestProxy::start(&routed(v1, v2)).await;
    let c = http1_client();
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let (status, headers, body) = send(
        &c,
        proxy.outbound,
        "web.test",
        "/other",
        &[
            ("x-secret", "s"),
            ("x-route", "client"),
            ("traceparent", parent),
        ],
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "v1"));
    // Request side: set replaced the client's value, remove dropped the header.
    assert_eq!(headers["echo-x-route"], "rest");
    assert!(!headers.contains_key("echo-x-secret"));
    // Response side: added and removed.
    assert_eq!(headers["x-proxied"], "yes");
    assert!(!headers.contains_key("x-served-by"));
    let seen = headers["echo-traceparent"].to_str().unwrap();
    assert_eq!(&seen[..36], &parent[..36], "same trace id");
    assert_ne!(seen, parent, "a new span id for this hop");
}

#[tokio::test]
async fn rewrites_change_the_path_by_prefix_or_whole_and_the_authority() {
    let app = serve(|req: http::Request<hyper::body::Incoming>| async move {
        let host = req
            .headers()
            .get("host")
            .map(|h| h.to_str().unwrap().to_owned());
        http::Response::new(full(format!("{} {}", req.uri(), host.unwrap_or_default())))
    })
    .await;
    let routes = r#"      - name: prefix
        matches: [{ path: { prefix: /api } }]
        backends: [{ name: app }]
        rewrite: { path: { prefix: /v2 }, authority: api.internal }
      - name: full
        matches: [{ path: { exact: /old } }]
        backends: [{ name: app }]
        rewrite: { path: { full: /new } }
"#;
    let proxy = TestProxy::start(&web_service(&[("app", app)], routes)).await;
    let c = http1_client();
    let (status, _, body) = send(&c, proxy.outbound, "web.test", "/api/items?page=2", &[]).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "/v2/items?page=2 api.internal")
    );
    let (_, _, body) = send(&c, proxy.outbound, "web.test", "/api", &[]).await;
    assert_eq!(body, "/v2 api.internal");
    let (_, _, body) = send(&c, proxy.outbound, "web.test", "/old?x=1", &[]).await;
    assert_eq!(body, "/new?x=1 web.test");
}
