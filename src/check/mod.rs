//! `meshctl check`: a catalogue of health checks in categories, run in order against one
//! cluster, each with its own timeout; a failed fatal check skips the ones after it.

pub mod catalogue;
mod config;
mod control;
pub mod data_plane;
mod injection;
pub mod output;
mod post;
mod pre;

use std::time::Duration;

use serde::Serialize;

pub use catalogue::{Mode, Spec, catalogue};

use crate::k8s::Connection;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Error,
    Skipped,
}

/// A check's result: its status and what it found (why, for a warning, error or skip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    pub message: String,
}

impl Outcome {
    pub fn ok(message: impl Into<String>) -> Self {
        Self::new(Status::Ok, message)
    }
    pub fn warning(message: impl Into<String>) -> Self {
        Self::new(Status::Warning, message)
    }
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Status::Error, message)
    }
    pub fn skipped(message: impl Into<String>) -> Self {
        Self::new(Status::Skipped, message)
    }
    fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// One check as it ran.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    pub id: &'static str,
    pub description: &'static str,
    pub status: Status,
    pub message: String,
    /// What to do; present on warnings and errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<&'static str>,
    pub duration_ms: u64,
    #[serde(skip)]
    pub category: &'static str,
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct Report {
    pub results: Vec<CheckResult>,
    pub duration: Duration,
}

impl Report {
    /// Passed: no check errored (warnings allowed).
    pub fn passed(&self) -> bool {
        !self.results.iter().any(|r| r.status == Status::Error)
    }
}

/// What the checks look at.
pub struct Target<'a> {
    /// `None` when no client could be built (the first check then says why).
    pub conn: Result<&'a Connection, String>,
    /// The mesh's namespace.
    pub namespace: &'a str,
    /// The namespace of the pods the data-plane checks look at (`None`: every namespace).
    pub pods_namespace: Option<&'a str>,
}

/// Runs the catalogue for `mode` in order.
pub async fn run(target: &Target<'_>, mode: Mode) -> Report {
    let start = tokio::time::Instant::now();
    let meshed = data_plane::MeshedPods::new(target.pods_namespace);
    let controllers = control::Controllers::default();
    let mut results = Vec::new();
    let mut blocked: Option<&'static str> = None;
    for spec in catalogue(mode) {
        let began = tokio::time::Instant::now();
        let outcome = match blocked {
            Some(id) => Outcome::skipped(format!("skipped: `{id}` failed")),
            None => match tokio::time::timeout(
                spec.timeout,
                check(spec.id, target, &meshed, &controllers),
            )
            .await
            {
                Ok(outcome) => outcome,
                Err(_) => Outcome::error(format!("no answer within {:?}", spec.timeout)),
            },
        };
        if spec.fatal && outcome.status == Status::Error {
            blocked = Some(spec.id);
        }
        let hint = matches!(outcome.status, Status::Warning | Status::Error).then_some(spec.hint);
        results.push(CheckResult {
            id: spec.id,
            description: spec.description,
            status: outcome.status,
            message: outcome.message,
            hint,
            duration_ms: u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
            category: spec.category,
        });
    }
    Report {
        results,
        duration: start.elapsed(),
    }
}

/// How long `run_until` waits between attempts.
pub const RETRY_EVERY: Duration = Duration::from_secs(2);

