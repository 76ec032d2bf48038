//! `meshctl demo`: a whole mesh on loopback, no root, no cluster. The controller reads the
//! demo's objects from a directory (`controller --from-dir`), signs each proxy's leaf with a
//! CA made for the run, and streams their config; one proxy per workload runs as its own
//! process on the workload's loopback address; the apps and the client's load run in this
//! process; the dashboard reads the proxies' admin ports.

pub mod apps;
pub mod children;
pub mod manifests;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::net::TcpListener;

use crate::identity::SpiffeId;
use children::{ChildError, Children};
use manifests::{Addresses, CLIENT, Layout, NAMESPACE, WEB_V1, WEB_V2, Workload};

pub const TRUST_DOMAIN: &str = crate::identity::DEFAULT_TRUST_DOMAIN;
/// The controller's namespace: the proxies expect its identity there.
const MESH_NAMESPACE: &str = "meshctl-system";
// The usual ports plus 10000: a socket on 127.77.0.x:4143 would keep a real proxy (or a
// test) from binding 0.0.0.0:4143 on the same machine.
const GRPC_PORT: u16 = 18086;
const CONTROLLER_ADMIN_PORT: u16 = 19990;
const OUTBOUND_PORT: u16 = 14140;
const INBOUND_PORT: u16 = 14143;
const ADMIN_PORT: u16 = 14191;
/// How long a process may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How to run the demo.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where the objects are (written there when empty); None: a temporary directory.
    pub dir: Option<PathBuf>,
    /// Requests per second the client sends.
    pub rps: u32,
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot {what} {path}: {cause}")]
    Io {
        what: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Manifests(#[from] manifests::ManifestError),
    #[error(transparent)]
    Child(#[from] ChildError),
    #[error("cannot create the demo's CA: {0}")]
    Ca(#[from] crate::identity::ca::CaError),
    #[error(
        "no free loopback network for the demo: 127.N.0.1:{GRPC_PORT} is taken for every N \
         from 77 to 126 (other demos running?)"
    )]
    NoNetwork,
    #[error(
        "cannot listen on {addr} for the {app} app: {cause}; is another demo running with these files?"
    )]
    Bind {
        app: &'static str,
        addr: SocketAddr,
        cause: std::io::Error,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DemoError {
    let path = path.to_owned();
    move |cause| DemoError::Io { what, path, cause }
}

/// One workload as it runs.
#[derive(Clone, Debug)]
pub struct Running {
    pub workload: Workload,
    pub addresses: Addresses,
    pub identity: SpiffeId,
    /// The proxy's listeners.
    pub inbound: SocketAddr,
    pub outbound: SocketAddr,
    pub admin: SocketAddr,
    /// Where its app listens (None for the client, which only calls).
    pub app: Option<SocketAddr>,
}

/// What runs and where.
#[derive(Clone, Debug)]
pub struct Info {
    pub objects: PathBuf,
    /// Whether `objects` is a temporary directory (removed on exit).
    pub temporary_objects: bool,
    pub state: PathBuf,
    pub logs: PathBuf,
    pub controller_grpc: SocketAddr,
    pub controller_admin: SocketAddr,
    pub workloads: Vec<Running>,
    /// The host the client calls (its proxy's outbound listener routes it).
    pub host: &'static str,
    pub rps: u32,
    pub started_in: Duration,
}

impl Info {
    pub fn workload(&self, w: Workload) -> Option<&Running> {
        self.workloads.iter().find(|r| r.workload == w)
    }
}

/// A started demo; [`Demo::stop`] ends it (dropping it kills the processes too).
pub struct Demo {
    pub info: Info,
    pub seen: Arc<apps::Seen>,
    children: Children,
    tasks: tokio::task::JoinSet<()>,
    state: StateDir,
}

/// The run's own directory (CA, token, logs, objects unless --dir): removed on drop.
struct StateDir(PathBuf);

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Demo {
    /// Writes or reads the objects, makes a CA, starts the controller, the proxies, the apps
    /// and the load; returns once every proxy is ready.
    pub async fn start(options: Options) -> Result<Demo, DemoError> {
        let started = Instant::now();
        let state = StateDir(std::env::temp_dir().join(format!(
            "meshctl-demo-{}-{:x}",
            std::process::id(),
            fastrand::u32(..)
        )));
        let logs = state.0.join("logs");
        std::fs::create_dir_all(&logs).map_err(io("create", &logs))?;
        let (objects, temporary_objects) = match &options.dir {
            Some(dir) => (dir.clone(), false),
            None => (state.0.join("objects"), true),
        };
        let addresses = prepare_objects(&objects)?;
        let (ca_dir, token_file) = make_identity(&state.0)?;

        let controller = addresses.first().map_or(Ipv4Addr::LOCALHOST, |(_, a)| {
            Ipv4Addr::from(u32::from(a.pod) & !0xff | 1)
        });
        let controller_grpc = SocketAddr::from((controller, GRPC_PORT));
        let controller_admin = SocketAddr::from((controller, CONTROLLER_ADMIN_PORT));
        let workloads: Vec<Running> = addresses.iter().map(|(w, a)| running(*w, *a)).collect();

        // The apps first: a proxy forwarding to a closed port would fail the first requests.
        let mut tasks = tokio::task::JoinSet::new();
        for r in &workloads {
            let Some(app) = r.app else { continue };
            let listener = TcpListener::bind(app)
                .await
                .map_err(|cause| DemoError::Bind {
                    app: r.workload.name,
                    addr: app,
                    cause,
                })?;
            let version = r.workload.version.unwrap_or("v1");
            let fail_every = (r.workload == WEB_V2).then_some(20);
            tasks.spawn(apps::echo(listener, version, fail_every));
        }

        let mut children = Children::default();
        let path = |p: &Path| p.display().to_string();
        let controller_args = [
            "controller",
            "--from-dir",
            &path(&objects),
            "--identity-dir",
            &path(&ca_dir),
            "--identity-token-file",
            &path(&token_file),
            "--mesh-namespace",
            MESH_NAMESPACE,
            "--trust-domain",
            TRUST_DOMAIN,
            "--grpc-addr",
            &controller_grpc.to_string(),
            "--admin-addr",
            &controller_admin.to_string(),
        ]
        .map(str::to_owned);
        children.spawn("controller", &controller_args, &logs)?;
        children
            .wait_ready("controller", controller_admin, READY_TIMEOUT)
            .await?;
        for r in &workloads {
            let args = proxy_args(r, controller_grpc, &ca_dir, &token_file);
            children.spawn(r.workload.name, &args, &logs)?;
        }
        for r in &workloads {
            children
                .wait_ready(r.workload.name, r.admin, READY_TIMEOUT)
                .await?;
        }

        let seen = Arc::new(apps::Seen::default());
        if let Some(client) = workloads.iter().find(|r| r.workload == CLIENT) {
            tasks.spawn(apps::load(
                client.outbound,
                "web",
                options.rps,
                seen.clone(),
            ));
        }
        Ok(Demo {
            info: Info {
                objects,
                temporary_objects,
                state: state.0.clone(),
                logs,
                controller_grpc,
                controller_admin,
                workloads,
                host: "web",
                rps: options.rps,
                started_in: started.elapsed(),
            },
            seen,
            children,
            tasks,
            state,
        })
    }

    /// The process ids of the controller and the proxies.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.children.pids()
    }

    /// A process that exited on its own (the demo cannot go on without it).
    pub fn exited(&mut self) -> Option<String> {
        self.children.exited().map(|(name, status, log)| {
            format!(
                "the {name} process exited ({status}); its log: {}",
                log.display()
            )
        })
    }

    /// Stops the load, the processes and the apps, and removes the run's directory.
    pub async fn stop(mut self) {
        self.tasks.abort_all();
        self.children.stop(Duration::from_secs(3)).await;
        while self.tasks.join_next().await.is_some() {}
        drop(self.state);
    }
}

