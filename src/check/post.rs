//! Checks of an install: namespace, CRDs, values, controller readiness and version, the
//! injector webhook's caBundle, and the identity trust anchor and issuer.

use std::collections::BTreeSet;
use std::time::SystemTime;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject};

use super::Outcome;
use crate::identity::inspect::{ChainStatus, Input, inspect};
use crate::identity::pem::PemFile;
use crate::install::apply::deployment_ready;
use crate::install::read_state;
use crate::install::state::WEBHOOK_SECRET;
use crate::k8s::Connection;
use crate::k8s::pod_proxy::{self, PodProxyError};
use crate::manifests::certs::verify_serving_cert;
use crate::manifests::render::{MANAGED_BY_LABEL, MESHCTL};
use crate::manifests::templates::{crd_names, foreign_crd_names};

const CONTROLLER: &str = "meshctl-controller";
const WEBHOOK: &str = "meshctl-proxy-injector";
fn failed(conn: &Connection, action: &str, what: &str, e: &kube::Error) -> Outcome {
    Outcome::error(conn.request_error(action, what, e).to_string())
}

pub async fn namespace(conn: &Connection, ns: &str) -> Outcome {
    match Api::<Namespace>::all(conn.client.clone()).get_opt(ns).await {
        Ok(Some(_)) => Outcome::ok(format!("namespace {ns}")),
        Ok(None) => Outcome::error(format!(
            "namespace {ns} does not exist: meshctl is not installed there"
        )),
        Err(e) => failed(conn, "reading", &format!("namespace {ns}"), &e),
    }
}

pub async fn crds_established(conn: &Connection) -> Outcome {
    let crds: Api<CustomResourceDefinition> = Api::all(conn.client.clone());
    let (mut missing, mut pending, mut foreign, mut ok) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for name in crd_names() {
        let crd = match crds.get_opt(&name).await {
            Ok(Some(crd)) if crd.metadata.deletion_timestamp.is_some() => {
                missing.push(format!("{name} (being deleted)"));
                continue;
            }
            Ok(Some(crd)) => crd,
            Ok(None) => {
                missing.push(name);
                continue;
            }
            Err(e) => {
                return failed(
                    conn,
                    "reading",
                    &format!("CustomResourceDefinition {name}"),
                    &e,
                );
            }
        };
        let established = crd
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        let ours = crd
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(MANAGED_BY_LABEL))
            .is_some_and(|v| v == MESHCTL);
        match (established, ours) {
            (false, _) => pending.push(name),
            (true, false) => foreign.push(name),
            (true, true) => ok += 1,
        }
    }
    // Another product's API whose CRD is missing is not an install failure (a printed install
    // leaves them out), but the mesh ignores that API until the CRD is there: say which.
    let foreign_names: Vec<String> = foreign_crd_names().collect();
    let (missing_foreign, missing): (Vec<String>, Vec<String>) =
        missing.into_iter().partition(|m| {
            let name = m.strip_suffix(" (being deleted)").unwrap_or(m);
            foreign_names.iter().any(|f| f == name)
        });
    if !missing.is_empty() || !pending.is_empty() {
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("missing: {}", missing.join(", ")));
        }
        if !pending.is_empty() {
            parts.push(format!("not Established: {}", pending.join(", ")));
        }
        return Outcome::error(parts.join("; "));
    }
    let mut message = format!("{ok} of meshctl's CRDs Established");
    if !foreign.is_empty() {
        message.push_str(&format!("; another product's: {}", foreign.join(", ")));
    }
    if !missing_foreign.is_empty() {
        return Outcome::warning(format!(
            "{message}; not installed, so the mesh ignores these APIs: {} (install them from \
             their project, or `meshctl install --crds all`)",
            missing_foreign.join(", ")
        ));
    }
    Outcome::ok(message)
}

pub async fn values_config(conn: &Connection, ns: &str) -> Outcome {
    match read_state(conn, ns).await {
        Ok(state) => match (state.values, state.version) {
            (Some(_), Some(version)) => Outcome::ok(format!("installed by meshctl {version}")),
            (Some(_), None) => Outcome::warning("the values ConfigMap records no version"),
            (None, _) => Outcome::error(format!("no ConfigMap {ns}/meshctl-values")),
        },
        Err(e) => Outcome::error(e.to_string()),
    }
}

