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
use crate::registry::{Registry, cluster_available};

/// The address pods reach this machine at (see `Node::link_host`).
const HOST: &str = "10.213.0.1";

/// The environment of a proxy in cluster mode, over what inject gave it: the pod's real name
/// and namespace in the API server, its token and the trust roots as the kubelet mounts them.
fn cluster_env(
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

fn answered_by(tally: &crate::load::Tally, app: &str) -> u64 {
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
    let mut controller = ControllerProcess::start(
        kubeconfig,
        &mesh_ns,
        HOST,
        mesh.write_path("controller.log"),
    );
    let roots_file = mesh.write_file("roots.pem", &roots);
    let a_token = mesh.write_file("a.token", &tokens.0);
    let b_token = mesh.write_file("b.token", &tokens.1);
    mesh.start_with_env(
        a,
        "a.yaml",
        &cluster_env(&controller, &ns, &a_pods[0], &a_token, &roots_file),
    );
    mesh.start_with_env(
        b,
        "b.yaml",
        &cluster_env(&controller, &ns, &b_pods[0], &b_token, &roots_file),
    );
    mesh.start_with_env(
        c,
        "b.yaml",
        &cluster_env(&controller, &ns, &b_pods[1], &b_token, &roots_file),
    );
    let context =
        |controller: &ControllerProcess| format!("{}\n{}", mesh.logs(), controller.logs());

    // a's app dials b's cluster IP by its DNS name; a route sends the cluster IP range out of
    // eth0, where a's proxy intercepts it (there is no kube-proxy).
    a.run("ip", &["route", "add", "10.96.0.0/24", "dev", "eth0"]);
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
}
