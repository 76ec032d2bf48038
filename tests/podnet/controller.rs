//! `meshctl controller` end to end: installed with `install --apply` into a real API server,
//! run as a local process with its own service account's rights, and proxies in cluster mode
//! in pod network namespaces: identity from its CA (TokenReview), config from its discovery
//! stream, mTLS between meshed pods, endpoints following their EndpointSlice, and no failed
//! request while the controller is killed and restarted under load.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::controller_process::{ControllerProcess, install, trust_anchors};
use crate::harness::cluster;
use crate::load::paced_gets;
use crate::meshed::{Mesh, metric};
use crate::net::{Greeter, Says};
use crate::node_or_skip;
use crate::registry::{Registry, cluster_available, meshctl_in_cluster};

/// The address pods reach this machine at (see `Node::link_host`).
const HOST: &str = "10.213.0.1";

/// The environment of a proxy in cluster mode, over what inject gave it: the pod's real name
/// and namespace in the API server, its token and the trust roots as the kubelet mounts them.
pub fn cluster_env(
    controller: &ControllerProcess,
    namespace: &str,
    pod_name: &str,
    token_file: &str,
    roots_file: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("MESHCTL_CONTROLLER_ADDR", controller.grpc.to_string()),
        (
            "MESHCTL_CONTROLLER_NAMESPACE",
            controller.mesh_namespace().to_owned(),
        ),
        ("MESHCTL_POD_NAME", pod_name.to_owned()),
        ("MESHCTL_POD_NAMESPACE", namespace.to_owned()),
        ("MESHCTL_IDENTITY_TOKEN_FILE", token_file.to_owned()),
        ("MESHCTL_IDENTITY_TRUST_ROOTS", roots_file.to_owned()),
    ]
}

/// Starts the proxies of `pods` in cluster mode, subscribed to `controller`: each
/// (pod, fixture, its Pod's name in namespace `ns`, its service-account token), trusting
/// `roots` (PEM); the token and the roots are files, as the kubelet mounts them.
pub(crate) fn start_in_cluster(
    mesh: &mut Mesh,
    controller: &ControllerProcess,
    ns: &str,
    roots: &str,
    pods: &[(&crate::node::Pod, &str, &str, &str)],
) {
    let roots_file = mesh.write_file("roots.pem", roots);
    for (pod, fixture, name, token) in pods {
        let token_file = mesh.write_file(&format!("{name}.token"), token);
        let env = cluster_env(controller, ns, name, &token_file, &roots_file);
        mesh.start_with_env(pod, fixture, &env);
    }
}

pub(crate) fn answered_by(tally: &crate::load::Tally, app: &str) -> u64 {
    tally.answered_by.get(app).copied().unwrap_or_default()
}

