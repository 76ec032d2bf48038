//! Mutual TLS between two proxies on loopback (client side A, server side B in front of a
//! real app): TLS 1.3 read off the wire, STRICT / PERMISSIVE / DISABLE, peers outside the
//! mesh refused, `/ready` waiting for a leaf, and leaf rotation under load.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::Request;
use meshctl::identity::SpiffeId;
use meshctl::identity::rotate::CertStore;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::pki::*;
use crate::support::*;

/// A TCP relay that records the first bytes each way (what an observer on the wire sees).
struct Relay {
    addr: SocketAddr,
    up: Arc<Mutex<Vec<u8>>>,
    down: Arc<Mutex<Vec<u8>>>,
}

async fn copy_recording(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    seen: Arc<Mutex<Vec<u8>>>,
) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        let mut seen = seen.lock().unwrap();
        if seen.len() < 64 * 1024 {
            seen.extend_from_slice(&buf[..n]);
        }
    }
    let _ = to.shutdown().await;
}

async fn relay(to: SocketAddr) -> Relay {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let up: Arc<Mutex<Vec<u8>>> = Arc::default();
    let down: Arc<Mutex<Vec<u8>>> = Arc::default();
    let (u, d) = (Arc::clone(&up), Arc::clone(&down));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(to).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(copy_recording(cr, sw, u.clone()));
            tokio::spawn(copy_recording(sr, cw, d.clone()));
        }
    });
    Relay { addr, up, down }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The version a TLS ServerHello selected (its supported_versions extension, RFC 8446
/// 4.2.1), read from the raw bytes of the server's first record.
fn server_hello_version(bytes: &[u8]) -> Option<u16> {
    let u16_at = |i: usize| Some(u16::from_be_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]));
    // Record header (type 22 = handshake), then handshake type 2 = ServerHello.
    if bytes.first() != Some(&0x16) || bytes.get(5) != Some(&0x02) {
        return None;
    }
    // 5 record + 4 handshake header + 2 legacy version + 32 random.
    let mut i = 5 + 4 + 2 + 32;
    i += 1 + usize::from(*bytes.get(i)?); // session id
    i += 2 + 1; // cipher suite, compression
    let end = i + 2 + usize::from(u16_at(i)?);
    i += 2;
    while i + 4 <= end {
        let (kind, len) = (u16_at(i)?, usize::from(u16_at(i + 2)?));
        if kind == 0x002b {
            return u16_at(i + 4);
        }
        i += 4 + len;
    }
    None
}

/// The usual setup: a PKI with a day's leaves, the ids of A (shop/a) and B (shop/b), and B
/// (identity files) in front of an app answering `b-app`, with `tls` as its `inbound:` lines.
struct BSide {
    pki: Pki,
    a_id: SpiffeId,
    b_id: SpiffeId,
    app: SocketAddr,
    b: TestProxy,
}

async fn b_side(tls: &str) -> BSide {
    let pki = Pki::new(DAY);
    let (a_id, b_id) = (id("shop", "a"), id("shop", "b"));
    let app = named("b-app").await;
    let b = server_proxy(app, &pki.files(&b_id).yaml(), tls).await;
    BSide {
        pki,
        a_id,
        b_id,
        app,
        b,
    }
}

impl BSide {
    /// The leaf B presents to a new handshake (None: the handshake failed).
    async fn leaf_of_b(&self) -> Option<CertificateDer<'static>> {
        let store = self.pki.store_at(&id("shop", "probe"), SystemTime::now());
        raw_tls_get(self.b.inbound, store, self.pki.root_store(), &self.b_id)
            .await
            .server_leaf
    }
}

