//! A `meshctl controller` process for tests against the real API server (shared by the
//! cluster and pod-network test binaries): installed with `install --apply` into a namespace
//! of its own, run with its service account's rights, killed and restarted on the same ports.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A `meshctl controller` process on this machine, restartable on the same ports.
pub struct ControllerProcess {
    kubeconfig: PathBuf,
    mesh_namespace: String,
    pub grpc: SocketAddr,
    pub admin: SocketAddr,
    /// The proxy injector (HTTPS), on 127.0.0.1: not the default 8443, which another test
    /// on this machine may hold.
    pub webhook: SocketAddr,
    log: PathBuf,
    child: Option<Child>,
    /// More `meshctl controller` flags.
    args: Vec<String>,
}

fn free_port(ip: &str) -> SocketAddr {
    let listener = TcpListener::bind((ip, 0)).expect("a free port");
    listener.local_addr().expect("addr")
}

impl ControllerProcess {
    /// Starts it with the rights of its install's service account; returns once `/ready`.
    /// `ip`: where proxies reach it (the pods' host address, or 127.0.0.1); `admin_port`:
    /// its admin port there (the API server's pod proxy asks 9990), else a free one.
    pub fn start(
        kubeconfig: PathBuf,
        mesh_namespace: &str,
        ip: &str,
        admin_port: Option<u16>,
        log: PathBuf,
    ) -> ControllerProcess {
        Self::start_with_args(kubeconfig, mesh_namespace, ip, admin_port, log, &[])
    }

    /// [`Self::start`] with more `meshctl controller` flags.
    pub fn start_with_args(
        kubeconfig: PathBuf,
        mesh_namespace: &str,
        ip: &str,
        admin_port: Option<u16>,
        log: PathBuf,
        args: &[&str],
    ) -> ControllerProcess {
        let admin = match admin_port {
            Some(port) => SocketAddr::new(ip.parse().expect("an IP"), port),
            None => free_port(ip),
        };
        let mut controller = ControllerProcess {
            kubeconfig,
            mesh_namespace: mesh_namespace.to_owned(),
            grpc: free_port(ip),
            admin,
            webhook: free_port("127.0.0.1"),
            log,
            child: None,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        };
        controller.restart();
        controller
    }

    /// The process id (for RSS and CPU readings).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn mesh_namespace(&self) -> &str {
        &self.mesh_namespace
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the controller is running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("controller log");
        let child = Command::new(env!("CARGO_BIN_EXE_meshctl"))
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["controller", "--mesh-namespace", &self.mesh_namespace])
            .args(["--grpc-addr", &self.grpc.to_string()])
            .args(["--admin-addr", &self.admin.to_string()])
            .args(["--webhook-addr", &self.webhook.to_string()])
            .args(["--log-level", "info"])
            .args(&self.args)
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
pub fn install(admin_kubeconfig: &std::path::Path, mesh_namespace: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .arg("--kubeconfig")
        .arg(admin_kubeconfig)
        .args(["install", "-n", mesh_namespace, "--apply", "--wait=false"])
        .args(["--set", "webhook.failurePolicy=Ignore"])
        .output()
        .expect("run meshctl install");
    assert!(
        out.status.success(),
        "install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The trust anchors `install` wrote, as PEM.
pub async fn trust_anchors(admin: kube::Client, mesh_namespace: &str) -> String {
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(admin, mesh_namespace);
    let map = api
        .get("meshctl-identity-trust-roots")
        .await
        .expect("the install's trust roots");
    map.data.expect("data")["ca-bundle.crt"].clone()
}
