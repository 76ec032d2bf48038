//! Data-plane checks (`check --proxy`): every meshed pod (in one namespace or all), its proxy
//! reached through the API server's pod proxy on the admin port: container ready, version,
//! identity and trust roots, the config version against what the controller sent. Finished and evicted pods are skipped by name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{ConfigMap, ContainerStatus, Pod};
use kube::api::{Api, ListParams};
use rustls::pki_types::CertificateDer;
use tokio::sync::OnceCell;

use super::Outcome;
use crate::controller::ProxyRecord;
use crate::identity::inspect::{ChainStatus, Input, inspect};
use crate::identity::pem::PemFile;
use crate::inject::sidecar::PROXY_CONTAINER;
use crate::install::state::TRUST_ROOTS_CONFIG_MAP;
use crate::k8s::{Connection, pod_proxy, pods};
use crate::proxy::tls::IdentityView;

use super::control::Controllers;
use crate::stats::{FetchError, ask_all};

/// Pods asked at once, and how long one may take.
const CONCURRENCY: usize = 16;
const POD_TIMEOUT: Duration = Duration::from_secs(5);

/// The version the proxy's `/metrics` reports (`proxy_build_info{version="…"} 1`).
pub const BUILD_INFO: &str = "proxy_build_info";

/// Meshed pods to check, and the ones skipped with why (`ns/name (finished)`).
#[derive(Debug)]
struct Meshed {
    pods: Vec<Pod>,
    skipped: Vec<String>,
    place: String,
}

fn name_of(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}

/// The meshed pods the data-plane checks of one run look at: listed by the first check that
/// asks and shared by the others (a run lists pods once, not once per check).
#[derive(Debug)]
pub struct MeshedPods<'a> {
    /// `None`: every namespace.
    namespace: Option<&'a str>,
    listed: OnceCell<Result<Meshed, Outcome>>,
}

impl<'a> MeshedPods<'a> {
    pub fn new(namespace: Option<&'a str>) -> Self {
        Self {
            namespace,
            listed: OnceCell::new(),
        }
    }

    /// The pods, listed on the first call. A check that times out while listing leaves the
    /// cell empty, so the next one lists again.
    async fn get(&self, conn: &Connection) -> Result<&Meshed, Outcome> {
        let listed = self.listed.get_or_init(|| list(conn, self.namespace));
        listed.await.as_ref().map_err(Clone::clone)
    }
}

async fn list(conn: &Connection, namespace: Option<&str>) -> Result<Meshed, Outcome> {
    let (api, place): (Api<Pod>, String) = match namespace {
        Some(ns) => (
            Api::namespaced(conn.client.clone(), ns),
            format!("namespace {ns}"),
        ),
        None => (Api::all(conn.client.clone()), "any namespace".to_owned()),
    };
    let list = api.list(&ListParams::default()).await.map_err(|e| {
        Outcome::error(
            conn.request_error("listing", &format!("pods in {place}"), &e)
                .to_string(),
        )
    })?;
    let mut meshed = Meshed {
        pods: Vec::new(),
        skipped: Vec::new(),
        place,
    };
    for pod in list.items {
        if !pods::is_meshed(&pod) {
            continue;
        }
        let status = pod.status.as_ref();
        match pods::phase(&pod) {
            Some("Succeeded") => meshed.skipped.push(format!("{} (finished)", name_of(&pod))),
            Some("Failed") if status.and_then(|s| s.reason.as_deref()) == Some("Evicted") => {
                meshed.skipped.push(format!("{} (evicted)", name_of(&pod)));
            }
            Some("Failed") => meshed.skipped.push(format!("{} (failed)", name_of(&pod))),
            _ => meshed.pods.push(pod),
        }
    }
    Ok(meshed)
}

/// The proxy's container status: an init container (native sidecar) or a container.
fn proxy_status(pod: &Pod) -> Option<&ContainerStatus> {
    let status = pod.status.as_ref()?;
    status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .find(|c| c.name == PROXY_CONTAINER)
}

fn is_ready(pod: &Pod) -> bool {
    proxy_status(pod).is_some_and(|s| s.ready)
}

