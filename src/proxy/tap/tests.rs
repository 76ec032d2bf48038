use std::sync::Arc;
use std::time::Duration;

use super::*;

fn request(method: Method, path: &str) -> Request {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("user-agent", "curl/8")
        .header("cookie", "secret=1")
        .body(())
        .unwrap();
    Request::of(&req, "Web:80")
}

fn outcome(peer: &PeerLabels) -> Outcome<'_> {
    Outcome {
        direction: Direction::Inbound,
        status: 200,
        latency: Duration::from_micros(1_500),
        peer,
        route: Some("default"),
        backend: None,
    }
}

async fn lines(stream: &mut TapStream, n: usize) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for _ in 0..n {
        let line = stream.next_line().await.expect("a line");
        out.push(serde_json::from_slice(&line).unwrap());
    }
    out
}

#[tokio::test(start_paused = true)]
async fn events_pass_the_filters_within_the_rate_and_end_at_the_limit() {
    let tap = Arc::new(Tap::default());
    assert!(!tap.is_active());
    let query = parse(Some(
        "path=/api&method=GET&headers=user-agent&max_rps=2&limit=3",
    ))
    .unwrap();
    let mut stream = tap.subscribe(query).unwrap();
    assert!(tap.is_active());
    let peer = PeerLabels::client(Some(Arc::from("spiffe://td/ns/shop/sa/a")));
    // Filtered out in the proxy: another method, another path.
    tap.publish(&request(Method::POST, "/api/x"), &outcome(&peer));
    tap.publish(&request(Method::GET, "/health"), &outcome(&peer));
    // A burst of 5: the bucket holds 2, the rest are skipped.
    for _ in 0..5 {
        tap.publish(&request(Method::GET, "/api/x"), &outcome(&peer));
    }
    let first = lines(&mut stream, 2).await;
    assert_eq!(first[0]["method"], "GET");
    assert_eq!(first[0]["authority"], "web:80");
    assert_eq!(first[0]["path"], "/api/x");
    assert_eq!(first[0]["status"], 200);
    assert_eq!(first[0]["latencyMs"], 1.5);
    assert_eq!(first[0]["direction"], "inbound");
    assert_eq!(first[0]["tls"], true);
    assert_eq!(first[0]["clientId"], "spiffe://td/ns/shop/sa/a");
    assert_eq!(first[0]["route"], "default");
    assert_eq!(
        first[0]["headers"],
        serde_json::json!({"user-agent": "curl/8"})
    );
    // A second later the bucket has room again: the third event is the last one.
    tokio::time::advance(Duration::from_secs(1)).await;
    tap.publish(&request(Method::GET, "/api/y"), &outcome(&peer));
    let last = lines(&mut stream, 2).await;
    assert_eq!(last[0]["path"], "/api/y");
    assert_eq!(
        last[1],
        serde_json::json!({"end": "limit", "events": 3, "skipped": 3})
    );
    assert!(stream.next_line().await.is_none(), "the stream ends");
    assert!(!tap.is_active(), "an ended tap costs nothing");
}

#[tokio::test]
async fn a_reader_that_goes_away_ends_its_tap_and_taps_are_bounded() {
    let tap = Arc::new(Tap::default());
    let mut streams: Vec<TapStream> = (0..MAX_TAPS)
        .map(|_| tap.subscribe(parse(None).unwrap()).unwrap())
        .collect();
    let busy = tap.subscribe(parse(None).unwrap()).unwrap_err();
    assert!(busy.to_string().contains("8 taps are running"), "{busy}");
    streams.truncate(1);
    assert!(tap.is_active());
    assert!(tap.wants(Direction::Outbound, &Method::GET, "web", "/"));
    drop(streams);
    assert!(!tap.is_active());
    assert!(!tap.wants(Direction::Outbound, &Method::GET, "web", "/"));
}

#[tokio::test]
async fn a_slow_reader_misses_events_but_keeps_its_last_line() {
    let tap = Arc::new(Tap::default());
    let query = parse(Some("max_rps=1000&limit=100000")).unwrap();
    let mut stream = tap.subscribe(query).unwrap();
    let peer = PeerLabels::PLAIN;
    for _ in 0..(QUEUE + 50) {
        tap.publish(&request(Method::GET, "/"), &outcome(&peer));
    }
    let queued = lines(&mut stream, QUEUE).await;
    assert!(
        queued
            .iter()
            .all(|l| l["tls"] == false && l.get("clientId").is_none())
    );
    let taps = tap.taps.lock().unwrap();
    assert_eq!((taps[0].sent, taps[0].skipped), (QUEUE as u64, 50));
}
