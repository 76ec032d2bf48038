//! Behaviour of `Backend` against a scripted fake upstream, in virtual time.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use tokio::time::Instant;

use super::{
    Backend, ConnLimits, Dest, ForwardMetrics, PROXY_ERROR_HEADER, Upstream, UpstreamError,
};
use crate::model::duration::Duration as D;
use crate::model::endpoint::Endpoint;
use crate::model::policy::*;
use crate::proxy::metrics::Direction;
use crate::proxy::stats::{Stats, Window};
use crate::proxy::tls::MeshPeer;
use crate::proxy::{Body, BoxError};

#[derive(Clone, Copy, Debug)]
enum Reply {
    Status(u16),
    Grpc(u32),
    Connect,
    Reset,
    Refused,
}

/// Decides each try's reply and delay from the endpoint and the try's index (0-based, global).
type Script = dyn Fn(SocketAddr, usize) -> (Reply, Duration) + Send + Sync;

#[derive(Clone)]
struct Fake {
    script: Arc<Script>,
    /// Every try: endpoint and request body.
    log: Arc<Mutex<Vec<(SocketAddr, Bytes)>>>,
}

impl Fake {
    fn new(
        script: impl Fn(SocketAddr, usize) -> (Reply, Duration) + Send + Sync + 'static,
    ) -> Self {
        Self {
            script: Arc::new(script),
            log: Arc::default(),
        }
    }

    fn tries(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    fn tries_to(&self, ep: SocketAddr) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(a, _)| *a == ep)
            .count()
    }
}

impl Upstream for Fake {
    fn peer(&self, endpoint: &Endpoint) -> Option<Arc<MeshPeer>> {
        let id = endpoint.identity.clone()?;
        Some(Arc::new(MeshPeer::new(id)))
    }

    fn send(
        &self,
        endpoint: &Dest,
        _peer: Option<&MeshPeer>,
        _limits: ConnLimits,
        req: Request<Body>,
    ) -> impl Future<Output = Result<Response<Body>, UpstreamError>> + Send {
        let this = self.clone();
        let endpoint = endpoint.addr;
        async move {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let n = {
                let mut log = this.log.lock().unwrap();
                log.push((endpoint, body));
                log.len() - 1
            };
            let (reply, delay) = (this.script)(endpoint, n);
            tokio::time::sleep(delay).await;
            let err = |m: &str| -> BoxError { m.to_owned().into() };
            match reply {
                Reply::Status(code) => {
                    let mut r = Response::new(Body::default());
                    *r.status_mut() = StatusCode::from_u16(code).unwrap();
                    Ok(r)
                }
                Reply::Grpc(code) => {
                    let mut r = Response::new(Body::default());
                    r.headers_mut().insert("grpc-status", code.into());
                    Ok(r)
                }
                Reply::Connect => Err(UpstreamError::Connect(err("refused"))),
                Reply::Reset => Err(UpstreamError::Reset(err("reset"))),
                Reply::Refused => Err(UpstreamError::RefusedStream(err("refused stream"))),
            }
        }
    }
}

const NOW: Duration = Duration::ZERO;
const FOREVER: Duration = Duration::from_secs(3600);

fn ep(i: u8) -> SocketAddr {
    ([127, 0, 0, i], 8080).into()
}

fn eps(n: u8) -> Vec<Endpoint> {
    (1..=n).map(|i| Endpoint::new(ep(i))).collect()
}

fn retries(attempts: u32, retry_on: Vec<RetryOn>) -> Option<Retries> {
    Some(Retries {
        attempts,
        retry_on,
        retriable_status_codes: vec![409],
        ..Retries::default()
    })
}

fn backend(policy: &Policy, n: u8, fake: &Fake) -> Backend<Fake> {
    backend_in(policy, n, fake, &Stats::default())
}

/// A backend whose events are also counted in `stats`.
fn backend_in(policy: &Policy, n: u8, fake: &Fake, stats: &Stats) -> Backend<Fake> {
    policy.validate().unwrap();
    Backend::new(
        "web",
        policy,
        eps(n),
        fake.clone(),
        &ForwardMetrics::default(),
        window(stats),
    )
}

fn window(stats: &Stats) -> Arc<Window> {
    let web = Arc::from("web");
    stats.window(Direction::Outbound, &web, None, Some(&web))
}

fn get() -> Request<Body> {
    Request::new(Body::default())
}

