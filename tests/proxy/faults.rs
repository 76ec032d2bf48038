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
        fault: { delay: { fixed: 1s, percent: 100 } }
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
async fn delays_hold_requests_for_the_fixed_time_and_only_on_their_route() {
    let main = named("main").await;
    let (shadow, _) = counting().await;
    let proxy = TestProxy::start(&config(main, shadow)).await;
    let c = http1_client();
    let start = Instant::now();
    // Both at once: the other route's request passes the delayed one (an order, not a time).
    let timed = async |path| {
        let status = send(&c, proxy.outbound, "web.test", path, &[]).await.0;
        (status, start.elapsed())
    };
    let ((slow, slow_took), (fast, fast_took)) = tokio::join!(timed("/slow"), timed("/fast"));
    assert_eq!((slow, fast), (200, 200));
    assert!(slow_took >= Duration::from_secs(1), "{slow_took:?}");
    assert!(fast_took < slow_took, "{fast_took:?} vs {slow_took:?}");
    // And it was not held at all: both delayed would also pass the order above half the time.
    assert!(fast_took < Duration::from_secs(1), "{fast_took:?}");
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
    poll_until("20 copies", async || hits.load(Ordering::Relaxed) >= 20).await;
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

/// A shadow that reads each request only once its gate is open, keeps the sizes of the bodies
/// it read in full, and counts the requests it is done with (whole or cut off).
struct Recording {
    addr: std::net::SocketAddr,
    bodies: Arc<std::sync::Mutex<Vec<usize>>>,
    done: Hits,
    gate: tokio::sync::watch::Sender<bool>,
}

async fn recording(open: bool) -> Recording {
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let done = Hits::default();
    let (gate, opened) = tokio::sync::watch::channel(open);
    let (b, d) = (bodies.clone(), done.clone());
    let addr = serve(move |req: Request<Incoming>| {
        let (b, d, mut opened) = (b.clone(), d.clone(), opened.clone());
        async move {
            let _ = opened.wait_for(|open| *open).await;
            if let Ok(body) = http_body_util::BodyExt::collect(req.into_body()).await {
                b.lock().unwrap().push(body.to_bytes().len());
            }
            d.fetch_add(1, Ordering::SeqCst);
            Response::new(full("shadow"))
        }
    })
    .await;
    Recording {
        addr,
        bodies,
        done,
        gate,
    }
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
    let shadow = recording(true).await;
    let proxy = TestProxy::start(&config(main, shadow.addr)).await;
    let c = http1_client();
    for n in [1, 1_000, 100_000] {
        let (status, _, body) = request(&c, post(proxy.outbound, vec![b'x'; n])).await;
        assert_eq!((status, body.as_str()), (200, "main"));
    }
    poll_until("the shadow got 3 requests", async || {
        shadow.done.load(Ordering::SeqCst) == 3
    })
    .await;
    let mut got = shadow.bodies.lock().unwrap().clone();
    got.sort_unstable();
    assert_eq!(got, [1, 1_000, 100_000], "the shadow got the whole bodies");

    // A shadow that does not read until told: 64 MB (more than socket buffers hold) still
    // pass while it holds its copy unread (an order, not a time); the copy is cut off.
    let stuck = recording(false).await;
    let proxy = TestProxy::start(&config(main, stuck.addr)).await;
    let req = request(&c, post(proxy.outbound, vec![b'y'; 64 << 20]));
    // Generous: only a request held up by its mirror takes this long.
    let answer = tokio::time::timeout(Duration::from_secs(120), req).await;
    let (status, _, body) = answer.expect("the request waited for its stuck mirror");
    assert_eq!((status, body.as_str()), (200, "main"));
    stuck.gate.send_replace(true);
    poll_until("the shadow is done with its copy", async || {
        stuck.done.load(Ordering::SeqCst) == 1
    })
    .await;
    assert!(
        stuck.bodies.lock().unwrap().is_empty(),
        "a cut-off copy must not arrive as a complete body"
    );
}

#[tokio::test]
async fn a_grpc_abort_is_a_trailers_only_answer_with_the_grpc_status() {
    let main = named("main").await;
    let routes = r#"      - name: grpc-abort
        backends: [{ name: main }]
        fault: { abort: { status: 503, grpcStatus: 14, percent: 100 } }
"#;
    let proxy = TestProxy::start(&web_service(&[("main", main)], routes)).await;
    let mut h2 = h2_connect(proxy.outbound).await;
    let req = Request::builder()
        .method("POST")
        .uri("http://web.test/shop.Cart/Add")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(full(""))
        .unwrap();
    let resp = h2.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["grpc-status"], "14");
    assert_eq!(resp.headers()["grpc-message"], "fault injected");
    assert_eq!(resp.headers()["content-type"], "application/grpc");
    use http_body_util::BodyExt;
    let body = resp.into_body().collect().await.unwrap();
    assert!(body.to_bytes().is_empty(), "trailers-only: no message");
    // Counted with the status its head carried.
    let text = proxy.admin_get("/metrics").await.1;
    let want = r#"response_total{direction="outbound",authority="web.test",tls="no_identity",status_code="200",classification="failure",grpc_status="14"} 1"#;
    assert!(text.contains(want), "missing {want} in\n{text}");
}
