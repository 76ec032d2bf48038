//! A real OpenTelemetry Collector (tests/otelcol: its OTLP receiver and the contrib file
//! exporter, built by `.ci/setup`) in a pod of its own: OTLP/gRPC in, one OTLP JSON line
//! per export request out, read back as spans.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::node::Pod;

/// The collector's OTLP/gRPC port in its pod.
pub const PORT: u16 = 4317;

/// Where `tests/otelcol/build-otelcol.sh` puts the collector of the pinned version.
fn binary() -> PathBuf {
    let version = include_str!("../otelcol/version.go")
        .lines()
        .find_map(|l| l.strip_prefix("const version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("tests/otelcol/version.go names the version");
    let base = match std::env::var_os("MESHCTL_TESTBIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".cache/meshctl/testbin"),
    };
    base.join(format!("otelcol-{version}/otelcol"))
}

/// The collector binary, or `None` (after saying why) when it is not built; in CI a missing
/// collector is a failure (`.ci/setup` builds it).
pub fn otelcol_or_skip(test: &str) -> Option<PathBuf> {
    let path = binary();
    if path.is_file() {
        return Some(path);
    }
    let why = format!(
        "{} is missing: build it with `bash tests/otelcol/build-otelcol.sh` (once; it is \
         cached outside the repository)",
        path.display()
    );
    crate::skip(test, &why);
    None
}

/// One span as the collector wrote it, with its resource's pod name.
#[derive(Clone, Debug)]
pub struct Span {
    pub trace: String,
    pub id: String,
    /// Empty for a root span.
    pub parent: String,
    /// OTLP's SpanKind: 2 SERVER, 3 CLIENT.
    pub kind: u64,
    pub pod: String,
    pub service: String,
    pub namespace: String,
    attributes: Vec<Value>,
}

pub const SERVER: u64 = 2;
pub const CLIENT: u64 = 3;

impl Span {
    /// A string or integer attribute, as text.
    pub fn attr(&self, key: &str) -> Option<String> {
        let kv = self.attributes.iter().find(|kv| kv["key"] == key)?;
        let v = &kv["value"];
        v["stringValue"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| match &v["intValue"] {
                // OTLP JSON writes 64-bit integers as strings.
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
    }
}

fn string_attr(attributes: &Value, key: &str) -> String {
    attributes
        .as_array()
        .into_iter()
        .flatten()
        .find(|kv| kv["key"] == key)
        .and_then(|kv| kv["value"]["stringValue"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The running collector; killed with its pod's node.
pub struct Collector {
    /// `ip:port` the proxies export to.
    pub endpoint: String,
    file: PathBuf,
    log: PathBuf,
    pid: u32,
    _dir: TempDir,
}

impl Collector {
    /// Starts `binary` in `pod`, listening on the pod's address; returns once it accepts.
    pub fn start(pod: &Pod, binary: &std::path::Path) -> Collector {
        let dir = tempfile::tempdir().expect("tempdir");
        let endpoint = SocketAddr::new(pod.ip.into(), PORT);
        let file = dir.path().join("spans.jsonl");
        let config = dir.path().join("otelcol.yaml");
        // JSON is YAML; the collector's own metrics are off (no port of their own).
        let yaml = serde_json::json!({
            "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": endpoint.to_string()}}}},
            "exporters": {"file": {"path": file, "flush_interval": "100ms"}},
            "service": {
                "telemetry": {"metrics": {"level": "none"}},
                "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}},
            },
        });
        std::fs::write(&config, yaml.to_string()).expect("write collector config");
        let log = dir.path().join("otelcol.log");
        let out = std::fs::File::create(&log).expect("collector log");
        let mut cmd = pod.command(&binary.to_string_lossy());
        cmd.arg("--config")
            .arg(format!("file:{}", config.display()))
            .stdout(out.try_clone().expect("log"))
            .stderr(out);
        let pid = pod.spawn(cmd);
        let collector = Collector {
            endpoint: endpoint.to_string(),
            file,
            log,
            pid,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while pod
            .enter(|| TcpStream::connect_timeout(&endpoint, Duration::from_millis(200)))
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "the collector never listened on {endpoint}: {}",
                collector.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        collector
    }

    /// Kills the collector (it runs in `pod`), as when its pod goes away.
    pub fn kill(&self, pod: &Pod) {
        pod.kill(self.pid);
    }

    /// The collector's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        let mut spans = Vec::new();
        // A line being written may be cut short: only whole lines are read.
        for line in text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        {
            for rs in line["resourceSpans"].as_array().into_iter().flatten() {
                let resource = &rs["resource"]["attributes"];
                for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                    for s in ss["spans"].as_array().into_iter().flatten() {
                        let text = |k: &str| s[k].as_str().unwrap_or_default().to_owned();
                        spans.push(Span {
                            trace: text("traceId"),
                            id: text("spanId"),
                            parent: text("parentSpanId"),
                            kind: s["kind"].as_u64().unwrap_or_default(),
                            pod: string_attr(resource, "k8s.pod.name"),
                            service: string_attr(resource, "service.name"),
                            namespace: string_attr(resource, "k8s.namespace.name"),
                            attributes: s["attributes"].as_array().cloned().unwrap_or_default(),
                        });
                    }
                }
            }
        }
        spans
    }

    /// The spans of requests to `path`, once there are `n` of them (within 20 s).
    pub fn wait_for(&self, path: &str, n: usize, logs: &dyn Fn() -> String) -> Vec<Span> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found: Vec<Span> = self
                .spans()
                .into_iter()
                .filter(|s| s.attr("url.path").as_deref() == Some(path))
                .collect();
            if found.len() >= n {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} spans of {path} reached the collector: {found:?}\n{}\n--- collector:\n{}",
                found.len(),
                logs(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
