//! The admin port's `/tap` against a real proxy on loopback: the events of the requests that
//! pass the tap's filters, with their fields (never the query or a header not allowed), the
//! stream's end at its limit, refusals of bad queries and of taps past the bound, and
//! `meshctl tap --proxy` and `top --proxy` reading the same streams.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::BodyExt;
use serde_json::Value;

use crate::support::*;

const ROUTES: &str = r#"      - name: api
        matches: [{ path: { prefix: /api } }]
        backends: [{ name: main }]
      - name: rest
        backends: [{ name: main }]
"#;

/// Opens `/tap?query` on `proxy`: its lines as they come.
async fn open_tap(proxy: &TestProxy, query: &str) -> futures::channel::mpsc::Receiver<Value> {
    let uri = format!("http://{}/tap?{query}", proxy.admin);
    let resp = http1_client().get(uri.parse().unwrap()).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let (mut tx, rx) = futures::channel::mpsc::channel(1024);
    tokio::spawn(async move {
        let mut body = resp.into_body().into_data_stream();
        let mut pending = Vec::new();
        while let Some(Ok(chunk)) = body.next().await {
            pending.extend_from_slice(&chunk);
            while let Some(at) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=at).collect();
                let value = serde_json::from_slice(&line).expect("a JSON line");
                if tx.try_send(value).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// Sends `method path` to web through the proxy's outbound port, with a user agent, a cookie
/// and a query; the status.
async fn call(proxy: &TestProxy, method: &str, path: &str) -> u16 {
    let req = http::Request::builder()
        .method(method)
        .uri(format!("http://{}{path}?token=secret", proxy.outbound))
        .header("host", "web.test")
        .header("user-agent", "tap-test/1")
        .header("cookie", "session=secret")
        .body(full(Bytes::new()))
        .unwrap();
    request(&http1_client(), req).await.0
}

/// The next `n` lines of a tap, each within 5 s.
async fn next_lines(tap: &mut futures::channel::mpsc::Receiver<Value>, n: usize) -> Vec<Value> {
    let mut lines = Vec::new();
    for _ in 0..n {
        let line = tokio::time::timeout(Duration::from_secs(5), tap.next()).await;
        lines.push(
            line.expect("a line within 5 s")
                .expect("the stream goes on"),
        );
    }
    lines
}

#[tokio::test]
async fn a_tap_sees_the_requests_its_filters_pass_and_ends_at_its_limit() {
    let main = named("main").await;
    let proxy = TestProxy::start(&web_service(&[("main", main)], ROUTES)).await;
    let mut tap = open_tap(&proxy, "path=/api&method=GET&headers=user-agent&limit=3").await;
    // Filtered out in the proxy: another path, another method.
    assert_eq!(call(&proxy, "GET", "/other").await, 200);
    assert_eq!(call(&proxy, "POST", "/api/x").await, 200);
    for i in 0..5 {
        assert_eq!(call(&proxy, "GET", &format!("/api/{i}")).await, 200);
    }
    let lines = next_lines(&mut tap, 4).await;
    for (i, e) in lines[..3].iter().enumerate() {
        assert_eq!(e["direction"], "outbound", "{e}");
        assert_eq!(e["method"], "GET");
        assert_eq!(e["authority"], "web.test");
        assert_eq!(e["path"], format!("/api/{i}"), "the path, never the query");
        assert_eq!(e["status"], 200);
        assert_eq!(
            (&e["route"], &e["backend"]),
            (&"api".into(), &"web/main".into())
        );
        assert_eq!(e["tls"], false);
        assert!(e["latencyMs"].as_f64().is_some_and(|ms| ms > 0.0), "{e}");
        assert_eq!(
            e["headers"],
            serde_json::json!({"user-agent": "tap-test/1"})
        );
        assert!(!e.to_string().contains("secret"), "{e}");
    }
    assert_eq!(
        lines[3],
        serde_json::json!({"end": "limit", "events": 3, "skipped": 0})
    );
    let ended = tokio::time::timeout(Duration::from_secs(5), tap.next()).await;
    assert_eq!(ended.expect("the stream ends"), None);
}

#[tokio::test]
async fn bad_queries_and_taps_past_the_bound_are_refused() {
    let main = named("main").await;
    let proxy = TestProxy::start(&web_service(&[("main", main)], "")).await;
    for (query, says) in [
        ("headers=cookie", "headers=cookie: not shown to taps"),
        ("limit=0", "limit=0: a whole number from 1 to 100000"),
        ("max_rps=x", "max_rps=x"),
    ] {
        let (status, body) = proxy.admin_get(&format!("/tap?{query}")).await;
        assert_eq!(
            (status, body.contains(says)),
            (400, true),
            "{query}: {body}"
        );
    }
    let mut taps = Vec::new();
    for _ in 0..8 {
        taps.push(open_tap(&proxy, "limit=1").await);
    }
    let (status, body) = proxy.admin_get("/tap").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("8 taps are running"), "{body}");
    // One request ends every tap (limit 1): their places are free again.
    assert_eq!(call(&proxy, "GET", "/").await, 200);
    for tap in &mut taps {
        let lines = next_lines(tap, 2).await;
        assert_eq!(lines[1]["end"], "limit");
    }
    poll_until("a tap can be opened again", async || {
        let uri = format!("http://{}/tap?limit=1", proxy.admin);
        let resp = http1_client().get(uri.parse().unwrap()).await.unwrap();
        resp.status() == 200
    })
    .await;
}

/// `meshctl ARGS… --proxy ADDR`.
fn meshctl(proxy: &TestProxy, args: &[&str]) -> tokio::task::JoinHandle<std::process::Output> {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.extend(["--proxy".into(), proxy.admin.to_string()]);
    run_meshctl(all)
}

#[tokio::test]
async fn meshctl_tap_and_top_read_a_proxy_s_stream() {
    let main = named("main").await;
    let proxy = TestProxy::start(&web_service(&[("main", main)], ROUTES)).await;
    let tap = meshctl(
        &proxy,
        &["tap", "--path", "/api", "--limit", "4", "-o", "json"],
    );
    let top = meshctl(&proxy, &["top", "--limit", "6", "--interval", "10s"]);
    // Until both have seen enough (each opens its stream when it gets to it).
    let load = async {
        for i in 0.. {
            let path = if i % 2 == 0 { "/api/a" } else { "/b" };
            call(&proxy, "GET", path).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (tap, top) = tokio::select! {
        both = async { (tap.await.unwrap(), top.await.unwrap()) } => both,
        _ = load => unreachable!(),
        _ = tokio::time::sleep(Duration::from_secs(30)) => panic!("tap and top never ended"),
    };
    let stderr = String::from_utf8_lossy(&tap.stderr);
    assert!(tap.status.success(), "{stderr}");
    let lines: Vec<Value> = (tap.stdout.split(|b| *b == b'\n'))
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    for e in &lines {
        assert_eq!(e["path"], "/api/a", "{e}");
        assert_eq!(e["proxy"], proxy.admin.to_string());
        assert_eq!(e["route"], "api");
    }
    assert!(stderr.contains("tap: 4 events from 1 proxies"), "{stderr}");
    let stderr = String::from_utf8_lossy(&top.stderr);
    assert!(top.status.success(), "{stderr}");
    let table = String::from_utf8_lossy(&top.stdout);
    assert!(table.contains("LATENCY_MEAN"), "{table}");
    let rows: Vec<Vec<&str>> = (table.lines())
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|cells| cells.first() == Some(&"outbound"))
        .collect();
    let counts: Vec<(&str, &str)> = rows.iter().map(|r| (r[3], r[4])).collect();
    assert_eq!(counts, [("/api/a", "3"), ("/b", "3")], "{table}");
}
