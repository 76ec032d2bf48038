//! Progressive rollouts end to end: `meshctl canary start` against a real API server (a
//! cluster of its own: its controllers drive every Canary they see), two controller replicas
//! as local processes (the leader has no proxies: it counts the acks of those subscribed to
//! the other, registered as a controller pod), proxies in cluster mode in pod network
//! namespaces, a route splitting Service b between b (pod b) and b-v2 (pod c), and constant
//! load from pod a. On HTTPRoute, TrafficSplit and VirtualService `set-weight` moves the
//! measured split; a healthy canary promotes
//! with no failed request; one answering 20 % 500s rolls back within interval × threshold;
//! an abort sends everything back to b at once; without clients, `--load` is judged on.

use std::net::SocketAddr;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::controller::{answered_by, register_controller_pod_with, start_in_cluster};
use crate::controller_process::{ControllerProcess, install, trust_anchors};
use crate::harness::Cluster;
use crate::load::{Tally, paced_gets};
use crate::meshed::Mesh;
use crate::net::{Greeter, Says};
use crate::node::Pod;
use crate::node_or_skip;
use crate::registry::{Registry, cluster_available};

/// The address pods reach this machine at (see `Node::link_host`).
const HOST: &str = "10.213.0.1";
const INTERVAL: u64 = 2;
const THRESHOLD: u64 = 2;

struct Rollouts<'a> {
    kubeconfig: String,
    ns: String,
    /// The replica the proxies subscribe to.
    controller: &'a ControllerProcess,
    /// Every meshed pod (namespace, name), client a first.
    all: &'a [(&'a str, &'a str)],
    /// The replica leading (driving canaries).
    leader: &'a ControllerProcess,
    mesh: &'a Mesh,
}

impl Rollouts<'_> {
    fn canary(&self, args: &[&str]) -> Output {
        std::process::Command::new(crate::meshctl())
            .args(["--kubeconfig", &self.kubeconfig, "canary"])
            .args(args)
            .args(["-n", &self.ns])
            .output()
            .expect("run meshctl canary")
    }

    fn start(&self, steps: &str, min_requests: &str) {
        self.start_with(steps, min_requests, &[]);
    }

    fn start_with(&self, steps: &str, min_requests: &str, more: &[&str]) {
        let interval = format!("{INTERVAL}s");
        let threshold = THRESHOLD.to_string();
        let mut args = vec!["start", "b", "--canary", "b-v2", "--steps", steps];
        args.extend_from_slice(&["--interval", &interval, "--threshold", &threshold]);
        args.extend_from_slice(&["--min-requests", min_requests, "--success-rate", "95"]);
        args.extend_from_slice(more);
        let out = self.canary(&args);
        assert!(out.status.success(), "start: {out:?}");
    }

    /// No client sends anything: the leader's synthetic load to the canary pod is what it
    /// is judged on.
    fn promotes_on_synthetic_load(&self, canary_url: &str) {
        self.start_with("20,50", "10", &["--load", canary_url, "--load-rps", "20"]);
        let promoted = self.wait_phase("Succeeded", Duration::from_secs(30));
        let events = promoted["status"]["events"].to_string();
        let sending = format!("sending 20 requests per second to {canary_url}");
        assert!(events.contains(&sending), "{promoted:#}");
        let requests = promoted["status"]["analysis"]["canary"]["requests"].as_u64();
        assert!(requests.unwrap_or(0) >= 10, "{promoted:#}");
    }

    /// The Canary (`status -o json`) and `status`'s exit code.
    fn status(&self) -> (Value, Option<i32>) {
        let out = self.canary(&["status", "b", "-o", "json"]);
        let value = serde_json::from_slice(&out.stdout).expect("status JSON");
        (value, out.status.code())
    }

    fn context(&self) -> String {
        format!(
            "{}\n{}\n(leader) {}",
            self.mesh.logs(),
            self.controller.logs(),
            self.leader.logs()
        )
    }

    /// Polls until the status's phase is `phase`; returns the Canary.
    fn wait_phase(&self, phase: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (c, _) = self.status();
            if c["status"]["phase"] == phase {
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "not {phase} within {within:?}: {:#}\n{}",
                c["status"],
                self.context()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Where pod a sends its load.
struct Client<'a> {
    a: &'a Pod,
    service: SocketAddr,
    host: &'a str,
}

impl Client<'_> {
    fn gets(&self, rps: u32, duration: Duration) -> Tally {
        paced_gets(self.a, self.service, self.host, rps, duration)
    }
}

