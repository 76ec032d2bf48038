//! `meshctl stat --proxy` against two real proxies under a known load: 5 % aborted by a fault
//! and every request held 60 ms by a fault delay. The CLI must report the success rate the
//! clients saw and latencies that agree with the clients' own clocks. And `-o wide`'s
//! retries, counted in the window of the backend that sent them, and its bytes each way,
//! equal to what the clients wrote and read.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::*;

/// `meshctl stat --proxy ADDR… args…`, run off the test's runtime.
async fn stat(proxies: &[&TestProxy], args: &[&str]) -> std::process::Output {
    let mut all: Vec<String> = vec!["stat".into()];
    for p in proxies {
        all.extend(["--proxy".into(), p.admin.to_string()]);
    }
    all.extend(args.iter().map(|a| a.to_string()));
    run_meshctl(all).await.unwrap()
}

const ROUTES: &str = r#"      - name: shaped
        backends: [{ name: main }]
        fault: { delay: { fixed: 60ms, percent: 100 }, abort: { status: 503, percent: 5 } }
"#;

/// Requests per proxy, and how many are in flight at once (the delay dominates each).
const REQUESTS: usize = 400;
const IN_FLIGHT: usize = 40;

/// Sends `REQUESTS` GETs through `proxy`: each answer's status and how long the client
/// waited for it.
async fn load(proxy: &TestProxy) -> Vec<(u16, Duration)> {
    let client = http1_client();
    futures::stream::iter(0..REQUESTS)
        .map(|_| {
            let client = client.clone();
            async move {
                let started = Instant::now();
                let status = send(&client, proxy.outbound, "web.test", "/", &[]).await.0;
                (status, started.elapsed())
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await
}

/// The smallest bucket bound at or above `ms`: a percentile the proxy computed from requests
/// no slower than the clients saw them cannot be above it.
fn bound_above(bounds: &[f64], ms: f64) -> f64 {
    bounds
        .iter()
        .copied()
        .find(|b| *b >= ms)
        .unwrap_or(f64::INFINITY)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stat_reports_the_success_rate_and_latency_the_clients_saw() {
    let main = named("main").await;
    let config = web_service(&[("main", main)], ROUTES);
    let a = TestProxy::start(&config).await;
    let b = TestProxy::start(&config).await;
    let mut seen = load(&a).await;
    seen.extend(load(&b).await);
    assert!(seen.iter().all(|(s, _)| matches!(s, 200 | 503)), "{seen:?}");
    let sent = seen.len();
    let aborted = seen.iter().filter(|(s, _)| *s == 503).count();

    let out = stat(&[&a, &b], &["-o", "json"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("stat JSON");
    assert_eq!(report["proxies"]["answered"], 2, "{report}");
    // The outbound row of the whole authority (not its per-route or per-backend rows).
    let rows = report["rows"].as_array().expect("rows");
    let row = rows
        .iter()
        .find(|r| r["direction"] == "outbound" && r["route"].is_null() && r["backend"].is_null())
        .unwrap_or_else(|| panic!("no outbound authority row in {report}"));

    // Exactly what the clients saw, merged over both proxies.
    assert_eq!(row["requests"], sent, "{row}");
    assert_eq!(row["failures"], aborted, "{row}");
    let success = row["successRate"].as_f64().expect("a success rate");
    assert!(
        (success - (sent - aborted) as f64 / sent as f64).abs() < 1e-9,
        "{row}"
    );
    // 5 % of 800 aborts: 40 expected, σ ≈ 6.2; ±4σ.
    assert!(
        (0.919..=0.981).contains(&success),
        "success {success}: {row}"
    );

    // Every forwarded request waited 60 ms in the proxy, so the median (the aborted 5 %
    // cannot move it) is in the 50-100 ms bucket or above; and no percentile exceeds the
    // bucket of the same percentile of the clients' own timings, which include the proxy's.
    let (_, stats) = a.admin_get("/stats").await;
    let stats: Value = serde_json::from_str(&stats).expect("/stats JSON");
    let bounds: Vec<f64> = serde_json::from_value(stats["latencyBucketsMs"].clone()).unwrap();
    let mut client_ms: Vec<f64> = seen.iter().map(|(_, d)| d.as_secs_f64() * 1e3).collect();
    client_ms.sort_by(f64::total_cmp);
    let client = |q: f64| client_ms[((q * sent as f64).ceil() as usize).min(sent - 1)];
    for (field, q) in [("latencyP50Ms", 0.5), ("latencyP99Ms", 0.99)] {
        let ms = row[field].as_f64().expect("a percentile");
        assert!(
            ms > 50.0,
            "{field} {ms} below the 60 ms delay's bucket: {row}"
        );
        let limit = bound_above(&bounds, client(q));
        assert!(
            ms <= limit,
            "{field} {ms} above the clients' {limit}: {row}"
        );
    }
    // Shown with --nocapture.
    eprintln!(
        "stat --proxy over 2 proxies: success {:.2}% ({aborted} of {sent} aborted), p50 {} ms, \
         p99 {} ms (clients: p50 {:.1} ms, p99 {:.1} ms)",
        success * 100.0,
        row["latencyP50Ms"],
        row["latencyP99Ms"],
        client(0.5),
        client(0.99),
    );
}

#[tokio::test]
async fn wide_shows_the_retries_of_the_window() {
    // Every third request fails; one retry each makes them all green.
    let n = Arc::new(AtomicUsize::new(0));
    let upstream = serve(move |_req| {
        let n = n.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            let mut resp = http::Response::new(full("hit"));
            if n.is_multiple_of(3) {
                *resp.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
            }
            resp
        }
    })
    .await;
    let config = format!(
        "services:\n  - name: web\n    authorities: [web.test]\n    policy: {{ retries: \
         {{ attempts: 2, retryOn: [5xx], backoff: {{ base: 1ms, max: 5ms }} }} }}\n    \
         backends: [{{ name: v1, endpoints: [{{ addr: \"{upstream}\" }}] }}]\n"
    );
    let proxy = TestProxy::start(&config).await;
    let client = http1_client();
    for _ in 0..60 {
        assert_eq!(
            send(&client, proxy.outbound, "web.test", "/", &[]).await.0,
            200
        );
    }
    // 60 answers took 89 hits: 29 retries, all in this window of backend web/v1.
    assert_eq!(resilience(&proxy).await, [29, 0, 0]);
    // --window reaches the proxy: the same 60 answers over 30 s are twice the rate.
    let out = stat(&[&proxy], &["--window", "30s", "-o", "json"]).await;
    let report: Value = serde_json::from_slice(&out.stdout).expect("stat JSON");
    assert_eq!(report["windowSeconds"], 30, "{report}");
    let rows = report["rows"].as_array().expect("rows");
    let whole = rows
        .iter()
        .find(|r| r["authority"] == "web.test" && r["backend"].is_null());
    let whole = whole.unwrap_or_else(|| panic!("no web.test row in {report}"));
    assert_eq!(
        (&whole["requests"], &whole["rps"]),
        (&60.into(), &2.0.into()),
        "{report}"
    );
    let out = stat(&[&proxy], &["-o", "wide"]).await;
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("RETRIES"), "{table}");
    let line = table.lines().find(|l| l.contains("/ web/v1"));
    let cells: Vec<&str> = line.expect("backend line").split_whitespace().collect();
    assert_eq!(cells[cells.len() - 3..], ["29", "0", "0"], "{table}");
}

/// Backend web/v1's retries, timeouts and ejections as `stat --proxy -o json` reports them.
async fn resilience(proxy: &TestProxy) -> [u64; 3] {
    let out = stat(&[proxy], &["-o", "json"]).await;
    let report: Value = serde_json::from_slice(&out.stdout).expect("stat JSON");
    let rows = report["rows"].as_array().expect("rows");
    let backend = rows
        .iter()
        .find(|r| r["backend"] == "web/v1" && r["route"].is_null())
        .unwrap_or_else(|| panic!("no backend row in {report}"));
    ["retries", "timeouts", "ejections"].map(|field| {
        backend[field]
            .as_u64()
            .unwrap_or_else(|| panic!("{field}: {backend}"))
    })
}

#[tokio::test]
async fn stat_counts_the_timeouts_and_ejections_of_the_window() {
    // Round-robin over an endpoint that always fails (ejected after 3 in a row, for longer
    // than the test) and one that never answers in time (every request to it times out).
    let failing = serve(|_req| async {
        let mut resp = http::Response::new(full("down"));
        *resp.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        resp
    })
    .await;
    let stuck = serve(|_req| async {
        tokio::time::sleep(Duration::from_secs(600)).await;
        http::Response::new(full("late"))
    })
    .await;
    let config = format!(
        "services:\n  - name: web\n    authorities: [web.test]\n    policy: {{ loadBalancer: \
         {{ algorithm: round-robin }}, timeouts: {{ request: 500ms }}, outlierDetection: \
         {{ consecutive5xx: 3, consecutiveGatewayErrors: 1000, interval: 20ms, \
         baseEjectionTime: 10m, maxEjectionPercent: 50 }} }}\n    backends: [{{ name: v1, \
         endpoints: [{{ addr: \"{failing}\" }}, {{ addr: \"{stuck}\" }}] }}]\n"
    );
    let proxy = TestProxy::start(&config).await;
    let client = http1_client();
    let mut timed_out = 0;
    for _ in 0..8 {
        let status = send(&client, proxy.outbound, "web.test", "/", &[]).await.0;
        assert!(matches!(status, 503 | 504), "{status}");
        timed_out += u64::from(status == 504);
    }
    let ejected = proxy.metric("ejection_total{backend=\"web/v1\"}").await;
    assert_eq!(ejected, 1.0, "the failing endpoint is ejected once");
    assert!(
        timed_out >= 4,
        "half the requests or more reached the stuck one: {timed_out}"
    );
    assert_eq!(resilience(&proxy).await, [0, timed_out, 1]);
}

/// Writes `request` on a new connection to `addr` (then half-closes it if `shutdown`) and
/// reads until the proxy closes: (bytes written, bytes read).
async fn exchange(addr: std::net::SocketAddr, request: &[u8], shutdown: bool) -> (u64, u64) {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(request).await.unwrap();
    if shutdown {
        conn.shutdown().await.unwrap();
    }
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut answer))
        .await
        .expect("the proxy closes the connection")
        .unwrap();
    assert!(!answer.is_empty(), "no answer");
    (request.len() as u64, answer.len() as u64)
}

/// The inbound `app` row of a proxy's `/stats`: (receivedBytes, sentBytes).
async fn inbound_bytes(proxy: &TestProxy) -> (u64, u64) {
    let (_, stats) = proxy.admin_get("/stats").await;
    let stats: Value = serde_json::from_str(&stats).expect("/stats JSON");
    let rows = stats["rows"].as_array().expect("rows");
    let row = rows
        .iter()
        .find(|r| r["direction"] == "inbound")
        .unwrap_or_else(|| panic!("no inbound row in {stats}"));
    let count = |field: &str| {
        row[field]
            .as_u64()
            .unwrap_or_else(|| panic!("{field}: {row}"))
    };
    (count("receivedBytes"), count("sentBytes"))
}

#[tokio::test]
async fn wide_shows_the_bytes_clients_sent_and_got_back() {
    // HTTP: a 3,000-byte upload answered by a 5,000-byte page, three times.
    let app = serve(|_req| async { http::Response::new(full(vec![b'x'; 5_000])) }).await;
    let proxy = TestProxy::start(&format!("inbound: {{ appPort: {} }}\n", app.port())).await;
    let mut request = b"POST /upload HTTP/1.1\r\nhost: app\r\ncontent-length: 3000\r\n\
                        connection: close\r\n\r\n"
        .to_vec();
    request.extend([b'y'; 3_000]);
    let mut clients = (0, 0);
    for _ in 0..3 {
        let (wrote, read) = exchange(proxy.inbound, &request, false).await;
        clients = (clients.0 + wrote, clients.1 + read);
    }
    assert!(clients.1 > 15_000, "three pages came back: {clients:?}");
    assert_eq!(inbound_bytes(&proxy).await, clients);

    // The wide table shows them as rates over the 1-minute window.
    let out = stat(&[&proxy], &["-o", "wide"]).await;
    let table = String::from_utf8_lossy(&out.stdout);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    let line = table.lines().find(|l| l.contains("inbound app"));
    let cells: Vec<&str> = line.expect("inbound line").split_whitespace().collect();
    // The name cell is two words ("inbound app").
    let cell = |name: &str| cells[header.iter().position(|h| *h == name).unwrap() + 1];
    let rate = |bytes: u64| format!("{:.0}B/s", bytes as f64 / 60.0);
    assert_eq!(
        (cell("BYTES_IN"), cell("BYTES_OUT")),
        (rate(clients.0).as_str(), rate(clients.1).as_str()),
        "{table}"
    );

    // Opaque TCP goes through the same counting: a greeting server that echoes.
    let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = echo.accept().await {
            tokio::spawn(async move {
                s.write_all(b"220 hello\r\n").await.unwrap();
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let port = echo_addr.port();
    let tcp = TestProxy::start(&format!(
        "inbound: {{ appPort: {port}, opaquePorts: [{port}] }}\n"
    ))
    .await;
    let echoed = exchange(tcp.inbound, &[b'z'; 10_000], true).await;
    assert_eq!(echoed, (10_000, 11 + 10_000), "greeting and echo");
    assert_eq!(inbound_bytes(&tcp).await, echoed);
}
