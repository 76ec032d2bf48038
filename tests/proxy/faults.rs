//! Fault injection (abort and delay at a percentage), request mirroring and the local rate
//! limiter, through the route stage.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;

use crate::support::*;

/// A server that answers "shadow" and counts its requests.
async fn counting() -> (std::net::SocketAddr, Hits) {
    let hits: Hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let addr = serve(move |_req: Request<Incoming>| {
        let h = h.clone();
        async move {
            h.fetch_add(1, Ordering::Relaxed);
            Response::new(full("shadow"))
        }
    })
    .await;
    (addr, hits)
}

fn config(main: std::net::SocketAddr, shadow: std::net::SocketAddr) -> String {
    web_service(&[("main", main), ("shadow", shadow)], ROUTES)
}

const ROUTES: &str = r#"      - name: abort-half
        matches: [{ path: { prefix: /abort } }]
        backends: [{ name: main }]
        fault: { abort: { status: 418, percent: 50 } }
      - name: slow
        matches: [{ path: { prefix: /slow } }]
        backends: [{ name: main }]
        fault: { delay: { fixed: 200ms, percent: 100 } }
      - name: mirrored
        matches: [{ path: { prefix: /mirror } }]
        backends: [{ name: main }]
        mirror: { backend: shadow, percent: 100 }
      - name: limited
        matches: [{ path: { prefix: /limited } }]
        backends: [{ name: main }]
        policy: { rateLimit: { requestsPerSecond: 1, burst: 3 } }
      - name: rest
        backends: [{ name: main }]
"#;

#[tokio::test]
async fn aborts_hit_about_their_percentage_with_the_configured_status() {
    let main = named("main").await;
    let (shadow, _) = counting().await;
    let proxy = TestProxy::start(&config(main, shadow)).await;
    let c = http1_client();
    let mut aborted = 0;
    for _ in 0..1_000 {
        let (status, headers, body) = send(&c, proxy.outbound, "web.test", "/abort", &[]).await;
        match status {
            418 => {
                assert_eq!(headers["meshctl-proxy-error"], "fault injected");
                aborted += 1;
            }
            200 => assert_eq!(body, "main"),
            other => panic!("unexpected status {other}"),
        }
    }
    assert!((430..=570).contains(&aborted), "{aborted} of 1000 aborted");
}

#[tokio::test]
async fn delays_hold_requests_for_the_fixed_time() {
    let main = named("main").await;
    let (shadow, _) = counting().await;
    let proxy = TestProxy::start(&config(main, shadow)).await;
    let c = http1_client();
    let start = Instant::now();
    assert_eq!(
        send(&c, proxy.outbound, "web.test", "/slow", &[]).await.0,
        200
    );
    assert!(
        start.elapsed() >= Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
    let start = Instant::now();
    assert_eq!(
        send(&c, proxy.outbound, "web.test", "/fast", &[]).await.0,
        200
    );
    assert!(
        start.elapsed() < Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn mirrored_requests_reach_the_shadow_and_its_answers_are_dropped() {
    let main = named("main").await;
    let (shadow, hits) = counting().await;
    let proxy = TestProxy::start(&config(main, shadow)).await;
    let c = http1_client();
    for _ in 0..20 {
        let (status, _, body) = send(&c, proxy.outbound, "web.test", "/mirror", &[]).await;
        assert_eq!((status, body.as_str()), (200, "main"));
    }
    assert_eq!(
        send(&c, proxy.outbound, "web.test", "/other", &[]).await.2,
        "main"
    );
    // Mirroring is fire-and-forget: wait (bounded) for the copies to land.
    for _ in 0..100 {
        if hits.load(Ordering::Relaxed) >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(hits.load(Ordering::Relaxed), 20);
}

#[tokio::test]
async fn the_rate_limiter_answers_429_with_retry_after_past_the_burst() {
    let main = named("main").await;
    let (shadow, _) = counting().await;
    let proxy = TestProxy::start(&config(main, shadow)).await;
    let c = http1_client();
    for _ in 0..3 {
        assert_eq!(
            send(&c, proxy.outbound, "web.test", "/limited", &[])
                .await
                .0,
            200
        );
    }
    let (status, headers, _) = send(&c, proxy.outbound, "web.test", "/limited", &[]).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "1");
    // Other routes are not limited.
    assert_eq!(send(&c, proxy.outbound, "web.test", "/x", &[]).await.0, 200);
    let text = proxy.admin_get("/metrics").await.1;
    assert!(text.contains("rate_limited_total{"), "{text}");
}
