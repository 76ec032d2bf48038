//! Meshed pods: each started as `meshctl inject` describes it (the init step, then
//! `meshctl proxy` with the injected arguments, environment and user) on a static config
//! file, the way a controller would hand it over.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::net::http_get;
use crate::node::Pod;
use crate::spec::Injected;

const ADMIN: &str = "127.0.0.1:4191";

/// Where the meshed pods of one test keep their proxy configs and logs.
pub struct Mesh {
    dir: TempDir,
    pods: Vec<(String, u32)>,
}

impl Mesh {
    pub fn new() -> Mesh {
        let dir = tempfile::tempdir().expect("tempdir");
        // The proxies run as their injected uid and must read their config.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        Mesh {
            dir,
            pods: Vec::new(),
        }
    }

    /// Runs `pod`'s init step and starts its proxy as injected from `fixture`, on the
    /// static config `yaml`; returns once the proxy says it is ready.
    pub fn start(&mut self, pod: &Pod, fixture: &str, yaml: &str) {
        self.start_injected(pod, fixture, &[], yaml);
    }

    /// Like `start`, with `flags` given to `meshctl inject` (`--tracing-endpoint …`).
    pub fn start_injected(&mut self, pod: &Pod, fixture: &str, flags: &[&str], yaml: &str) {
        let config = self.dir.path().join(format!("{}.yaml", pod.name));
        std::fs::write(&config, yaml).expect("write proxy config");
        let config = config.to_string_lossy().into_owned();
        let injected = Injected::from_fixture_with(fixture, pod, flags);
        self.start_as(pod, injected, &[("MESHCTL_PROXY_CONFIG", config)]);
    }

    /// Runs `pod`'s init step and starts its proxy as injected from `fixture`, with `env`
    /// set over the injected environment (cluster mode: no config file, the pod's real name
    /// and namespace); returns once the proxy says it is ready.
    pub fn start_with_env(&mut self, pod: &Pod, fixture: &str, env: &[(&str, String)]) {
        self.start_as(pod, Injected::from_fixture(fixture, pod), env);
    }

    fn start_as(&mut self, pod: &Pod, injected: Injected, env: &[(&str, String)]) {
        pod.run_init(&injected.init);
        let log = std::fs::File::create(self.log_path(pod)).expect("proxy log");
        let mut cmd = pod.container_command(&injected.proxy);
        cmd.envs(env.iter().map(|(k, v)| (*k, v)))
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let pid = pod.spawn(cmd);
        self.pods.push((pod.name.clone(), pid));
        let deadline = Instant::now() + Duration::from_secs(20);
        while http_get(pod, admin(), "/ready").0 != 200 {
            assert!(
                Instant::now() < deadline,
                "the proxy in {} never became ready: {}\n{}",
                pod.name,
                http_get(pod, admin(), "/ready").1,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A path in this mesh's directory (logs of other processes).
    pub fn write_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A file in this mesh's directory, readable by the proxies (tokens, trust roots).
    pub fn write_file(&self, name: &str, contents: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write mesh file");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .expect("chmod");
        path.to_string_lossy().into_owned()
    }

    /// Kills `pod`'s proxy (a pod dying takes its sidecar with it).
    pub fn kill_proxy(&self, pod: &Pod) {
        let pid = self.pods.iter().find(|(name, _)| *name == pod.name);
        pod.kill(pid.expect("a meshed pod").1);
    }

    fn log_path(&self, pod: &Pod) -> PathBuf {
        log_path(self.dir.path(), &pod.name)
    }

    /// Every proxy's log, for failure messages.
    pub fn logs(&self) -> String {
        self.pods
            .iter()
            .map(|(name, _)| {
                let text = std::fs::read_to_string(log_path(self.dir.path(), name));
                format!("--- {name} proxy log:\n{}", text.unwrap_or_default())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn log_path(dir: &Path, pod: &str) -> PathBuf {
    dir.join(format!("{pod}.log"))
}

fn admin() -> SocketAddr {
    ADMIN.parse().expect("admin addr")
}

/// (receivedBytes, sentBytes) of the first whole-authority row of `direction` in `pod`'s
/// proxy `/stats`.
pub fn stats_bytes(pod: &Pod, direction: &str) -> (u64, u64) {
    let (status, text) = http_get(pod, admin(), "/stats");
    assert_eq!(status, 200, "/stats of {}", pod.name);
    let stats: serde_json::Value = serde_json::from_str(&text).expect("/stats JSON");
    let rows = stats["rows"].as_array().expect("rows");
    let row = rows
        .iter()
        .find(|r| r["direction"] == direction && r["route"].is_null() && r["backend"].is_null())
        .unwrap_or_else(|| panic!("no {direction} row in {stats}"));
    let count = |field: &str| {
        row[field]
            .as_u64()
            .unwrap_or_else(|| panic!("{field}: {row}"))
    };
    (count("receivedBytes"), count("sentBytes"))
}

/// The sum of `pod`'s proxy metric samples named `name` that carry every one of `labels`
/// (`direction="outbound"`); 0 when there is none.
pub fn metric(pod: &Pod, name: &str, labels: &[&str]) -> u64 {
    let (status, text) = http_get(pod, admin(), "/metrics");
    assert_eq!(status, 200, "metrics of {}", pod.name);
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{'))
        })
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The mesh identity of `pod` injected from `fixture`, from the proxy's injected environment
/// (its namespace and service account), as the CA would certify it.
pub fn identity_of(pod: &Pod, fixture: &str) -> meshctl::identity::SpiffeId {
    let injected = Injected::from_fixture(fixture, pod);
    let env = |name: &str| {
        injected
            .proxy
            .env
            .get(name)
            .unwrap_or_else(|| panic!("inject gave the proxy no {name}"))
            .clone()
    };
    let (ns, sa) = (env("MESHCTL_POD_NAMESPACE"), env("MESHCTL_SERVICE_ACCOUNT"));
    meshctl::identity::SpiffeId::new("cluster.local", &ns, &sa).expect("a SPIFFE id")
}

/// A proxy config (JSON, which the proxy reads as YAML) with these services.
pub fn config(services: &[Value]) -> String {
    json!({ "services": services }).to_string()
}

/// A service found by `host:port` (and `host` for port 80) and by its address `addr` (what
/// a cluster IP is), with one backend per `(name, endpoints)`.
pub fn service(
    name: &str,
    host: &str,
    addr: SocketAddr,
    backends: &[(&str, &[SocketAddr])],
) -> Value {
    let backends: Vec<Value> = backends
        .iter()
        .map(|(name, endpoints)| {
            let endpoints: Vec<Value> = endpoints
                .iter()
                .map(|ep| json!({ "addr": ep.to_string() }))
                .collect();
            json!({ "name": name, "endpoints": endpoints })
        })
        .collect();
    let mut authorities = vec![format!("{host}:{}", addr.port())];
    if addr.port() == 80 {
        authorities.push(host.to_owned());
    }
    json!({
        "name": name,
        "authorities": authorities,
        "addresses": [addr.to_string()],
        "backends": backends,
    })
}
