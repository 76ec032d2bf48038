//! Checks that need no install: the API server, its version, the user's rights, an existing
//! install, clock skew, config-API CRDs already present, Pod Security levels.

use std::collections::BTreeSet;
use std::time::SystemTime;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;

use super::Outcome;
use crate::install::state::VALUES_CONFIG_MAP;
use crate::k8s::Connection;
use crate::manifests::render::{MANAGED_BY_LABEL, MESHCTL};
use crate::manifests::templates::{TEMPLATES, crd_names, is_crd};

/// Clocks further apart than this make fresh certificates look not yet valid.
const MAX_SKEW_SECS: i64 = 5;
/// Native sidecars (restartPolicy: Always init containers) are on by default from here.
const MIN_MINOR: u32 = 29;

pub async fn api(conn: &Connection) -> Outcome {
    match conn.check_reachable().await {
        Ok(info) => Outcome::ok(format!(
            "{} (context `{}`) answers, version {}",
            conn.server, conn.context, info.git_version
        )),
        Err(e) => Outcome::error(e.to_string()),
    }
}

pub async fn version(conn: &Connection) -> Outcome {
    let info = match conn.client.apiserver_version().await {
        Ok(info) => info,
        Err(e) => return Outcome::error(conn.request_error("reading", "/version", &e).to_string()),
    };
    let minor: Option<u32> = info
        .minor
        .trim_end_matches('+')
        .parse()
        .ok()
        .filter(|_| info.major == "1");
    match minor {
        Some(m) if m >= MIN_MINOR => Outcome::ok(format!("Kubernetes {}", info.git_version)),
        Some(_) => Outcome::warning(format!(
            "Kubernetes {} is older than 1.{MIN_MINOR}: no native sidecars",
            info.git_version
        )),
        None => Outcome::warning(format!(
            "cannot tell the version from major {:?} minor {:?} ({})",
            info.major, info.minor, info.git_version
        )),
    }
}

/// (group, resource, namespaced) for every kind the install creates.
fn install_kinds(namespace: &str) -> BTreeSet<(String, String, Option<String>)> {
    let mut kinds = BTreeSet::new();
    for &(name, source) in TEMPLATES {
        for line in source.lines() {
            // Top-level `kind:` lines only (roleRef and subjects are indented).
            if let Some(kind) = line.strip_prefix("kind: ") {
                kinds.insert(kind_resource(kind.trim(), is_crd(name), namespace));
            }
        }
    }
    kinds
}

fn kind_resource(kind: &str, crd: bool, namespace: &str) -> (String, String, Option<String>) {
    let (group, cluster_scoped) = match kind {
        _ if crd => ("apiextensions.k8s.io", true),
        "ClusterRole" | "ClusterRoleBinding" | "Role" | "RoleBinding" => {
            ("rbac.authorization.k8s.io", kind.starts_with("Cluster"))
        }
        "MutatingWebhookConfiguration" => ("admissionregistration.k8s.io", true),
        "Deployment" => ("apps", false),
        "PodDisruptionBudget" => ("policy", false),
        "Namespace" => ("", true),
        _ => ("", false),
    };
    let kind = if crd {
        "CustomResourceDefinition"
    } else {
        kind
    };
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, "v1", kind)).plural;
    let ns = (!cluster_scoped).then(|| namespace.to_owned());
    (group.to_owned(), resource, ns)
}

pub async fn permissions(conn: &Connection, namespace: &str) -> Outcome {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(conn.client.clone());
    let mut missing = Vec::new();
    for (group, resource, ns) in install_kinds(namespace) {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    group: Some(group.clone()),
                    resource: Some(resource.clone()),
                    verb: Some("create".to_owned()),
                    namespace: ns.clone(),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let answer = match reviews.create(&PostParams::default(), &review).await {
            Ok(answer) => answer,
            Err(e) => {
                return Outcome::error(
                    conn.request_error("asking", "a SelfSubjectAccessReview", &e)
                        .to_string(),
                );
            }
        };
        if !answer.status.is_some_and(|s| s.allowed) {
            let full = if group.is_empty() {
                resource
            } else {
                format!("{resource}.{group}")
            };
            missing.push(match ns {
                Some(ns) => format!("create {full} in {ns}"),
                None => format!("create {full}"),
            });
        }
    }
    if missing.is_empty() {
        Outcome::ok("you can create every kind the install creates")
    } else {
        Outcome::error(format!("you cannot: {}", missing.join(", ")))
    }
}