async fn controller(conn: &Connection, ns: &str) -> Result<Deployment, Outcome> {
    match Api::<Deployment>::namespaced(conn.client.clone(), ns)
        .get_opt(CONTROLLER)
        .await
    {
        Ok(Some(d)) => Ok(d),
        Ok(None) => Err(Outcome::error(format!("no Deployment {ns}/{CONTROLLER}"))),
        Err(e) => Err(failed(
            conn,
            "reading",
            &format!("Deployment {ns}/{CONTROLLER}"),
            &e,
        )),
    }
}

pub async fn controller_ready(conn: &Connection, ns: &str) -> Outcome {
    let deployment = match controller(conn, ns).await {
        Ok(d) => d,
        Err(outcome) => return outcome,
    };
    let value = serde_json::to_value(&deployment).expect("a Deployment serializes");
    let object: DynamicObject = serde_json::from_value(value).expect("any object is dynamic");
    let available = deployment
        .status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0);
    if deployment_ready(&object) {
        Outcome::ok(format!("{available} replicas available"))
    } else {
        Outcome::error(format!(
            "Deployment {ns}/{CONTROLLER} is not available ({available} replicas available)"
        ))
    }
}

/// `controller-version`: what the controller's pods run, from each one's `/metrics` on its
/// admin port through the API server's pod proxy (`meshctl_controller_build_info`), not the
/// Deployment's label (a label says what was applied, not what runs).
pub async fn controller_version(conn: &Connection, ns: &str) -> Outcome {
    let running = match super::control::replicas(conn, ns).await {
        Ok(pods) => pods,
        Err(outcome) => return outcome,
    };
    if running.is_empty() {
        return Outcome::error(format!(
            "no pod of Deployment {ns}/{CONTROLLER} is running, so none says what it runs \
             (see controller-ready)"
        ));
    }
    let ours = env!("CARGO_PKG_VERSION");
    let (mut matching, mut skewed, mut unread) = (0, Vec::new(), Vec::new());
    for pod in &running {
        let name = pod.metadata.name.as_deref().unwrap_or("");
        let answer = pod_proxy::get(&conn.once, ns, name, CONTROLLER_ADMIN_PORT, "/metrics").await;
        match answer.map(|text| controller_build_version(&text)) {
            Ok(Some(v)) if v == ours => matching += 1,
            Ok(Some(v)) => skewed.push(format!("{name} runs {v}")),
            Ok(None) => unread.push(format!(
                "{name}: its /metrics has no {CONTROLLER_BUILD_INFO}"
            )),
            Err(PodProxyError::Status { code: 403, message }) => {
                return Outcome::error(pod_proxy::denied_message(ns, 1, &message, "check"));
            }
            Err(e) => unread.push(format!(
                "{name}: cannot read /metrics on port {CONTROLLER_ADMIN_PORT}: {e}"
            )),
        }
    }
    match (unread.is_empty(), skewed.is_empty()) {
        (true, true) => Outcome::ok(format!("{matching} controller pods run meshctl {ours}")),
        (true, false) => Outcome::warning(format!("this CLI is {ours}; {}", skewed.join(", "))),
        (false, _) => Outcome::error(
            unread
                .into_iter()
                .chain(
                    skewed
                        .into_iter()
                        .map(|s| format!("{s} (this CLI is {ours})")),
                )
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

/// The controller's admin port (`/metrics`, with its build info).
pub const CONTROLLER_ADMIN_PORT: u16 = crate::controller::ADMIN_PORT;
/// The controller's version metric: `meshctl_controller_build_info{version="…"} 1`.
pub const CONTROLLER_BUILD_INFO: &str = "meshctl_controller_build_info";

/// The version label of the controller's build-info line in a `/metrics` text.
fn controller_build_version(metrics: &str) -> Option<String> {
    crate::exposition::label_of(metrics, CONTROLLER_BUILD_INFO, "version")
}

pub async fn webhook(conn: &Connection, ns: &str) -> Outcome {
    let config = match Api::<MutatingWebhookConfiguration>::all(conn.client.clone())
        .get_opt(WEBHOOK)
        .await
    {
        Ok(Some(c)) => c,
        Ok(None) => return Outcome::error(format!("no MutatingWebhookConfiguration {WEBHOOK}")),
        Err(e) => {
            return failed(
                conn,
                "reading",
                &format!("MutatingWebhookConfiguration {WEBHOOK}"),
                &e,
            );
        }
    };
    let hooks = config.webhooks.unwrap_or_default();
    if hooks.is_empty() {
        return Outcome::error(format!(
            "MutatingWebhookConfiguration {WEBHOOK} has no webhooks"
        ));
    }
    let state = match read_state(conn, ns).await {
        Ok(state) => state,
        Err(e) => return Outcome::error(e.to_string()),
    };
    let Some(served) = state.webhook else {
        return Outcome::error(format!(
            "no Secret {ns}/{WEBHOOK_SECRET} with the serving certificate"
        ));
    };
    let mut names = BTreeSet::new();
    for hook in &hooks {
        let Some(bundle) = hook.client_config.ca_bundle.as_ref() else {
            return Outcome::error(format!(
                "MutatingWebhookConfiguration {WEBHOOK}, webhook {}: no caBundle",
                hook.name
            ));
        };
        // The name the API server checks the certificate for: the Service's DNS name, or
        // the host of a `url` (set by hand, e.g. for a controller outside the cluster).
        let name = match (&hook.client_config.service, &hook.client_config.url) {
            (Some(service), _) => format!("{}.{}.svc", service.name, service.namespace),
            (None, Some(url)) => url_host(url),
            (None, None) => {
                return Outcome::error(format!(
                    "MutatingWebhookConfiguration {WEBHOOK}, webhook {}: calls no Service or URL",
                    hook.name
                ));
            }
        };
        let bundle = String::from_utf8_lossy(&bundle.0);
        if let Err(e) = verify_serving_cert(&bundle, &served.cert, &name, SystemTime::now()) {
            return Outcome::error(format!("webhook {}: {e}", hook.name));
        }
        names.insert(name);
    }
    let names: Vec<String> = names.into_iter().collect();
    Outcome::ok(format!(
        "the caBundle of its {} webhook(s) verifies the certificate for {}",
        hooks.len(),
        names.join(", ")
    ))
}

/// `https://127.0.0.1:8443/inject` → `127.0.0.1`.
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6).to_owned(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host)
            .to_owned(),
    }
}

