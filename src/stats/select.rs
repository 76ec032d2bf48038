//! Which pods `meshctl stat` asks, grouped by the resource they belong to: deployments
//! (through their ReplicaSets), stateful sets and daemon sets (by owner reference), services
//! (by selector), namespaces and single pods. Finished pods are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams};
use kube::{Client, Resource as _};
use serde::de::DeserializeOwned;

use crate::k8s::pods;
use crate::k8s::{Connection, K8sError};

/// The kinds `stat` reports on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Deployment,
    StatefulSet,
    DaemonSet,
    Pod,
    Namespace,
    Service,
}

impl Kind {
    /// The kubectl short name.
    pub fn short(self) -> &'static str {
        match self {
            Kind::Deployment => "deploy",
            Kind::StatefulSet => "sts",
            Kind::DaemonSet => "ds",
            Kind::Pod => "pod",
            Kind::Namespace => "ns",
            Kind::Service => "svc",
        }
    }

    /// The singular noun, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Deployment => "deployment",
            Kind::StatefulSet => "statefulset",
            Kind::DaemonSet => "daemonset",
            Kind::Pod => "pod",
            Kind::Namespace => "namespace",
            Kind::Service => "service",
        }
    }
}

impl FromStr for Kind {
    type Err = SelectError;

    /// kubectl's names: short, singular or plural, any case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let kind = match text.to_ascii_lowercase().as_str() {
            "deploy" | "deployment" | "deployments" => Kind::Deployment,
            "sts" | "statefulset" | "statefulsets" => Kind::StatefulSet,
            "ds" | "daemonset" | "daemonsets" => Kind::DaemonSet,
            "po" | "pod" | "pods" => Kind::Pod,
            "ns" | "namespace" | "namespaces" => Kind::Namespace,
            "svc" | "service" | "services" => Kind::Service,
            _ => return Err(SelectError::Kind(text.to_owned())),
        };
        Ok(kind)
    }
}

/// `KIND` or `KIND/NAME`, as `stat` and `--to`/`--from` take them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceRef {
    pub kind: Kind,
    pub name: Option<String>,
}

impl FromStr for ResourceRef {
    type Err = SelectError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (kind, name) = match text.split_once('/') {
            Some((kind, name)) if !name.is_empty() => (kind, Some(name.to_owned())),
            Some(_) => return Err(SelectError::Kind(text.to_owned())),
            None => (text, None),
        };
        Ok(ResourceRef {
            kind: kind
                .parse()
                .map_err(|_| SelectError::Kind(text.to_owned()))?,
            name,
        })
    }
}

impl std::fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{name}", self.kind.short()),
            None => f.write_str(self.kind.short()),
        }
    }
}

/// Where to look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Namespace(String),
    All,
}

/// A pod that is not finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeshPod {
    pub namespace: String,
    pub name: String,
    /// It carries meshctl's proxy.
    pub meshed: bool,
    /// Running with an address: its proxy can be asked.
    pub running: bool,
}

/// One resource and its pods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    pub kind: Kind,
    /// Empty for namespaces.
    pub namespace: String,
    pub name: String,
    pub pods: Vec<MeshPod>,
    /// The names other pods reach it by (`svc`, `svc.ns`, `svc.ns.svc…`, cluster IPs), for
    /// matching outbound authorities.
    pub hosts: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("unknown resource `{0}`: use deploy, sts, ds, pod, ns or svc, optionally as KIND/NAME")]
    Kind(String),
    #[error(
        "{kind} `{name}` not found in namespace {namespace}; list them with `kubectl get {short} \
         -n {namespace}`"
    )]
    NotFound {
        kind: &'static str,
        short: &'static str,
        name: String,
        namespace: String,
    },
    #[error("namespace `{0}` not found; list them with `kubectl get ns`")]
    NoNamespace(String),
    #[error(transparent)]
    Request(#[from] K8sError),
}