#[tokio::test]
async fn two_proxies_speak_tls13_on_the_wire_and_label_both_sides() {
    let BSide {
        pki, a_id, b_id, b, ..
    } = b_side("").await;
    let wire = relay(b.inbound).await;
    let a = client_proxy(&pki.files(&a_id).yaml(), wire.addr, &b_id).await;

    let marker = ("x-marker", "plaintext-must-not-show");
    let (status, _, body) = send(&http1_client(), a.outbound, "web.test", "/p1", &[marker]).await;
    assert_eq!((status, body.as_str()), (200, "b-app"));
    // HTTP/2 from the app goes over the same kind of connection (ALPN h2).
    let mut h2 = h2_connect(a.outbound).await;
    let req = Request::builder()
        .uri("http://web.test/p2")
        .header(marker.0, marker.1)
        .body(full(""))
        .unwrap();
    let resp = h2.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);

    let up = wire.up.lock().unwrap().clone();
    let down = wire.down.lock().unwrap().clone();
    assert_eq!(&up[..3], b"\x16\x03\x01", "A opens with a TLS record");
    assert_eq!(up[5], 0x01, "… carrying a ClientHello");
    assert_eq!(
        server_hello_version(&down),
        Some(0x0304),
        "B selects TLS 1.3"
    );
    for (dir, bytes) in [("A to B", &up), ("B to A", &down)] {
        for secret in [
            b"plaintext-must-not-show".as_slice(),
            b"/p1",
            b"b-app",
            b"HTTP/1.1",
        ] {
            assert!(!contains(bytes, secret), "{dir}: {secret:?} in clear");
        }
    }

    // B labels both requests with A's identity, and each with the authority it carried
    // (`web.test` over HTTP/1; over h2 the one A's pool gives `:authority`).
    let a_spiffe = "spiffe://cluster.local/ns/shop/sa/a";
    let from_a = |text: &str| -> f64 {
        meshctl::exposition::samples(text)
            .filter(|s| s.name == "request_total" && s.label("direction") == Some("inbound"))
            .filter(|s| s.label("tls") == Some("true") && s.label("client_id") == Some(a_spiffe))
            .map(|s| s.value)
            .sum()
    };
    poll_until("B counts both requests from A", async || {
        from_a(&b.admin_get("/metrics").await.1) >= 2.0
    })
    .await;
    let client = format!(
        r#"request_total{{direction="inbound",authority="web.test",tls="true",client_id="{a_spiffe}"}}"#
    );
    assert!(b.metric(&client).await >= 1.0, "{client}");
    let server = r#"response_total{direction="outbound",authority="web.test",tls="true",server_id="spiffe://cluster.local/ns/shop/sa/b",status_code="200""#;
    assert_eq!(metric_reaches(&a, server, 2.0).await, 2.0);
    let (_, text) = b.admin_get("/metrics").await;
    assert!(
        !text.contains(r#"tls="no_identity",status_code="200""#),
        "{text}"
    );
}