fn with_body(bytes: Vec<u8>, streamed: bool) -> Request<Body> {
    let body = if streamed {
        let frames = bytes
            .chunks(8 * 1024)
            .map(|c| Ok::<_, BoxError>(http_body::Frame::data(Bytes::copy_from_slice(c))))
            .collect::<Vec<_>>();
        BodyExt::boxed(StreamBody::new(futures::stream::iter(frames)))
    } else {
        Full::new(Bytes::from(bytes))
            .map_err(|n| match n {})
            .boxed()
    };
    Request::builder().method("POST").body(body).unwrap()
}

#[tokio::test(start_paused = true)]
async fn each_retry_condition_retries_only_its_failures() {
    let cases = [
        (RetryOn::Status5xx, Reply::Status(500)),
        (RetryOn::GatewayError, Reply::Status(503)),
        (RetryOn::ConnectFailure, Reply::Connect),
        (RetryOn::Reset, Reply::Reset),
        (RetryOn::RefusedStream, Reply::Refused),
        (RetryOn::RetriableStatusCodes, Reply::Status(409)),
        (RetryOn::Grpc(GrpcCode::Unavailable), Reply::Grpc(14)),
    ];
    for (i, &(cond, failure)) in cases.iter().enumerate() {
        let other = cases[(i + 1) % cases.len()].0;
        for (retry_on, expect_tries) in [(cond, 2), (other, 1)] {
            // The first try fails, the second succeeds.
            let fake =
                Fake::new(move |_, n| (if n == 0 { failure } else { Reply::Status(200) }, NOW));
            let policy = Policy {
                retries: retries(2, vec![retry_on]),
                ..Policy::default()
            };
            let stats = Stats::default();
            let b = backend_in(&policy, 1, &fake, &stats);
            let mut req = get();
            req.headers_mut()
                .insert("content-type", "application/grpc".parse().unwrap());
            let resp = b.call(req).await.response;
            assert_eq!(fake.tries(), expect_tries, "{retry_on} against {failure:?}");
            if expect_tries == 2 {
                assert_eq!(resp.status(), 200);
                assert!(resp.headers().get("grpc-status").is_none());
                assert_eq!(b.counters().retries.get(), 1);
                let row = &stats.report(Duration::from_secs(60)).rows[0];
                assert_eq!(
                    row.counts.retries, 1,
                    "the backend's /stats row counts it too"
                );
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn failures_become_proxy_errors_after_the_last_attempt() {
    let policy = Policy {
        retries: retries(3, vec![RetryOn::ConnectFailure]),
        ..Policy::default()
    };
    let fake = Fake::new(|_, _| (Reply::Connect, NOW));
    let b = backend(&policy, 1, &fake);
    let resp = b.call(get()).await.response;
    assert_eq!(fake.tries(), 4, "attempts are retries after the first try");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()[PROXY_ERROR_HEADER], "connect failure");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("refused"));
    let fake = Fake::new(|_, _| (Reply::Reset, NOW));
    let resp = backend(&Policy::default(), 1, &fake)
        .call(get())
        .await
        .response;
    assert_eq!((resp.status(), fake.tries()), (StatusCode::BAD_GATEWAY, 1));
}

#[tokio::test(start_paused = true)]
async fn retry_budget_stops_a_retry_storm() {
    let policy = Policy {
        retries: Some(Retries {
            attempts: 3,
            retry_on: vec![RetryOn::GatewayError],
            budget: RetryBudget {
                ratio: 0.2,
                min_per_second: 10,
            },
            ..Retries::default()
        }),
        ..Policy::default()
    };
    let fake = Fake::new(|_, _| (Reply::Status(503), NOW));
    let b = Arc::new(backend(&policy, 2, &fake));
    // 100 requests per second for 10 s against an upstream that always fails.
    let mut handles = Vec::new();
    for _ in 0..1_000 {
        let b = Arc::clone(&b);
        handles.push(tokio::spawn(async move {
            b.call(get()).await.response.status()
        }));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for h in handles {
        assert_eq!(h.await.unwrap(), 503);
    }
    let retries = fake.tries() - 1_000;
    // Without a budget: 3,000 retries. With it: 20 % of 1,000 plus 10/s x 10 s (and a
    // little more as the last retries slide the window past the first second).
    assert!(retries <= 200 + 100 + 20, "{retries} retries");
    assert!(retries >= 150, "the budget still allows some: {retries}");
    assert_eq!(b.counters().retries.get() as usize, retries);
    assert!(b.counters().budget_exhausted.get() > 500);
}

#[tokio::test(start_paused = true)]
async fn a_flaky_upstream_is_made_green_by_retries() {
    let policy = Policy {
        retries: retries(2, vec![RetryOn::GatewayError]),
        ..Policy::default()
    };
    // Every third try fails.
    let fake = Fake::new(|_, n| {
        (
            Reply::Status(if n % 3 == 0 { 503 } else { 200 }),
            Duration::from_millis(1),
        )
    });
    let b = backend(&policy, 3, &fake);
    for _ in 0..300 {
        assert_eq!(b.call(get()).await.response.status(), 200);
    }
}

#[tokio::test(start_paused = true)]
async fn per_try_timeout_is_retried_inside_the_overall_timeout() {
    let policy = Policy {
        timeouts: Timeouts {
            request: Some(D::from_secs(1)),
            per_try: Some(D::from_millis(100)),
        },
        retries: retries(3, vec![RetryOn::GatewayError]),
        ..Policy::default()
    };
    // The first two tries hang, the third answers.
    let fake = Fake::new(|_, n| (Reply::Status(200), if n < 2 { FOREVER } else { NOW }));
    let b = backend(&policy, 1, &fake);
    let start = Instant::now();
    assert_eq!(b.call(get()).await.response.status(), 200);
    let took = start.elapsed();
    // Two per-try timeouts plus two backoffs (12.5–25 ms, then 25–50 ms).
    assert!(
        took >= Duration::from_millis(237) && took <= Duration::from_millis(275),
        "{took:?}"
    );
    assert_eq!(b.counters().per_try_timeouts.get(), 2);

    // Always hanging: the overall timeout ends it at exactly 1 s, whatever the retries.
    let policy = Policy {
        retries: retries(10, vec![RetryOn::GatewayError]),
        timeouts: Timeouts {
            request: Some(D::from_secs(1)),
            per_try: Some(D::from_millis(400)),
        },
        ..policy
    };
    let fake = Fake::new(|_, _| (Reply::Status(200), FOREVER));
    let b = backend(&policy, 1, &fake);
    let start = Instant::now();
    let resp = b.call(get()).await.response;
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(resp.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(resp.headers()[PROXY_ERROR_HEADER], "request timeout");
    assert_eq!(b.counters().request_timeouts.get(), 1);
    assert_eq!(
        fake.tries(),
        3,
        "400 ms tries and their backoffs fit twice and a bit"
    );

    // Per-try only, no retries: 504 after the per-try timeout.
    let policy = Policy {
        timeouts: Timeouts {
            request: None,
            per_try: Some(D::from_millis(50)),
        },
        ..Policy::default()
    };
    let b = backend(&policy, 1, &fake);
    let start = Instant::now();
    let resp = b.call(get()).await.response;
    assert_eq!(start.elapsed(), Duration::from_millis(50));
    assert_eq!(resp.headers()[PROXY_ERROR_HEADER], "per-try timeout");
}

#[tokio::test(start_paused = true)]
async fn bodies_up_to_64_kib_are_replayed_larger_ones_are_not_retried() {
    let policy = Policy {
        retries: retries(1, vec![RetryOn::GatewayError]),
        ..Policy::default()
    };
    for (len, streamed, tries) in [
        (10 * 1024, true, 2),
        (64 * 1024, true, 2),
        (64 * 1024 + 1, true, 1),
        (100 * 1024, false, 1),
    ] {
        let fake = Fake::new(|_, _| (Reply::Status(503), NOW));
        let b = backend(&policy, 1, &fake);
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        assert_eq!(
            b.call(with_body(payload.clone(), streamed))
                .await
                .response
                .status(),
            503
        );
        let log = fake.log.lock().unwrap();
        assert_eq!(log.len(), tries, "{len} bytes");
        for (_, body) in log.iter() {
            assert_eq!(
                body.as_ref(),
                payload.as_slice(),
                "every try gets the whole body"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn pool_overflow_is_a_fast_503() {
    let policy = Policy {
        circuit_breaker: CircuitBreaker {
            max_connections: 2,
            max_pending_requests: 1,
            max_requests_per_connection: 0,
            idle_timeout: None,
        },
        ..Policy::default()
    };
    let fake = Fake::new(|_, _| (Reply::Status(200), Duration::from_secs(1)));
    let b = Arc::new(backend(&policy, 1, &fake));
    let busy: Vec<_> = (0..3)
        .map(|_| {
            let b = Arc::clone(&b);
            tokio::spawn(async move { b.call(get()).await.response.status() })
        })
        .collect();
    tokio::task::yield_now().await;
    let wall = std::time::Instant::now();
    let start = Instant::now();
    let resp = b.call(get()).await.response;
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(
        wall.elapsed() < Duration::from_millis(50),
        "{:?}",
        wall.elapsed()
    );
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()[PROXY_ERROR_HEADER], "pool overflow");
    assert_eq!(b.counters().overflows.get(), 1);
    // The two in flight and the pending one all succeed.
    for h in busy {
        assert_eq!(h.await.unwrap(), 200);
    }
}

fn outlier_policy(max_ejection_percent: u8, min_health_percent: u8) -> Policy {
    Policy {
        load_balancer: LoadBalancer {
            algorithm: Algorithm::RoundRobin,
            hash_on: None,
        },
        outlier_detection: Some(OutlierDetection {
            consecutive_5xx: 3,
            consecutive_gateway_errors: 0,
            interval: D::from_secs(1),
            base_ejection_time: D::from_secs(10),
            max_ejection_percent,
            min_health_percent,
        }),
        ..Policy::default()
    }
}

#[tokio::test(start_paused = true)]
async fn ejection_after_consecutive_failures_and_return_after_a_growing_time() {
    let fake = Fake::new(|a, _| (Reply::Status(if a == ep(1) { 500 } else { 200 }), NOW));
    let b = backend(&outlier_policy(50, 0), 2, &fake);
    let send = |n: usize| {
        let b = &b;
        async move {
            for _ in 0..n {
                b.call(get()).await;
            }
        }
    };
    send(6).await; // round robin: 3 failures on endpoint 1
    assert_eq!(b.counters().ejections.get(), 1);
    send(20).await;
    assert_eq!(fake.tries_to(ep(1)), 3, "ejected: no traffic");
    // Back after the 10 s ejection (within one 1 s interval).
    tokio::time::advance(Duration::from_millis(10_500)).await;
    send(1).await;
    tokio::time::advance(Duration::from_millis(600)).await;
    send(10).await;
    assert!(fake.tries_to(ep(1)) > 3, "returned");
    assert_eq!(b.counters().ejections.get(), 2, "failed again at once");
    let before = fake.tries_to(ep(1));
    // The second ejection lasts 2 x 10 s: still out after 15 s, back after 21 s.
    tokio::time::advance(Duration::from_secs(15)).await;
    send(10).await;
    assert_eq!(fake.tries_to(ep(1)), before);
    tokio::time::advance(Duration::from_secs(6)).await;
    send(10).await;
    assert!(fake.tries_to(ep(1)) > before);
}

#[tokio::test(start_paused = true)]
async fn at_most_max_ejection_percent_is_ejected_and_panic_mode_ignores_ejection() {
    let fake = Fake::new(|_, _| (Reply::Status(500), NOW));
    let b = backend(&outlier_policy(50, 0), 4, &fake);
    for _ in 0..100 {
        b.call(get()).await;
    }
    assert_eq!(b.counters().ejections.get(), 2, "50 % of 4");

    // Both of 2 ejected (100 % allowed) leaves 0 % healthy, under 50 %: panic mode sends
    // to every endpoint again.
    let fake = Fake::new(|_, _| (Reply::Status(500), NOW));
    let b = backend(&outlier_policy(100, 50), 2, &fake);
    for _ in 0..6 {
        b.call(get()).await;
    }
    assert_eq!(b.counters().ejections.get(), 2);
    for _ in 0..10 {
        b.call(get()).await;
    }
    assert_eq!((fake.tries_to(ep(1)), fake.tries_to(ep(2))), (8, 8));
}

#[tokio::test(start_paused = true)]
async fn p2c_ewma_avoids_a_slow_endpoint() {
    let fake = Fake::new(|a, _| {
        let delay = if a == ep(1) { 100 } else { 1 };
        (Reply::Status(200), Duration::from_millis(delay))
    });
    let b = backend(&Policy::default(), 3, &fake);
    for _ in 0..300 {
        b.call(get()).await;
    }
    let slow = fake.tries_to(ep(1));
    assert!(slow <= 10, "slow endpoint got {slow} of 300");
}

#[tokio::test(start_paused = true)]
async fn consistent_hash_keeps_a_user_on_one_endpoint() {
    let policy = Policy {
        load_balancer: LoadBalancer {
            algorithm: Algorithm::ConsistentHash,
            hash_on: Some(HashOn::Cookie("session".into())),
        },
        ..Policy::default()
    };
    let fake = Fake::new(|_, _| (Reply::Status(200), NOW));
    let b = backend(&policy, 5, &fake);
    let mut used = std::collections::HashSet::new();
    for user in 0..50 {
        let before = fake.log.lock().unwrap().len();
        for _ in 0..5 {
            let mut req = get();
            req.headers_mut()
                .insert("cookie", format!("session=u{user}").parse().unwrap());
            b.call(req).await;
        }
        let log = fake.log.lock().unwrap();
        let eps: std::collections::HashSet<_> = log[before..].iter().map(|(a, _)| *a).collect();
        assert_eq!(eps.len(), 1, "user {user} moved");
        used.extend(eps);
    }
    assert_eq!(used.len(), 5, "users spread over all endpoints");
}

#[tokio::test(start_paused = true)]
async fn no_endpoint_is_a_503_after_a_bounded_wait_or_served_when_one_appears() {
    let fake = Fake::new(|_, _| (Reply::Status(200), NOW));
    let b = Arc::new(backend(&Policy::default(), 0, &fake));
    let start = Instant::now();
    let resp = b.call(get()).await.response;
    assert_eq!(start.elapsed(), super::backend::NO_ENDPOINT_WAIT);
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()[PROXY_ERROR_HEADER], "no endpoints");
    assert_eq!(b.counters().no_endpoint.get(), 1);
    let b2 = Arc::clone(&b);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        b2.update_endpoints(eps(1));
    });
    assert_eq!(b.call(get()).await.response.status(), 200);
}

#[tokio::test(start_paused = true)]
async fn opaque_connects_hold_a_pool_slot_and_move_past_refusing_endpoints() {
    let policy = Policy {
        load_balancer: LoadBalancer {
            algorithm: Algorithm::RoundRobin,
            hash_on: None,
        },
        circuit_breaker: CircuitBreaker {
            max_connections: 1,
            max_pending_requests: 0,
            max_requests_per_connection: 0,
            idle_timeout: None,
        },
        ..Policy::default()
    };
    let b = backend(&policy, 2, &Fake::new(|_, _| (Reply::Status(200), NOW)));
    let connect = |addr: SocketAddr, _| async move {
        if addr == ep(1) {
            Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
        } else {
            Ok(addr)
        }
    };
    let (to, hold) = b.connect(3, connect).await.unwrap();
    assert_eq!(to, ep(2), "the refusing endpoint was passed over");
    assert!(
        b.connect(3, connect).await.is_none(),
        "the one slot is held"
    );
    assert_eq!(b.counters().overflows.get(), 1);
    drop(hold);
    assert_eq!(b.connect(3, connect).await.unwrap().0, ep(2));
}

#[tokio::test(start_paused = true)]
async fn answers_and_connections_carry_the_peer_of_the_endpoint_that_answered() {
    let policy = Policy {
        load_balancer: LoadBalancer {
            algorithm: Algorithm::RoundRobin,
            hash_on: None,
        },
        ..Policy::default()
    };
    let id: crate::identity::SpiffeId = "spiffe://td/ns/shop/sa/web".parse().unwrap();
    let mut endpoints = eps(2);
    endpoints[1].identity = Some(id.clone());
    let fake = Fake::new(|_, _| (Reply::Status(200), NOW));
    let b = Backend::new(
        "web",
        &policy,
        endpoints,
        fake.clone(),
        &ForwardMetrics::default(),
        window(&Stats::default()),
    );
    let mut seen = Vec::new();
    for _ in 0..4 {
        let answer = b.call(get()).await;
        let to = fake.log.lock().unwrap().last().unwrap().0;
        seen.push((to, answer.peer.map(|p| p.labels.server_id.clone())));
    }
    let web = Some(Some(Arc::from(id.to_string())));
    for (to, peer) in &seen {
        assert_eq!(*peer, if *to == ep(2) { web.clone() } else { None }, "{to}");
    }
    assert!(seen.iter().any(|(to, _)| *to == ep(2)));
    let connect = |addr: SocketAddr, peer: Option<Arc<MeshPeer>>| async move {
        Ok::<_, std::io::Error>((addr, peer.map(|p| p.id.clone())))
    };
    for _ in 0..4 {
        let ((to, peer), _hold) = b.connect(1, connect).await.unwrap();
        assert_eq!(peer, (to == ep(2)).then(|| id.clone()), "{to}");
    }
}
