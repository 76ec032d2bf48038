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

/// A shadow that waits `delay` before reading, and keeps the bodies it read in full.
async fn recording(delay: Duration) -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<usize>>>) {
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let b = bodies.clone();
    let addr = serve(move |req: Request<Incoming>| {
        let b = b.clone();
        async move {
            tokio::time::sleep(delay).await;
            if let Ok(body) = http_body_util::BodyExt::collect(req.into_body()).await {
                b.lock().unwrap().push(body.to_bytes().len());
            }
            Response::new(full("shadow"))
        }
    })
    .await;
    (addr, bodies)
}

fn post(proxy: std::net::SocketAddr, body: Vec<u8>) -> Request<TestBody> {
    Request::builder()
        .method("POST")
        .uri(format!("http://{proxy}/mirror"))
        .header("host", "web.test")
        .body(full(body))
        .unwrap()
}

#[tokio::test]
async fn mirrored_bodies_are_teed_and_a_slow_mirror_never_holds_up_the_request() {
    // The main backend reads the whole body before answering.
    let main = serve(|req: Request<Incoming>| async move {
        let _ = http_body_util::BodyExt::collect(req.into_body()).await;
        Response::new(full("main"))
    })
    .await;
    let (shadow, bodies) = recording(Duration::ZERO).await;
    let proxy = TestProxy::start(&config(main, shadow)).await;
    let c = http1_client();
    for n in [1, 1_000, 100_000] {
        let (status, _, body) = request(&c, post(proxy.outbound, vec![b'x'; n])).await;
        assert_eq!((status, body.as_str()), (200, "main"));
    }
    for _ in 0..100 {
        if bodies.lock().unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut got = bodies.lock().unwrap().clone();
    got.sort_unstable();
    assert_eq!(got, [1, 1_000, 100_000], "the shadow got the whole bodies");

    // A shadow that does not read for 5 s: 64 MB (more than socket buffers hold) still
    // pass well before it reads (a debug build on a loaded machine needs the margin); the
    // copy is cut off.
    let (stuck, stuck_bodies) = recording(Duration::from_secs(5)).await;
    let proxy = TestProxy::start(&config(main, stuck)).await;
    let start = std::time::Instant::now();
    let (status, _, body) = request(&c, post(proxy.outbound, vec![b'y'; 64 << 20])).await;
    assert_eq!((status, body.as_str()), (200, "main"));
    assert!(
        start.elapsed() < Duration::from_millis(4_000),
        "{:?}",
        start.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(5_200)).await;
    assert!(
        stuck_bodies.lock().unwrap().is_empty(),
        "a cut-off copy must not arrive as a complete body"
    );
}