/// Runs `f` on the meshed pods, or says there are none (or why they cannot be listed).
async fn with_pods(
    conn: &Connection,
    meshed: &MeshedPods<'_>,
    f: impl AsyncFnOnce(&Meshed) -> Outcome,
) -> Outcome {
    match meshed.get(conn).await {
        Err(outcome) => outcome,
        Ok(m) if m.pods.is_empty() => Outcome::skipped(format!("no meshed pods in {}", m.place)),
        Ok(m) => f(m).await,
    }
}

/// `data-plane-pods`: which pods are checked and which are skipped.
pub async fn pods(conn: &Connection, meshed: &MeshedPods<'_>) -> Outcome {
    let m = match meshed.get(conn).await {
        Ok(m) => m,
        Err(outcome) => return outcome,
    };
    let skipped = if m.skipped.is_empty() {
        String::new()
    } else {
        format!("; skipped {}", m.skipped.join(", "))
    };
    if m.pods.is_empty() {
        return Outcome::warning(format!("no meshed pods in {}{skipped}", m.place));
    }
    Outcome::ok(format!(
        "{} meshed pods in {}{skipped}",
        m.pods.len(),
        m.place
    ))
}

/// `proxy-ready`: every meshed pod's proxy container is ready.
pub async fn ready(conn: &Connection, meshed: &MeshedPods<'_>) -> Outcome {
    with_pods(conn, meshed, async |m: &Meshed| {
        let not_ready: Vec<String> = m
            .pods
            .iter()
            .filter(|p| !is_ready(p))
            .map(|p| format!("{} ({})", name_of(p), why_not_ready(p)))
            .collect();
        if not_ready.is_empty() {
            Outcome::ok(format!("{} proxies ready", m.pods.len()))
        } else {
            Outcome::error(format!("proxy not ready in {}", not_ready.join(", ")))
        }
    })
    .await
}

fn why_not_ready(pod: &Pod) -> String {
    let Some(status) = proxy_status(pod) else {
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        return format!(
            "no {PROXY_CONTAINER} status, pod {}",
            phase.unwrap_or("new")
        );
    };
    let state = status.state.as_ref();
    if let Some(waiting) = state.and_then(|s| s.waiting.as_ref()) {
        return format!(
            "waiting: {}",
            waiting.reason.as_deref().unwrap_or("unknown")
        );
    }
    if let Some(done) = state.and_then(|s| s.terminated.as_ref()) {
        return format!("terminated with exit code {}", done.exit_code);
    }
    format!("running, not ready after {} restarts", status.restart_count)
}

/// `GET path` on every pod's admin port, a bounded number at once.
async fn ask_admin(
    conn: &Connection,
    pods: &[&Pod],
    path: &str,
) -> Vec<Result<String, FetchError>> {
    let client = &conn.once;
    ask_all(pods, CONCURRENCY, POD_TIMEOUT, |pod| async move {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let name = pod.metadata.name.as_deref().unwrap_or("");
        Ok(pod_proxy::admin_get(client, ns, name, path).await?)
    })
    .await
}

/// Pods whose proxies the API server would not let the caller read (403: no `get` on
/// `pods/proxy`), gathered by namespace so a run says so once per namespace, not once per pod.
#[derive(Debug, Default)]
struct Denied<'a> {
    /// Namespace: (pods refused, the API server's words for the first).
    by_namespace: BTreeMap<&'a str, (usize, String)>,
}

impl<'a> Denied<'a> {
    /// Takes `error` if it is a refusal for `pod`; gives it back otherwise.
    fn take(&mut self, pod: &'a Pod, error: FetchError) -> Option<FetchError> {
        match error {
            FetchError::Status { status: 403, body } => {
                let ns = pod.metadata.namespace.as_deref().unwrap_or("");
                let entry = self.by_namespace.entry(ns).or_insert((0, body));
                entry.0 += 1;
                None
            }
            other => Some(other),
        }
    }

    fn count(&self) -> usize {
        self.by_namespace.values().map(|(n, _)| n).sum()
    }

