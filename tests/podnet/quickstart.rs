//! The traffic resources of the Istio, SMI and Linkerd quickstarts
//! (tests/fixtures/translate/quickstart), adapted to this test's pods and applied to the real
//! API server, enforced end to end: one controller, proxies in cluster mode in pod network
//! namespaces, and each resource measured over enough requests to bound the error. Figures go
//! to stderr on lines starting `QUICKSTART`.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};

use crate::canary::route_api;
use crate::controller::{answered_by, request, response, start_in_cluster};
use crate::controller_process::{ControllerProcess, install, trust_anchors};
use crate::harness::cluster;
use crate::load::{Tally, paced_gets, paced_gets_with};
use crate::meshed::Mesh;
use crate::net::{Greeter, Says};
use crate::node::Pod;
use crate::node_or_skip;
use crate::registry::{Registry, cluster_available};

/// The address pods reach this machine at (see `Node::link_host`).
const HOST: &str = "10.213.0.1";
const RPS: u32 = 200;

/// The client side: pod a dialing Service b's cluster IP by its DNS name.
struct Client<'a> {
    a: &'a Pod,
    service: SocketAddr,
    host: String,
    controller: &'a ControllerProcess,
    mesh: &'a Mesh,
    /// Every meshed pod (namespace, name).
    all: &'a [(&'a str, &'a str)],
}

impl Client<'_> {
    fn context(&self) -> String {
        format!("{}\n{}", self.mesh.logs(), self.controller.logs())
    }

    /// Applies `objects` (server-side, replacing earlier versions) and deletes `gone` (kind,
    /// name), then waits until every proxy acked the config made of them.
    fn apply(&self, objects: &[Value], gone: &[(&str, &str)]) {
        let ns = self.all[0].0;
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let admin = cluster().admin().await;
            for object in objects {
                let mut object = object.clone();
                object["metadata"]["namespace"] = ns.into();
                let name = object["metadata"]["name"]
                    .as_str()
                    .expect("name")
                    .to_owned();
                let api = route_api(admin.clone(), &object);
                let typed: kube::api::DynamicObject =
                    serde_json::from_value(object).expect("object");
                let params = kube::api::PatchParams::apply("quickstart").force();
                api.patch(&name, &params, &kube::api::Patch::Apply(&typed))
                    .await
                    .unwrap_or_else(|e| panic!("apply {name}: {e}"));
            }
            for (kind, name) in gone {
                let object = json!({"apiVersion": api_version(kind), "kind": kind,
                    "metadata": {"name": name, "namespace": ns}});
                route_api(admin.clone(), &object)
                    .delete(name, &kube::api::DeleteParams::default())
                    .await
                    .unwrap_or_else(|e| panic!("delete {kind} {name}: {e}"));
            }
        });
        // The controller's watch sees the change first; then every proxy acks the new config.
        std::thread::sleep(Duration::from_millis(300));
        self.controller
            .wait_acked(self.all, Duration::from_secs(10));
    }

    fn load(&self, headers: &str, requests: u32) -> Tally {
        self.load_at(headers, requests, RPS)
    }

    fn load_at(&self, headers: &str, requests: u32, rps: u32) -> Tally {
        let duration = Duration::from_millis(u64::from(requests) * 1000 / u64::from(rps));
        paced_gets_with(self.a, self.service, &self.host, headers, rps, duration)
    }
}

fn api_version(kind: &str) -> &'static str {
    match kind {
        "TrafficSplit" => "split.smi-spec.io/v1alpha4",
        _ => "networking.istio.io/v1",
    }
}

/// The share (in percent) of `tally`'s answers that `app` gave.
fn share(tally: &Tally, app: &str) -> f64 {
    100.0 * answered_by(tally, app) as f64 / tally.answered().max(1) as f64
}

/// Asserts `measured` is within `tolerance` points of `expected`, after printing it.
fn within(what: &str, measured: f64, expected: f64, tolerance: f64, tally: &Tally) {
    eprintln!(
        "QUICKSTART {what}: {measured:.1} % (expected {expected} ± {tolerance}) of {} answered, {} failed",
        tally.answered(),
        tally.failures.len()
    );
    assert!(
        (measured - expected).abs() <= tolerance,
        "{what}: {measured:.1} %, expected {expected} ± {tolerance}: {tally:?}"
    );
}

