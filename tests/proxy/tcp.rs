//! Opaque TCP and protocol detection: server-speaks-first protocols on opaque ports, the
//! detection deadline, non-HTTP bytes, and HTTP found by detection on the inbound side.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::*;

/// A TCP server that greets first (`220 hello\r\n`, like SMTP or MySQL), then echoes.
async fn banner_server() -> SocketAddr {
    banner_server_counting().await.0
}

/// [`banner_server`], also counting the connections it accepted.
async fn banner_server_counting() -> (SocketAddr, Hits) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Hits::default();
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                s.write_all(b"220 hello\r\n").await.unwrap();
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    (addr, hits)
}

/// Reads exactly `n` bytes (bounded by 5 s).
async fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf))
        .await
        .expect("read timed out")
        .unwrap();
    buf
}

fn inbound(app: SocketAddr, opaque: bool) -> String {
    let ports = if opaque {
        format!("[{}]", app.port())
    } else {
        "[]".into()
    };
    format!(
        "inbound: {{ appPort: {}, opaquePorts: {ports} }}\n",
        app.port()
    )
}

#[tokio::test]
async fn opaque_ports_skip_detection_so_server_first_protocols_do_not_stall() {
    let app = banner_server().await;
    // Detection would hold the banner for an hour: reading it at all (within read_n's
    // bound) shows the opaque port skipped detection, however loaded the machine.
    let proxy = TestProxy::start_with(&inbound(app, true), |o| {
        o.detect_timeout = Duration::from_secs(3_600)
    })
    .await;
    let mut c = TcpStream::connect(proxy.inbound).await.unwrap();
    assert_eq!(read_n(&mut c, 11).await, b"220 hello\r\n");
    c.write_all(b"\x00\x01binary").await.unwrap();
    assert_eq!(read_n(&mut c, 8).await, b"\x00\x01binary");
}

#[tokio::test]
async fn a_silent_client_is_forwarded_as_tcp_after_the_detection_deadline() {
    let app = banner_server().await;
    let proxy = TestProxy::start(&inbound(app, false)).await;
    let start = Instant::now();
    let mut c = TcpStream::connect(proxy.inbound).await.unwrap();
    assert_eq!(read_n(&mut c, 11).await, b"220 hello\r\n");
    // The test proxy waits 300 ms for the first bytes, then gives up and forwards.
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
    c.write_all(b"ping").await.unwrap();
    assert_eq!(read_n(&mut c, 4).await, b"ping");
}

#[tokio::test]
async fn inbound_http_is_detected_forwarded_to_the_app_and_counted() {
    let app = named("app").await;
    let proxy = TestProxy::start(&inbound(app, false)).await;
    let c = http1_client();
    let (status, headers, body) = send(&c, proxy.inbound, "app.test", "/x", &[]).await;
    assert_eq!((status, body.as_str()), (200, "app"));
    assert_eq!(headers["x-seen-host"], "app.test");
    let text = proxy.admin_get("/metrics").await.1;
    assert!(
        text.contains(r#"response_total{direction="inbound",authority="app.test",tls="no_identity",status_code="200",classification="success"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn outbound_non_http_bytes_go_to_the_service_of_the_destination_address() {
    let echo = banner_server().await;
    let outbound = free_addr();
    for protocol in ["detect", "opaque"] {
        let yaml = format!(
            "services:\n  - name: db\n    protocol: {protocol}\n    addresses: ['{outbound}']\n    \
             backends: [{{ name: main, endpoints: [{{ addr: '{echo}' }}] }}]\n"
        );
        let proxy = TestProxy::start_with(&yaml, |o| o.outbound_addr = outbound).await;
        let mut c = TcpStream::connect(proxy.outbound).await.unwrap();
        c.write_all(b"\x16\x03\x01hello").await.unwrap();
        assert_eq!(read_n(&mut c, 11).await, b"220 hello\r\n", "{protocol}");
        assert_eq!(read_n(&mut c, 8).await, b"\x16\x03\x01hello", "{protocol}");
        drop(c);
        let text = proxy.admin_get("/metrics").await.1;
        assert!(
            text.contains(
                r#"tcp_write_bytes_total{direction="outbound",peer="dst",authority="db""#
            ),
            "{text}"
        );
        drop(proxy);
        // The listener is released before the next round binds it again.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `tcpConnectionsOpened` of the `/stats` row for `direction` and `authority`.
async fn tcp_opened(proxy: &TestProxy, direction: &str, authority: &str) -> serde_json::Value {
    let text = proxy.admin_get("/stats?window=1m").await.1;
    let stats: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows = stats["rows"].as_array().unwrap();
    rows.iter()
        .find(|r| {
            r["direction"] == direction
                && r["authority"] == authority
                && r.get("route").is_none()
                && r.get("backend").is_none()
        })
        .unwrap_or_else(|| panic!("no {direction} row for {authority} in {text}"))["tcpConnectionsOpened"]
        .clone()
}

#[tokio::test]
async fn stats_count_http_connections_inbound_and_by_destination_address() {
    let app = named("app").await;
    let outbound = free_addr();
    let yaml = format!(
        "{}services:\n  - name: web\n    authorities: [web.test]\n    addresses: ['{outbound}']\n    \
         backends: [{{ name: main, endpoints: [{{ addr: '{app}' }}] }}]\n",
        inbound(app, false)
    );
    let proxy = TestProxy::start_with(&yaml, |o| o.outbound_addr = outbound).await;
    // One keep-alive connection each way, two requests on each.
    let c = http1_client();
    for _ in 0..2 {
        assert_eq!(send(&c, proxy.inbound, "app.test", "/", &[]).await.0, 200);
        assert_eq!(send(&c, proxy.outbound, "web.test", "/", &[]).await.0, 200);
    }
    assert_eq!(tcp_opened(&proxy, "inbound", "app").await, 1);
    assert_eq!(tcp_opened(&proxy, "outbound", "web.test").await, 1);
}

#[tokio::test]
async fn opaque_connections_are_balanced_and_a_refusing_endpoint_is_ejected() {
    let (a, a_hits) = banner_server_counting().await;
    let (b, b_hits) = banner_server_counting().await;
    let dead = free_addr();
    let outbound = free_addr();
    let yaml = format!(
        "services:\n  - name: db\n    protocol: opaque\n    addresses: ['{outbound}']\n    \
         policy: {{ loadBalancer: {{ algorithm: round-robin }}, outlierDetection: \
         {{ consecutive5xx: 1, consecutiveGatewayErrors: 1, maxEjectionPercent: 50 }} }}\n    \
         backends: [{{ name: main, endpoints: [{{ addr: '{a}' }}, {{ addr: '{b}' }}, \
         {{ addr: '{dead}' }}] }}]\n"
    );
    let proxy = TestProxy::start_with(&yaml, |o| o.outbound_addr = outbound).await;
    for i in 0..12 {
        let mut c = TcpStream::connect(proxy.outbound).await.unwrap();
        assert_eq!(read_n(&mut c, 11).await, b"220 hello\r\n", "connection {i}");
    }
    // Round-robin over a, b, dead: the third connection is refused by dead, which is ejected,
    // and the next pick (a) serves it. From then on dead's turn is skipped to a, so a gets
    // 8 and b 4 (dead tried each turn would give 6 and 6; random picks, no fixed split).
    let hits = |h: &Hits| h.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!((hits(&a_hits), hits(&b_hits)), (8, 4));
    let ejections = proxy.metric("ejection_total{backend=\"db/main\"}").await;
    assert_eq!(ejections, 1.0);
}
