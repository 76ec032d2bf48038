//! HTTP/2 (h2c prior knowledge) and gRPC-style calls: trailers pass through, streams multiplex.

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};

use crate::support::*;

/// A gRPC-like server: answers with a body and `grpc-status` in the trailers.
async fn grpc_server() -> std::net::SocketAddr {
    grpc_server_counting().await.0
}

/// [`grpc_server`], counting the connections it accepted.
async fn grpc_server_counting() -> (std::net::SocketAddr, Hits) {
    serve_counting(|req: Request<Incoming>| async move {
        let version = format!("{:?}", req.version());
        let path = req.uri().path().to_owned();
        let got = req.into_body().collect().await.unwrap().to_bytes();
        let mut trailers = HeaderMap::new();
        let code = if path.ends_with("/Fail") { "14" } else { "0" };
        trailers.insert("grpc-status", code.parse().unwrap());
        trailers.insert("grpc-message", "done".parse().unwrap());
        let frames = vec![
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Frame::data(Bytes::from(format!(
                "{version} got {} bytes",
                got.len()
            )))),
            Ok(Frame::trailers(trailers)),
        ];
        Response::builder()
            .header("content-type", "application/grpc")
            .body(StreamBody::new(futures::stream::iter(frames)).boxed())
            .unwrap()
    })
    .await
}

fn config(addr: std::net::SocketAddr) -> String {
    format!(
        "services:\n  - name: greeter\n    authorities: ['greeter.test:50051']\n    \
         backends: [{{ name: v1, endpoints: [{{ addr: '{addr}' }}] }}]\n"
    )
}

async fn call(
    client: &hyper::client::conn::http2::SendRequest<TestBody>,
    method: &str,
) -> (u16, String, Option<HeaderMap>) {
    let req = Request::builder()
        .method("POST")
        .uri(format!(
            "http://greeter.test:50051/helloworld.Greeter/{method}"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(full(vec![0u8; 1000]))
        .unwrap();
    let resp = client.clone().send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let collected = resp.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned();
    let body = String::from_utf8_lossy(&collected.to_bytes()).into_owned();
    (status, body, trailers)
}

#[tokio::test]
async fn grpc_over_h2c_keeps_trailers_and_counts_grpc_failures() {
    let server = grpc_server().await;
    let proxy = TestProxy::start(&config(server)).await;
    let client = h2_connect(proxy.outbound).await;
    let (status, body, trailers) = call(&client, "SayHello").await;
    assert_eq!((status, body.as_str()), (200, "HTTP/2.0 got 1000 bytes"));
    let trailers = trailers.expect("trailers passed through");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["grpc-message"], "done");
    let (_, _, trailers) = call(&client, "Fail").await;
    assert_eq!(trailers.unwrap()["grpc-status"], "14");
    // The outcome and `grpc_status` come from the trailers: one success, one failure, both
    // HTTP 200.
    let text = proxy.admin_get("/metrics").await.1;
    for (class, code) in [("success", 0), ("failure", 14)] {
        let want = format!(
            r#"response_total{{direction="outbound",authority="greeter.test:50051",tls="no_identity",status_code="200",classification="{class}",grpc_status="{code}"}} 1"#
        );
        assert!(text.contains(&want), "missing {want} in\n{text}");
    }
}

#[tokio::test]
async fn many_concurrent_h2_streams_share_one_connection_on_each_side() {
    let (server, upstream_conns) = grpc_server_counting().await;
    let proxy = TestProxy::start(&config(server)).await;
    let client = h2_connect(proxy.outbound).await;
    let calls = (0..50).map(|_| call(&client, "SayHello"));
    for (status, body, trailers) in futures::future::join_all(calls).await {
        assert_eq!((status, body.as_str()), (200, "HTTP/2.0 got 1000 bytes"));
        assert_eq!(trailers.unwrap()["grpc-status"], "0");
    }
    // One accepted connection carried all 50 streams.
    let opened = proxy
        .metric(r#"tcp_open_total{direction="outbound",peer="src""#)
        .await;
    assert_eq!(opened, 1.0);
    // And one multiplexed upstream connection.
    assert_eq!(upstream_conns.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test]
async fn an_idle_h2_connection_is_closed_and_a_busy_one_is_not() {
    // The app streams its answer over 1 s: longer than the idle timeout.
    let app = serve(|_req: Request<Incoming>| async move {
        let frames = futures::stream::unfold(0, |i| async move {
            if i == 5 {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let frame = Frame::data(Bytes::from_static(b"tick\n"));
            Some((
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(frame),
                i + 1,
            ))
        });
        Response::new(BodyExt::boxed(StreamBody::new(frames)))
    })
    .await;
    let yaml = format!("inbound:\n  appPort: {}\n", app.port());
    let p = TestProxy::start_with(&yaml, |o| {
        o.h2_idle_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    let mut send = h2_connect(p.inbound).await;
    let req = Request::get("http://app.test/").body(full("")).unwrap();
    let resp = send.send_request(req).await.unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        body,
        "tick\n".repeat(5),
        "a stream open past the idle timeout completes"
    );
    // Then nothing is open: the proxy says GOAWAY and closes.
    poll_until("the idle connection closed", async || send.is_closed()).await;
}

/// An app that answers with the authority it was asked for and the `host` headers it got.
async fn authority_echo() -> std::net::SocketAddr {
    serve(|req: Request<Incoming>| async move {
        let authority = req.uri().authority().map(|a| a.to_string());
        let hosts: Vec<&str> = req
            .headers()
            .get_all("host")
            .iter()
            .map(|h| h.to_str().unwrap())
            .collect();
        Response::builder()
            .header("x-authority", authority.unwrap_or_default())
            .header("x-host", hosts.join(","))
            .body(full(""))
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn h2_and_grpc_reach_the_upstream_with_the_authority_the_client_sent() {
    let app = authority_echo().await;
    let proxy = TestProxy::start(&config(app)).await;
    let client = h2_connect(proxy.outbound).await;
    // gRPC with `:authority` only, and a plain h2 GET that also carries a matching `host`.
    let grpc = Request::post("http://greeter.test:50051/helloworld.Greeter/SayHello")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(full(vec![0u8; 5]))
        .unwrap();
    let get = Request::get("http://greeter.test:50051/")
        .header("host", "greeter.test:50051")
        .body(full(""))
        .unwrap();
    for req in [grpc, get] {
        let resp = client.clone().send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        // RFC 9113 §8.3.1: `:authority` is what the client named, no `host` contradicts it.
        assert_eq!(resp.headers()["x-authority"], "greeter.test:50051");
        assert_eq!(resp.headers()["x-host"], "");
    }
    // Over HTTP/1.1 the app sees the same authority, in `host`.
    let (status, headers, _) = send(
        &http1_client(),
        proxy.outbound,
        "greeter.test:50051",
        "/",
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-host"], "greeter.test:50051");
    assert_eq!(headers["x-authority"], "");
}
