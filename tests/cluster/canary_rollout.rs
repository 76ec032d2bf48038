//! `meshctl canary start|status|pause|resume|promote|abort|list` and the controller driving them, on a
//! cluster of its own (its controllers drive every Canary they see): two replicas elect one
//! leader on the Lease, a rollout with no canary pod to judge holds its first step, pauses,
//! survives its leader's death at the same step, is promoted by hand a step and then fully;
//! a second one waits on a controller replica that does not answer, then is aborted back to
//! the stable Service; a hand-written Canary that cannot run is Invalid; a VirtualService
//! subset canary is analysed on its DestinationRule subset's pods; a leader stopped
//! gracefully hands the Lease over at once.

use std::process::Output;
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

use crate::controller_process::{ControllerProcess, install};
use crate::harness::Cluster;
use crate::install::{ok, run};

const LEASE_SECONDS: u64 = 3;

fn canary(cluster: &Cluster, ns: &str, args: &[&str]) -> Output {
    let mut all = vec!["canary"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-n", ns]);
    run(cluster, &all)
}

/// `canary start web --canary web-v2` of `steps`, 1 s each, waiting for 50 requests.
fn start(cluster: &Cluster, ns: &str, steps: &str, more: &[&str]) -> Output {
    let mut args = vec!["start", "web", "--canary", "web-v2", "--steps", steps];
    args.extend_from_slice(&["--interval", "1s", "--min-requests", "50"]);
    args.extend_from_slice(more);
    canary(cluster, ns, &args)
}

/// `canary status web -o json`: the Canary object and the exit code.
fn status(cluster: &Cluster, ns: &str) -> (Value, Option<i32>) {
    let out = canary(cluster, ns, &["status", "web", "-o", "json"]);
    let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status JSON: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (value, out.status.code())
}

/// Polls `status` until `done` holds (at most `within`); returns the last Canary.
fn wait_for(
    cluster: &Cluster,
    ns: &str,
    within: Duration,
    what: &str,
    logs: &dyn Fn() -> String,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (c, _) = status(cluster, ns);
        if done(&c) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "{what} within {within:?}: {:#}\n{}",
            c["status"],
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn leaders(controllers: &[&ControllerProcess]) -> Vec<usize> {
    (0..controllers.len())
        .filter(|&i| controllers[i].metric("meshctl_controller_leader") == 1.0)
        .collect()
}

pub(crate) fn route_api(client: &Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute");
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, "httproutes"),
    )
}

/// The (web, web-v2) weights of the route.
async fn weights(routes: &Api<DynamicObject>) -> (u64, u64) {
    let route = serde_json::to_value(routes.get("web").await.unwrap()).unwrap();
    let refs = &route["spec"]["rules"][0]["backendRefs"];
    (
        refs[0]["weight"].as_u64().unwrap(),
        refs[1]["weight"].as_u64().unwrap(),
    )
}

/// Service reviews with pods in subsets v1 and v2 (Running at addresses nobody answers on),
/// its DestinationRule and a VirtualService sending everything to v1.
async fn subsets(client: &Client, ns: &str) {
    use k8s_openapi::api::core::v1::Pod;
    crate::canary::service(client, ns, "reviews").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    for (version, ip) in [("v1", "127.0.0.3"), ("v2", "127.0.0.4")] {
        let name = format!("reviews-{version}");
        let pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": "reviews", "version": version}},
            "spec": {"containers": [{"name": "app", "image": "reviews"}]},
        }))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
        let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}});
        pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
    }
    for (kind, plural, spec) in [
        (
            "DestinationRule",
            "destinationrules",
            json!({"host": "reviews", "subsets": [
                {"name": "v1", "labels": {"version": "v1"}},
                {"name": "v2", "labels": {"version": "v2"}},
            ]}),
        ),
        (
            "VirtualService",
            "virtualservices",
            json!({"hosts": ["reviews"], "http": [{"route": [
                {"destination": {"host": "reviews", "subset": "v1"}, "weight": 100},
                {"destination": {"host": "reviews", "subset": "v2"}, "weight": 0},
            ]}]}),
        ),
    ] {
        let gvk = GroupVersionKind::gvk("networking.istio.io", "v1", kind);
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            ns,
            &ApiResource::from_gvk_with_plural(&gvk, plural),
        );
        let object = serde_json::from_value(json!({
            "apiVersion": "networking.istio.io/v1", "kind": kind,
            "metadata": {"name": "reviews", "namespace": ns}, "spec": spec,
        }))
        .unwrap();
        api.create(&PostParams::default(), &object).await.unwrap();
    }
}