    fn messages(&self) -> impl Iterator<Item = String> + '_ {
        self.by_namespace
            .iter()
            .map(|(ns, (pods, words))| pod_proxy::denied_message(ns, *pods, words, "check --proxy"))
    }
}

/// `proxy-version`: every ready proxy reports this CLI's version on `/metrics`.
pub async fn version(conn: &Connection, meshed: &MeshedPods<'_>) -> Outcome {
    with_pods(conn, meshed, async |m: &Meshed| {
        let ready: Vec<&Pod> = m.pods.iter().filter(|p| is_ready(p)).collect();
        if ready.is_empty() {
            return Outcome::skipped("no proxy is ready (see proxy-ready)");
        }
        let answers = ask_admin(conn, &ready, "/metrics").await;
        let mine = env!("CARGO_PKG_VERSION");
        let (mut unreachable, mut skewed) = (Vec::new(), Vec::new());
        let mut denied = Denied::default();
        // Who may read each proxy's /config, /identity and /stats: said, and `all` warned of.
        let mut exposed: std::collections::BTreeMap<String, usize> = Default::default();
        for (pod, answer) in ready.iter().zip(answers) {
            if let Ok(text) = &answer {
                let from = operator_from(text).unwrap_or_else(|| "not reported".to_owned());
                *exposed.entry(from).or_default() += 1;
            }
            match answer.map(|text| build_version(&text)) {
                Err(e) => {
                    if let Some(e) = denied.take(pod, e) {
                        unreachable.push(format!("{}: {e}", name_of(pod)));
                    }
                }
                Ok(Some(v)) if v == mine => {}
                Ok(Some(v)) => skewed.push(format!("{} runs {v}", name_of(pod))),
                Ok(None) => skewed.push(format!("{} does not report a version", name_of(pod))),
            }
        }
        let mut problems: Vec<String> = denied.messages().collect();
        if !unreachable.is_empty() {
            problems.push(format!(
                "cannot read the admin port of {}",
                unreachable.join("; ")
            ));
        }
        if !skewed.is_empty() {
            problems.push(format!("this CLI is {mine}; {}", skewed.join(", ")));
        }
        let fine = ready.len() - unreachable.len() - skewed.len() - denied.count();
        let exposure = exposed
            .iter()
            .map(|(from, n)| format!("{from} ({n})"))
            .collect::<Vec<_>>()
            .join(", ");
        let exposure = if exposed.is_empty() {
            String::new()
        } else {
            format!("/config /identity /stats served to: {exposure}")
        };
        let to_all = exposed.get("all").copied().unwrap_or(0);
        if to_all > 0 {
            problems.push(format!(
                "{to_all} proxies serve /config, /identity and /stats to any caller \
                 (meshctl.io/admin-operator-from: all)"
            ));
        }
        match (
            unreachable.is_empty() && denied.count() == 0,
            skewed.is_empty() && to_all == 0,
        ) {
            (true, true) => Outcome::ok(format!("{fine} proxies run {mine}; {exposure}")),
            (true, false) => Outcome::warning(format!("{}; {exposure}", problems.join("; "))),
            (false, _) => {
                if !exposure.is_empty() {
                    problems.push(exposure);
                }
                Outcome::error(format!(
                    "{}; {fine} other proxies run {mine}",
                    problems.join("; ")
                ))
            }
        }
    })
    .await
}

/// The `from` label of the `proxy_admin_operator_info` line of a `/metrics` text: who besides
/// loopback may read the proxy's operator endpoints.
pub fn operator_from(metrics: &str) -> Option<String> {
    crate::exposition::label_of(metrics, "proxy_admin_operator_info", "from")
}

/// The version label of the build-info line of a `/metrics` text.
pub fn build_version(metrics: &str) -> Option<String> {
    crate::exposition::label_of(metrics, BUILD_INFO, "version")
}

