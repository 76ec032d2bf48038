//! The quickstart resources of issue #14 (tests/fixtures/translate/quickstart): each one's
//! model, and the findings of the whole directory.

use std::path::PathBuf;

use super::{assert_valid, service};
use crate::inject::Input;
use crate::model::duration::Duration;
use crate::model::policy::{Algorithm, HashOn, RetryOn};
use crate::model::route::{PathMatch, ValueMatch};
use crate::translate::{Inputs, Mesh, Options, translate};

fn load(dir: &str) -> (Inputs, Mesh) {
    load_dirs(&[dir])
}

fn load_dirs(dirs: &[&str]) -> (Inputs, Mesh) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/translate");
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let texts: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|f| {
            (
                f.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(f).unwrap(),
            )
        })
        .collect();
    let inputs: Vec<Input<'_>> = texts
        .iter()
        .map(|(n, b)| Input { name: n, bytes: b })
        .collect();
    let (read, findings) = Inputs::from_documents(&inputs);
    assert!(findings.is_empty(), "{findings:#?}");
    let mesh = translate(&read, &Options::default());
    assert_valid(&mesh, &read);
    (read, mesh)
}

#[test]
fn details_90_10_with_retries_and_timeout() {
    let (_, m) = load("quickstart");
    let s = service(&m, "shop", "details.shop:9080");
    let names: Vec<&str> = s.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["details", "details-v1", "details-v2"]);
    assert_eq!(
        s.backends[1].endpoints[0].addr.to_string(),
        "10.1.0.11:8080"
    );
    assert_eq!(
        s.backends[2].endpoints[0].addr.to_string(),
        "10.1.0.12:8080"
    );
    let r = &s.routes[0];
    assert_eq!(r.name, "canary");
    let weights: Vec<(&str, u32)> = r
        .backends
        .iter()
        .map(|b| (b.name.as_str(), b.weight))
        .collect();
    assert_eq!(weights, [("details-v1", 90), ("details-v2", 10)]);
    let p = r.policy.as_ref().unwrap();
    assert_eq!(p.timeouts.request, Some(Duration::from_secs(10)));
    assert_eq!(p.timeouts.per_try, Some(Duration::from_secs(2)));
    let retries = p.retries.as_ref().unwrap();
    assert_eq!(retries.attempts, 3);
    assert_eq!(
        retries.retry_on,
        [
            RetryOn::Status5xx,
            RetryOn::ConnectFailure,
            RetryOn::RefusedStream
        ]
    );
}

#[test]
fn reviews_jason_to_v2_else_75_25_under_the_destination_rule() {
    let (_, m) = load("quickstart");
    let s = service(&m, "shop", "reviews.shop:9080");
    assert_eq!(s.routes.len(), 2);
    assert_eq!(
        s.routes[0].matches[0].headers,
        [ValueMatch {
            name: "end-user".into(),
            exact: Some("jason".into()),
            ..ValueMatch::default()
        }]
    );
    assert_eq!(s.routes[0].backends[0].name, "reviews-v2");
    // v2's subset policy replaces the rule's balancer on the route that only goes to v2.
    let p = s.routes[0].policy.as_ref().unwrap();
    assert_eq!(p.load_balancer.algorithm, Algorithm::RoundRobin);
    assert_eq!(p.circuit_breaker.max_connections, 100);
    let weights: Vec<(&str, u32)> = s.routes[1]
        .backends
        .iter()
        .map(|b| (b.name.as_str(), b.weight))
        .collect();
    assert_eq!(weights, [("reviews-v1", 75), ("reviews-v3", 25)]);
    // The Service-wide policy from the DestinationRule.
    assert_eq!(s.policy.load_balancer.algorithm, Algorithm::LeastRequest);
    assert_eq!(s.policy.circuit_breaker.max_connections, 100);
    assert_eq!(s.policy.circuit_breaker.max_pending_requests, 10);
    let od = s.policy.outlier_detection.as_ref().unwrap();
    assert_eq!((od.consecutive_5xx, od.max_ejection_percent), (5, 50));
    assert_eq!(
        (od.interval, od.base_ejection_time),
        (Duration::from_secs(30), Duration::from_secs(60))
    );
    // Subset backends hold the Service's endpoints with those labels, with identities.
    let v3 = s.backends.iter().find(|b| b.name == "reviews-v3").unwrap();
    assert_eq!(v3.endpoints.len(), 1);
    assert_eq!(
        v3.endpoints[0].identity.as_ref().unwrap().to_string(),
        "spiffe://cluster.local/ns/shop/sa/reviews"
    );
}

#[test]
fn productpage_cookie_regex_or_query_param_and_sticky_cookie() {
    let (_, m) = load("quickstart");
    let s = service(&m, "shop", "productpage.shop:9080");
    let r = &s.routes[0];
    assert_eq!(r.matches.len(), 2, "two matches: either selects the route");
    assert_eq!(r.matches[0].headers[0].name, "cookie");
    assert_eq!(
        r.matches[0].headers[0].regex.as_deref(),
        Some("^(.*?;)?(user=jason)(;.*)?$")
    );
    assert_eq!(r.matches[1].query_params[0].exact.as_deref(), Some("true"));
    assert_eq!(
        r.matches[1].path,
        Some(PathMatch::Regex("/productpage.*".into()))
    );
    assert_eq!(r.request_headers.set[0].name, "x-test-route");
    assert_eq!(
        s.policy.load_balancer.hash_on,
        Some(HashOn::Cookie("user".into()))
    );
    let sticky = s.policy.sticky_cookie.as_ref().unwrap();
    assert_eq!(
        (sticky.ttl, sticky.path.as_deref()),
        (Duration::from_secs(3600), Some("/"))
    );
}

