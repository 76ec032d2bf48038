//! `meshctl demo` end to end: a real controller and real proxies on loopback; the split,
//! mTLS and a live edit checked through `meshctl stat --proxy` and the proxies' `/metrics`;
//! the dashboard in headless Chromium (`demo_dashboard.rs`).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::demo_support::{ONE_DEMO, RunningDemo, http_get};
use crate::support::{run, stderr, stdout};

/// Requests per backend of `web` as the client's proxy counted them (`stat -o json` rows
/// `…/web-v1` and `…/web-v2`).
fn backend_requests(client_admin: &str, window: &str) -> (u64, u64) {
    let out = run(
        &[
            "stat",
            "--proxy",
            client_admin,
            "--window",
            window,
            "-o",
            "json",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let value: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let count = |suffix: &str| {
        value["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["backend"].as_str().is_some_and(|b| b.ends_with(suffix)))
            .map(|r| r["requests"].as_u64().unwrap())
            .sum::<u64>()
    };
    (count("/web-v1"), count("/web-v2"))
}

#[test]
fn demo_splits_90_10_over_mtls_and_an_edit_moves_the_split_within_2s() {
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
    let demo = RunningDemo::start();
    let _ = std::io::Write::write_fmt(
        &mut std::io::stderr(),
        format_args!("demo ready in {:?}\n", demo.started_in),
    );
    let client = demo.admin("client").to_string();

    // 20 requests/s for 15 s: ~300 requests, the v2 share's deviation under 2 %.
    std::thread::sleep(Duration::from_secs(15));
    let (v1, v2) = backend_requests(&client, "1m");
    let share = v2 as f64 / (v1 + v2) as f64;
    let _ = std::io::Write::write_fmt(
        &mut std::io::stderr(),
        format_args!("split: v1 {v1}, v2 {v2} ({:.1} % to v2)\n", 100.0 * share),
    );
    assert!(v1 + v2 >= 200, "too few requests: v1 {v1}, v2 {v2}");
    assert!((0.05..=0.15).contains(&share), "v1 {v1}, v2 {v2}");

    // Every request between proxies went over mTLS, on both sides.
    for name in ["client", "web-v1", "web-v2"] {
        let metrics = http_get(demo.admin(name), "/metrics").unwrap();
        let counted: Vec<&str> = metrics
            .lines()
            .filter(|l| l.starts_with("request_total{") && !l.ends_with(" 0"))
            .collect();
        assert!(
            !counted.is_empty(),
            "{name} counted no requests:\n{metrics}"
        );
        for line in counted {
            assert!(line.contains("tls=\"true\""), "{name}: {line}");
            let peer = if name == "client" {
                "server_id"
            } else {
                "client_id"
            };
            assert!(line.contains(peer), "{name}: {line}");
        }
    }

    // Everything to v2: from the edit on, v1 gets nothing (counted in the client's proxy).
    let routing = demo.dir.path().join("10-web-routing.yaml");
    let text = std::fs::read_to_string(&routing).unwrap();
    let edited = text
        .replace("weight: 90", "weight: 0")
        .replace("weight: 10", "weight: 100");
    assert_ne!(edited, text);
    let (mut last_v1, mut last_v2) = backend_requests(&client, "10s");
    std::fs::write(&routing, edited).unwrap();
    let edited_at = Instant::now();
    let mut v1_last_seen = Duration::ZERO;
    let mut v2_after = 0;
    while edited_at.elapsed() < Duration::from_secs(5) {
        let (v1, v2) = backend_requests(&client, "10s");
        // A count going down is the window's slot rolling over, not fewer requests.
        if v1 > last_v1 {
            v1_last_seen = edited_at.elapsed();
            v2_after = 0;
        } else if v2 > last_v2 {
            v2_after += v2 - last_v2;
        }
        (last_v1, last_v2) = (v1, v2);
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::io::Write::write_fmt(
        &mut std::io::stderr(),
        format_args!(
            "edit: v1's last request {v1_last_seen:?} after the edit, then {v2_after} to v2\n"
        ),
    );
    assert!(
        v1_last_seen <= Duration::from_secs(2),
        "v1 still got requests {v1_last_seen:?} after the edit"
    );
    // ~3 s at 20 requests/s after the switch, all to v2.
    assert!(
        v2_after >= 30,
        "only {v2_after} requests to v2 after v1's last"
    );

    demo.stop();
}
