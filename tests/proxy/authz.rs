//! Inbound authorization between real proxies: each rule shape (identity exact / prefix /
//! suffix, namespace, unauthenticated; method, path, port) allows what it names and nothing
//! else, DENY wins, HTTP denials are 403 and TCP denials close, and both are counted.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::pki::*;
use crate::support::*;

#[tokio::test]
async fn each_rule_shape_allows_what_it_names_and_deny_comes_first() {
    let pki = Pki::new(DAY);
    let b_id = id("shop", "b");
    let app = named("b-app").await;
    let rules = "  authorization:\n    rules:\n      \
        - { name: no-admin-writes, action: DENY, to: [{ methods: [POST], paths: [\"/admin*\"] }] }\n      \
        - { name: web-api, action: ALLOW, from: [{ identities: [\"spiffe://cluster.local/ns/shop/sa/web\"] }], to: [{ paths: [\"/api/*\"] }] }\n      \
        - { name: ops, action: ALLOW, from: [{ namespaces: [ops] }], to: [{ methods: [GET, POST] }] }\n      \
        - { name: batch, action: ALLOW, from: [{ identities: [\"spiffe://cluster.local/ns/batch/*\"] }], to: [{ paths: [\"*.csv\"] }] }\n      \
        - { name: auditors, action: ALLOW, from: [{ identities: [\"*/sa/auditor\"] }], to: [{ methods: [GET] }] }\n      \
        - { name: public, action: ALLOW, from: [{ unauthenticated: true }], to: [{ paths: [/public] }] }\n";
    let b = server_proxy(app, &pki.files(&b_id).yaml(), rules).await;
    let client = http1_client();
    let mut callers = Vec::new();
    for (ns, sa) in [
        ("shop", "web"),
        ("ops", "admin"),
        ("batch", "job"),
        ("x", "auditor"),
        ("shop", "other"),
    ] {
        let files = pki.files(&id(ns, sa)).yaml();
        callers.push((sa, client_proxy(&files, b.inbound, &b_id).await));
    }
    let cases: [(&str, &str, &str, u16); 14] = [
        ("web", "GET", "/api/orders", 200),
        ("web", "GET", "/other", 403),
        ("admin", "GET", "/anything", 200),
        ("admin", "POST", "/admin/users", 403),
        ("admin", "POST", "/orders", 200),
        ("admin", "DELETE", "/orders", 403),
        ("job", "GET", "/exports/day.csv", 200),
        ("job", "GET", "/exports/day.json", 403),
        ("auditor", "GET", "/books", 200),
        ("auditor", "PUT", "/books", 403),
        ("other", "GET", "/api/orders", 403),
        ("other", "GET", "/public", 403),
        ("plain", "GET", "/public", 200),
        ("plain", "GET", "/api/orders", 403),
    ];
    for (who, method, path, want) in cases {
        let out = match callers.iter().find(|(sa, _)| *sa == who) {
            Some((_, proxy)) => proxy.outbound,
            None => b.inbound, // plaintext straight to B: unauthenticated
        };
        let (status, _, body) = send_method(&client, out, method, "web.test", path).await;
        assert_eq!(status, want, "{who} {method} {path}: {body}");
        if want == 403 {
            assert!(body.len() < 100, "a short body: {body}");
        }
    }
    let port = app.port();
    for (rule, n) in [("no-admin-writes", 1.0), ("no-allow-rule", 7.0)] {
        let line = format!(r#"inbound_http_authz_deny_total{{port="{port}",rule="{rule}"}}"#);
        assert_eq!(metric_reaches(&b, &line, n).await, n, "{line}");
    }
}

/// A TCP echo server.
async fn echo() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// Writes `ping` and reads what comes back until the peer closes or 4 bytes arrived.
async fn ping(addr: std::net::SocketAddr) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(b"ping").await;
    let mut buf = vec![0; 4];
    let mut got = 0;
    while got < 4 {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf[got..])).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got += n,
            Err(_) => panic!("neither answered nor closed"),
        }
    }
    buf.truncate(got);
    buf
}

