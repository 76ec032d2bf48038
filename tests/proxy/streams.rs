//! Upgrades (a WebSocket echo through the proxy) and streamed bodies (1 GB with flat memory).

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

fn config(addr: std::net::SocketAddr) -> String {
    web_service(&[("v1", addr)], "")
}

/// Accepts a WebSocket upgrade and echoes every byte after the handshake.
async fn websocket_echo() -> std::net::SocketAddr {
    serve(|mut req: Request<Incoming>| async move {
        if req
            .headers()
            .get("upgrade")
            .is_none_or(|v| v != "websocket")
        {
            return Response::builder()
                .status(400)
                .body(full("upgrade: websocket expected"))
                .unwrap();
        }
        let upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let mut io = TokioIo::new(upgrade.await.unwrap());
            let mut buf = [0u8; 1024];
            while let Ok(n) = io.read(&mut buf).await {
                if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
            .body(full(""))
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn a_websocket_upgrade_echoes_frames_through_the_proxy() {
    let server = websocket_echo().await;
    let proxy = TestProxy::start(&config(server)).await;
    let mut c = tokio::net::TcpStream::connect(proxy.outbound)
        .await
        .unwrap();
    c.write_all(
        b"GET /chat HTTP/1.1\r\nHost: web.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut byte))
            .await
            .expect("no handshake answer")
            .unwrap();
        assert_eq!(
            n,
            1,
            "closed during the handshake: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    // A masked text frame "hello" (RFC 6455 section 5.7), then a binary one.
    for frame in [
        &b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"[..],
        &b"\x82\x83\x00\x00\x00\x00\x01\x02\x03"[..],
    ] {
        c.write_all(frame).await.unwrap();
        let mut echo = vec![0u8; frame.len()];
        tokio::time::timeout(Duration::from_secs(5), c.read_exact(&mut echo))
            .await
            .expect("no echo")
            .unwrap();
        assert_eq!(echo, frame);
    }
}

/// The resident set size of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test]
async fn a_1_gb_body_streams_through_with_flat_memory() {
    const CHUNK: usize = 64 * 1024;
    const TOTAL: u64 = 1 << 30;
    // Counts the bytes it receives, without keeping them.
    let server = serve(|req: Request<Incoming>| async move {
        let mut body = req.into_body();
        let mut n = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                n += data.len() as u64;
            }
        }
        Response::new(full(n.to_string()))
    })
    .await;
    let proxy = TestProxy::start(&config(server)).await;
    let chunk = Bytes::from(vec![7u8; CHUNK]);
    let chunks = (TOTAL / CHUNK as u64) as usize;
    let stream = futures::stream::iter((0..chunks).map(move |_| {
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Frame::data(chunk.clone()))
    }));
    let req = Request::builder()
        .method("POST")
        .uri(format!("http://{}/upload", proxy.outbound))
        .header("host", "web.test")
        .body(StreamBody::new(stream).boxed())
        .unwrap();
    let before = rss();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let p = peak.clone();
    let sampler = tokio::spawn(async move {
        loop {
            p.fetch_max(rss(), std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let c = http1_client();
    let (status, _, body) = tokio::time::timeout(Duration::from_secs(300), request(&c, req))
        .await
        .expect("1 GB did not pass within 5 minutes");
    assert_eq!((status, body.as_str()), (200, TOTAL.to_string().as_str()));
    sampler.abort();
    let grown = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(before);
    // Buffers of a few chunks, not the body: well under 1/16 of it.
    assert!(grown < 64 << 20, "RSS grew by {} MiB", grown >> 20);
}
