//! The proxy's upstream connection pool, counted at the upstream: HTTP/1 keep-alive
//! connections reused, `maxRequestsPerConnection` retiring them (HTTP/1 and HTTP/2), and an
//! HTTP/2 upstream that sends GOAWAY replaced by a new connection, `idleTimeout` closing
//! unused connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::support::*;

const RETIRE_AFTER_2: &str = "{ circuitBreaker: { maxRequestsPerConnection: 2 } }";

async fn ok_server() -> (std::net::SocketAddr, Hits) {
    serve_counting(|_req: Request<Incoming>| async { Response::new(full("ok")) }).await
}

async fn h2_get(client: &hyper::client::conn::http2::SendRequest<TestBody>) -> (u16, String) {
    let req = Request::get("http://web.test/").body(full("")).unwrap();
    let resp = client.clone().send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn http1_connections_are_reused_and_retired_after_max_requests_per_connection() {
    // Six requests one after the other: one connection, or one per two requests.
    for (policy, want) in [("{}", 1), (RETIRE_AFTER_2, 3)] {
        let (app, accepted) = ok_server().await;
        let proxy = TestProxy::start(&with_policy(app, policy)).await;
        let client = http1_client();
        for _ in 0..6 {
            let (status, _, body) = send(&client, proxy.outbound, "web.test", "/", &[]).await;
            assert_eq!((status, body.as_str()), (200, "ok"));
        }
        assert_eq!(
            accepted.load(Relaxed),
            want,
            "upstream connections with {policy}"
        );
    }
}

#[tokio::test]
async fn h2_streams_move_to_a_new_connection_after_max_requests_per_connection() {
    let (app, accepted) = ok_server().await;
    let proxy = TestProxy::start(&with_policy(app, RETIRE_AFTER_2)).await;
    let client = h2_connect(proxy.outbound).await;
    for _ in 0..6 {
        assert_eq!(h2_get(&client).await, (200, "ok".to_owned()));
    }
    assert_eq!(accepted.load(Relaxed), 3);
}

/// An h2c server whose connections each serve one request, then shut down gracefully
/// (GOAWAY); counts the connections it accepted.
async fn one_request_per_h2_connection() -> (std::net::SocketAddr, Hits) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted: Hits = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Relaxed);
            tokio::spawn(async move {
                let served = Arc::new(tokio::sync::Notify::new());
                let done = served.clone();
                let svc = hyper::service::service_fn(move |_req: Request<Incoming>| {
                    done.notify_one();
                    async { Ok::<_, std::convert::Infallible>(Response::new(full("ok"))) }
                });
                let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc);
                tokio::pin!(conn);
                tokio::select! {
                    _ = &mut conn => {}
                    () = served.notified() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn an_h2_upstream_that_goes_away_is_replaced_by_a_new_connection() {
    let (app, accepted) = one_request_per_h2_connection().await;
    let proxy = TestProxy::start(&with_policy(app, "{}")).await;
    let client = h2_connect(proxy.outbound).await;
    for _ in 0..3 {
        assert_eq!(h2_get(&client).await, (200, "ok".to_owned()));
    }
    // A request sent within the grace period may still be served by the old connection.
    let opened = accepted.load(Relaxed);
    assert!((2..=3).contains(&opened), "{opened} upstream connections");
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_policys_idle_timeout() {
    // Two requests 2.5 s apart: a 1 s idleTimeout closes the first connection in between
    // (the sweeper looks once a second), the default 30 s keeps it for the second.
    let run = |policy: &'static str| async move {
        let (app, accepted) = ok_server().await;
        let proxy = TestProxy::start(&with_policy(app, policy)).await;
        let client = http1_client();
        for pause in [0, 2500] {
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            let (status, _, _) = send(&client, proxy.outbound, "web.test", "/", &[]).await;
            assert_eq!(status, 200);
        }
        accepted.load(Relaxed)
    };
    let short = run("{ circuitBreaker: { idleTimeout: 1s } }");
    let default = run("{}");
    assert_eq!(tokio::join!(short, default), (2, 1));
}