/// `proxy-identity`: every ready proxy's certificate (from `/identity` on its admin port) is
/// valid and chains to the cluster's trust anchors, and its trust roots are those anchors.
/// Proxies without an identity (plaintext) are named in a warning.
pub async fn identity(conn: &Connection, mesh_ns: &str, meshed: &MeshedPods<'_>) -> Outcome {
    with_pods(conn, meshed, async |m: &Meshed| {
        let ready: Vec<&Pod> = m.pods.iter().filter(|p| is_ready(p)).collect();
        if ready.is_empty() {
            return Outcome::skipped("no proxy is ready (see proxy-ready)");
        }
        let anchors = match trust_anchors(conn, mesh_ns).await {
            Ok(Some(anchors)) => anchors,
            Ok(None) => {
                return Outcome::skipped(format!(
                    "no ConfigMap {mesh_ns}/{TRUST_ROOTS_CONFIG_MAP} with the trust anchors: the \
                     control plane is not installed there (--mesh-namespace)"
                ));
            }
            Err(outcome) => return outcome,
        };
        let answers = ask_admin(conn, &ready, "/identity").await;
        let now = SystemTime::now();
        let (mut plaintext, mut failed) = (Vec::new(), Vec::new());
        let mut denied = Denied::default();
        for (pod, answer) in ready.iter().zip(answers) {
            match answer {
                Err(FetchError::Status { status: 404, .. }) => plaintext.push(name_of(pod)),
                Err(e) => {
                    if let Some(e) = denied.take(pod, e) {
                        failed.push(format!("{}: cannot read /identity: {e}", name_of(pod)));
                    }
                }
                Ok(body) => {
                    if let Err(why) = verify_identity(&body, &anchors, now) {
                        failed.push(format!("{}: {why}", name_of(pod)));
                    }
                }
            }
        }
        let fine = ready.len() - plaintext.len() - failed.len() - denied.count();
        let plain = (!plaintext.is_empty())
            .then(|| format!("no identity (plaintext): {}", plaintext.join(", ")));
        if !failed.is_empty() || denied.count() > 0 {
            let mut parts: Vec<String> = denied.messages().collect();
            parts.extend(failed);
            parts.extend(plain);
            return Outcome::error(parts.join("; "));
        }
        match plain {
            Some(plain) if fine == 0 => Outcome::skipped(plain),
            Some(plain) => {
                Outcome::warning(format!("{plain}; {fine} other proxies chain to the anchor"))
            }
            None => Outcome::ok(format!(
                "{fine} proxies' certificates chain to the trust anchor and trust only it"
            )),
        }
    })
    .await
}

/// The cluster's trust anchors (`None` without the ConfigMap).
async fn trust_anchors(
    conn: &Connection,
    mesh_ns: &str,
) -> Result<Option<Vec<CertificateDer<'static>>>, Outcome> {
    let maps: Api<ConfigMap> = Api::namespaced(conn.client.clone(), mesh_ns);
    let what = format!("ConfigMap {mesh_ns}/{TRUST_ROOTS_CONFIG_MAP}");
    let map = maps
        .get_opt(TRUST_ROOTS_CONFIG_MAP)
        .await
        .map_err(|e| Outcome::error(conn.request_error("reading", &what, &e).to_string()))?;
    let Some(map) = map else { return Ok(None) };
    let pem = map.data.as_ref().and_then(|d| d.get("ca-bundle.crt"));
    let pem = pem.ok_or_else(|| Outcome::error(format!("{what} has no `ca-bundle.crt`")))?;
    certs(&what, pem).map(Some).map_err(Outcome::error)
}

fn certs(what: &str, pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    PemFile::parse(Path::new(what), pem.as_bytes())
        .and_then(PemFile::into_certs)
        .map_err(|e| e.to_string())
}