#[test]
fn httpbin_circuit_breaker_trips_at_one() {
    let (_, m) = load("quickstart");
    let s = service(&m, "shop", "httpbin.shop:8000");
    let cb = &s.policy.circuit_breaker;
    assert_eq!(
        (
            cb.max_connections,
            cb.max_pending_requests,
            cb.max_requests_per_connection
        ),
        (1, 1, 1)
    );
    let od = s.policy.outlier_detection.as_ref().unwrap();
    assert_eq!((od.consecutive_5xx, od.max_ejection_percent), (1, 100));
}

#[test]
fn ratings_fault_delay_and_abort() {
    let (_, m) = load("quickstart");
    let s = service(&m, "shop", "ratings.shop:9080");
    let f = s.routes[0].fault.as_ref().unwrap();
    let d = f.delay.as_ref().unwrap();
    assert_eq!((d.fixed, d.percent), (Duration::from_secs(5), 10.0));
    let a = f.abort.as_ref().unwrap();
    assert_eq!((a.status, a.percent, a.grpc_status), (500, 10.0, None));
}

#[test]
fn traffic_splits_by_quantity_and_integer() {
    let (_, m) = load("quickstart");
    let web = service(&m, "shop", "web.shop:80");
    let w: Vec<(&str, u32)> = web.routes[0]
        .backends
        .iter()
        .map(|b| (b.name.as_str(), b.weight))
        .collect();
    assert_eq!(w, [("web-v1", 900), ("web-v2", 100)]);
    assert_eq!(
        web.backends[1].endpoints[0].addr.to_string(),
        "10.1.0.51:8080"
    );
    let api = service(&m, "shop", "api.shop:80");
    let w: Vec<(&str, u32)> = api.routes[0]
        .backends
        .iter()
        .map(|b| (b.name.as_str(), b.weight))
        .collect();
    assert_eq!(w, [("api-v1", 500), ("api-v2", 500)]);
}

#[test]
fn the_quickstart_findings_name_object_and_field() {
    let (_, m) = load("quickstart");
    let found: Vec<String> = m
        .findings
        .iter()
        .map(|f| {
            format!(
                "{} {}/{} {} {}",
                f.severity,
                f.object.kind,
                f.object.name,
                f.object.file.as_deref().unwrap_or("-"),
                f.field
            )
        })
        .collect();
    let expected = include_str!("quickstart_findings.txt");
    assert_eq!(
        found.join("\n").trim(),
        expected.trim(),
        "\n{}",
        found.join("\n")
    );
}

#[test]
fn the_clean_directory_has_no_findings() {
    let (_, m) = load("clean");
    assert!(m.findings.is_empty(), "{:#?}", m.findings);
}

#[test]
fn web_service_profile_routes_over_the_canary_split() {
    let (_, m) = load("quickstart");
    let s = service(&m, "shop", "web.shop:80");
    let names: Vec<&str> = s.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["GET /api/items", "POST /api/orders", "default"]);
    let get = &s.routes[0];
    assert_eq!(get.matches[0].method.as_deref(), Some("GET"));
    assert_eq!(
        get.matches[0].path,
        Some(PathMatch::Regex("/api/items".into()))
    );
    // The TrafficSplit's weights stay on every profile route.
    let weights: Vec<(&str, u32)> = get
        .backends
        .iter()
        .map(|b| (b.name.as_str(), b.weight))
        .collect();
    assert_eq!(weights, [("web-v1", 900), ("web-v2", 100)]);
    assert_eq!(s.routes[2].backends, get.backends);
    let p = get.policy.as_ref().unwrap();
    assert_eq!(p.timeouts.request, Some(Duration::from_millis(300)));
    let retries = p.retries.as_ref().unwrap();
    assert_eq!(retries.retry_on[0], RetryOn::Status5xx);
    assert_eq!(
        (retries.budget.ratio, retries.budget.min_per_second),
        (0.2, 10)
    );
    // Not retryable, Linkerd's default timeout.
    let post = s.routes[1].policy.as_ref().unwrap();
    assert!(post.retries.is_none());
    assert_eq!(post.timeouts.request, Some(Duration::from_secs(10)));
}

#[test]
fn ratings_envoy_filter_is_a_100_per_minute_bucket() {
    let (_, m) = load("quickstart");
    let s = service(&m, "shop", "ratings.shop:9080");
    let rl = s.policy.rate_limit.as_ref().unwrap();
    assert_eq!((rl.requests_per_second, rl.burst), (100, Some(100)));
    assert_eq!(rl.per, Some(Duration::from_secs(60)));
    // Routes with their own policy (the fault route's) carry the same limit.
    for r in &s.routes {
        if let Some(p) = &r.policy {
            assert_eq!(p.rate_limit.as_ref(), Some(rl));
        }
    }
    assert!(
        service(&m, "shop", "web.shop:80")
            .policy
            .rate_limit
            .is_none()
    );
}

#[test]
fn the_gateway_seeds_route_httpbin_and_api_without_errors() {
    let (_, m) = load_dirs(&["quickstart", "gateway"]);
    assert!(!m.has_errors(), "{:#?}", m.findings);
    let httpbin = service(&m, "shop", "httpbin.shop:8000");
    assert_eq!(httpbin.routes[0].name, "shop.httpbin.rule-1");
    assert!(httpbin.routes[1].rewrite.is_some() && httpbin.routes[1].mirror.is_some());
    let api = service(&m, "shop", "api.shop:80");
    assert_eq!(api.routes.len(), 2);
    assert!(m.findings.iter().any(|f| f.object.kind == "TrafficSplit"
        && f.message.contains("HTTPRoute/GRPCRoute > VirtualService")));
}
