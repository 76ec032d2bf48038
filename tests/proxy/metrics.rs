//! `/metrics` as scrapers read it: Prometheus text 0.0.4 by default (checked by promtool, a
//! real parser), OpenMetrics when asked; Linkerd's labels after real traffic; and request
//! authorities bounded however many a client makes up.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use http_body_util::BodyExt;

use crate::support::*;

/// An outbound service `web.test` and the inbound side forwarding to `app`.
fn config(web: std::net::SocketAddr, app: std::net::SocketAddr) -> String {
    format!(
        "services:\n  - name: web\n    authorities: [web.test]\n    \
         backends: [{{ name: v1, endpoints: [{{ addr: '{web}' }}] }}]\n\
         inbound: {{ appPort: {} }}\n",
        app.port()
    )
}

/// GET /metrics with `accept`: (content type, body).
async fn scrape(proxy: &TestProxy, accept: Option<&str>) -> (String, String) {
    let mut req = http::Request::get(format!("http://{}/metrics", proxy.admin));
    if let Some(accept) = accept {
        req = req.header("accept", accept);
    }
    let resp = http1_client()
        .request(req.body(full("")).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (kind, String::from_utf8(body.to_vec()).unwrap())
}

/// promtool's findings on `text`: Err if it cannot parse it, else its lint lines.
fn promtool(text: &str) -> Option<Result<Vec<String>, String>> {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("promtool: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // 0: clean; 3: lint findings only; anything else: it could not parse the text.
    Some(match out.status.code() {
        Some(0 | 3) => Ok(said.lines().map(str::to_owned).collect()),
        _ => Err(said),
    })
}

/// Asserts promtool parses `text` and finds nothing but Linkerd's `_ms` names to lint (skipped,
/// saying so, without promtool).
fn promtool_parses(what: &str, text: &str) {
    match promtool(text) {
        None => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("promtool is missing in CI: .ci/setup installs it");
            }
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED promtool check of {what}: no promtool (apt-get install prometheus; \
                 .ci/setup does)"
            );
        }
        Some(Err(e)) => panic!("promtool cannot parse {what}: {e}\n{text}"),
        // Linkerd's names end in `_ms`, which promtool's lint calls an abbreviated unit;
        // dashboards query those names, so that finding alone is accepted.
        Some(Ok(lint)) => {
            let other: Vec<&String> = (lint.iter())
                .filter(|l| !l.ends_with("metric names should not contain abbreviated units"))
                .collect();
            assert!(
                other.is_empty(),
                "promtool lint of {what}: {other:?}\n{text}"
            );
        }
    }
}

#[test]
fn the_controller_metrics_are_prometheus_text_promtool_parses() {
    let m = meshctl::controller::Metrics::default();
    m.pushes.inc();
    m.push_latency.observe(0.02);
    let text = m.encode(meshctl::exposition::Format::Prometheus);
    promtool_parses("the controller's /metrics", &text);
    for want in [
        "# TYPE meshctl_controller_build_info gauge",
        "# TYPE meshctl_controller_discovery_pushes_total counter",
        "meshctl_controller_discovery_pushes_total 1",
        r#"meshctl_controller_discovery_push_latency_seconds_bucket{le="1"} 1"#,
        "# TYPE process_resident_memory_bytes gauge",
    ] {
        assert!(text.contains(want), "missing {want} in\n{text}");
    }
}