/// Sends a GET over a plain TCP connection and reads until the server closes.
async fn plaintext_get(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nhost: app\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "neither answered nor closed");
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn strict_refuses_plaintext_permissive_takes_both_and_disable_terminates_nothing() {
    let pki = Pki::new(DAY);
    let (a_id, b_id) = (id("shop", "a"), id("shop", "b"));
    let b_files = pki.files(&b_id).yaml();
    let a_files = pki.files(&a_id).yaml();
    let app = named("b-app").await;
    let port = app.port();
    // B in front of the app with `tls` (its `inbound:` lines), and what a plaintext client
    // and A (mesh TLS) get from it.
    let mode = async |tls: &str| {
        let b = server_proxy(app, &b_files, tls).await;
        let plaintext = plaintext_get(b.inbound).await;
        let a = client_proxy(&a_files, b.inbound, &b_id).await;
        let (status, headers, _) = send(&http1_client(), a.outbound, "web.test", "/", &[]).await;
        (b, plaintext, status, headers)
    };

    let (strict, plaintext, status, _) = mode("  tls: { mode: STRICT }\n").await;
    assert_eq!(plaintext, "", "STRICT: plaintext closed");
    let refused = format!(r#"inbound_tls_refused_total{{port="{port}",reason="plaintext"}}"#);
    assert_eq!(metric_reaches(&strict, &refused, 1.0).await, 1.0);
    assert_eq!(status, 200, "STRICT: mesh TLS accepted");

    // A port override: STRICT for the pod, PERMISSIVE for the app's port.
    let extra = format!("  tls: {{ mode: STRICT, ports: {{ {port}: PERMISSIVE }} }}\n");
    let (permissive, plaintext, status, _) = mode(&extra).await;
    assert!(plaintext.starts_with("HTTP/1.1 200"), "{plaintext}");
    assert_eq!(status, 200);
    // The plaintext client asked for `app`, A's client for `web.test`.
    for labels in [
        r#"authority="app",tls="no_identity",status_code="200""#,
        r#"authority="web.test",tls="true",client_id="spiffe://cluster.local/ns/shop/sa/a",status_code="200""#,
    ] {
        let line = format!(r#"response_total{{direction="inbound",{labels}"#);
        assert_eq!(metric_reaches(&permissive, &line, 1.0).await, 1.0, "{line}");
    }

    // DISABLE: the ClientHello reaches the app untouched, so mesh TLS cannot work.
    let (_, plaintext, status, headers) = mode("  tls: { mode: DISABLE }\n").await;
    assert!(plaintext.starts_with("HTTP/1.1 200"), "{plaintext}");
    assert!(status >= 500, "{status}");
    assert!(headers.contains_key("meshctl-proxy-error"));
}

#[tokio::test]
async fn peers_outside_the_mesh_are_refused_on_both_sides() {
    let BSide {
        pki,
        a_id,
        b_id,
        app,
        b,
    } = b_side("  tls: { mode: STRICT }\n").await;
    let now = SystemTime::now();

    let ok = raw_tls_get(b.inbound, pki.store_at(&a_id, now), pki.root_store(), &b_id).await;
    assert_eq!(ok.version, Some(rustls::ProtocolVersion::TLSv1_3));
    assert!(ok.answer.starts_with("HTTP/1.1 200"), "{ok:?}");

    let other_root = Pki::new(DAY);
    for (what, store) in [
        ("another trust root", other_root.store_at(&a_id, now)),
        ("an expired leaf", pki.store_at(&a_id, now - DAY * 3)),
        ("no certificate", CertStore::new()),
    ] {
        let got = raw_tls_get(b.inbound, store, pki.root_store(), &b_id).await;
        assert_eq!(got.answer, "", "{what}: {got:?}");
    }
    let refused = format!(
        r#"inbound_tls_refused_total{{port="{}",reason="handshake"}}"#,
        app.port()
    );
    assert_eq!(metric_reaches(&b, &refused, 3.0).await, 3.0);

    // A expects another identity at B's address: B's certificate is refused by A.
    let a = client_proxy(&pki.files(&a_id).yaml(), b.inbound, &id("shop", "other")).await;
    let (status, headers, body) = send(&http1_client(), a.outbound, "web.test", "/", &[]).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers["meshctl-proxy-error"], "connect failure");
}

#[tokio::test]
async fn ready_waits_for_the_first_leaf_from_the_ca() {
    let pki = Pki::new(DAY);
    let ca_addr = free_addr();
    let yaml = format!(
        "{}inbound: {{ appPort: 9 }}\n",
        pki.ca_yaml(ca_addr, &id("shop", "b"))
    );
    let proxy = TestProxy::spawn(&yaml, |_| {}).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = proxy.admin_get("/ready").await;
    assert_eq!(status, 503, "no CA yet: {body}");
    assert!(body.contains("identity"), "{body}");
    let (_, body) = proxy.admin_get("/identity").await;
    assert!(body.contains(r#""ready":false"#), "{body}");
    let _ca = pki
        .serve_on(TcpListener::bind(ca_addr).await.unwrap())
        .await;
    // The first attempt failed; retries come after 1 s, then 2 s.
    poll_until("ready", async || proxy.admin_get("/ready").await.0 == 200).await;
    // The admin port shows the leaf and the roots (public material only).
    let (status, body) = proxy.admin_get("/identity").await;
    assert_eq!(status, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["identity"], "spiffe://cluster.local/ns/shop/sa/b");
    assert_eq!(view["ready"], true);
    let chain = view["certificates"].as_str().unwrap();
    assert_eq!(
        chain.matches("BEGIN CERTIFICATE").count(),
        2,
        "leaf and issuer"
    );
    let roots = std::fs::read_to_string(pki.roots_path()).unwrap();
    assert_eq!(view["roots"].as_str().unwrap().trim(), roots.trim());
    assert!(!body.contains("PRIVATE KEY"));
}

/// Rotations of both sides' leaves during the load test.
const ROTATIONS: usize = 3;
/// Requests of each kind (pooled, new connection) that must succeed before the first
/// rotation and after each one.
const AFTER_ROTATION: [usize; 2] = [30, 10];
/// The certificate chain `proxy` presents, as its admin port shows it.
async fn shown_chain(proxy: &TestProxy) -> String {
    let (status, body) = proxy.admin_get("/identity").await;
    assert_eq!(status, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    view["certificates"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn rotation_under_load_loses_no_request_and_serves_the_new_leaf() {
    let side = b_side("  tls: { mode: STRICT }\n").await;
    let BSide {
        pki, a_id, b_id, b, ..
    } = &side;
    let a_yaml = pki.files(a_id).yaml();
    // Pooled HTTP connections through A, and one new handshake per connection through A2
    // (an opaque service on its own listener, same identity files).
    let a = client_proxy(&a_yaml, b.inbound, b_id).await;
    let raw_addr = free_addr();
    let raw_yaml = format!(
        "{a_yaml}services:\n  - name: raw\n    protocol: opaque\n    addresses: [\"{raw_addr}\"]\n    \
         backends: [{{ name: b, endpoints: [{{ addr: \"{}\", identity: \"{b_id}\" }}] }}]\n",
        b.inbound
    );
    let a2 = TestProxy::start_with(&raw_yaml, |o| o.outbound_addr = raw_addr).await;
    let leaf_of_b = async || side.leaf_of_b().await.expect("B answers the probe");

    // ok[0]: pooled HTTP through A, ok[1]: new connections through A2.
    let ok: Arc<[AtomicUsize; 2]> = Arc::default();
    let failed = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..3 {
        let (ok, failed, stop, out) = (ok.clone(), failed.clone(), stop.clone(), a.outbound);
        workers.spawn(async move {
            let client = http1_client();
            while !stop.load(Ordering::Relaxed) {
                let (status, _, body) = send(&client, out, "web.test", &format!("/{w}"), &[]).await;
                let counter = if status == 200 && body == "b-app" {
                    &ok[0]
                } else {
                    &failed
                };
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }
    let (ok2, failed2, stop2) = (ok.clone(), failed.clone(), stop.clone());
    workers.spawn(async move {
        while !stop2.load(Ordering::Relaxed) {
            let answer = plaintext_get(raw_addr).await;
            let counter = if answer.starts_with("HTTP/1.1 200") {
                &ok2[1]
            } else {
                &failed2
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });

    // Load runs before, across and after each rotation: pooled connections and handshakes.
    let load_goes_on = async || {
        let start = [0, 1].map(|k| ok[k].load(Ordering::Relaxed));
        poll_until("requests go on", async || {
            (0..2).all(|k| ok[k].load(Ordering::Relaxed) >= start[k] + AFTER_ROTATION[k])
                || failed.load(Ordering::Relaxed) > 0
        })
        .await;
    };
    let mut leaf = leaf_of_b().await;
    load_goes_on().await;
    for round in 0..ROTATIONS {
        let before = [&a, &a2, b].map(shown_chain);
        let before = futures::future::join_all(before).await;
        // New leaves and keys over the same files, as cert-manager writes them.
        pki.files(a_id);
        pki.files(b_id);
        for (proxy, old) in [&a, &a2, b].into_iter().zip(&before) {
            poll_until("a proxy shows its new leaf", async || {
                shown_chain(proxy).await != *old
            })
            .await;
        }
        let new = leaf_of_b().await;
        assert_ne!(
            new, leaf,
            "round {round}: a new handshake gets B's new leaf"
        );
        leaf = new;
        load_goes_on().await;
    }
    stop.store(true, Ordering::Relaxed);
    while workers.join_next().await.is_some() {}

    let ok = [0, 1].map(|k| ok[k].load(Ordering::Relaxed));
    let failed = failed.load(Ordering::Relaxed);
    println!(
        "{ROTATIONS} rotations under load: {ok:?} requests ok (pooled, new connections), {failed} failed"
    );
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed",
        ok[0] + ok[1] + failed
    );
}

/// A TCP server that greets first (`220 hello\r\n`), then echoes.
async fn banner_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(b"220 hello\r\n").await;
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_server_first_protocol_over_mesh_tls_does_not_stall() {
    let pki = Pki::new(DAY);
    let (a_id, b_id) = (id("shop", "a"), id("db", "b"));
    let app = banner_server().await;
    let b_yaml = format!(
        "{}inbound:\n  appPort: {}\n  tls: {{ mode: STRICT }}\n",
        pki.files(&b_id).yaml(),
        app.port()
    );
    // B does not list the port as opaque, and its detection would hold the connection for a
    // minute: A's opaque ALPN inside mesh TLS is what lets the banner out at once.
    let b = TestProxy::start_with(&b_yaml, |o| o.detect_timeout = Duration::from_secs(60)).await;
    let out = free_addr();
    let yaml = format!(
        "{}services:\n  - name: db\n    protocol: opaque\n    addresses: [\"{out}\"]\n    \
         backends: [{{ name: b, endpoints: [{{ addr: \"{}\", identity: \"{b_id}\" }}] }}]\n",
        pki.files(&a_id).yaml(),
        b.inbound
    );
    let _a = TestProxy::start_with(&yaml, |o| o.outbound_addr = out).await;
    let mut c = TcpStream::connect(out).await.unwrap();
    let mut banner = [0u8; 11];
    tokio::time::timeout(Duration::from_secs(20), c.read_exact(&mut banner))
        .await
        .expect("the banner is held back")
        .unwrap();
    assert_eq!(&banner, b"220 hello\r\n");
    c.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    c.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"ping");
    let opened = r#"tcp_open_total{direction="inbound",peer="src",authority="",tls="true",client_id="spiffe://cluster.local/ns/shop/sa/a"}"#;
    assert_eq!(metric_reaches(&b, opened, 1.0).await, 1.0);
}

#[tokio::test]
async fn rewritten_identity_files_are_used_without_a_restart_or_a_dropped_connection() {
    let side = b_side("  tls: { mode: STRICT }\n").await;
    let BSide {
        pki, a_id, b_id, b, ..
    } = &side;
    let a = client_proxy(&pki.files(a_id).yaml(), b.inbound, b_id).await;
    let first = side.leaf_of_b().await.expect("B answers");
    let client = http1_client();
    assert_eq!(send(&client, a.outbound, "web.test", "/", &[]).await.0, 200);

    // A new leaf and key over the same files, as cert-manager would write them.
    pki.files(b_id);
    poll_until("B reloads its files", async || {
        side.leaf_of_b().await.as_ref() != Some(&first)
    })
    .await;
    // A's pooled connection (made with the old leaf) and new handshakes both work.
    assert_eq!(send(&client, a.outbound, "web.test", "/", &[]).await.0, 200);
    let a_conns = r#"tcp_open_total{direction="inbound",peer="src",authority="",tls="true",client_id="spiffe://cluster.local/ns/shop/sa/a"}"#;
    assert_eq!(b.metric(a_conns).await, 1.0, "A kept its one connection");
}

/// The payload lengths of the complete TLS records in `bytes` (5-byte headers: type,
/// version, length), or None while the last one is still arriving.
fn record_lengths(bytes: &[u8]) -> Option<Vec<usize>> {
    let mut lengths = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let len = usize::from(u16::from_be_bytes([*rest.get(3)?, *rest.get(4)?]));
        rest = rest.get(5 + len..)?;
        lengths.push(len);
    }
    Some(lengths)
}

#[tokio::test]
async fn a_request_and_its_1kb_response_cross_the_mesh_as_one_tls_record_each() {
    let pki = Pki::new(DAY);
    let (a_id, b_id) = (id("shop", "a"), id("shop", "b"));
    let app = serve(|_| async { http::Response::new(full(vec![b'x'; 1024])) }).await;
    let b = server_proxy(app, &pki.files(&b_id).yaml(), "").await;
    let wire = relay(b.inbound).await;
    let a = client_proxy(&pki.files(&a_id).yaml(), wire.addr, &b_id).await;
    let client = http1_client();
    // The first request pays the handshake; the second reuses A's connection to B.
    assert_eq!(send(&client, a.outbound, "web.test", "/", &[]).await.0, 200);
    let complete = |seen: &Mutex<Vec<u8>>, from: usize| {
        let seen = seen.lock().unwrap();
        record_lengths(&seen[from..])
    };
    poll_until("the first exchange is on the wire", async || {
        complete(&wire.up, 0).is_some() && complete(&wire.down, 0).is_some()
    })
    .await;
    let (up, down) = (
        wire.up.lock().unwrap().len(),
        wire.down.lock().unwrap().len(),
    );
    let (status, _, body) = send(&client, a.outbound, "web.test", "/", &[]).await;
    assert_eq!((status, body.len()), (200, 1024));
    // Head and body of the response sealed apart would be two records: wait for both.
    poll_until("the second response is on the wire", async || {
        complete(&wire.down, down).is_some_and(|l| l.iter().sum::<usize>() > 1024 + 40)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let request = complete(&wire.up, up).unwrap();
    let response = complete(&wire.down, down).unwrap();
    assert_eq!(
        (request.len(), response.len()),
        (1, 1),
        "{request:?} {response:?}"
    );
}
