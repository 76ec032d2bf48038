//! Translation: Kubernetes objects in (Services, EndpointSlices, Pods, Namespaces and the
//! config kinds of Istio, SMI, Gateway API and Linkerd), the proxy `model` out, plus findings
//! for what cannot be applied as written. Pure functions, no I/O: the controller and
//! `meshctl analyze` call the same ones.
//!
//! DestinationRules apply first (policies, subsets); then one route API per Service port
//! (see [`precedence`]); then EnvoyFilter rate limits; the result is checked like the proxy
//! checks its config.

pub mod authorization_policy;
mod backends;
mod catalog;
pub mod destination_rule;
mod documents;
mod endpoints;
pub mod envoy_filter;
mod finalize;
pub mod finding;
mod gateway;
pub mod grpc_route;
pub mod http_route;
mod inbound;
pub mod linkerd_policy;
mod mesh_config;
mod names;
pub mod peer_authentication;
pub mod precedence;
mod protocol;
pub mod request_authentication;
pub mod route_status;
mod routes;
mod service;
pub mod service_profile;
mod spec;
pub mod traffic_split;
pub mod virtual_service;
mod workload;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::DynamicObject;

pub use documents::template_pod_name;
pub use finding::{Finding, ObjectRef, Severity};

use crate::model;

/// One snapshot of everything a source holds.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    // Shared, not owned: the controller translates from its reflectors' stores after every
    // change, and a deep copy of every object per translation was most of its peak memory.
    pub services: Vec<Arc<Service>>,
    pub endpoint_slices: Vec<Arc<EndpointSlice>>,
    pub pods: Vec<Arc<Pod>>,
    pub namespaces: Vec<Arc<Namespace>>,
    /// Config kinds (VirtualService, DestinationRule, TrafficSplit, HTTPRoute, GRPCRoute,
    /// ServiceProfile, EnvoyFilter...), with `types` (apiVersion, kind) set.
    pub objects: Vec<Arc<DynamicObject>>,
    /// Where objects read from files came from (empty for the API server).
    pub origins: Origins,
    /// JWKS documents (JSON text) by the `jwksUri` of RequestAuthentications they were
    /// fetched from; the controller fetches them, translation stays pure.
    pub jwks: BTreeMap<String, String>,
}

/// File, document and line of objects read from files, by kind, namespace and name.
#[derive(Clone, Debug, Default)]
pub struct Origins(pub BTreeMap<(String, String, String), ObjectRef>);

impl Origins {
    /// The reference of an object: with its file position when it came from a file.
    pub fn object(&self, kind: &str, namespace: &str, name: &str) -> ObjectRef {
        let key = (kind.to_owned(), namespace.to_owned(), name.to_owned());
        self.0
            .get(&key)
            .cloned()
            .unwrap_or_else(|| ObjectRef::new(kind, namespace, name))
    }
}

/// Cluster-wide settings translation needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// DNS suffix of Services (`cluster.local`).
    pub cluster_domain: String,
    /// SPIFFE trust domain of the mesh's identities (`cluster.local`).
    pub trust_domain: String,
    /// Where the control plane runs (`meshctl-system`).
    pub mesh_namespace: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cluster_domain: "cluster.local".to_owned(),
            trust_domain: "cluster.local".to_owned(),
            mesh_namespace: "meshctl-system".to_owned(),
        }
    }
}

/// The result of one translation: per-namespace outbound views, per-pod inbound sides,
/// route statuses to write, and the findings.
#[derive(Clone, Debug, Default)]
pub struct Mesh {
    pub findings: Vec<Finding>,
    /// What translation decided about each HTTPRoute and GRPCRoute, by (kind, namespace,
    /// name): [`route_status::parents`] makes the `status.parents` to write from it.
    pub route_outcomes: BTreeMap<(String, String, String), route_status::RouteOutcome>,
    services: BTreeMap<String, Entry>,
    inbound: inbound::InboundIndex,
}

/// One model service: as every namespace sees it, and as its own namespace sees it (with
/// the short names `web` and `web:80` that only resolve there).
#[derive(Clone, Debug)]
struct Entry {
    namespace: String,
    global: Arc<model::service::Service>,
    local: Arc<model::service::Service>,
}

/// Translates one snapshot. Never panics; what it cannot apply is in `Mesh::findings`.
pub fn translate(inputs: &Inputs, options: &Options) -> Mesh {
    let mut catalog = catalog::Catalog::new(inputs, options);
    catalog.peer = peer_authentication::PeerIndex::new(&mut catalog);
    let mut services = service::port_services(&mut catalog);
    destination_rule::apply_all(&mut catalog, &mut services);
    precedence::apply_routes(&mut catalog, &mut services);
    envoy_filter::apply_all(&mut catalog, &mut services);
    let inbound = inbound::InboundIndex::new(&mut catalog, &services);
    let entries = finalize::finish(&mut catalog, services);
    let mut findings = catalog.findings;
    findings.sort();
    findings.dedup();
    let mut route_outcomes = catalog.route_outcomes;
    for f in findings.iter().filter(|f| f.severity == Severity::Warning) {
        let key = (
            f.object.kind.clone(),
            f.object.namespace.clone(),
            f.object.name.clone(),
        );
        if let Some(outcome) = route_outcomes.get_mut(&key) {
            outcome.warnings.push(format!("{}: {}", f.field, f.message));
        }
    }
    Mesh {
        findings,
        route_outcomes,
        services: entries,
        inbound,
    }
}

impl Mesh {
    /// The outbound services a proxy in `namespace` gets, keyed by model service name
    /// (`web.shop:80`); unchanged services keep their `Arc` from the same `Mesh`.
    /// Points the services equal to `previous`'s at its copies: every change re-translates
    /// every service, and one copy of each unchanged service (not one per live
    /// publication) keeps the controller's memory flat across changes.
    pub fn share_unchanged(&mut self, previous: &Mesh) {
        for (name, entry) in &mut self.services {
            let Some(old) = previous.services.get(name) else {
                continue;
            };
            if old.global == entry.global {
                entry.global = Arc::clone(&old.global);
            }
            if old.local == entry.local {
                entry.local = Arc::clone(&old.local);
            }
        }
    }

    pub fn view(&self, namespace: &str) -> BTreeMap<String, Arc<model::service::Service>> {
        self.services
            .iter()
            .map(|(name, e)| {
                let svc = if e.namespace == namespace {
                    &e.local
                } else {
                    &e.global
                };
                (name.clone(), Arc::clone(svc))
            })
            .collect()
    }

    /// The inbound side of one pod: opaque ports from its (or its namespace's)
    /// `meshctl.io/opaque-ports` annotation and from opaque Service ports that target it.
    pub fn inbound(&self, pod: &Pod) -> model::config::Inbound {
        self.inbound.inbound(pod)
    }

    /// A whole proxy config for a pod in `namespace` (listeners and identity left default).
    pub fn config(&self, pod: &Pod) -> model::Config {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        model::Config {
            inbound: self.inbound(pod),
            services: self
                .view(namespace)
                .into_values()
                .map(|s| (*s).clone())
                .collect(),
            ..model::Config::default()
        }
    }

    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}
