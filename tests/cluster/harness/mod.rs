//! A real etcd + kube-apiserver for the cluster tests (envtest style): started once per test
//! binary on free loopback ports, RBAC on, an admin kubeconfig, clients for other users and
//! service accounts. Each test works in its own namespace.
//!
//! ```ignore
//! let cluster = cluster();                          // shared; started on first use
//! let ns = cluster.namespace("mytest").await;        // a fresh namespace for this test
//! let admin = cluster.admin().await;                 // kube::Client in system:masters
//! let alice = cluster.client_for_user("alice", &["devs"]).await;          // client cert
//! let sa = cluster.client_for_service_account(&ns, "app").await;          // TokenRequest
//! let cfg = cluster.kubeconfig_for_service_account(&ns, "app").await;     // file for CLIs
//! Command::new("kubectl").arg("--kubeconfig").arg(&cluster.kubeconfig);   // admin file
//! let own = Cluster::start().await?;                // a cluster of its own (installs: cluster-wide names)
//! ```
//! No controllers, scheduler or kubelet run: set status through the status subresource.
//! Missing binaries fail the tests with the command that builds them.

mod pki;
mod process;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use pki::Pki;
use process::Supervisor;

/// How long etcd + kube-apiserver may take to become ready on a busy machine.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// One running test cluster.
pub struct Cluster {
    pub server: String,
    /// The admin's kubeconfig (context `meshctl-test`), for `meshctl` and `kubectl`.
    pub kubeconfig: PathBuf,
    dir: PathBuf,
    pki: Pki,
    counter: AtomicUsize,
    // Last field: dropping it stops the servers after everything else is released.
    _supervisor: Supervisor,
}

/// The cluster shared by every test in this binary, started on first use. The supervisor
/// stops it when the process exits (see `process.rs`). Panics with the reason it cannot run.
pub fn cluster() -> &'static Cluster {
    static SHARED: OnceLock<Result<Cluster, String>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| {
        // Started on a thread of its own: callers are inside a tokio test's runtime.
        std::thread::spawn(|| {
            let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            rt.block_on(Cluster::start())
        })
        .join()
        .unwrap_or_else(|_| Err("starting the test cluster panicked".to_owned()))
    });
    match shared {
        Ok(cluster) => cluster,
        Err(e) => panic!("the test cluster cannot run: {e}"),
    }
}

