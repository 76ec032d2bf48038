//! The dashboard of a running `meshctl demo` in headless Chromium, driven over the DevTools
//! protocol (the page keeps a server-sent-events stream open, so Chromium's virtual-time
//! budget never runs out: waits need the protocol). Skipped without Chromium, except in CI.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::demo_support::{ONE_DEMO, RunningDemo, http_get};

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One DevTools session on a page.
struct Page {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
}

impl Page {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(Message::text(message)).await.unwrap();
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method}"))
                .unwrap()
                .unwrap();
            let Message::Text(text) = message else {
                continue;
            };
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["id"] == id {
                assert!(value.get("error").is_none(), "{method}: {value}");
                return value["result"].clone();
            }
        }
    }

    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await;
        result["result"]["value"].clone()
    }
}

#[test]
fn dashboard_in_headless_chromium_shows_both_versions_with_figures() {
    let Some(chromium) = chromium() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("chromium is missing in CI: .ci/setup installs it");
        }
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED dashboard_in_headless_chromium_shows_both_versions_with_figures: no \
             chromium (apt-get install chromium)"
        );
        return;
    };
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
    let demo = RunningDemo::start();

    // The server has figures for both versions before the page is opened.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let snapshot: Value = http_get(demo.dashboard, "/api/snapshot")
            .and_then(|body| serde_json::from_str(&body).ok())
            .unwrap_or(Value::Null);
        let rps = |id: &str| {
            snapshot["nodes"]
                .as_array()
                .and_then(|n| n.iter().find(|n| n["id"] == id))
                .and_then(|n| n["inbound"]["rps"].as_f64())
                .unwrap_or(0.0)
        };
        let edges = snapshot["edges"].as_array().map_or(0, Vec::len);
        if rps("web-v1") > 0.0 && rps("web-v2") > 0.0 && edges == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no figures on the dashboard: {snapshot}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Some more points for the charts.
    std::thread::sleep(Duration::from_secs(10));

    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--window-size=1400,1100",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let _browser = Browser(child);
    let mut lines = stderr.lines().map_while(Result::ok);
    let endpoint = lines
        .find_map(|l| {
            l.strip_prefix("DevTools listening on ws://")
                .map(|rest| rest.split('/').next().unwrap().to_owned())
        })
        .expect("chromium prints its DevTools address");
    std::thread::spawn(move || for _ in lines {});

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let shot = runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(20);
        let list: Value = loop {
            assert!(Instant::now() < deadline, "chromium lists no page on {endpoint}");
            let body = http_get(endpoint.parse().unwrap(), "/json/list");
            if let Some(list) = body.and_then(|b| serde_json::from_str::<Value>(&b).ok())
                && list.as_array().is_some_and(|l| l.iter().any(|t| t["type"] == "page"))
            {
                break list;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let page = list
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .unwrap();
        let url = page["webSocketDebuggerUrl"].as_str().unwrap();
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut page = Page { ws, next_id: 0 };
        page.call("Page.enable", json!({})).await;
        let dashboard = format!("http://{}/", demo.dashboard);
        page.call("Page.navigate", json!({"url": dashboard})).await;

        // The page is ready once the graph has its edges and a workload has figures.
        let deadline = Instant::now() + Duration::from_secs(30);
        while page.eval("document.body.dataset.ready").await != "true" {
            assert!(Instant::now() < deadline, "the dashboard never showed figures");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Two more updates over the event stream.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let graph = page
            .eval("JSON.stringify({nodes: cy.nodes().map(n => n.id()), edges: cy.edges().map(e => e.id())})")
            .await;
        let graph: Value = serde_json::from_str(graph.as_str().unwrap()).unwrap();
        for node in ["client", "web-v1", "web-v2"] {
            assert!(graph["nodes"].as_array().unwrap().contains(&json!(node)), "{graph}");
        }
        for edge in ["client->web-v1", "client->web-v2"] {
            assert!(graph["edges"].as_array().unwrap().contains(&json!(edge)), "{graph}");
        }
        let cards = page
            .eval(
                "JSON.stringify([...document.querySelectorAll('[data-node],[data-edge]')].map(e => \
                 ({id: e.dataset.node || e.dataset.edge, rps: Number(e.dataset.rps), \
                   mtls: e.dataset.mtls, text: e.querySelector('.f-rps').textContent})))",
            )
            .await;
        let cards: Value = serde_json::from_str(cards.as_str().unwrap()).unwrap();
        let card = |id: &str| {
            cards
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == id)
                .unwrap_or_else(|| panic!("no card {id} in {cards}"))
                .clone()
        };
        for id in ["web-v1", "web-v2", "client->web-v1", "client->web-v2"] {
            let c = card(id);
            assert!(c["rps"].as_f64().unwrap() > 0.0, "{c}");
            assert_ne!(c["text"], "–", "{c}");
        }
        for id in ["client->web-v1", "client->web-v2"] {
            assert_eq!(card(id)["mtls"], "true", "{cards}");
        }
        // v1 gets about nine times v2's requests.
        assert!(
            card("client->web-v1")["rps"].as_f64().unwrap()
                > 3.0 * card("client->web-v2")["rps"].as_f64().unwrap(),
            "{cards}"
        );
        let shot = page
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    });
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&path, &shot).unwrap();
    assert!(shot.starts_with(b"\x89PNG"), "not a PNG");
    let _ = writeln!(std::io::stderr(), "screenshot: {}", path.display());
    demo.stop();
}
