//! `meshctl controller` end to end: installed with `install --apply` into a real API server,
//! run as a local process with its own service account's rights, and proxies in cluster mode
//! in pod network namespaces: identity from its CA (TokenReview), config from its discovery
//! stream, mTLS between meshed pods, endpoints following their EndpointSlice, and no failed
//! request while the controller is killed and restarted under load.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::cluster;
use crate::load::paced_gets;
use crate::meshed::{Mesh, metric};
use crate::net::{Greeter, Says};
use crate::registry::{Registry, cluster_available, meshctl_in_cluster};
use crate::{meshctl, node_or_skip};

/// The address pods reach this machine at (see `Node::link_host`).
const HOST: &str = "10.213.0.1";

/// A `meshctl controller` process on this machine, restartable on the same ports.
pub struct ControllerProcess {
    kubeconfig: PathBuf,
    mesh_namespace: String,
    pub grpc: SocketAddr,
    pub admin: SocketAddr,
    log: PathBuf,
    child: Option<Child>,
}

fn free_port(ip: &str) -> SocketAddr {
    let listener = TcpListener::bind((ip, 0)).expect("a free port");
    listener.local_addr().expect("addr")
}

impl ControllerProcess {
    /// Starts it with the rights of its install's service account; returns once `/ready`.
    pub fn start(kubeconfig: PathBuf, mesh_namespace: &str, log: PathBuf) -> ControllerProcess {
        let mut controller = ControllerProcess {
            kubeconfig,
            mesh_namespace: mesh_namespace.to_owned(),
            grpc: free_port(HOST),
            admin: free_port("127.0.0.1"),
            log,
            child: None,
        };
        controller.restart();
        controller
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the controller is running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("controller log");
        let child = Command::new(meshctl())
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["controller", "--mesh-namespace", &self.mesh_namespace])
            .args(["--grpc-addr", &self.grpc.to_string()])
            .args(["--admin-addr", &self.admin.to_string()])
            .args(["--log-level", "info"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start meshctl controller");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.get("/ready").0 != 200 {
            assert!(
                Instant::now() < deadline,
                "the controller never became ready: {:?}\n{}",
                self.get("/ready"),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, as a node loss or an OOM kill would do.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `GET path` on the admin port: status and body (0 when nothing answers).
    pub fn get(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let Ok(mut stream) =
            std::net::TcpStream::connect_timeout(&self.admin, Duration::from_secs(2))
        else {
            return (0, String::new());
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let request =
            format!("GET {path} HTTP/1.1\r\nhost: controller\r\nconnection: close\r\n\r\n");
        if stream.write_all(request.as_bytes()).is_err() {
            return (0, String::new());
        }
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (status, body.to_owned())
    }

    /// The subscribed proxies (`/proxies`).
    pub fn proxies(&self) -> Vec<Value> {
        let (status, body) = self.get("/proxies");
        assert_eq!(status, 200, "/proxies: {body}");
        serde_json::from_str(&body).expect("/proxies JSON")
    }

    /// The value of metric `name` (no labels) on the admin port.
    pub fn metric(&self, name: &str) -> f64 {
        let (_, text) = self.get("/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits until every proxy in `pods` (namespace, pod) is subscribed and acked what it
    /// was sent; returns how long that took.
    pub fn wait_acked(&self, pods: &[(&str, &str)], within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let proxies = self.proxies();
            let acked = pods.iter().all(|(ns, pod)| {
                proxies.iter().any(|p| {
                    p["namespace"] == *ns
                        && p["pod"] == *pod
                        && !p["sentVersion"].is_null()
                        && p["sentVersion"] == p["ackedVersion"]
                })
            });
            if acked {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "proxies {pods:?} did not ack within {within:?}: {proxies:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn logs(&self) -> String {
        format!(
            "--- controller log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        )
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `meshctl install --apply` into its own namespace (other tests share the API server: the
/// webhook must not refuse their pods, so it is installed with failurePolicy Ignore).
pub fn install(mesh_namespace: &str) {
    let out = meshctl_in_cluster(&[
        "install",
        "-n",
        mesh_namespace,
        "--apply",
        "--wait=false",
        "--set",
        "webhook.failurePolicy=Ignore",
    ]);
    assert!(
        out.status.success(),
        "install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The trust anchors `install` wrote, as PEM.
pub async fn trust_anchors(mesh_namespace: &str) -> String {
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(cluster().admin().await, mesh_namespace);
    let map = api
        .get("meshctl-identity-trust-roots")
        .await
        .expect("the install's trust roots");
    map.data.expect("data")["ca-bundle.crt"].clone()
}

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
            controller.mesh_namespace.clone(),
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
    install(&mesh_ns);
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
            let roots = trust_anchors(&mesh_ns).await;
            let kubeconfig = cluster()
                .kubeconfig_for_service_account(&mesh_ns, "meshctl-controller")
                .await;
            (
                registry, a_pods, b_pods, cluster_ip, tokens, roots, kubeconfig,
            )
        });
    let ns = registry.namespace.clone();
    let mut mesh = Mesh::new();
    let mut controller =
        ControllerProcess::start(kubeconfig, &mesh_ns, mesh.write_path("controller.log"));
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