#[test]
fn proxies_get_identity_and_config_from_the_controller() {
    if !cluster_available("controller") {
        return;
    }
    let Some(mut node) = node_or_skip("controller", &["a", "b", "c"]) else {
        return;
    };
    node.link_host();
    let (a, b, c) = (node.pod("a"), node.pod("b"), node.pod("c"));
    let any: SocketAddr = "[::]:8080".parse().expect("addr");
    let _apps = [
        Greeter::start(b, any, Says::Http("b")),
        Greeter::start(c, any, Says::Http("c")),
    ];
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mesh_ns = format!("meshctl-ctl-{}", std::process::id());
    install(&cluster().kubeconfig, &mesh_ns);
    let (registry, a_pods, b_pods, cluster_ip, tokens, roots, kubeconfig) =
        runtime.block_on(async {
            let registry = Registry::new(cluster(), "ctl").await;
            let a_pods = registry.deployment("a.yaml", &[a]).await;
            let b_pods = registry.deployment("b.yaml", &[b, c]).await;
            registry.service("b", "b").await;
            // Only b at first: c joins below, as a scaled-up replica would.
            registry.endpoint_slice("b", &[(&b_pods[0], b)]).await;
            let cluster_ip = registry.cluster_ip("b").await;
            let tokens = (
                registry.token("a", "identity.meshctl.io").await,
                registry.token("b", "identity.meshctl.io").await,
            );
            let roots = trust_anchors(cluster().admin().await, &mesh_ns).await;
            let kubeconfig = cluster()
                .kubeconfig_for_service_account(&mesh_ns, "meshctl-controller")
                .await;
            (
                registry, a_pods, b_pods, cluster_ip, tokens, roots, kubeconfig,
            )
        });
    let ns = registry.namespace.clone();
    let mut mesh = Mesh::new();
    // The admin port on 9990 at the pods' host address: registered below as the controller's
    // pod, the API server's pod proxy reaches it there, as `meshctl check` asks it.
    let mut controller = ControllerProcess::start(
        kubeconfig,
        &mesh_ns,
        HOST,
        Some(9990),
        mesh.write_path("controller.log"),
    );
    start_in_cluster(
        &mut mesh,
        &controller,
        &ns,
        &roots,
        &[
            (a, "a.yaml", &a_pods[0], &tokens.0),
            (b, "b.yaml", &b_pods[0], &tokens.1),
            (c, "b.yaml", &b_pods[1], &tokens.1),
        ],
    );
    let context =
        |controller: &ControllerProcess| format!("{}\n{}", mesh.logs(), controller.logs());

    // a's app dials b's cluster IP by its DNS name; a route sends the cluster IP range out of
    // eth0, where a's proxy intercepts it (there is no kube-proxy).
    a.run("ip", &["route", "add", "10.96.0.0/20", "dev", "eth0"]);
    let b_service = SocketAddr::new(cluster_ip.into(), 80);
    let host = format!("b.{ns}.svc.cluster.local");
    let tally = paced_gets(a, b_service, &host, 50, Duration::from_secs(1));
    tally.assert_all_answered(50, &context(&controller));
    assert_eq!(answered_by(&tally, "b"), 50, "{tally:?}");
    // Over mTLS, each side verifying the other: b recorded a's identity, a b's.
    let a_id = format!("spiffe://cluster.local/ns/{ns}/sa/a");
    let b_id = format!("spiffe://cluster.local/ns/{ns}/sa/b");
    let tls_from_a = metric(
        b,
        "request_total",
        &[
            "direction=\"inbound\"",
            "tls=\"true\"",
            &format!("client_id=\"{a_id}\""),
        ],
    );
    assert_eq!(
        tls_from_a,
        50,
        "b's inbound requests over mTLS from a\n{}",
        context(&controller)
    );
    let tls_to_b = metric(
        a,
        "response_total",
        &[
            "direction=\"outbound\"",
            "tls=\"true\"",
            &format!("server_id=\"{b_id}\""),
        ],
    );
    assert_eq!(
        tls_to_b,
        50,
        "a's outbound responses over mTLS from b\n{}",
        context(&controller)
    );

    // c joins b's EndpointSlice: it gets traffic within a second of the change.
    let joined = Instant::now();
    runtime.block_on(registry.endpoint_slice("b", &[(&b_pods[0], b), (&b_pods[1], c)]));
    let reached_c = loop {
        let tally = paced_gets(a, b_service, &host, 100, Duration::from_millis(100));
        if answered_by(&tally, "c") > 0 {
            break joined.elapsed();
        }
        assert!(
            joined.elapsed() < Duration::from_secs(10),
            "c never got traffic\n{}",
            context(&controller)
        );
    };
    // A figure for the log (--nocapture).
    eprintln!("a new endpoint got its first request {reached_c:?} after its EndpointSlice changed");
    assert!(reached_c < Duration::from_secs(1), "{reached_c:?}");

    // b leaves: once a's proxy acked the config without it, b gets nothing.
    runtime.block_on(registry.endpoint_slice("b", &[(&b_pods[1], c)]));
    std::thread::sleep(Duration::from_millis(100));
    controller.wait_acked(&[(&ns, &a_pods[0])], Duration::from_secs(5));
    let tally = paced_gets(a, b_service, &host, 100, Duration::from_secs(1));
    tally.assert_all_answered(100, &context(&controller));
    assert_eq!(answered_by(&tally, "c"), 100, "{tally:?}");

    // An Istio VirtualService written to the API server reaches the proxies through the
    // controller: requests with `x-test: abort` get the fault's 418 from a's proxy.
    runtime.block_on(apply_virtual_service(&ns));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = request(a, b_service, &host, "GET /", "x-test: abort");
        if status == 418 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the VirtualService never applied (last {status})\n{}",
            context(&controller)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Other requests take the VirtualService's second rule (one retry: a lone request on a
    // machine running every pod-network test at once may time out).
    let statuses: Vec<u16> = (0..2)
        .map(|_| request(a, b_service, &host, "GET /", "x-test: pass"))
        .collect();
    assert!(
        statuses.contains(&200),
        "{statuses:?}\n{}",
        context(&controller)
    );

    // Under constant load the controller dies and comes back: not one request fails, and
    // every proxy subscribes again.
    runtime.block_on(registry.endpoint_slice("b", &[(&b_pods[0], b), (&b_pods[1], c)]));
    controller.wait_acked(&[(&ns, &a_pods[0])], Duration::from_secs(5));
    let tally = std::thread::scope(|scope| {
        let load = scope.spawn(|| paced_gets(a, b_service, &host, 50, Duration::from_secs(6)));
        std::thread::sleep(Duration::from_secs(1));
        controller.kill();
        std::thread::sleep(Duration::from_secs(2));
        controller.restart();
        load.join().expect("load")
    });
    tally.assert_all_answered(300, &context(&controller));
    let pods = [
        (ns.as_str(), a_pods[0].as_str()),
        (&ns, &b_pods[0]),
        (&ns, &b_pods[1]),
    ];
    let resubscribed = controller.wait_acked(&pods, Duration::from_secs(20));
    eprintln!(
        "after the controller's restart every proxy acked its config within {resubscribed:?}"
    );
    assert_eq!(
        controller.metric("meshctl_controller_discovery_proxies_subscribed"),
        3.0
    );
    // This process saw each of the three resubscribe and ack.
    assert!(controller.metric("meshctl_controller_discovery_acks_total") >= 3.0);

    // `meshctl check` reads the same through the API server: the controller's pod (this
    // process, registered as its Deployment's pod) and each proxy's /config.
    runtime.block_on(register_controller_pod(&mesh_ns));
    let out = meshctl_in_cluster(&["check", "-n", &mesh_ns, "-o", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("check JSON");
    let proxies = result_in(&report, "controller-proxies");
    assert_eq!(proxies["status"], "ok", "{proxies}");
    assert!(
        proxies["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3 proxies subscribed to 1 of 1 replicas"),
        "{proxies}"
    );
    let out = meshctl_in_cluster(&[
        "check",
        "--proxy",
        "-n",
        &ns,
        "--mesh-namespace",
        &mesh_ns,
        "-o",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("check JSON");
    let version = result_in(&report, "proxy-config-version");
    assert_eq!(
        version["status"],
        "ok",
        "{version}\n{}",
        context(&controller)
    );
    assert_eq!(
        version["message"], "3 proxies run the config the controller sent them",
        "{version}"
    );

    // `meshctl proxy-config` computes, from the API server, the version a's proxy acked.
    let acked = controller
        .proxies()
        .into_iter()
        .find(|p| p["pod"] == a_pods[0].as_str())
        .map(|p| p["ackedVersion"].clone());
    let out = meshctl_in_cluster(&[
        "proxy-config",
        &format!("pod/{}", a_pods[0]),
        "-n",
        &ns,
        "--mesh-namespace",
        &mesh_ns,
        "-o",
        "json",
    ]);
    let configs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "proxy-config JSON: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(Some(configs[0]["version"].clone()), acked, "{configs:#}");
}

/// A VirtualService for Service `b`: a 418 fault for requests with `x-test: abort`.
async fn apply_virtual_service(ns: &str) {
    use kube::api::{Api, DynamicObject, Patch, PatchParams};
    use kube::core::{ApiResource, GroupVersionKind};
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "networking.istio.io",
        "v1",
        "VirtualService",
    ));
    let api: Api<DynamicObject> = Api::namespaced_with(cluster().admin().await, ns, &resource);
    let vs: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "b", "namespace": ns},
        "spec": {
            "hosts": ["b"],
            "http": [
                {"match": [{"headers": {"x-test": {"exact": "abort"}}}],
                 "fault": {"abort": {"httpStatus": 418, "percentage": {"value": 100}}},
                 "route": [{"destination": {"host": "b"}}]},
                {"route": [{"destination": {"host": "b"}}]},
            ],
        },
    }))
    .expect("virtual service");
    api.patch("b", &PatchParams::apply("test").force(), &Patch::Apply(&vs))
        .await
        .expect("apply the VirtualService");
}

