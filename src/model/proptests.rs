//! Fuzzing the config parser: no text makes it panic, every refusal names the file (and, for
//! a field that fails its checks, a line inside the file), and durations read back what they
//! write.

use proptest::prelude::*;

use super::duration::Duration;
use super::load::{LoadError, parse};

/// A config that uses every section, for mutations to start from.
const SEED: &str = r#"accessLog: true
identity:
  roots: /etc/meshctl/roots.pem
  cert: /etc/meshctl/leaf.pem
  key: /etc/meshctl/leaf.key
inbound:
  appPort: 8080
  opaquePorts: [3306]
  tls: { mode: PERMISSIVE, ports: { 5432: STRICT } }
  authorization:
    default: all-allowed
    rules:
      - { name: no-admin-writes, action: DENY, to: [{ methods: [POST], paths: ["/admin*"] }] }
      - name: shop
        action: ALLOW
        from: [{ identities: ["spiffe://cluster.local/ns/shop/*"] }, { namespaces: [ops] }]
        to: [{ ports: [8080], methods: [GET, POST], paths: ["/api/*", "*.css"] }]
services:
  - name: web
    authorities: [web.shop.svc.cluster.local, "web.shop:80", web]
    addresses: ["10.96.0.10:80"]
    policy:
      loadBalancer: { algorithm: consistent-hash, hashOn: { header: x-user } }
      timeouts: { request: 2s, perTry: 500ms }
      retries: { attempts: 2, retryOn: [gateway-error, "grpc:unavailable"],
                 backoff: { base: 25ms, max: 250ms }, budget: { ratio: 0.2, minPerSecond: 10 } }
      circuitBreaker: { maxConnections: 1024, maxPendingRequests: 1024 }
      outlierDetection: { consecutive5xx: 5, interval: 10s, baseEjectionTime: 30s }
      rateLimit: { requestsPerSecond: 100, burst: 200 }
    backends:
      - name: v1
        endpoints: [{ addr: "10.0.1.5:8080", labels: { version: v1 } }]
      - name: v2
        endpoints: [{ addr: "10.0.2.7:4143", identity: "spiffe://cluster.local/ns/shop/sa/web" }]
    routes:
      - name: canary
        matches: [{ headers: [{ name: x-canary, exact: "1" }] }]
        backends: [{ name: v2 }]
      - name: api
        matches: [{ path: { prefix: /api }, method: GET }]
        backends: [{ name: v1, weight: 90 }, { name: v2, weight: 10 }]
        requestHeaders: { set: [{ name: x-route, value: api }], remove: [x-debug] }
        mirror: { backend: v2, percent: 5 }
      - name: rest
        backends: [{ name: v1 }]
        fault: { delay: { fixed: 50ms, percent: 1 }, abort: { status: 503, percent: 1 } }
  - name: db
    protocol: opaque
    addresses: ["10.96.0.20:3306"]
    backends: [{ name: primary, endpoints: [{ addr: "10.0.3.9:3306" }] }]
"#;

/// Text that trips parsers and checks: indicators, anchors, tags, numbers out of range,
/// wrong types, duplicate keys, tabs, NUL, deep nesting.
fn splice() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(": ".to_owned()),
        Just("\t".to_owned()),
        Just("\0".to_owned()),
        Just("- ".to_owned()),
        Just("&a [*a, *a]".to_owned()),
        Just("!!binary x".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just("-1".to_owned()),
        Just("65536".to_owned()),
        Just("0s".to_owned()),
        Just("[[[[[[[[[[[[[[[[[[[[[[[[".to_owned()),
        Just("{ name: web }".to_owned()),
        Just("\nservices: []\nservices: []\n".to_owned()),
        Just("'unterminated".to_owned()),
        Just("\u{1F600}".to_owned()),
        "[a-z0-9:{}\\[\\],'\" \\n-]{0,12}",
    ]
}

/// The seed, cut, with a part removed, or with text spliced in, at any char boundary.
fn mutated() -> impl Strategy<Value = String> {
    let len = SEED.len();
    (0..len, 0..len, splice(), 0..3u8).prop_map(|(a, b, text, how)| {
        let at = |i: usize| {
            (0..=i)
                .rev()
                .find(|i| SEED.is_char_boundary(*i))
                .unwrap_or(0)
        };
        let (from, to) = (at(a.min(b)), at(a.max(b)));
        match how {
            0 => SEED[..from].to_owned(),
            1 => format!("{}{}", &SEED[..from], &SEED[to..]),
            _ => format!("{}{text}{}", &SEED[..from], &SEED[from..]),
        }
    })
}

/// The seed with one value swapped for another of the right syntax that its checks may
/// refuse: a backend nobody defines, a duplicate name, a zero, an inverted order.
fn swapped() -> impl Strategy<Value = String> {
    const SWAPS: [(&str, &str); 14] = [
        ("name: v2", "name: v1"),
        ("{ name: v2 }", "{ name: v9 }"),
        ("name: db", "name: web"),
        ("weight: 90", "weight: 0"),
        ("attempts: 2", "attempts: 0"),
        ("max: 250ms", "max: 1ms"),
        ("request: 2s", "request: 0s"),
        ("percent: 5", "percent: 500"),
        ("status: 503", "status: 42"),
        ("ratio: 0.2", "ratio: -1"),
        ("[3306]", "[0]"),
        ("appPort: 8080", "appPort: 0"),
        ("5432: STRICT", "0: STRICT"),
        ("spiffe://cluster.local/ns/shop/sa/web", "spiffe://"),
    ];
    (0..SWAPS.len(), 0..4usize).prop_map(|(i, nth)| {
        let (from, to) = SWAPS[i];
        let hits: Vec<usize> = SEED.match_indices(from).map(|(at, _)| at).collect();
        let at = hits[nth % hits.len()];
        format!("{}{to}{}", &SEED[..at], &SEED[at + from.len()..])
    })
}

/// What every refusal must say: the file first, a line inside it for failed checks.
fn check_refusal(text: &str, err: &LoadError) {
    let message = err.to_string();
    assert!(message.starts_with("mesh.yaml"), "{message}");
    if let LoadError::Invalid { line, field, .. } = err {
        assert!(!field.is_empty(), "{message}");
        assert!(*line as usize <= text.lines().count() + 1, "{message}");
    }
}

#[test]
fn the_seed_is_a_valid_config() {
    parse("mesh.yaml", SEED).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn a_mutated_config_is_read_or_refused_by_name(text in mutated()) {
        if let Err(err) = parse("mesh.yaml", &text) {
            check_refusal(&text, &err);
        }
    }

    #[test]
    fn a_config_with_a_value_swapped_is_read_or_refused_by_name(text in swapped()) {
        if let Err(err) = parse("mesh.yaml", &text) {
            check_refusal(&text, &err);
        }
    }

    #[test]
    fn any_text_is_read_or_refused_by_name(text in "\\PC{0,200}") {
        if let Err(err) = parse("mesh.yaml", &text) {
            check_refusal(&text, &err);
        }
    }

    #[test]
    fn durations_read_back_what_they_write(ms in 0u64..10_000_000_000) {
        let d = Duration::from_millis(ms);
        prop_assert_eq!(d.to_string().parse::<Duration>().unwrap(), d);
    }

    #[test]
    fn any_duration_text_is_read_or_refused_with_the_grammar(text in "[0-9hms ]{0,12}|\\PC{0,12}") {
        match text.parse::<Duration>() {
            Ok(d) => prop_assert_eq!(d.to_string().parse::<Duration>().unwrap(), d),
            Err(e) => prop_assert!(e.to_string().contains("largest first"), "{}", e),
        }
    }
}