#[tokio::test]
async fn metrics_are_prometheus_text_promtool_parses_with_linkerds_labels() {
    let (web, app) = (named("web").await, named("app").await);
    let proxy = TestProxy::start(&config(web, app)).await;
    let client = http1_client();
    assert_eq!(
        send(&client, proxy.outbound, "web.test", "/", &[]).await.0,
        200
    );
    assert_eq!(
        send(&client, proxy.inbound, "app.test:8080", "/", &[])
            .await
            .0,
        200
    );
    // No service has this name: a 503, counted under the authority it gave.
    assert_eq!(
        send(&client, proxy.outbound, "nope.test", "/", &[]).await.0,
        503
    );
    // A closed inbound connection, for tcp_close_total.
    let (status, _) = raw_request(
        proxy.inbound,
        "GET / HTTP/1.1\r\nhost: app.test:8080\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    let closed = r#"tcp_close_total{direction="inbound",peer="src",authority="",tls="no_identity",classification="success",errno=""}"#;
    poll_until("the inbound connection's close counted", async || {
        scrape(&proxy, None).await.1.contains(closed)
    })
    .await;

    let (kind, text) = scrape(&proxy, None).await;
    assert_eq!(kind, "text/plain; version=0.0.4; charset=utf-8");
    promtool_parses("the proxy's /metrics", &text);
    for want in [
        "# TYPE request_total counter",
        "# TYPE proxy_build_info gauge",
        r#"request_total{direction="inbound",authority="app.test:8080",tls="no_identity"} 2"#,
        r#"response_total{direction="outbound",authority="nope.test",tls="no_identity",status_code="503",classification="failure"} 1"#,
        r#"request_total{direction="outbound",authority="nope.test",tls="no_identity"} 1"#,
        r#"response_latency_ms_bucket{le="100",direction="outbound",authority="web.test""#,
        r#"tcp_connection_duration_ms_count{direction="inbound",peer="src""#,
    ] {
        assert!(text.contains(want), "missing {want} in\n{text}");
    }
    let bounds: Vec<&str> = (text.lines())
        .filter_map(|l| l.split_once("le=\"")?.1.split_once('"').map(|(le, _)| le))
        .collect();
    assert!(
        bounds.contains(&"100") && bounds.contains(&"+Inf"),
        "{bounds:?}"
    );
    assert!(bounds.iter().all(|b| !b.ends_with(".0")), "{bounds:?}");
    let value = |name: &str| {
        meshctl::exposition::samples(&text)
            .find(|s| s.name == name)
            .map(|s| s.value)
    };
    // CPU time counts in clock ticks (10 ms): a young process may have none yet.
    assert!(
        value("process_cpu_seconds_total").is_some_and(|v| v >= 0.0),
        "{text}"
    );
    for name in [
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_start_time_seconds",
        "process_open_fds",
        "process_max_fds",
    ] {
        assert!(value(name).is_some_and(|v| v > 0.0), "{name} in\n{text}");
    }

    // OpenMetrics only when asked, as Prometheus asks.
    let accept = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4";
    let (kind, open) = scrape(&proxy, Some(accept)).await;
    assert_eq!(
        kind,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(open.ends_with("# EOF\n"), "{open}");
    assert!(open.contains("# TYPE proxy_build info\n"), "{open}");
}

#[tokio::test]
async fn a_thousand_made_up_hosts_fold_into_other_and_the_metrics_stop_growing() {
    let (web, app) = (named("web").await, named("app").await);
    let proxy = TestProxy::start(&config(web, app)).await;
    let client = http1_client();
    let hosts = |range: std::ops::Range<usize>| range.map(|n| format!("h{n}.scan.test"));
    for host in hosts(0..200) {
        assert_eq!(send(&client, proxy.inbound, &host, "/", &[]).await.0, 200);
    }
    let before = scrape(&proxy, None).await.1;
    for host in hosts(200..1_000) {
        assert_eq!(send(&client, proxy.inbound, &host, "/", &[]).await.0, 200);
    }
    // Unknown services take from the same bound.
    for host in hosts(1_000..1_100) {
        assert_eq!(send(&client, proxy.outbound, &host, "/", &[]).await.0, 503);
    }
    let after = scrape(&proxy, None).await.1;
    let authorities = |direction: &str| -> BTreeSet<String> {
        meshctl::exposition::samples(&after)
            .filter(|s| s.name == "request_total" && s.label("direction") == Some(direction))
            .filter_map(|s| s.label("authority").map(str::to_owned))
            .collect()
    };
    let inbound = authorities("inbound");
    assert_eq!(inbound.len(), 100 + 1, "{inbound:?}");
    assert!(inbound.contains("other") && inbound.contains("h0.scan.test"));
    // The configured service keeps its own label; made-up ones fold.
    assert_eq!(
        authorities("outbound"),
        BTreeSet::from(["other".to_owned(), "web.test".to_owned()])
    );
    let other = meshctl::exposition::samples(&after)
        .find(|s| {
            s.name == "request_total"
                && s.label("direction") == Some("inbound")
                && s.label("authority") == Some("other")
        })
        .map(|s| s.value);
    assert_eq!(other, Some(900.0));
    // The inbound series stopped growing after the hundredth host: the registry holds
    // only the outbound `other` series more, whatever the rest of the scan sent.
    let lines = |t: &str| {
        let inbound = |l: &&str| l.starts_with("re") && l.contains("direction=\"inbound\"");
        t.lines().filter(inbound).count()
    };
    assert_eq!(lines(&after), lines(&before));
}

#[tokio::test]
async fn a_reset_connection_closes_as_a_failure_with_its_errno() {
    // An upstream that takes the bytes and holds the connection open.
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    let (got_tx, got_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = upstream.accept().await.unwrap();
        let mut buf = [0u8; 5];
        tokio::io::AsyncReadExt::read_exact(&mut s, &mut buf)
            .await
            .unwrap();
        let _ = got_tx.send(());
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    });
    let outbound = free_addr();
    let yaml = format!(
        "services:\n  - name: db\n    protocol: opaque\n    addresses: ['{outbound}']\n    \
         backends: [{{ name: main, endpoints: [{{ addr: '{upstream_addr}' }}] }}]\n"
    );
    let proxy = TestProxy::start_with(&yaml, |o| o.outbound_addr = outbound).await;
    let mut c = tokio::net::TcpStream::connect(proxy.outbound)
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut c, b"hello")
        .await
        .unwrap();
    got_rx.await.unwrap();
    // Linger 0: the close is a reset, which the proxy reads as ECONNRESET.
    #[allow(deprecated)]
    c.set_linger(Some(std::time::Duration::ZERO)).unwrap();
    drop(c);
    let reset = r#"tcp_close_total{direction="outbound",peer="src",authority="",tls="no_identity",classification="failure",errno="ECONNRESET"} 1"#;
    poll_until("the reset connection's close counted", async || {
        scrape(&proxy, None).await.1.contains(reset)
    })
    .await;
    let text = scrape(&proxy, None).await.1;
    let duration = r#"tcp_connection_duration_ms_count{direction="outbound",peer="src",authority="",tls="no_identity",classification="failure",errno="ECONNRESET"} 1"#;
    assert!(text.contains(duration), "missing {duration} in\n{text}");
}