/// Why a proxy's `/identity` answer is not a valid identity under `anchors`.
fn verify_identity(
    body: &str,
    anchors: &[CertificateDer<'static>],
    now: SystemTime,
) -> Result<(), String> {
    let view: IdentityView =
        serde_json::from_str(body).map_err(|e| format!("/identity is not its JSON: {e}"))?;
    let chain_pem = match (&view.certificates, view.ready) {
        (Some(pem), true) => pem,
        _ => return Err(format!("{} holds no certificate yet", view.identity)),
    };
    let chain = certs("its certificates", chain_pem)?;
    let roots = certs("its trust roots", &view.roots)?;
    let mut problems = Vec::new();
    let set = |certs: &[CertificateDer<'_>]| -> BTreeSet<Vec<u8>> {
        certs.iter().map(|c| c.as_ref().to_vec()).collect()
    };
    if set(&roots) != set(anchors) {
        problems.push("its trust roots are not the cluster's trust anchors".to_owned());
    }
    let mut inputs: Vec<Input<'_>> = chain
        .iter()
        .enumerate()
        .map(|(i, der)| Input {
            file: "chain",
            number: i + 1,
            der,
        })
        .collect();
    inputs.extend(anchors.iter().enumerate().map(|(i, der)| Input {
        file: "anchors",
        number: i + 1,
        der,
    }));
    let facts = inspect(&inputs, now);
    for fact in facts.iter().filter(|f| f.file == "chain") {
        problems.extend(
            fact.problems
                .iter()
                .map(|p| format!("{}: {p}", fact.subject)),
        );
        if !matches!(fact.chain, ChainStatus::Verified { .. }) {
            problems.push(format!(
                "{} does not chain to the trust anchors ({})",
                view.identity, fact.chain
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join(", "))
    }
}

/// `proxy-config-version`: every ready proxy acked the version the controller last sent it
/// (every controller replica's `/proxies`; the proxies' own `/config` is for operators only).
pub async fn config_version(
    conn: &Connection,
    mesh_ns: &str,
    meshed: &MeshedPods<'_>,
    controllers: &Controllers,
) -> Outcome {
    with_pods(conn, meshed, async |m: &Meshed| {
        let ready: Vec<&Pod> = m.pods.iter().filter(|p| is_ready(p)).collect();
        if ready.is_empty() {
            return Outcome::skipped("no proxy is ready (see proxy-ready)");
        }
        let subs = match controllers.get(conn, mesh_ns).await {
            Ok(s) => s,
            Err(outcome) => return outcome,
        };
        let lagging: Vec<String> = ready
            .iter()
            .filter_map(|pod| {
                let ns = pod.metadata.namespace.as_deref().unwrap_or("");
                let name = pod.metadata.name.as_deref().unwrap_or("");
                version_problem(&subs.of(ns, name)).map(|p| format!("{}: {p}", name_of(pod)))
            })
            .collect();
        let fine = ready.len() - lagging.len();
        if lagging.is_empty() {
            Outcome::ok(format!(
                "{fine} proxies run the config the controller sent them"
            ))
        } else {
            Outcome::error(format!(
                "{}; {fine} other proxies are current",
                lagging.join("; ")
            ))
        }
    })
    .await
}

/// Why a proxy with these streams to the controller replicas does not run what it was sent.
fn version_problem(streams: &[&ProxyRecord]) -> Option<String> {
    let Some(stream) = streams.iter().find(|s| s.sent_version.is_some()) else {
        return Some(
            "subscribed to no controller replica (a static config, no MESHCTL_CONTROLLER_ADDR, \
             or it cannot reach the controller)"
                .into(),
        );
    };
    let sent = stream.sent_version.as_deref().unwrap_or_default();
    let acked = stream.acked_version.as_deref();
    if let Some(n) = &stream.nacked
        && n.version == sent
    {
        let runs = acked.map_or_else(|| "nothing yet".to_owned(), |a| format!("runs {a}"));
        return Some(format!("refused version {sent} ({}) and {runs}", n.reason));
    }
    match acked {
        Some(a) if a == sent => None,
        Some(a) => Some(format!(
            "runs version {a}, the controller sent {sent} (lagging)"
        )),
        None => Some(format!("has not acked version {sent} yet (lagging)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_off_the_controller_s_version_is_named_with_why() {
        let record = |sent: Option<&str>, acked: Option<&str>, nacked: Option<&str>| ProxyRecord {
            namespace: "shop".into(),
            pod: "web-1".into(),
            identity: "spiffe://cluster.local/ns/shop/sa/web".into(),
            proxy_version: "0.1.0".into(),
            connected_at: "2026-12-03T00:00:00Z".into(),
            sent_version: sent.map(str::to_owned),
            acked_version: acked.map(str::to_owned),
            nacked: nacked.map(|v| crate::controller::Nacked {
                version: v.into(),
                reason: "bad field".into(),
            }),
        };
        assert_eq!(
            version_problem(&[&record(Some("aa"), Some("aa"), None)]),
            None
        );
        let lag = version_problem(&[&record(Some("bb"), Some("aa"), None)]).unwrap();
        assert_eq!(lag, "runs version aa, the controller sent bb (lagging)");
        let pending = version_problem(&[&record(Some("bb"), None, None)]).unwrap();
        assert_eq!(pending, "has not acked version bb yet (lagging)");
        let refused = version_problem(&[&record(Some("bb"), Some("aa"), Some("bb"))]).unwrap();
        assert_eq!(refused, "refused version bb (bad field) and runs aa");
        let alone = version_problem(&[]).unwrap();
        assert!(
            alone.contains("subscribed to no controller replica"),
            "{alone}"
        );
    }

    #[test]
    fn the_operator_exposure_is_read_from_its_info_line() {
        let text = "proxy_build_info{version=\"1.2.3\"} 1\n\
                    proxy_admin_operator_info{from=\"loopback,10.0.0.0/16\"} 1\n";
        assert_eq!(operator_from(text).as_deref(), Some("loopback,10.0.0.0/16"));
        assert_eq!(operator_from("proxy_build_info{version=\"1\"} 1\n"), None);
    }

    #[test]
    fn the_version_is_read_from_the_build_info_line() {
        let text = "# HELP proxy_build_info The proxy's version.\n# TYPE proxy_build_info info\n\
                    proxy_build_info{version=\"1.2.3\"} 1\nrequest_total{direction=\"inbound\"} 4\n";
        assert_eq!(build_version(text).as_deref(), Some("1.2.3"));
        assert_eq!(build_version("request_total 1\n"), None);
    }

    /// `/identity`'s answer for a leaf of `who` from a fresh CA, and that CA's anchor.
    fn answer(now: SystemTime) -> (String, Vec<CertificateDer<'static>>) {
        use crate::identity::ca::{Ca, generate};
        use crate::identity::csr::LeafRequest;
        use crate::identity::{SpiffeId, pem};
        let day = Duration::from_secs(86_400);
        let g = generate("cluster.local", day * 30, day * 20, now).unwrap();
        let anchors = vec![g.anchor.der().clone()];
        let ca = Ca::new(g.issuer.der().clone(), g.issuer_key, day).unwrap();
        let who = SpiffeId::new("cluster.local", "shop", "web").unwrap();
        let request = LeafRequest::new(&who).unwrap();
        let chain = ca.sign(request.csr_der(), &who, now).unwrap().chain;
        let body = serde_json::json!({
            "identity": who.to_string(),
            "ready": true,
            "certificates": pem::encode_certs(&chain),
            "roots": pem::encode_certs(&anchors),
        });
        (body.to_string(), anchors)
    }

    #[test]
    fn an_identity_is_checked_against_the_cluster_anchors() {
        let now = SystemTime::now();
        let (body, anchors) = answer(now);
        assert_eq!(verify_identity(&body, &anchors, now), Ok(()));
        // Another mesh's anchor: neither the chain nor the roots fit.
        let (_, other) = answer(now);
        let err = verify_identity(&body, &other, now).unwrap_err();
        assert!(
            err.contains("its trust roots are not the cluster's"),
            "{err}"
        );
        assert!(err.contains("does not chain to the trust anchors"), "{err}");
        // Two days on, the one-day leaf has expired.
        let later = now + Duration::from_secs(2 * 86_400);
        let err = verify_identity(&body, &anchors, later).unwrap_err();
        assert!(err.contains("expired on"), "{err}");
        let waiting = r#"{"identity": "spiffe://cluster.local/ns/shop/sa/web", "ready": false,
            "roots": ""}"#;
        let err = verify_identity(waiting, &anchors, now).unwrap_err();
        assert!(err.ends_with("holds no certificate yet"), "{err}");
    }
}