pub async fn no_install(conn: &Connection, namespace: &str) -> Outcome {
    let maps: Api<ConfigMap> = Api::namespaced(conn.client.clone(), namespace);
    match maps.get_opt(VALUES_CONFIG_MAP).await {
        Ok(None) => Outcome::ok(format!("no install in namespace {namespace}")),
        Ok(Some(map)) => {
            let version = map
                .data
                .as_ref()
                .and_then(|d| d.get("version"))
                .map_or("unknown", String::as_str);
            Outcome::error(format!(
                "meshctl {version} is already installed in namespace {namespace}"
            ))
        }
        Err(e) => Outcome::error(
            conn.request_error(
                "reading",
                &format!("ConfigMap {namespace}/{VALUES_CONFIG_MAP}"),
                &e,
            )
            .to_string(),
        ),
    }
}

pub async fn clock_skew(conn: &Connection) -> Outcome {
    let request = http::Request::get("/version")
        .body(Vec::new())
        .expect("a static request");
    let sent = SystemTime::now();
    let response = match conn
        .client
        .send(request.map(kube::client::Body::from))
        .await
    {
        Ok(response) => response,
        Err(e) => return Outcome::error(conn.request_error("reading", "/version", &e).to_string()),
    };
    let Some(date) = response
        .headers()
        .get(http::header::DATE)
        .and_then(|d| d.to_str().ok())
    else {
        return Outcome::warning("the API server sent no Date header; skew not measured");
    };
    let server = match k8s_openapi::jiff::fmt::rfc2822::parse(date) {
        Ok(zoned) => zoned.timestamp().as_second(),
        Err(e) => return Outcome::warning(format!("cannot read the server's Date {date:?}: {e}")),
    };
    let local = sent
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let skew = server - local;
    // The Date header has whole seconds: one second either way is no skew.
    if skew.abs() <= MAX_SKEW_SECS {
        Outcome::ok(format!("skew {skew}s"))
    } else {
        Outcome::warning(format!(
            "the API server's clock is {skew}s from this machine's (limit {MAX_SKEW_SECS}s)"
        ))
    }
}

pub async fn config_crds(conn: &Connection) -> Outcome {
    let crds: Api<CustomResourceDefinition> = Api::all(conn.client.clone());
    let mut present = Vec::new();
    let mut foreign = false;
    for crd_name in crd_names() {
        match crds.get_opt(&crd_name).await {
            Ok(None) => {}
            Ok(Some(crd)) => {
                let owner = crd
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(MANAGED_BY_LABEL))
                    .map_or("unknown owner", String::as_str)
                    .to_owned();
                foreign |= owner != MESHCTL;
                present.push(format!("{crd_name} ({owner})"));
            }
            Err(e) => {
                return Outcome::error(
                    conn.request_error("reading", &format!("CRD {crd_name}"), &e)
                        .to_string(),
                );
            }
        }
    }
    match (present.is_empty(), foreign) {
        (true, _) => Outcome::ok("none there yet: the install adds them"),
        (false, false) => Outcome::ok(format!("meshctl's own: {}", present.join(", "))),
        (false, true) => Outcome::warning(format!("already there: {}", present.join(", "))),
    }
}

pub async fn pod_security(conn: &Connection, namespace: &str) -> Outcome {
    let namespaces: Api<Namespace> = Api::all(conn.client.clone());
    let list = match namespaces.list(&ListParams::default()).await {
        Ok(list) => list,
        Err(e) => {
            return Outcome::error(conn.request_error("listing", "namespaces", &e).to_string());
        }
    };
    let strict: Vec<String> = list
        .items
        .iter()
        .filter(|ns| ns.metadata.name.as_deref() != Some(namespace))
        .filter_map(|ns| {
            let level = ns
                .metadata
                .labels
                .as_ref()?
                .get("pod-security.kubernetes.io/enforce")?;
            matches!(level.as_str(), "baseline" | "restricted")
                .then(|| format!("{} ({level})", ns.metadata.name.as_deref().unwrap_or("")))
        })
        .collect();
    if strict.is_empty() {
        Outcome::ok("no namespace enforces baseline or restricted")
    } else {
        Outcome::warning(format!(
            "pods with the init step would be rejected in: {}",
            strict.join(", ")
        ))
    }
}