fn running(w: Workload, a: Addresses) -> Running {
    let at = |port| SocketAddr::from((a.pod, port));
    let serves = w.version.is_some();
    Running {
        workload: w,
        addresses: a,
        identity: SpiffeId::new(TRUST_DOMAIN, NAMESPACE, w.service_account)
            .unwrap_or_else(|_| unreachable!("the demo's names are valid")),
        // The Service's endpoints are <podIP>:8080: the proxy's inbound listener takes that
        // address, as interception would send it there.
        inbound: at(if serves {
            manifests::APP_PORT
        } else {
            INBOUND_PORT
        }),
        outbound: at(OUTBOUND_PORT),
        admin: at(ADMIN_PORT),
        app: serves.then(|| SocketAddr::from((a.app, manifests::APP_PORT))),
    }
}

fn proxy_args(r: &Running, controller: SocketAddr, ca: &Path, token: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "proxy",
        "--controller-addr",
        &controller.to_string(),
        "--controller-namespace",
        MESH_NAMESPACE,
        "--trust-domain",
        TRUST_DOMAIN,
        "--identity-trust-roots",
        &ca.join("ca.crt").display().to_string(),
        "--identity-token-file",
        &token.display().to_string(),
        "--pod-name",
        r.workload.name,
        "--pod-namespace",
        NAMESPACE,
        "--service-account",
        r.workload.service_account,
        "--outbound-addr",
        &r.outbound.to_string(),
        "--inbound-addr",
        &r.inbound.to_string(),
        "--admin-addr",
        &r.admin.to_string(),
        "--drain-seconds",
        "1",
    ]
    .map(str::to_owned)
    .to_vec();
    if let Some(app) = r.app {
        args.extend([
            "--inbound-app-port".to_owned(),
            app.port().to_string(),
            "--inbound-app-ip".to_owned(),
            app.ip().to_string(),
        ]);
    }
    args
}