impl Rollouts<'_> {
    /// `canary set-weight` by hand: once client a acked it, 2,000 requests split as set
    /// (within 3 points), then back to all on stable.
    fn set_weight_moves_the_split(&self, client: &Client, kind: &str) {
        // The version client a runs: a new one acked is the weight applied.
        let version_of_a = || {
            let proxies = self.controller.proxies();
            let a = proxies.iter().find(|p| p["pod"] == self.all[0].1);
            a.filter(|p| p["sentVersion"] == p["ackedVersion"])
                .map(|p| p["ackedVersion"].clone())
        };
        for weight in [30, 0] {
            let before = version_of_a();
            let out = self.canary(&["set-weight", "b", &format!("b-v2={weight}")]);
            assert!(out.status.success(), "set-weight: {out:?}");
            let deadline = Instant::now() + Duration::from_secs(10);
            while version_of_a().is_none_or(|v| Some(&v) == before.as_ref()) {
                assert!(Instant::now() < deadline, "not acked: {}", self.context());
                std::thread::sleep(Duration::from_millis(20));
            }
            if weight == 0 {
                break;
            }
            let tally = client.gets(250, Duration::from_secs(8));
            tally.assert_all_answered(2000, &self.context());
            let share = answered_by(&tally, "c") as f64 / 20.0;
            eprintln!("{kind}: set-weight b-v2=30 sent {share:.1} % of 2,000 requests to b-v2");
            assert!((27.0..=33.0).contains(&share), "{kind}: {tally:?}");
        }
    }

    /// A healthy canary under load: promoted with every request answered.
    fn promotes_under_load(&self, client: &Client, kind: &str) {
        let started = Instant::now();
        let tally = std::thread::scope(|scope| {
            let load = scope.spawn(|| client.gets(50, Duration::from_secs(12)));
            std::thread::sleep(Duration::from_millis(500));
            self.start("20,50", "10");
            let promoted = self.wait_phase("Succeeded", Duration::from_secs(30));
            assert_eq!(promoted["status"]["route"], format!("{kind} {}/b", self.ns));
            // Every client proxy, all subscribed to the other replica, acked each shift.
            assert_eq!(
                promoted["status"]["acks"],
                json!({"acked": 3, "total": 3}),
                "{promoted:#}"
            );
            eprintln!(
                "{kind}: the healthy canary was promoted {:?} after its start",
                started.elapsed()
            );
            load.join().expect("load")
        });
        tally.assert_all_answered(600, &self.context());
        assert!(answered_by(&tally, "c") > 0, "{tally:?}");
        let after = client.gets(50, Duration::from_secs(1));
        assert_eq!(answered_by(&after, "c"), 50, "{kind}: {after:?}");
        let (promoted, code) = self.status();
        assert_eq!(code, Some(0));
        let analysis = &promoted["status"]["analysis"]["canary"];
        assert!(
            analysis["requests"].as_u64().unwrap_or(0) >= 10,
            "{promoted:#}"
        );
    }

    /// An abort mid-rollout: at 20 % (waiting for more traffic than comes), all back to b.
    fn aborts(&self, client: &Client) {
        self.start("20,50", "100000");
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.status().0["status"]["weightAcked"] != 20 {
            assert!(Instant::now() < deadline, "{}", self.context());
            std::thread::sleep(Duration::from_millis(100));
        }
        let split = client.gets(50, Duration::from_secs(2));
        assert!(answered_by(&split, "c") > 0, "{split:?}");
        // Too little traffic is no verdict: at the first check it says so and waits.
        let deadline = Instant::now() + Duration::from_secs(INTERVAL + 3);
        loop {
            let (waiting, _) = self.status();
            let message = waiting["status"]["message"].as_str().unwrap_or_default();
            if message.starts_with("waiting for traffic (") {
                assert!(message.ends_with("/100000 requests)"), "{waiting:#}");
                assert_eq!(waiting["status"]["phase"], "Progressing");
                break;
            }
            assert!(Instant::now() < deadline, "{waiting:#}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = self.canary(&["abort", "b"]);
        assert!(out.status.success(), "{out:?}");
        self.wait_phase("Aborted", Duration::from_secs(10));
        let aborted = client.gets(50, Duration::from_secs(1));
        assert_eq!(answered_by(&aborted, "b"), 50, "{aborted:?}");
        assert_eq!(self.status().1, Some(1));
    }

    /// A canary failing one request in five under load: rolled back within interval ×
    /// threshold of its first shift, and the only failures are its own 500s.
    fn rolls_back_under_load(&self, client: &Client) {
        let tally = std::thread::scope(|scope| {
            let load = scope.spawn(|| client.gets(50, Duration::from_secs(10)));
            std::thread::sleep(Duration::from_millis(500));
            self.start("20,50", "10");
            self.wait_phase("Failed", Duration::from_secs(30));
            load.join().expect("load")
        });
        assert!(
            not_injected(&tally).is_empty(),
            "failures other than the canary's 500s: {:?}\n{}",
            not_injected(&tally),
            self.context()
        );
        let (failed, code) = self.status();
        assert_eq!(code, Some(1), "a rolled back rollout fails `status`");
        // From the first shift's acks (its window's start) to the decision and to all the
        // traffic back on b (the rollback's acks).
        let at = |prefix: &str| {
            failed["status"]["events"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
                .and_then(|e| e["atMs"].as_u64())
                .unwrap_or_else(|| panic!("no event {prefix:?}: {failed:#}"))
        };
        let window = at("analysing weight 20%");
        let decided = at("rolling back: ") - window;
        let back = at("rolled back: ") - window;
        eprintln!(
            "the failing canary: rollback decided {decided} ms and all traffic back {back} ms after its first shift was acked (interval {INTERVAL}s x threshold {THRESHOLD}): {}",
            failed["status"]["lastDecision"]
        );
        assert!(decided <= INTERVAL * THRESHOLD * 1000 + 500, "{failed:#}");
        assert!(back <= INTERVAL * THRESHOLD * 1000 + 2000, "{failed:#}");
        let decision = failed["status"]["lastDecision"]
            .as_str()
            .unwrap_or_default();
        assert!(decision.contains(" (stable: "), "{failed:#}");
        assert!(decision.contains("100.00% success"), "{failed:#}");
        let rate = failed["status"]["analysis"]["canary"]["successRate"]
            .as_f64()
            .unwrap_or(100.0);
        assert!((70.0..90.0).contains(&rate), "{failed:#}");
        let back = client.gets(50, Duration::from_secs(1));
        back.assert_all_answered(50, &self.context());
        assert_eq!(answered_by(&back, "b"), 50, "{back:?}");
    }
}

/// Failures that are not the canary's own 500s.
fn not_injected(tally: &Tally) -> Vec<&String> {
    tally
        .failures
        .iter()
        .filter(|f| !f.contains("HTTP/1.1 500 "))
        .collect()
}

#[test]
fn rollouts_through_the_controller_promote_roll_back_and_abort_without_failed_requests() {
    if !cluster_available("canary rollouts") {
        return;
    }
    let Some(mut node) = node_or_skip("canary rollouts", &["a", "b", "c"]) else {
        return;
    };
    node.link_host();
    let (a, b, c) = (node.pod("a"), node.pod("b"), node.pod("c"));
    let any: SocketAddr = "[::]:8080".parse().expect("addr");
    let stable = Greeter::start(b, any, Says::Http("b"));
    let mut canary_app = Some(Greeter::start(c, any, Says::Http("c")));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let cluster = runtime
        .block_on(Cluster::start())
        .expect("a test cluster of its own");
    let mesh_ns = "meshctl-canary";
    install(&cluster.kubeconfig, mesh_ns);
    let (registry, pods, cluster_ip, tokens, roots, kubeconfig) = runtime.block_on(async {
        let registry = Registry::new(&cluster, "canary").await;
        let a_pods = registry.deployment("a.yaml", &[a]).await;
        let b_pods = registry.deployment("b.yaml", &[b]).await;
        let c_pods = registry.deployment("b-v2.yaml", &[c]).await;
        registry.service("b", "b").await;
        registry.service("b-v2", "b-v2").await;
        registry.endpoint_slice("b", &[(&b_pods[0], b)]).await;
        registry.endpoint_slice("b-v2", &[(&c_pods[0], c)]).await;
        set_route(&cluster, "HTTPRoute", &registry.namespace, true).await;
        let cluster_ip = registry.cluster_ip("b").await;
        let tokens = (
            registry.token("a", "identity.meshctl.io").await,
            registry.token("b", "identity.meshctl.io").await,
        );
        let roots = trust_anchors(cluster.admin().await, mesh_ns).await;
        let kubeconfig = cluster
            .kubeconfig_for_service_account(mesh_ns, "meshctl-controller")
            .await;
        let pods = [a_pods[0].clone(), b_pods[0].clone(), c_pods[0].clone()];
        (registry, pods, cluster_ip, tokens, roots, kubeconfig)
    });
    let ns = registry.namespace.clone();
    let mut mesh = Mesh::new();
    // The leader first (it takes the Lease), then the replica the proxies use, at the
    // controller pod's address and admin port, where the leader reads its `/proxies`.
    let lease = ["--lease-duration", "3s"];
    let leader = ControllerProcess::start_with(
        kubeconfig.clone(),
        mesh_ns,
        HOST,
        None,
        mesh.write_path("leader.log"),
        &lease,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while leader.metric("meshctl_controller_leader") != 1.0 {
        assert!(Instant::now() < deadline, "no leader\n{}", leader.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    let controller = ControllerProcess::start_with(
        kubeconfig,
        mesh_ns,
        HOST,
        Some(9990),
        mesh.write_path("controller.log"),
        &lease,
    );
    runtime.block_on(async { register_controller_pod_with(cluster.admin().await, mesh_ns).await });
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
    a.run("ip", &["route", "add", "10.96.0.0/20", "dev", "eth0"]);
    let service = SocketAddr::new(cluster_ip.into(), 80);
    let host = format!("b.{ns}.svc.cluster.local");
    let rollouts = Rollouts {
        kubeconfig: cluster.kubeconfig.to_string_lossy().into_owned(),
        ns: ns.clone(),
        controller: &controller,
        all: &all,
        leader: &leader,
        mesh: &mesh,
    };
    let before = paced_gets(a, service, &host, 50, Duration::from_secs(1));
    before.assert_all_answered(50, &rollouts.context());
    assert_eq!(answered_by(&before, "b"), 50, "{before:?}");

    // Before any client reached the canary: judged on the leader's synthetic load alone.
    rollouts.promotes_on_synthetic_load(&format!("http://{}:8080/", c.ip));

    // On each routing API, a healthy canary under constant load is promoted, and not one
    // request fails on the way.
    let client = Client {
        a,
        service,
        host: &host,
    };
    for (kind, previous) in [
        ("HTTPRoute", None),
        ("TrafficSplit", Some("HTTPRoute")),
        ("VirtualService", Some("TrafficSplit")),
    ] {
        if let Some(previous) = previous {
            runtime.block_on(set_route(&cluster, previous, &ns, false));
            runtime.block_on(set_route(&cluster, kind, &ns, true));
            controller.wait_acked(&all, Duration::from_secs(10));
        }
        rollouts.set_weight_moves_the_split(&client, kind);
        rollouts.promotes_under_load(&client, kind);
        if kind == "HTTPRoute" {
            rollouts.aborts(&client);
        }
    }

    // The canary now answers one request in five with 500. Its figures from before must
    // leave the proxies' window first (two 10 s slots for a 2 s interval).
    drop(canary_app.take());
    let _failing = Greeter::start(c, any, Says::HttpFailingEvery("c", 5));
    std::thread::sleep(Duration::from_secs(21));
    rollouts.rolls_back_under_load(&client);
    drop(stable);
}

/// The object of `kind` splitting Service b: all to b, none to b-v2 yet.
fn route(kind: &str, ns: &str) -> Value {
    let meta = json!({"name": "b", "namespace": ns});
    match kind {
        "HTTPRoute" => json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": kind, "metadata": meta,
            "spec": {
                "parentRefs": [{"group": "", "kind": "Service", "name": "b", "port": 80}],
                "rules": [{"backendRefs": [
                    {"name": "b", "port": 80, "weight": 100},
                    {"name": "b-v2", "port": 80, "weight": 0},
                ]}],
            },
        }),
        "TrafficSplit" => json!({
            "apiVersion": "split.smi-spec.io/v1alpha4", "kind": kind, "metadata": meta,
            "spec": {"service": "b", "backends": [
                {"service": "b", "weight": 100},
                {"service": "b-v2", "weight": 0},
            ]},
        }),
        _ => json!({
            "apiVersion": "networking.istio.io/v1", "kind": kind, "metadata": meta,
            "spec": {"hosts": ["b"], "http": [{"route": [
                {"destination": {"host": "b"}, "weight": 100},
                {"destination": {"host": "b-v2"}, "weight": 0},
            ]}]},
        }),
    }
}

pub(crate) fn route_api(
    client: kube::Client,
    object: &Value,
) -> kube::Api<kube::api::DynamicObject> {
    use kube::core::{ApiResource, GroupVersionKind};
    let (group, version) = object["apiVersion"]
        .as_str()
        .and_then(|v| v.split_once('/'))
        .expect("apiVersion");
    let kind = object["kind"].as_str().expect("kind");
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let plural = format!("{}s", kind.to_lowercase());
    let ns = object["metadata"]["namespace"].as_str().expect("namespace");
    kube::Api::namespaced_with(
        client,
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, &plural),
    )
}

/// Creates the route of `kind` for Service b, or deletes it (`create` false).
async fn set_route(cluster: &Cluster, kind: &str, ns: &str, create: bool) {
    let object = route(kind, ns);
    let api = route_api(cluster.admin().await, &object);
    if create {
        let typed = serde_json::from_value(object).expect("route");
        api.create(&kube::api::PostParams::default(), &typed)
            .await
            .unwrap_or_else(|e| panic!("create the {kind}: {e}"));
    } else {
        api.delete("b", &kube::api::DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("delete the {kind}: {e}"));
    }
}