/// The resources `what` names in `scope`, each with its unfinished pods and the hosts that
/// reach it. A named resource that does not exist is an error.
pub async fn select(
    conn: &Connection,
    what: &ResourceRef,
    scope: &Scope,
) -> Result<Vec<Selected>, SelectError> {
    // A namespace is its own scope.
    let own;
    let scope = match (what.kind, &what.name) {
        (Kind::Namespace, Some(name)) => {
            own = Scope::Namespace(name.clone());
            &own
        }
        (Kind::Namespace, None) => &Scope::All,
        _ => scope,
    };
    let lister = Lister { conn, scope };
    let pods: Vec<Pod> = lister.list("pods").await?;
    let services: Vec<Service> = lister.list("services").await?;
    let mut selected = match what.kind {
        Kind::Deployment => {
            let owners: Vec<Deployment> = lister.named(what, "deployments").await?;
            // A deployment controls its pods through its ReplicaSets.
            let sets: Vec<ReplicaSet> = lister.list("replicasets").await?;
            owned_pods(what.kind, &owners, &pods, |d| owned_uids(&sets, d))
        }
        Kind::StatefulSet => {
            let owners: Vec<StatefulSet> = lister.named(what, "statefulsets").await?;
            owned_pods(what.kind, &owners, &pods, uid_of)
        }
        Kind::DaemonSet => {
            let owners: Vec<DaemonSet> = lister.named(what, "daemonsets").await?;
            owned_pods(what.kind, &owners, &pods, uid_of)
        }
        Kind::Pod => {
            let named: Vec<Pod> = lister.named(what, "pods").await?;
            named
                .iter()
                .filter_map(|p| {
                    let selected = selected_of(Kind::Pod, p.meta(), std::iter::once(p));
                    // A finished pod has nothing to report.
                    (!selected.pods.is_empty() || what.name.is_some()).then_some(selected)
                })
                .collect()
        }
        Kind::Service => {
            let named: Vec<Service> = lister.named(what, "services").await?;
            named.iter().map(|s| service_selected(s, &pods)).collect()
        }
        Kind::Namespace => namespaces(conn, what, &pods).await?,
    };
    for s in &mut selected {
        if s.kind != Kind::Service {
            s.hosts = services
                .iter()
                .filter(|svc| serves_any(svc, s, &pods))
                .flat_map(hosts_of)
                .collect();
            // Peers that reach the pods directly (headless services, pod IPs) reach it too.
            let direct: Vec<String> = (pods.iter().filter(|p| is_of(p, s)))
                .flat_map(pod_hosts)
                .collect();
            s.hosts.extend(direct);
        }
    }
    Ok(selected)
}

/// The typed, namespaced objects `stat` reads.
trait Listable:
    kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + DeserializeOwned
    + std::fmt::Debug
{
}

impl<K> Listable for K where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
{
}

/// Lists or gets objects of one kind in the scope, naming the cluster on failure.
struct Lister<'a> {
    conn: &'a Connection,
    scope: &'a Scope,
}

impl Lister<'_> {
    fn api<K: Listable>(&self) -> Api<K> {
        let client: Client = self.conn.client.clone();
        match self.scope {
            Scope::Namespace(ns) => Api::namespaced(client, ns),
            Scope::All => Api::all(client),
        }
    }

    fn where_(&self) -> String {
        match self.scope {
            Scope::Namespace(ns) => format!("in namespace {ns}"),
            Scope::All => "in all namespaces".to_owned(),
        }
    }

    async fn list<K: Listable>(&self, plural: &str) -> Result<Vec<K>, SelectError> {
        self.api::<K>()
            .list(&ListParams::default())
            .await
            .map(|list| list.items)
            .map_err(|e| {
                let what = format!("{plural} {}", self.where_());
                self.conn.request_error("listing", &what, &e).into()
            })
    }

    /// The one object `what` names (an error when missing), or every one in the scope.
    async fn named<K: Listable>(
        &self,
        what: &ResourceRef,
        plural: &str,
    ) -> Result<Vec<K>, SelectError> {
        let Some(name) = &what.name else {
            return self.list(plural).await;
        };
        let namespace = match self.scope {
            Scope::Namespace(ns) => ns.clone(),
            Scope::All => String::new(),
        };
        match self.api::<K>().get_opt(name).await {
            Ok(Some(object)) => Ok(vec![object]),
            Ok(None) => Err(SelectError::NotFound {
                kind: what.kind.noun(),
                short: what.kind.short(),
                name: name.clone(),
                namespace,
            }),
            Err(e) => {
                let object = format!("{} {namespace}/{name}", what.kind.noun());
                Err(self.conn.request_error("getting", &object, &e).into())
            }
        }
    }
}

/// Each owner with the pods it controls: those whose controller is one of the uids
/// `controllers` gives for the owner (itself, or the ReplicaSets a deployment controls).
fn owned_pods<K: kube::Resource>(
    kind: Kind,
    owners: &[K],
    pods: &[Pod],
    controllers: impl Fn(&ObjectMeta) -> BTreeSet<String>,
) -> Vec<Selected> {
    owners
        .iter()
        .map(|o| {
            let uids = controllers(o.meta());
            let pods = pods.iter().filter(|p| owned_by_any(p.meta(), &uids));
            selected_of(kind, o.meta(), pods)
        })
        .collect()
}