#[tokio::test]
async fn opaque_tcp_denials_close_the_connection_and_defaults_apply_elsewhere() {
    let pki = Pki::new(DAY);
    let b_id = id("db", "postgres");
    let app = echo().await;
    let port = app.port();
    let extra = format!(
        "  opaquePorts: [{port}]\n  authorization:\n    default: all-authenticated\n    rules:\n      \
         - {{ name: shop-only, action: ALLOW, from: [{{ namespaces: [shop] }}], to: [{{ ports: [{port}] }}] }}\n"
    );
    let b = server_proxy(app, &pki.files(&b_id).yaml(), &extra).await;
    let b_endpoint = format!(
        "backends: [{{ name: b, endpoints: [{{ addr: \"{}\", identity: \"{b_id}\" }}] }}]",
        b.inbound
    );
    let mut outs = Vec::new();
    for ns in ["shop", "web"] {
        let out = free_addr();
        let yaml = format!(
            "{}services:\n  - name: db\n    protocol: opaque\n    addresses: [\"{out}\"]\n    {b_endpoint}\n",
            pki.files(&id(ns, "app")).yaml()
        );
        outs.push(TestProxy::start_with(&yaml, |o| o.outbound_addr = out).await);
    }
    assert_eq!(ping(outs[0].outbound).await, b"ping", "shop is allowed");
    assert_eq!(
        ping(outs[1].outbound).await,
        b"",
        "another namespace is closed"
    );
    assert_eq!(ping(b.inbound).await, b"", "plaintext is closed");
    let line = format!(r#"inbound_tcp_authz_deny_total{{port="{port}",rule="no-allow-rule"}}"#);
    assert_eq!(metric_reaches(&b, &line, 2.0).await, 2.0);
    let opened = r#"tcp_open_total{direction="inbound",peer="src",authority="",tls="true",client_id="spiffe://cluster.local/ns/shop/sa/app"}"#;
    assert!(metric_reaches(&b, opened, 1.0).await >= 1.0);
}

#[tokio::test]
async fn policy_and_tls_mode_changes_apply_on_reload() {
    let pki = Pki::new(DAY);
    let b_id = id("shop", "b");
    let app = named("b-app").await;
    let identity = pki.files(&b_id).yaml();
    let b = server_proxy(app, &identity, "").await;
    let client = http1_client();
    let get = || send(&client, b.inbound, "web.test", "/", &[]);
    assert_eq!(get().await.0, 200, "plaintext, all allowed");

    let port = app.port();
    let deny = format!(
        "{identity}inbound:\n  appPort: {port}\n  authorization: {{ default: all-authenticated }}\n"
    );
    b.write_config(&deny);
    let line = format!(
        r#"inbound_http_authz_deny_total{{port="{port}",rule="default:all-authenticated"}}"#
    );
    poll_until("the deny policy in force", async || get().await.0 == 403).await;
    assert!(b.metric(&line).await >= 1.0);

    // STRICT now: the plaintext client is refused before any request.
    b.write_config(&format!(
        "{identity}inbound:\n  appPort: {port}\n  tls: {{ mode: STRICT }}\n"
    ));
    let refused = format!(r#"inbound_tls_refused_total{{port="{port}",reason="plaintext"}}"#);
    poll_until("STRICT in force", async || {
        let fresh = http1_client();
        let req = http::Request::builder()
            .uri(format!("http://{}/", b.inbound))
            .body(full(""))
            .unwrap();
        let _ = fresh.request(req).await;
        b.metric(&refused).await >= 1.0
    })
    .await;
}

/// One raw HTTP/1.1 request line sent as written (no client library tidies the path):
/// (status, body).
async fn raw_get(addr: std::net::SocketAddr, target: &str) -> (u16, String) {
    raw_request(
        addr,
        &format!("GET {target} HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n"),
    )
    .await
}

#[tokio::test]
async fn paths_are_normalized_before_authorization_and_the_app_gets_the_authorized_one() {
    // The app answers with the request target it received.
    let app = serve(|req: http::Request<hyper::body::Incoming>| async move {
        http::Response::new(full(req.uri().to_string()))
    })
    .await;
    let yaml = format!(
        "inbound:\n  appPort: {}\n  authorization:\n    rules:\n      \
         - {{ name: no-admin, action: DENY, to: [{{ paths: [\"/admin*\"] }}] }}\n",
        app.port()
    );
    let p = TestProxy::start(&yaml).await;
    for bypass in [
        "/admin",
        "//admin",
        "/./admin",
        "/%61dmin",
        "/api/../admin",
        "/%2e%2e/admin/x",
    ] {
        let (status, body) = raw_get(p.inbound, bypass).await;
        assert_eq!(status, 403, "{bypass}: {body}");
    }
    for ambiguous in ["/admin%2f", "/admin%2Fx", "/x%5cadmin", "/x\\admin"] {
        let (status, body) = raw_get(p.inbound, ambiguous).await;
        assert_eq!(status, 400, "{ambiguous}: {body}");
    }
    // What passes reaches the app exactly as it was authorized.
    for (sent, seen) in [
        ("/api//orders/./7?x=%2F", "/api/orders/7?x=%2F"),
        ("/api/%6frders", "/api/orders"),
        ("/api/orders", "/api/orders"),
    ] {
        let (status, body) = raw_get(p.inbound, sent).await;
        assert_eq!((status, body.as_str()), (200, seen), "{sent}");
    }
    // Two Host headers: refused before authorization, as on the outbound side.
    let two =
        "GET /api/orders HTTP/1.1\r\nhost: a.test\r\nhost: b.test\r\nconnection: close\r\n\r\n";
    assert_eq!(raw_request(p.inbound, two).await.0, 400);
    let line = format!(
        r#"inbound_http_authz_deny_total{{port="{}",rule="no-admin"}}"#,
        app.port()
    );
    assert!(metric_reaches(&p, &line, 6.0).await >= 6.0, "{line}");
}

#[tokio::test]
async fn an_open_tcp_connection_the_new_policy_denies_is_closed() {
    let pki = Pki::new(DAY);
    let b_id = id("db", "postgres");
    let app = echo().await;
    let port = app.port();
    let identity = pki.files(&b_id).yaml();
    let policy = |ns: &str| {
        format!(
            "{identity}inbound:\n  appPort: {port}\n  opaquePorts: [{port}]\n  authorization:\n    \
             rules: [{{ action: ALLOW, from: [{{ namespaces: [{ns}] }}] }}]\n"
        )
    };
    let b = TestProxy::start(&policy("shop")).await;
    let out = free_addr();
    let yaml = format!(
        "{}services:\n  - name: db\n    protocol: opaque\n    addresses: [\"{out}\"]\n    \
         backends: [{{ name: b, endpoints: [{{ addr: \"{}\", identity: \"{b_id}\" }}] }}]\n",
        pki.files(&id("shop", "app")).yaml(),
        b.inbound
    );
    let a = TestProxy::start_with(&yaml, |o| o.outbound_addr = out).await;
    let mut conn = TcpStream::connect(a.outbound).await.unwrap();
    conn.write_all(b"ping").await.unwrap();
    let mut buf = [0; 4];
    conn.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    // A policy that no longer lets shop in: the open connection is closed.
    b.write_config(&policy("ops"));
    let closed = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the connection stays open: {closed:?}"
    );
    let line = format!(r#"inbound_tcp_authz_deny_total{{port="{port}",rule="no-allow-rule"}}"#);
    assert_eq!(metric_reaches(&b, &line, 1.0).await, 1.0);
}