impl Cluster {
    /// Starts etcd and kube-apiserver in a new temporary directory and waits until ready.
    pub async fn start() -> Result<Self, String> {
        let etcd = process::testbin("etcd")?;
        let apiserver = process::testbin("kube-apiserver")?;
        let dir = std::env::temp_dir().join(format!(
            "meshctl-cluster-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("etcd"))
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let pki = Pki::create(&dir)?;
        let serving = pki.serving(&dir)?;
        let admin = pki.client(&dir, "admin", "admin", &["system:masters"])?;
        let (sa_key, sa_pub) = pki::service_account_key(&dir)?;
        let [etcd_port, peer_port, api_port] = free_ports()?;
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let path = |p: &Path| p.to_string_lossy().into_owned();
        let etcd_args = vec![
            path(&etcd),
            format!("--data-dir={}", path(&dir.join("etcd"))),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"),
            format!("--initial-cluster=default=http://127.0.0.1:{peer_port}"),
            "--unsafe-no-fsync".to_owned(),
            "--log-level=warn".to_owned(),
        ];
        let api_args = vec![
            path(&apiserver),
            format!("--etcd-servers={etcd_url}"),
            format!("--secure-port={api_port}"),
            "--bind-address=127.0.0.1".to_owned(),
            "--advertise-address=127.0.0.1".to_owned(),
            format!("--cert-dir={}", path(&dir.join("certs"))),
            format!("--tls-cert-file={}", path(&serving.cert)),
            format!("--tls-private-key-file={}", path(&serving.key)),
            format!("--client-ca-file={}", path(&pki.ca_file)),
            "--service-cluster-ip-range=10.96.0.0/20".to_owned(),
            "--allow-privileged=true".to_owned(),
            "--authorization-mode=RBAC".to_owned(),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_owned(),
            format!("--service-account-key-file={}", path(&sa_pub)),
            format!("--service-account-signing-key-file={}", path(&sa_key)),
            // No token controller runs, so pods must not wait for token secrets.
            "--disable-admission-plugins=ServiceAccount".to_owned(),
            "--v=0".to_owned(),
        ];
        let mut supervisor =
            Supervisor::start(&dir, &[("etcd", etcd_args), ("apiserver", api_args)])?;
        let server = format!("https://127.0.0.1:{api_port}");
        let kubeconfig = dir.join("admin.kubeconfig");
        let admin_yaml = kubeconfig_yaml(&server, &pki.ca_file, &Credentials::Cert(&admin));
        std::fs::write(&kubeconfig, &admin_yaml)
            .map_err(|e| format!("cannot write {}: {e}", kubeconfig.display()))?;
        let client = client_from_yaml(&admin_yaml).await?;
        wait_ready(&client, &mut supervisor).await?;
        Ok(Self {
            server,
            kubeconfig,
            dir,
            pki,
            counter: AtomicUsize::new(0),
            _supervisor: supervisor,
        })
    }

    /// A client for the admin (`system:masters`). Make one per test: a client belongs to
    /// the tokio runtime it was made in.
    pub async fn admin(&self) -> Client {
        let yaml = std::fs::read_to_string(&self.kubeconfig).expect("read admin kubeconfig");
        client_from_yaml(&yaml).await.expect("admin client")
    }

    /// A client authenticated by a client certificate for `user` in `groups`.
    pub async fn client_for_user(&self, user: &str, groups: &[&str]) -> Client {
        let stem = format!("user-{}", self.unique());
        let files = self
            .pki
            .client(&self.dir, &stem, user, groups)
            .expect("client cert");
        let yaml = kubeconfig_yaml(&self.server, &self.pki.ca_file, &Credentials::Cert(&files));
        client_from_yaml(&yaml).await.expect("user client")
    }

    /// A client for service account `namespace/name` (created when missing), authenticated
    /// with a token from the TokenRequest API.
    pub async fn client_for_service_account(&self, namespace: &str, name: &str) -> Client {
        let yaml = self.service_account_kubeconfig_yaml(namespace, name).await;
        client_from_yaml(&yaml)
            .await
            .expect("service account client")
    }

    /// A kubeconfig file for service account `namespace/name`, for `meshctl` and `kubectl`.
    pub async fn kubeconfig_for_service_account(&self, namespace: &str, name: &str) -> PathBuf {
        let yaml = self.service_account_kubeconfig_yaml(namespace, name).await;
        let path = self.dir.join(format!("sa-{}.kubeconfig", self.unique()));
        std::fs::write(&path, yaml).expect("write kubeconfig");
        path
    }

    async fn service_account_kubeconfig_yaml(&self, namespace: &str, name: &str) -> String {
        let admin = self.admin().await;
        let accounts: Api<ServiceAccount> = Api::namespaced(admin, namespace);
        if accounts.get_opt(name).await.expect("get sa").is_none() {
            let sa: ServiceAccount = serde_json::from_value(serde_json::json!({
                "metadata": {"name": name}
            }))
            .expect("sa");
            accounts
                .create(&PostParams::default(), &sa)
                .await
                .expect("create sa");
        }
        let request = TokenRequest {
            spec: TokenRequestSpec {
                expiration_seconds: Some(3600),
                ..TokenRequestSpec::default()
            },
            ..TokenRequest::default()
        };
        let answer = accounts
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .expect("token request");
        let token = answer.status.expect("token status").token;
        kubeconfig_yaml(&self.server, &self.pki.ca_file, &Credentials::Token(&token))
    }

    /// The PKCS#8 PEM key the API server signs service-account tokens with (tests forge
    /// tokens the API server itself would issue, e.g. already expired ones).
    #[allow(dead_code)]
    pub fn service_account_signing_key(&self) -> PathBuf {
        self.dir.join("sa.key")
    }

    /// Creates a namespace named `<prefix>-<n>` for one test and returns its name.
    pub async fn namespace(&self, prefix: &str) -> String {
        let name = format!("{prefix}-{}", self.unique());
        let ns: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).expect("ns");
        Api::<Namespace>::all(self.admin().await)
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
        name
    }

    fn unique(&self) -> usize {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }
}

/// Why the test cluster cannot start here (its binaries are not built), if it cannot.
/// tests/podnet (which includes this harness) uses it to skip where no cluster can run.
#[allow(dead_code)]
pub fn missing_testbin() -> Option<String> {
    ["etcd", "kube-apiserver"]
        .iter()
        .find_map(|name| process::testbin(name).err())
}

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

enum Credentials<'a> {
    Cert(&'a pki::CertFiles),
    Token(&'a str),
}

/// A kubeconfig with one cluster, user and context (`meshctl-test`). JSON strings are YAML.
fn kubeconfig_yaml(server: &str, ca: &Path, credentials: &Credentials<'_>) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("string");
    let p = |p: &Path| q(&p.to_string_lossy());
    let user = match credentials {
        Credentials::Cert(files) => format!(
            "client-certificate: {}\n    client-key: {}",
            p(&files.cert),
            p(&files.key)
        ),
        Credentials::Token(token) => format!("token: {}", q(token)),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: meshctl-test\n  cluster:\n    \
         server: {server}\n    certificate-authority: {ca}\nusers:\n- name: meshctl-test\n  \
         user:\n    {user}\ncontexts:\n- name: meshctl-test\n  context:\n    cluster: \
         meshctl-test\n    user: meshctl-test\n    namespace: default\ncurrent-context: \
         meshctl-test\n",
        server = q(server),
        ca = p(ca),
    )
}

async fn client_from_yaml(yaml: &str) -> Result<Client, String> {
    let kubeconfig = Kubeconfig::from_yaml(yaml).map_err(|e| format!("kubeconfig: {e}"))?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("kubeconfig: {e}"))?;
    Client::try_from(config).map_err(|e| format!("client: {e}"))
}

/// Polls `/readyz` until it answers `ok`, or fails with the servers' last log lines.
async fn wait_ready(client: &Client, supervisor: &mut Supervisor) -> Result<(), String> {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < READY_TIMEOUT && supervisor.alive() {
        let request = http::Request::get("/readyz")
            .body(Vec::new())
            .expect("request");
        match client.request_text(request).await {
            Ok(text) if text.trim() == "ok" => return Ok(()),
            Ok(text) => last = text,
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(format!(
        "kube-apiserver was not ready after {:?} (last answer: {last})\n--- etcd log ---\n{}\n\
         --- kube-apiserver log ---\n{}",
        start.elapsed(),
        supervisor.log_tail("etcd"),
        supervisor.log_tail("apiserver"),
    ))
}

/// Three free loopback ports (all bound at once so they differ).
fn free_ports() -> Result<[u16; 3], String> {
    let bind = || TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"));
    let listeners = [bind()?, bind()?, bind()?];
    let port = |l: &TcpListener| l.local_addr().map(|a| a.port()).map_err(|e| e.to_string());
    Ok([
        port(&listeners[0])?,
        port(&listeners[1])?,
        port(&listeners[2])?,
    ])
}