/// The object's own uid, as a set.
fn uid_of(meta: &ObjectMeta) -> BTreeSet<String> {
    meta.uid.iter().cloned().collect()
}

async fn namespaces(
    conn: &Connection,
    what: &ResourceRef,
    pods: &[Pod],
) -> Result<Vec<Selected>, SelectError> {
    let api: Api<Namespace> = Api::all(conn.client.clone());
    let names: Vec<String> = match &what.name {
        Some(name) => match api.get_opt(name).await {
            Ok(Some(_)) => vec![name.clone()],
            Ok(None) => return Err(SelectError::NoNamespace(name.clone())),
            Err(e) => {
                let object = format!("namespace {name}");
                return Err(conn.request_error("getting", &object, &e).into());
            }
        },
        None => api
            .list(&ListParams::default())
            .await
            .map_err(|e| conn.request_error("listing", "namespaces", &e))?
            .items
            .into_iter()
            .filter_map(|ns| ns.metadata.name)
            .collect(),
    };
    Ok(names
        .into_iter()
        .map(|name| {
            let pods = pods
                .iter()
                .filter(|p| p.metadata.namespace.as_deref() == Some(name.as_str()));
            let meta = ObjectMeta {
                name: Some(name.clone()),
                ..ObjectMeta::default()
            };
            selected_of(Kind::Namespace, &meta, pods)
        })
        .collect())
}

fn selected_of<'a>(kind: Kind, meta: &ObjectMeta, pods: impl Iterator<Item = &'a Pod>) -> Selected {
    Selected {
        kind,
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        pods: pods.filter_map(mesh_pod).collect(),
        hosts: BTreeSet::new(),
    }
}

/// The pod as `stat` sees it; `None` when it has finished.
fn mesh_pod(pod: &Pod) -> Option<MeshPod> {
    if pods::has_finished(pod) {
        return None;
    }
    let status = pod.status.as_ref();
    let address = status.and_then(|s| s.pod_ip.as_deref());
    Some(MeshPod {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        meshed: pods::is_meshed(pod),
        running: pods::phase(pod) == Some("Running") && address.is_some_and(|a| !a.is_empty()),
    })
}

/// The uids of the objects (ReplicaSets) that `owner` controls.
fn owned_uids<K: kube::Resource>(objects: &[K], owner: &ObjectMeta) -> BTreeSet<String> {
    let owner_uid = uid_of(owner);
    objects
        .iter()
        .filter(|o| owned_by_any(o.meta(), &owner_uid))
        .filter_map(|o| o.meta().uid.clone())
        .collect()
}

/// Whether the object's controller is one of `uids`.
fn owned_by_any(meta: &ObjectMeta, uids: &BTreeSet<String>) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && uids.contains(&r.uid))
}

/// Whether every selector label is on the object.
fn selects(selector: &BTreeMap<String, String>, meta: &ObjectMeta) -> bool {
    !selector.is_empty()
        && selector
            .iter()
            .all(|(k, v)| meta.labels.as_ref().and_then(|l| l.get(k)) == Some(v))
}

/// Whether `service` selects any pod of `selected`.
fn serves_any(service: &Service, selected: &Selected, pods: &[Pod]) -> bool {
    let Some(selector) = service.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return false;
    };
    pods.iter().any(|p| {
        p.metadata.namespace == service.metadata.namespace
            && selects(selector, p.meta())
            && is_of(p, selected)
    })
}

/// A service with the pods it selects, reached by its names and cluster IPs; a headless
/// one (no cluster IP) is reached at its pods' addresses and names instead.
fn service_selected(service: &Service, pods: &[Pod]) -> Selected {
    let spec = service.spec.as_ref();
    let selector = spec.and_then(|spec| spec.selector.as_ref());
    let its = pods.iter().filter(|p| {
        p.metadata.namespace == service.metadata.namespace
            && selector.is_some_and(|sel| selects(sel, p.meta()))
    });
    let mut selected = selected_of(Kind::Service, service.meta(), its.clone());
    selected.hosts = hosts_of(service);
    if spec.and_then(|s| s.cluster_ip.as_deref()) == Some("None") {
        let direct: Vec<String> = (its.filter(|p| is_of(p, &selected)))
            .flat_map(pod_hosts)
            .collect();
        selected.hosts.extend(direct);
    }
    selected
}