/// The workloads' addresses: from the files in `dir`, or from the files written there
/// when it is empty or missing (on a loopback network no other demo uses).
fn prepare_objects(dir: &Path) -> Result<Vec<(Workload, Addresses)>, DemoError> {
    let empty = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(io("read", dir)(e)),
    };
    if empty {
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        let layout = free_layout()?;
        for (name, text) in manifests::files(layout) {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(io("write", &path))?;
        }
    }
    Ok(manifests::read_addresses(dir)?)
}

/// The first 127.N.0.0 network whose controller port is free.
fn free_layout() -> Result<Layout, DemoError> {
    (77..=126)
        .map(|net| Layout { net })
        .find(|l| {
            let grpc = SocketAddr::new(IpAddr::V4(l.controller()), GRPC_PORT);
            let web = SocketAddr::new(IpAddr::V4(l.of(WEB_V1).pod), manifests::APP_PORT);
            std::net::TcpListener::bind(grpc).is_ok() && std::net::TcpListener::bind(web).is_ok()
        })
        .ok_or(DemoError::NoNetwork)
}

/// A CA for this run (as `certs create` writes it) and the proxies' bootstrap token.
fn make_identity(state: &Path) -> Result<(PathBuf, PathBuf), DemoError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = state.join("ca");
    std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
    let generated = crate::identity::ca::generate(
        TRUST_DOMAIN,
        Duration::from_secs(7 * 24 * 3600),
        Duration::from_secs(24 * 3600),
        SystemTime::now(),
    )?;
    let token: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(32)
        .collect();
    let files = [
        (dir.join("ca.crt"), generated.anchor.pem()),
        (dir.join("issuer.crt"), generated.issuer.pem()),
        (dir.join("issuer.key"), generated.issuer_key.serialize_pem()),
        (state.join("token"), token),
    ];
    for (path, text) in &files {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io("write", path))?;
        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io("write", path))?;
    }
    Ok((dir, state.join("token")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_listen_where_the_endpoints_point() {
        let layout = Layout { net: 90 };
        let web = running(WEB_V1, layout.of(WEB_V1));
        assert_eq!(web.inbound.to_string(), "127.90.0.11:8080");
        assert_eq!(web.app.unwrap().to_string(), "127.90.1.11:8080");
        let args = proxy_args(
            &web,
            "127.90.0.1:18086".parse().unwrap(),
            Path::new("/ca"),
            Path::new("/t"),
        );
        let joined = args.join(" ");
        for want in [
            "--inbound-addr 127.90.0.11:8080",
            "--inbound-app-ip 127.90.1.11",
            "--inbound-app-port 8080",
            "--pod-name web-v1 --pod-namespace demo --service-account web",
            "--identity-trust-roots /ca/ca.crt",
        ] {
            assert!(joined.contains(want), "{want} not in {joined}");
        }
        let client = running(CLIENT, layout.of(CLIENT));
        assert_eq!(client.app, None);
        assert!(
            !proxy_args(
                &client,
                "127.90.0.1:18086".parse().unwrap(),
                Path::new("/ca"),
                Path::new("/t")
            )
            .contains(&"--inbound-app-port".to_owned())
        );
    }
}
