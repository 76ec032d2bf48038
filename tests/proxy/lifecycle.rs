//! Hot reload (file change, bad file kept out) without a failed request, and SIGTERM-style
//! drain: in-flight requests finish, then the proxy stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;

use crate::support::*;

fn one_backend(name: &str, addr: std::net::SocketAddr) -> String {
    web_service(&[(name, addr)], "")
}

#[tokio::test]
async fn reload_switches_backends_without_a_failed_request_and_refuses_bad_files() {
    let (v1, v2) = (named("v1").await, named("v2").await);
    let proxy = TestProxy::start(&one_backend("v1", v1)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (out, flag) = (proxy.outbound, stop.clone());
    // A client sending back-to-back requests for the whole test.
    let load = tokio::spawn(async move {
        let c = http1_client();
        let mut seen = Vec::new();
        while !flag.load(Ordering::Relaxed) {
            let (status, _, body) = send(&c, out, "web.test", "/", &[]).await;
            seen.push((status, body));
        }
        seen
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    proxy.write_config(&one_backend("v2", v2));
    let c = http1_client();
    poll_until("the new config takes effect", async || {
        send(&c, proxy.outbound, "web.test", "/", &[]).await.2 == "v2"
    })
    .await;
    // A broken file is refused; the last good config stays.
    proxy.write_config("services: [{ name: web, backends: [] }]\n");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(send(&c, proxy.outbound, "web.test", "/", &[]).await.2, "v2");
    let config = proxy.admin_get("/config").await.1;
    assert!(config.contains(&v2.to_string()), "{config}");
    stop.store(true, Ordering::Relaxed);
    let seen = load.await.unwrap();
    assert!(
        seen.len() > 10,
        "only {} requests during the test",
        seen.len()
    );
    for (status, body) in &seen {
        assert_eq!(*status, 200, "{body}");
    }
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests_then_stops() {
    let slow = serve(|_req: Request<Incoming>| async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        Response::new(full("finished"))
    })
    .await;
    let mut proxy = TestProxy::start(&one_backend("v1", slow)).await;
    let out = proxy.outbound;
    let in_flight = tokio::spawn(async move {
        let c = http1_client();
        send(&c, out, "web.test", "/", &[]).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopped = proxy.shutdown();
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!((status, body.as_str()), (200, "finished"));
    tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .expect("the proxy did not stop after draining")
        .unwrap();
    // Stopped: nothing accepts on the outbound port any more.
    assert!(tokio::net::TcpStream::connect(out).await.is_err());
}