/// Whether `pod` is one of `selected`'s (unfinished) pods.
fn is_of(pod: &Pod, selected: &Selected) -> bool {
    selected.pods.iter().any(|m| {
        Some(&m.name) == pod.metadata.name.as_ref()
            && Some(&m.namespace) == pod.metadata.namespace.as_ref()
    })
}

/// The names and addresses a pod is reached by directly: its IPs and, with a hostname and a
/// subdomain (a headless service's pods, such as a stateful set's), its DNS names.
fn pod_hosts(pod: &Pod) -> BTreeSet<String> {
    let status = pod.status.as_ref();
    let mut hosts: BTreeSet<String> = (status.and_then(|s| s.pod_ips.as_ref()).into_iter())
        .flatten()
        .map(|ip| ip.ip.clone())
        .chain(status.and_then(|s| s.pod_ip.clone()))
        .filter(|ip| !ip.is_empty())
        .collect();
    let spec = pod.spec.as_ref();
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    if let (Some(host), Some(sub)) = (
        spec.and_then(|s| s.hostname.as_deref()),
        spec.and_then(|s| s.subdomain.as_deref()),
    ) {
        let name = format!("{host}.{sub}.{ns}");
        hosts.extend([
            format!("{name}.svc"),
            format!("{name}.svc.cluster.local"),
            name,
        ]);
    }
    hosts
}

/// The names and addresses a service is reached by.
fn hosts_of(service: &Service) -> BTreeSet<String> {
    let name = service.metadata.name.clone().unwrap_or_default();
    let ns = service.metadata.namespace.clone().unwrap_or_default();
    let mut hosts: BTreeSet<String> = [
        name.clone(),
        format!("{name}.{ns}"),
        format!("{name}.{ns}.svc"),
        format!("{name}.{ns}.svc.cluster.local"),
    ]
    .into();
    let spec = service.spec.as_ref();
    hosts.extend(
        spec.and_then(|s| s.cluster_ips.clone())
            .into_iter()
            .flatten()
            .filter(|ip| ip != "None"),
    );
    hosts
}