/// A Running controller pod whose admin port nobody answers (127.0.0.2).
async fn gone_replica(client: &Client, mesh_ns: &str) -> Api<k8s_openapi::api::core::v1::Pod> {
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), mesh_ns);
    let pod = serde_json::from_value(json!({
        "metadata": {"name": "meshctl-controller-gone", "labels": {
            "app.kubernetes.io/name": "meshctl", "app.kubernetes.io/component": "controller"}},
        "spec": {"containers": [{"name": "controller", "image": "meshctl"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let status = json!({"status": {"phase": "Running", "podIP": "127.0.0.2",
        "podIPs": [{"ip": "127.0.0.2"}]}});
    pods.patch_status(
        "meshctl-controller-gone",
        &PatchParams::default(),
        &Patch::Merge(&status),
    )
    .await
    .unwrap();
    pods
}

async fn setup(client: &Client, ns: &str) -> Api<DynamicObject> {
    use k8s_openapi::api::core::v1::Namespace;
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    for name in ["web", "web-v2"] {
        crate::canary::service(client, ns, name).await;
    }
    let routes = route_api(client, ns);
    let route: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": "web", "port": 8080}],
            "rules": [{"backendRefs": [
                {"name": "web", "port": 8080, "weight": 100},
                {"name": "web-v2", "port": 8080, "weight": 0},
            ]}],
        },
    }))
    .unwrap();
    routes.create(&PostParams::default(), &route).await.unwrap();
    routes
}

#[tokio::test(flavor = "multi_thread")]
async fn the_leader_drives_rollouts_and_another_replica_resumes_them() {
    let cluster = &Cluster::start().await.expect("a test cluster of its own");
    let mesh_ns = "meshctl-canary";
    install(&cluster.kubeconfig, mesh_ns);
    let client = cluster.admin().await;
    let ns = "shop";
    let routes = setup(&client, ns).await;
    let kubeconfig = cluster
        .kubeconfig_for_service_account(mesh_ns, "meshctl-controller")
        .await;
    let lease = format!("{LEASE_SECONDS}s");
    let dir = tempfile::tempdir().unwrap();
    let replica = |n: usize| {
        ControllerProcess::start_with(
            kubeconfig.clone(),
            mesh_ns,
            "127.0.0.1",
            None,
            dir.path().join(format!("controller-{n}.log")),
            &["--lease-duration", &lease],
        )
    };
    let mut replicas = [replica(0), replica(1)];
    let logs = || {
        let a = std::fs::read_to_string(dir.path().join("controller-0.log")).unwrap_or_default();
        let b = std::fs::read_to_string(dir.path().join("controller-1.log")).unwrap_or_default();
        format!("--- controller 0:\n{a}\n--- controller 1:\n{b}")
    };

    // One leader, and only one.
    let deadline = Instant::now() + Duration::from_secs(10);
    let leader = loop {
        let now = leaders(&replicas.iter().collect::<Vec<_>>());
        if now.len() == 1 {
            break now[0];
        }
        assert!(Instant::now() < deadline, "leaders {now:?}\n{}", logs());
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        leaders(&replicas.iter().collect::<Vec<_>>()),
        [leader],
        "{}",
        logs()
    );

    // Bad input: exit 2 for a plan that cannot run, 1 for a Service nothing routes.
    let bad = canary(
        cluster,
        ns,
        &["start", "web", "--canary", "web-v2", "--threshold", "0"],
    );
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(bad.stdout.is_empty());
    let unrouted = canary(cluster, ns, &["start", "web-v2", "--canary", "web"]);
    assert_eq!(unrouted.status.code(), Some(1), "{unrouted:?}");
    assert!(
        String::from_utf8_lossy(&unrouted.stderr)
            .contains("no HTTPRoute, TrafficSplit or VirtualService routes service shop/web-v2"),
        "{unrouted:?}"
    );

    // The canary Service has no pods: the first step is acked (no proxy to wait for), but
    // without figures nothing passes.
    let started = start(cluster, ns, "10,20,50", &["-o", "json"]);
    let created: Value = serde_json::from_str(&ok(&started)).unwrap();
    assert_eq!(created["spec"]["steps"], json!([10, 20, 50]));
    let waiting = wait_for(
        cluster,
        ns,
        Duration::from_secs(15),
        "no pods to analyse",
        &logs,
        |c| {
            c["status"]["message"]
                == "cannot analyse weight 10%: the Service shop/web-v2 has no running pod"
        },
    );
    assert_eq!(waiting["status"]["weightAcked"], 10, "{waiting:#}");
    assert_eq!(waiting["status"]["route"], "HTTPRoute shop/web");
    assert_eq!(weights(&routes).await, (90, 10));

    // Paused, then the leader dies: the other replica takes over within the lease and the
    // rollout is where it was.
    ok(&canary(cluster, ns, &["pause", "web"]));
    wait_for(cluster, ns, Duration::from_secs(5), "paused", &logs, |c| {
        c["status"]["phase"] == "Paused"
    });
    replicas[leader].kill();
    let killed = Instant::now();
    let other = 1 - leader;
    while replicas[other].metric("meshctl_controller_leader") != 1.0 {
        assert!(
            killed.elapsed() < Duration::from_secs(LEASE_SECONDS + 2),
            "no takeover\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "the second replica led {:?} after the first was killed (lease {LEASE_SECONDS}s)",
        killed.elapsed()
    );
    let (after, code) = status(cluster, ns);
    assert_eq!(code, Some(0));
    assert_eq!(
        (&after["status"]["phase"], &after["status"]["state"]["step"]),
        (&json!("Paused"), &json!(0)),
        "{after:#}"
    );

    // Resumed, promoted by hand a step, then all the way.
    ok(&canary(cluster, ns, &["resume", "web"]));
    ok(&canary(cluster, ns, &["promote", "web"]));
    wait_for(
        cluster,
        ns,
        Duration::from_secs(10),
        "promoted a step",
        &logs,
        |c| c["status"]["weightAcked"] == 20,
    );
    assert_eq!(weights(&routes).await, (80, 20));
    ok(&canary(cluster, ns, &["promote", "web", "--full"]));
    let promoted = wait_for(
        cluster,
        ns,
        Duration::from_secs(20),
        "promoted",
        &logs,
        |c| c["status"]["phase"] == "Succeeded",
    );
    assert_eq!(weights(&routes).await, (0, 100));
    let events: Vec<&str> = promoted["status"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    for step in [
        "setting the canary weight to 20%",
        "promoting: all traffic to the canary (promoted by hand)",
    ] {
        assert!(events.contains(&step), "{events:#?}");
    }
    assert_eq!(
        status(cluster, ns).1,
        Some(0),
        "a promoted rollout is a success"
    );
    let list: Value =
        serde_json::from_str(&ok(&canary(cluster, ns, &["list", "-o", "json"]))).unwrap();
    assert_eq!(list[0]["status"]["phase"], "Succeeded");
    let table = ok(&canary(cluster, ns, &["status", "web"]));
    assert!(
        table.starts_with("Canary shop/web: Succeeded, weight 100% to web-v2"),
        "{table}"
    );

    // A new rollout replaces the finished one; aborted, all traffic goes back to web and
    // `status` exits 1.
    // A controller replica that does not answer: its proxies' acks are unknown, so the
    // shift is not done until it answers or is gone.
    let gone = gone_replica(&client, mesh_ns).await;
    ok(&start(cluster, ns, "10,20", &[]));
    let blocked = wait_for(
        cluster,
        ns,
        Duration::from_secs(15),
        "blocked on the replica",
        &logs,
        |c| {
            c["status"]["message"].as_str().is_some_and(|m| {
            m.starts_with("waiting for the acks of weight 10%: controller replica meshctl-canary/meshctl-controller-gone")
        })
        },
    );
    assert!(blocked["status"]["weightAcked"].is_null(), "{blocked:#}");
    gone.delete("meshctl-controller-gone", &Default::default())
        .await
        .unwrap();
    wait_for(
        cluster,
        ns,
        Duration::from_secs(15),
        "the new rollout at 10%",
        &logs,
        |c| c["status"]["weightAcked"] == 10,
    );
    assert_eq!(weights(&routes).await, (90, 10));
    ok(&canary(cluster, ns, &["abort", "web"]));
    wait_for(
        cluster,
        ns,
        Duration::from_secs(10),
        "aborted",
        &logs,
        |c| c["status"]["phase"] == "Aborted",
    );
    assert_eq!(weights(&routes).await, (100, 0));
    let (_, code) = status(cluster, ns);
    assert_eq!(code, Some(1), "an aborted rollout fails `status`");
    // `status -w` on a finished rollout prints it once and ends with its verdict.
    let watched = canary(cluster, ns, &["status", "web", "-w"]);
    assert_eq!(watched.status.code(), Some(1));
    let text = String::from_utf8_lossy(&watched.stdout);
    assert!(
        text.starts_with("Canary shop/web: Aborted, weight 0% to web-v2"),
        "{text}"
    );
    let all: Value =
        serde_json::from_str(&ok(&canary(cluster, ns, &["list", "-A", "-o", "json"]))).unwrap();
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all:#}");
    let refused = canary(cluster, ns, &["resume", "web"]);
    assert_eq!(refused.status.code(), Some(1));

    // A Canary written by hand that cannot run is Invalid, and `status` fails on it.
    let mut broken = meshctl::canary::resource::Canary::new(
        "broken",
        meshctl::canary::resource::CanarySpec {
            service: "broken".into(),
            canary: "broken-v2".into(),
            interval_seconds: 1,
            ..Default::default()
        },
    );
    broken.metadata.namespace = Some(ns.to_owned());
    Api::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &broken)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = loop {
        let out = canary(cluster, ns, &["status", "broken", "-o", "json"]);
        let c: Value = serde_json::from_slice(&out.stdout).unwrap();
        if c["status"]["phase"] == "Invalid" {
            assert_eq!(
                c["status"]["message"],
                "the spec cannot run: --threshold 0: at least one failed check must roll back"
            );
            break out;
        }
        assert!(Instant::now() < deadline, "{c:#}\n{}", logs());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(out.status.code(), Some(1));

    // A VirtualService subset canary: its pods are the Service's in the DestinationRule
    // subset, the stable ones the rest (none of their proxies answers here).
    subsets(&client, ns).await;
    ok(&canary(
        cluster,
        ns,
        &[
            "start",
            "reviews",
            "--canary",
            "v2",
            "--steps",
            "10",
            "--interval",
            "1s",
        ],
    ));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = canary(cluster, ns, &["status", "reviews", "-o", "json"]);
        let c: Value = serde_json::from_slice(&out.stdout).unwrap();
        let status = &c["status"];
        let message = "cannot analyse weight 10%: none of the 1 canary pods' proxies answered on their admin port";
        if status["message"] == message {
            assert_eq!(status["route"], "VirtualService shop/reviews");
            assert_eq!(status["analysis"]["canary"]["pods"], 1, "{c:#}");
            assert_eq!(status["analysis"]["stable"]["pods"], 1, "{c:#}");
            break;
        }
        assert!(Instant::now() < deadline, "{c:#}\n{}", logs());
        std::thread::sleep(Duration::from_millis(100));
    }

    // A leader stopped gracefully (SIGTERM, as in a rolling update) gives the lease up: the
    // restarted replica leads at its next try, well before the lease would expire.
    replicas[leader].restart();
    replicas[other].terminate();
    let stopped = Instant::now();
    while replicas[leader].metric("meshctl_controller_leader") != 1.0 {
        assert!(
            stopped.elapsed() < Duration::from_secs(LEASE_SECONDS - 1),
            "the lease was not released\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "after a graceful stop the other replica led {:?} later",
        stopped.elapsed()
    );
}