pub async fn identity(conn: &Connection, ns: &str) -> Outcome {
    let state = match read_state(conn, ns).await {
        Ok(state) => state,
        Err(e) => return Outcome::error(e.to_string()),
    };
    let Some(certs) = state.identity else {
        return Outcome::error(format!(
            "no trust anchors ConfigMap or issuer Secret in namespace {ns}"
        ));
    };
    let parse = |label: &str, text: &str| {
        PemFile::parse(std::path::Path::new(label), text.as_bytes()).and_then(PemFile::into_certs)
    };
    let (anchors, issuer) = match (
        parse("trust anchors", &certs.trust_anchors),
        parse("issuer", &certs.issuer_cert),
    ) {
        (Ok(a), Ok(i)) => (a, i),
        (Err(e), _) | (_, Err(e)) => return Outcome::error(e.to_string()),
    };
    let mut inputs = vec![Input {
        file: "issuer",
        number: 1,
        der: &issuer[0],
    }];
    inputs.extend(anchors.iter().enumerate().map(|(i, der)| Input {
        file: "trust anchors",
        number: i + 1,
        der,
    }));
    let facts = inspect(&inputs, SystemTime::now());
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for fact in &facts {
        let name = format!("{} #{} ({})", fact.file, fact.number, fact.subject);
        errors.extend(fact.problems.iter().map(|p| format!("{name}: {p}")));
        warnings.extend(fact.warnings.iter().map(|w| format!("{name}: {w}")));
    }
    if !matches!(facts[0].chain, ChainStatus::Verified { .. }) {
        errors.push(format!(
            "the issuer does not chain to the trust anchors: {}",
            facts[0].chain
        ));
    }
    if !errors.is_empty() {
        Outcome::error(errors.join("; "))
    } else if !warnings.is_empty() {
        Outcome::warning(warnings.join("; "))
    } else {
        Outcome::ok(format!(
            "issuer valid for {} more days, chains to the anchor",
            facts[0].expires_in_days
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_controller_version_is_read_from_its_build_info_line() {
        let text = "# TYPE meshctl_controller_build_info gauge\n\
                    meshctl_controller_build_info{version=\"1.2.3\"} 1\n\
                    meshctl_controller_subscribed_proxies 4\n";
        assert_eq!(controller_build_version(text).as_deref(), Some("1.2.3"));
        assert_eq!(
            controller_build_version("proxy_build_info{version=\"1\"} 1\n"),
            None
        );
    }

    #[test]
    fn url_hosts() {
        assert_eq!(
            super::url_host("https://127.0.0.1:8443/inject"),
            "127.0.0.1"
        );
        assert_eq!(
            super::url_host("https://hooks.example.com/inject?x=1"),
            "hooks.example.com"
        );
        assert_eq!(super::url_host("https://[::1]:8443/inject"), "::1");
    }
}