/// Whether an outbound row's authority (`host[:port]`) goes to one of `hosts`.
pub fn authority_matches(authority: &str, hosts: &BTreeSet<String>) -> bool {
    let host = match authority.strip_prefix('[') {
        // `[v6]:port`
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        // `host:port`; a bare IPv6 address has several colons.
        None if authority.matches(':').count() == 1 => {
            authority.split(':').next().unwrap_or(authority)
        }
        None => authority,
    };
    hosts.contains(host.trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_references_parse_like_kubectl() {
        assert_eq!("Deployments".parse::<Kind>().unwrap(), Kind::Deployment);
        assert_eq!("po".parse::<Kind>().unwrap(), Kind::Pod);
        let r: ResourceRef = "deploy/web".parse().unwrap();
        assert_eq!((r.kind, r.name.as_deref()), (Kind::Deployment, Some("web")));
        assert_eq!(r.to_string(), "deploy/web");
        let err = "cronjob".parse::<ResourceRef>().unwrap_err().to_string();
        assert!(
            err.starts_with("unknown resource `cronjob`: use deploy"),
            "{err}"
        );
        assert!("svc/".parse::<ResourceRef>().is_err());
    }

    /// An object named `name` with uid `name`, controlled by `owner` (a second reference,
    /// not the controller, names `other`).
    fn object<K: serde::de::DeserializeOwned>(name: &str, owner: Option<&str>) -> K {
        let refs: Vec<serde_json::Value> = owner
            .into_iter()
            .map(|uid| {
                serde_json::json!({"apiVersion": "v1", "kind": "X", "name": uid,
                "uid": uid, "controller": true})
            })
            .chain([
                serde_json::json!({"apiVersion": "v1", "kind": "X", "name": "other",
                "uid": "other"}),
            ])
            .collect();
        serde_json::from_value(
            serde_json::json!({"metadata": {"name": name, "namespace": "shop",
            "uid": name, "ownerReferences": refs}}),
        )
        .unwrap()
    }

    #[test]
    fn owners_find_their_pods_directly_or_through_replica_sets() {
        let pods: Vec<Pod> = vec![
            object("web-1", Some("web-rs1")),
            object("web-2", Some("web-rs2")),
            object("db-0", Some("db")),
            object("loose", None),
        ];
        let sets: Vec<ReplicaSet> = vec![
            object("web-rs1", Some("web")),
            object("web-rs2", Some("web")),
            object("api-rs", Some("api")),
        ];
        let names =
            |s: &Selected| -> Vec<String> { s.pods.iter().map(|p| p.name.clone()).collect() };
        let deployments: Vec<Deployment> = vec![object("web", None), object("api", None)];
        let by_deploy = owned_pods(Kind::Deployment, &deployments, &pods, |d| {
            owned_uids(&sets, d)
        });
        assert_eq!(names(&by_deploy[0]), ["web-1", "web-2"]);
        assert!(by_deploy[1].pods.is_empty());
        // A stateful set controls its pods itself; a non-controller reference counts for none.
        let sts: Vec<StatefulSet> = vec![object("db", None), object("other", None)];
        let by_sts = owned_pods(Kind::StatefulSet, &sts, &pods, uid_of);
        assert_eq!(names(&by_sts[0]), ["db-0"]);
        assert_eq!(
            (by_sts[0].kind, by_sts[0].namespace.as_str()),
            (Kind::StatefulSet, "shop")
        );
        assert!(by_sts[1].pods.is_empty());
    }

    #[test]
    fn pods_are_reached_by_their_addresses_and_headless_names() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "db-0", "namespace": "shop"},
            "spec": {"hostname": "db-0", "subdomain": "db", "containers": []},
            "status": {"podIP": "10.1.0.5", "podIPs": [{"ip": "10.1.0.5"}, {"ip": "fd00::5"}]},
        }))
        .unwrap();
        let hosts = pod_hosts(&pod);
        let expected = [
            "10.1.0.5",
            "db-0.db.shop",
            "db-0.db.shop.svc",
            "db-0.db.shop.svc.cluster.local",
            "fd00::5",
        ];
        assert_eq!(
            hosts.iter().map(String::as_str).collect::<Vec<_>>(),
            expected
        );
        for authority in ["10.1.0.5:5432", "[fd00::5]:5432", "db-0.db.shop.svc:5432"] {
            assert!(authority_matches(authority, &hosts), "{authority}");
        }
        // Without a subdomain, only the addresses; a pod not yet given one, nothing.
        let mut plain = pod.clone();
        plain.spec.as_mut().unwrap().subdomain = None;
        assert_eq!(pod_hosts(&plain).len(), 2);
        plain.status = None;
        assert!(pod_hosts(&plain).is_empty());
    }

    #[test]
    fn a_headless_service_is_reached_at_its_pods() {
        let pod = |name: &str, ip: &str, app: &str| -> Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "namespace": "shop", "labels": {"app": app}},
                "spec": {"hostname": name, "subdomain": "db", "containers": []},
                "status": {"phase": "Running", "podIP": ip},
            }))
            .unwrap()
        };
        let pods = [
            pod("db-0", "10.1.0.5", "db"),
            pod("db-1", "10.1.0.6", "db"),
            pod("web-0", "10.1.0.7", "web"),
        ];
        let service = |cluster_ip: &str| -> Service {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "db", "namespace": "shop"},
                "spec": {"selector": {"app": "db"}, "clusterIP": cluster_ip,
                         "clusterIPs": [cluster_ip]},
            }))
            .unwrap()
        };
        let headless = service_selected(&service("None"), &pods);
        assert_eq!(headless.pods.len(), 2);
        for authority in ["db.shop:5432", "10.1.0.6:5432", "db-0.db.shop.svc:5432"] {
            assert!(authority_matches(authority, &headless.hosts), "{authority}");
        }
        assert!(!authority_matches("10.1.0.7:80", &headless.hosts));
        // With a cluster IP, clients reach it there, not at its pods.
        let plain = service_selected(&service("10.96.0.9"), &pods);
        assert!(authority_matches("10.96.0.9:5432", &plain.hosts));
        assert!(!authority_matches("10.1.0.5:5432", &plain.hosts));
    }

    #[test]
    fn authorities_match_service_names_and_addresses() {
        let hosts: BTreeSet<String> = ["web".into(), "web.shop".into(), "10.96.0.7".into()].into();
        for yes in [
            "web",
            "web:80",
            "web.shop:8080",
            "10.96.0.7:80",
            "web.shop.",
        ] {
            assert!(authority_matches(yes, &hosts), "{yes}");
        }
        for no in ["webx:80", "api.shop", "10.96.0.8:80", "passthrough"] {
            assert!(!authority_matches(no, &hosts), "{no}");
        }
        let v6: BTreeSet<String> = ["fd00::7".into()].into();
        assert!(authority_matches("[fd00::7]:80", &v6));
        assert!(authority_matches("fd00::7", &v6));
        assert!(!authority_matches("fd00::7:80", &v6));
    }
}