/// DestinationRule subsets of Service b by pod label: v1 is pod b, v2 pod c.
fn subsets() -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
        "metadata": {"name": "b"},
        "spec": {"host": "b", "subsets": [
            {"name": "v1", "labels": {"app": "b"}},
            {"name": "v2", "labels": {"app": "b-v2"}},
        ]},
    })
}

fn virtual_service(http: Value) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "b"},
        "spec": {"hosts": ["b"], "http": http},
    })
}

fn to_subset(subset: &str, weight: u32) -> Value {
    json!({"destination": {"host": "b", "subset": subset}, "weight": weight})
}

#[test]
fn quickstart_resources_are_enforced_end_to_end() {
    if !cluster_available("quickstart") {
        return;
    }
    let Some(mut node) = node_or_skip("quickstart", &["a", "b", "c"]) else {
        return;
    };
    node.link_host();
    let (a, b, c) = (node.pod("a"), node.pod("b"), node.pod("c"));
    let any: SocketAddr = "[::]:8080".parse().expect("addr");
    // Replaced below by failing and slow versions of themselves.
    let mut v1_app = Some(Greeter::start(b, any, Says::Http("b")));
    let mut v2_app = Some(Greeter::start(c, any, Says::Http("c")));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mesh_ns = format!("meshctl-qs-{}", std::process::id());
    install(&cluster().kubeconfig, &mesh_ns);
    let (registry, pods, ips, tokens, roots, kubeconfig) = runtime.block_on(async {
        let registry = Registry::new(cluster(), "qs").await;
        let a_pods = registry.deployment("a.yaml", &[a]).await;
        let b_pods = registry.deployment("b.yaml", &[b]).await;
        let c_pods = registry.deployment("b-v2.yaml", &[c]).await;
        // b holds both versions (told apart by subsets); b-v1 and b-v2 one each (SMI).
        registry.service("b", "b").await;
        registry.service("b-v1", "b").await;
        registry.service("b-v2", "b-v2").await;
        let (b_pod, c_pod) = (b_pods[0].as_str(), c_pods[0].as_str());
        registry
            .endpoint_slice("b", &[(b_pod, b), (c_pod, c)])
            .await;
        registry.endpoint_slice("b-v1", &[(b_pod, b)]).await;
        registry.endpoint_slice("b-v2", &[(c_pod, c)]).await;
        let ips = (
            registry.cluster_ip("b").await,
            registry.cluster_ip("b-v2").await,
        );
        let tokens = (
            registry.token("a", "identity.meshctl.io").await,
            registry.token("b", "identity.meshctl.io").await,
        );
        let roots = trust_anchors(cluster().admin().await, &mesh_ns).await;
        let kubeconfig = cluster()
            .kubeconfig_for_service_account(&mesh_ns, "meshctl-controller")
            .await;
        let pods = [a_pods[0].clone(), b_pods[0].clone(), c_pods[0].clone()];
        (registry, pods, ips, tokens, roots, kubeconfig)
    });
    let ns = registry.namespace.clone();
    let mut mesh = Mesh::new();
    let controller = ControllerProcess::start(
        kubeconfig,
        &mesh_ns,
        HOST,
        None,
        mesh.write_path("controller.log"),
    );
    start_in_cluster(
        &mut mesh,
        &controller,
        &ns,
        &roots,
        &[
            (a, "a.yaml", &pods[0], &tokens.0),
            (b, "b.yaml", &pods[1], &tokens.1),
            (c, "b-v2.yaml", &pods[2], &tokens.1),
        ],
    );
    let all: Vec<(&str, &str)> = pods.iter().map(|p| (ns.as_str(), p.as_str())).collect();
    controller.wait_acked(&all, Duration::from_secs(20));
    // The cluster IP range leaves a through eth0, where its proxy intercepts it.
    a.run("ip", &["route", "add", "10.96.0.0/20", "dev", "eth0"]);
    let client = Client {
        a,
        service: SocketAddr::new(ips.0.into(), 80),
        host: format!("b.{ns}.svc.cluster.local"),
        controller: &controller,
        mesh: &mesh,
        all: &all,
    };
    let warm = paced_gets(a, client.service, &client.host, 50, Duration::from_secs(1));
    warm.assert_all_answered(50, &client.context());

    // Istio: details' VirtualService, 90 % to subset v1, 10 % to v2.
    let split = virtual_service(json!([{"route": [to_subset("v1", 90), to_subset("v2", 10)]}]));
    client.apply(&[subsets(), split], &[]);
    let tally = client.load("", 2000);
    tally.assert_all_answered(2000, &client.context());
    within(
        "VirtualService 90/10 v2 share",
        share(&tally, "c"),
        10.0,
        3.0,
        &tally,
    );

    // Istio: reviews' VirtualService, `end-user: jason` to v2, everyone else 75/25.
    let jason = virtual_service(json!([
        {"match": [{"headers": {"end-user": {"exact": "jason"}}}],
         "route": [{"destination": {"host": "b", "subset": "v2"}}]},
        {"route": [to_subset("v1", 75), to_subset("v2", 25)]},
    ]));
    client.apply(&[jason], &[]);
    let tally = client.load("end-user: jason\r\n", 200);
    tally.assert_all_answered(200, &client.context());
    within(
        "VirtualService end-user jason v2 share",
        share(&tally, "c"),
        100.0,
        0.0,
        &tally,
    );
    let tally = client.load("end-user: someone\r\n", 1000);
    tally.assert_all_answered(1000, &client.context());
    within(
        "VirtualService others 75/25 v2 share",
        share(&tally, "c"),
        25.0,
        4.0,
        &tally,
    );

    // Istio: ratings' fault injection, 10 % 500s and 10 % delayed (200 ms, not 5 s).
    let fault = virtual_service(json!([{
        "fault": {
            "delay": {"percentage": {"value": 10}, "fixedDelay": "200ms"},
            "abort": {"percentage": {"value": 10}, "httpStatus": 500},
        },
        "route": [{"destination": {"host": "b"}}],
    }]));
    client.apply(&[fault], &[]);
    let tally = client.load("", 1000);
    let aborted = tally.failed_with(500);
    within(
        "fault abort 500 share",
        aborted as f64 / 10.0,
        10.0,
        3.0,
        &tally,
    );
    // An aborted request is not delayed too: 10 % of the 90 % not aborted.
    let delayed = tally.slower_than(Duration::from_millis(200));
    within(
        "fault delay 200ms share",
        delayed as f64 / 10.0,
        9.0,
        3.0,
        &tally,
    );
    // No other failure than the injected 500s, but for a rare request that gets no answer
    // at all (2 of 1,000 in 2 of 9 runs on a loaded machine, only in this step; not
    // understood yet): more than 3 fail the test, any is printed.
    let unanswered = 1000 - aborted - tally.answered() as usize;
    if unanswered > 0 {
        eprintln!(
            "QUICKSTART fault: {unanswered} of 1000 requests unanswered: {:?}",
            tally.failures
        );
    }
    assert!(unanswered <= 3, "{:?}", tally.failures);

    // SMI: web's TrafficSplit, 900m/100m between b-v1 and b-v2, then api's 500/500.
    for (weights, requests, expected, tolerance) in [
        (["900m", "100m"], 2000, 10.0, 3.0),
        (["500", "500"], 2000, 50.0, 4.0),
    ] {
        let split = json!({
            "apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit",
            "metadata": {"name": "b"},
            "spec": {"service": "b", "backends": [
                {"service": "b-v1", "weight": weights[0]},
                {"service": "b-v2", "weight": weights[1]},
            ]},
        });
        let gone: &[(&str, &str)] = if expected < 50.0 {
            &[("VirtualService", "b"), ("DestinationRule", "b")]
        } else {
            &[]
        };
        client.apply(&[split], gone);
        let tally = client.load("", requests);
        tally.assert_all_answered(u64::from(requests), &client.context());
        let what = format!("TrafficSplit {}/{} b-v2 share", weights[0], weights[1]);
        within(&what, share(&tally, "c"), expected, tolerance, &tally);
    }

    // Istio: productpage's sticky sessions, a cookie the proxy generates (consistent hash on
    // it): requests without it spread over b and c, those with the returned one reach one pod.
    let sticky = json!({
        "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
        "metadata": {"name": "b"},
        "spec": {"host": "b", "trafficPolicy": {"loadBalancer": {"consistentHash": {
            "httpCookie": {"name": "user", "path": "/", "ttl": "3600s"},
        }}}},
    });
    client.apply(&[sticky], &[("TrafficSplit", "b")]);
    let fresh = client.load("", 200);
    fresh.assert_all_answered(200, &client.context());
    let first = response(a, client.service, &client.host, "GET /", "x-test: sticky");
    let cookie = first
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no set-cookie in {first:?}\n{}", client.context()))
        .to_owned();
    let kept = client.load(&format!("cookie: {cookie}\r\n"), 200);
    kept.assert_all_answered(200, &client.context());
    eprintln!(
        "QUICKSTART sticky cookie: 200 without it answered by {:?}, 200 with {cookie} by {:?}",
        fresh.answered_by, kept.answered_by
    );
    assert_eq!(fresh.answered_by.len(), 2, "{fresh:?}");
    assert_eq!(kept.answered_by.len(), 1, "{kept:?}");

    // Istio: details' retries, to a v2 now failing every second request: half fail without
    // retries, nearly none with 3 retries on 5xx. At 20 RPS, so that the proxy's default
    // retry budget (20 % of requests + 10 per second) allows every retry needed.
    drop(v2_app.take());
    v2_app = Some(Greeter::start(c, any, Says::HttpFailingEvery("c", 2)));
    let to_v2 = json!([{"destination": {"host": "b", "subset": "v2"}}]);
    let plain = virtual_service(json!([{"route": to_v2}]));
    client.apply(&[subsets(), plain], &[]);
    let without = client.load_at("", 100, 20);
    let retried = virtual_service(json!([{
        "route": to_v2,
        "retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx"},
    }]));
    client.apply(&[retried], &[]);
    let with = client.load_at("", 100, 20);
    let (before, after) = (without.answered() as f64, with.answered() as f64);
    eprintln!(
        "QUICKSTART retries (backend failing 50 %): {before:.1} % succeeded without, {after:.1} % with 3 retries"
    );
    assert!((before - 50.0).abs() <= 15.0, "{without:?}");
    assert!(after >= 90.0, "{with:?}\n{}", client.context());

    // Linkerd: web's ServiceProfile, every GET retryable under a budget of 10 % (+ 1 per
    // second), to b-v2 still failing every second connection. Each connection is a try, so
    // retries = tries - requests, and half the tries succeed: retries = 2 × answered - sent.
    let profile = json!({
        "apiVersion": "linkerd.io/v1alpha2", "kind": "ServiceProfile",
        "metadata": {"name": format!("b-v2.{ns}.svc.cluster.local")},
        "spec": {
            "routes": [{"name": "GET", "condition": {"method": "GET", "pathRegex": "/.*"},
                        "isRetryable": true}],
            "retryBudget": {"retryRatio": 0.1, "minRetriesPerSecond": 1, "ttl": "10s"},
        },
    });
    client.apply(&[profile], &[]);
    let v2 = SocketAddr::new(ips.1.into(), 80);
    let v2_host = format!("b-v2.{ns}.svc.cluster.local");
    let budgeted = paced_gets(a, v2, &v2_host, 100, Duration::from_secs(3));
    let retries = (2 * budgeted.answered()).saturating_sub(300);
    // The proxy counts the budget over a 10 s window: 10 % of 300 plus 1 per second of it.
    let bound = 30 + 10;
    eprintln!(
        "QUICKSTART ServiceProfile retry budget 0.1 + 1/s, 300 requests to a 50 % failing backend: {} answered, {retries} retries (bound {bound})",
        budgeted.answered()
    );
    assert!(retries > 10, "{budgeted:?}\n{}", client.context());
    assert!(retries <= bound + 5, "{budgeted:?}\n{}", client.context());

    // Istio: httpbin's circuit breaker on b-v2 (now answering after 100 ms): one connection,
    // one pending request. Concurrent load overflows; sequential requests never do.
    drop(v2_app.take());
    v2_app = Some(Greeter::start(c, any, Says::HttpSlow("c", 100)));
    let breaker = json!({
        "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
        "metadata": {"name": "b-v2"},
        "spec": {"host": "b-v2", "trafficPolicy": {"connectionPool": {
            "tcp": {"maxConnections": 1},
            "http": {"http1MaxPendingRequests": 1, "maxRequestsPerConnection": 1},
        }}},
    });
    client.apply(&[breaker], &[]);
    let burst = paced_gets(a, v2, &v2_host, RPS, Duration::from_millis(250));
    let overflowed = burst
        .failures
        .iter()
        .filter(|f| f.contains("HTTP/1.1 503 ") && f.ends_with("pool overflow"))
        .count();
    eprintln!(
        "QUICKSTART circuit breaker maxConnections 1/pending 1, 50 concurrent: {} answered, {overflowed} overflowed (503 pool overflow)",
        burst.answered()
    );
    assert!(overflowed > 0, "{burst:?}\n{}", client.context());
    assert_eq!(overflowed, burst.failures.len(), "{burst:?}");
    let sequential: Vec<u16> = (0..10)
        .map(|_| request(a, v2, &v2_host, "GET /", "x-test: sequential"))
        .collect();
    eprintln!("QUICKSTART circuit breaker, 10 sequential: {sequential:?}");
    assert_eq!(sequential, [200; 10], "{}", client.context());

    // Istio: details' timeout, to a v1 now answering after 1 s: 504 at about 300 ms.
    drop(v1_app.take());
    let _slow_v1 = Greeter::start(b, any, Says::HttpSlow("b", 1000));
    let timed = virtual_service(json!([{
        "route": [{"destination": {"host": "b", "subset": "v1"}}],
        "timeout": "300ms",
    }]));
    client.apply(&[timed], &[]);
    let tally = client.load("", 20);
    let mut latencies = tally.latencies.clone();
    latencies.sort();
    eprintln!(
        "QUICKSTART timeout 300ms (backend 1 s): {} of 20 got 504, latency {:?}..{:?}",
        tally.failed_with(504),
        latencies[0],
        latencies[19]
    );
    assert_eq!(
        tally.failed_with(504),
        20,
        "{tally:?}\n{}",
        client.context()
    );
    assert!(latencies[0] >= Duration::from_millis(300), "{latencies:?}");
    assert!(latencies[19] < Duration::from_millis(800), "{latencies:?}");

    // Istio: ratings' EnvoyFilter local rate limit on b-v2's inbound side, 10 per 60 s:
    // the 11th request in a row is refused with 429.
    let limit = json!({
        "apiVersion": "networking.istio.io/v1alpha3", "kind": "EnvoyFilter",
        "metadata": {"name": "b-v2-ratelimit"},
        "spec": {
            "workloadSelector": {"labels": {"app": "b-v2"}},
            "configPatches": [{
                "applyTo": "HTTP_FILTER",
                "match": {"context": "SIDECAR_INBOUND", "listener": {"filterChain": {
                    "filter": {"name": "envoy.filters.network.http_connection_manager"}}}},
                "patch": {"operation": "INSERT_BEFORE", "value": {
                    "name": "envoy.filters.http.local_ratelimit",
                    "typed_config": {
                        "@type": "type.googleapis.com/udpa.type.v1.TypedStruct",
                        "type_url": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
                        "value": {
                            "stat_prefix": "http_local_rate_limiter",
                            "token_bucket": {"max_tokens": 10, "tokens_per_fill": 10, "fill_interval": "60s"},
                            "filter_enabled": {"runtime_key": "local_rate_limit_enabled",
                                "default_value": {"numerator": 100, "denominator": "HUNDRED"}},
                            "filter_enforced": {"runtime_key": "local_rate_limit_enforced",
                                "default_value": {"numerator": 100, "denominator": "HUNDRED"}},
                        },
                    },
                }},
            }],
        },
    });
    client.apply(&[limit], &[("DestinationRule", "b-v2")]);
    let statuses: Vec<u16> = (0..11)
        .map(|_| request(a, v2, &v2_host, "GET /", "x-test: limit"))
        .collect();
    eprintln!("QUICKSTART EnvoyFilter local rate limit 10/60s, 11 requests: {statuses:?}");
    assert_eq!(
        statuses[..10],
        [200; 10],
        "{statuses:?}\n{}",
        client.context()
    );
    assert_eq!(statuses[10], 429, "{statuses:?}\n{}", client.context());
    drop(v2_app);
}