/// The status of one request (`"GET /path"`) from `pod` to `addr` with `host` and one extra
/// header line; 0 when the connection failed or closed without an answer.
pub fn request(
    pod: &crate::node::Pod,
    addr: SocketAddr,
    host: &str,
    line: &str,
    header: &str,
) -> u16 {
    let text = response(pod, addr, host, line, header);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The whole response to [`request`]'s request; empty when the connection failed.
pub fn response(
    pod: &crate::node::Pod,
    addr: SocketAddr,
    host: &str,
    line: &str,
    header: &str,
) -> String {
    use std::io::{Read, Write};
    pod.enter(|| {
        let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        else {
            return String::new();
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let request =
            format!("{line} HTTP/1.1\r\nhost: {host}\r\n{header}\r\nconnection: close\r\n\r\n");
        if stream.write_all(request.as_bytes()).is_err() {
            return String::new();
        }
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    })
}

/// The check result `id` of a `check -o json` report.
fn result_in(report: &serde_json::Value, id: &str) -> serde_json::Value {
    let categories = report["categories"].as_array();
    categories
        .into_iter()
        .flatten()
        .flat_map(|c| c["checks"].as_array().into_iter().flatten())
        .find(|c| c["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no {id} in {report}"))
}

/// A Pod of the controller Deployment in `mesh_ns`, Running at the pods' host address, where
/// the test's controller process listens: no kubelet runs here to start the real one.
async fn register_controller_pod(mesh_ns: &str) {
    register_controller_pod_with(cluster().admin().await, mesh_ns).await;
}

/// [`register_controller_pod`] in the API server `admin` talks to.
pub(crate) async fn register_controller_pod_with(admin: kube::Client, mesh_ns: &str) {
    use kube::api::{Api, Patch, PatchParams, PostParams};
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(admin, mesh_ns);
    let pod = serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": "meshctl-controller-test",
            "labels": {"app.kubernetes.io/name": "meshctl", "app.kubernetes.io/component": "controller"},
        },
        "spec": {"containers": [{"name": "controller", "image": "meshctl"}]},
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create the controller pod");
    let status = serde_json::json!({"status": {
        "phase": "Running", "podIP": HOST, "podIPs": [{"ip": HOST}], "hostIP": HOST,
        "conditions": [{"type": "Ready", "status": "True"}],
    }});
    pods.patch_status(
        "meshctl-controller-test",
        &PatchParams::default(),
        &Patch::Merge(&status),
    )
    .await
    .expect("the controller pod's status");
}