/// Runs the catalogue again every [`RETRY_EVERY`] until nothing errors or `wait` has passed
/// (`--wait`); every check only reads, so a rerun is safe. `attempt` sees each failed report.
pub async fn run_until(
    target: &Target<'_>,
    mode: Mode,
    wait: Duration,
    attempt: &mut dyn FnMut(&Report),
) -> Report {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let report = run(target, mode).await;
        if report.passed() || tokio::time::Instant::now() + RETRY_EVERY > deadline {
            return report;
        }
        attempt(&report);
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

/// The check with this id (every id in the catalogue has an arm; a test proves it).
async fn check(
    id: &str,
    target: &Target<'_>,
    meshed: &data_plane::MeshedPods<'_>,
    controllers: &control::Controllers,
) -> Outcome {
    let conn = match &target.conn {
        Ok(conn) => *conn,
        Err(reason) => return Outcome::error(reason.clone()),
    };
    let ns = target.namespace;
    match id {
        "kubernetes-api" => pre::api(conn).await,
        "kubernetes-version" => pre::version(conn).await,
        "install-permissions" => pre::permissions(conn, ns).await,
        "no-install-yet" => pre::no_install(conn, ns).await,
        "clock-skew" => pre::clock_skew(conn).await,
        "config-crds" => pre::config_crds(conn).await,
        "pod-security" => pre::pod_security(conn, ns).await,
        "namespace" => post::namespace(conn, ns).await,
        "crds-established" => post::crds_established(conn).await,
        "values-config" => post::values_config(conn, ns).await,
        "controller-ready" => post::controller_ready(conn, ns).await,
        "controller-version" => post::controller_version(conn, ns).await,
        "webhook-ca-bundle" => post::webhook(conn, ns).await,
        "webhook-admission" => injection::admission(conn, ns).await,
        "injection-unmeshed-pods" => injection::unmeshed_pods(conn, ns).await,
        "injection-foreign-labels" => injection::foreign_labels(conn, ns).await,
        "identity-certs" => post::identity(conn, ns).await,
        "data-plane-pods" => data_plane::pods(conn, meshed).await,
        "proxy-ready" => data_plane::ready(conn, meshed).await,
        "proxy-version" => data_plane::version(conn, meshed).await,
        "proxy-identity" => data_plane::identity(conn, ns, meshed).await,
        "proxy-config-version" => data_plane::config_version(conn, ns, meshed, controllers).await,
        "controller-proxies" => control::proxies(conn, ns, controllers).await,
        "mesh-config" => config::findings(conn, ns).await,
        other => Outcome::error(format!("no check is named `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waiting_retries_until_the_deadline_then_reports_the_failure() {
        let target = Target {
            conn: Err("no kubeconfig".to_owned()),
            namespace: "meshctl-system",
            pods_namespace: None,
        };
        let start = tokio::time::Instant::now();
        let mut attempts = 0;
        let report = run_until(&target, Mode::Post, Duration::from_secs(10), &mut |r| {
            assert!(!r.passed());
            attempts += 1;
        })
        .await;
        assert!(!report.passed());
        assert_eq!(report.results[0].message, "no kubeconfig");
        // Attempts at 0, 2, 4, 6, 8 s fail and wait; the one at 10 s is the last.
        assert_eq!(attempts, 5);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    /// A connection to a fake API server that answers by path with `answer` (status, body)
    /// and records every path asked.
    fn fake(
        answer: fn(&str) -> (u16, String),
    ) -> (Connection, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use http_body_util::Full;
        let asked: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let log = asked.clone();
        let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
            let path = request.uri().path().to_owned();
            log.lock().unwrap().push(path.clone());
            let (status, body) = answer(&path);
            let response = http::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Full::new(bytes::Bytes::from(body)))
                .unwrap();
            async move { Ok::<_, std::convert::Infallible>(response) }
        });
        let client = kube::Client::new(service, "default");
        let conn = Connection {
            client: client.clone(),
            server: "https://fake".to_owned(),
            context: "fake".to_owned(),
            namespace: "default".to_owned(),
            once: client,
        };
        (conn, asked)
    }

    /// An API server with one meshed pod in `shop` whose ready proxy runs this version.
    fn one_meshed_pod(path: &str) -> (u16, String) {
        use crate::inject::sidecar::{ANNOTATION_VERSION, PROXY_CONTAINER};
        let body = match path {
            "/version" => serde_json::json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0",
                "gitCommit": "", "gitTreeState": "", "buildDate": "", "goVersion": "",
                "compiler": "", "platform": ""}),
            "/api/v1/namespaces/shop/pods" => serde_json::json!({
                "apiVersion": "v1", "kind": "PodList", "metadata": {},
                "items": [{
                    "metadata": {"name": "web-1", "namespace": "shop",
                        "annotations": {ANNOTATION_VERSION: "v1"}},
                    "status": {"phase": "Running", "podIP": "10.0.0.7",
                        "initContainerStatuses": [{"name": PROXY_CONTAINER, "ready": true,
                            "restartCount": 0, "image": "meshctl", "imageID": ""}]},
                }],
            }),
            "/api/v1/namespaces/shop/pods/web-1:4191/proxy/metrics" => {
                let version = env!("CARGO_PKG_VERSION");
                return (
                    200,
                    format!("proxy_build_info{{version=\"{version}\"}} 1\n"),
                );
            }
            _ => {
                let status = serde_json::json!({"kind": "Status", "apiVersion": "v1",
                    "status": "Failure", "reason": "NotFound", "message": "not found",
                    "code": 404});
                return (404, status.to_string());
            }
        };
        (200, body.to_string())
    }

    #[tokio::test]
    async fn the_data_plane_checks_of_a_run_list_the_pods_once() {
        let (conn, asked) = fake(one_meshed_pod);
        let target = Target {
            conn: Ok(&conn),
            namespace: "meshctl-system",
            pods_namespace: Some("shop"),
        };
        let listings = || {
            let asked = asked.lock().unwrap();
            asked
                .iter()
                .filter(|p| *p == "/api/v1/namespaces/shop/pods")
                .count()
        };
        let report = run(&target, Mode::Proxy).await;
        let statuses: Vec<(&str, Status)> =
            report.results.iter().map(|r| (r.id, r.status)).collect();
        assert_eq!(
            statuses,
            [
                ("kubernetes-api", Status::Ok),
                ("kubernetes-version", Status::Ok),
                ("data-plane-pods", Status::Ok),
                ("proxy-ready", Status::Ok),
                ("proxy-version", Status::Ok),
                // No trust-roots ConfigMap in the fake; no controller serves config.
                ("proxy-identity", Status::Skipped),
                ("proxy-config-version", Status::Skipped),
            ],
            "{:?}",
            report.results
        );
        assert_eq!(listings(), 1, "{:?}", asked.lock().unwrap());
        // A new run (as --wait makes) sees the pods as they are now.
        run(&target, Mode::Proxy).await;
        assert_eq!(listings(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn without_waiting_there_is_one_attempt() {
        let target = Target {
            conn: Err("no kubeconfig".to_owned()),
            namespace: "meshctl-system",
            pods_namespace: None,
        };
        let mut attempts = 0;
        run_until(&target, Mode::Pre, Duration::ZERO, &mut |_| attempts += 1).await;
        assert_eq!(attempts, 0);
    }
}
