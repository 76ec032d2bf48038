//! The snapshot indexed for lookups (pods by name, slices by Service, namespaces), and the
//! findings collected while translating it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::finding::{Finding, ObjectRef, Report};
use super::{Inputs, Options};

/// Everything translation reads, indexed once.
pub(crate) struct Catalog<'a> {
    pub inputs: &'a Inputs,
    pub options: &'a Options,
    /// By (namespace, name).
    pub pods: BTreeMap<(String, String), &'a Pod>,
    /// The pods' labels, once per pod: every endpoint of a pod shares them.
    pub pod_labels: BTreeMap<(String, String), crate::model::endpoint::Labels>,
    pub namespaces: BTreeMap<String, &'a Namespace>,
    /// By (namespace, name), in that order: the order of translation.
    pub services: BTreeMap<(String, String), &'a Service>,
    /// By (namespace, Service name) from the `kubernetes.io/service-name` label.
    pub slices: BTreeMap<(String, String), Vec<&'a EndpointSlice>>,
    pub findings: Vec<Finding>,
    /// DestinationRule subsets by (namespace, Service): the route APIs send to them.
    pub subsets: BTreeMap<(String, String), super::destination_rule::Subsets>,
    /// Gateway API routes' status, by (kind, namespace, name).
    pub route_outcomes: BTreeMap<(String, String, String), super::route_status::RouteOutcome>,
    /// The PeerAuthentications, read first: a port whose mTLS is DISABLE gets plaintext from
    /// clients too.
    pub peer: super::peer_authentication::PeerIndex,
}

/// Where a namespaced object lives: objects read from files without one are in `default`,
/// as `kubectl apply` would put them with the default context.
pub(crate) fn namespace_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> String {
    meta.namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

impl<'a> Catalog<'a> {
    pub fn new(inputs: &'a Inputs, options: &'a Options) -> Self {
        let mut catalog = Catalog {
            inputs,
            options,
            pods: BTreeMap::new(),
            pod_labels: BTreeMap::new(),
            namespaces: BTreeMap::new(),
            services: BTreeMap::new(),
            slices: BTreeMap::new(),
            findings: Vec::new(),
            subsets: BTreeMap::new(),
            route_outcomes: BTreeMap::new(),
            peer: Default::default(),
        };
        for pod in &inputs.pods {
            if let Some(name) = &pod.metadata.name {
                let key = (namespace_of(&pod.metadata), name.clone());
                if !catalog.pods.contains_key(&key) {
                    let labels = pod.metadata.labels.clone().unwrap_or_default();
                    catalog.pod_labels.insert(key.clone(), labels.into());
                    catalog.pods.insert(key, pod);
                }
            }
        }
        for ns in &inputs.namespaces {
            if let Some(name) = &ns.metadata.name {
                catalog.namespaces.entry(name.clone()).or_insert(ns);
            }
        }
        for svc in &inputs.services {
            let ns = namespace_of(&svc.metadata);
            let Some(name) = svc.metadata.name.clone() else {
                let object = catalog.object("Service", &ns, "<unnamed>");
                catalog.report(&object).error(
                    "metadata.name",
                    "a Service needs a name; it is not translated",
                );
                continue;
            };
            if catalog.services.contains_key(&(ns.clone(), name.clone())) {
                let object = catalog.object("Service", &ns, &name);
                catalog.report(&object).error(
                    "metadata.name",
                    "another Service has the same namespace and name; only the first is used",
                );
                continue;
            }
            catalog.services.insert((ns, name), svc);
        }
        for slice in &inputs.endpoint_slices {
            let owner = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/service-name"));
            if let Some(owner) = owner {
                catalog
                    .slices
                    .entry((namespace_of(&slice.metadata), owner.clone()))
                    .or_default()
                    .push(slice);
            }
        }
        // Slices in name order, so endpoints come out the same whatever the source's order.
        for list in catalog.slices.values_mut() {
            list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        }
        catalog
    }

    /// The reference of an object, with its file position when it came from a file.
    pub fn object(&self, kind: &str, namespace: &str, name: &str) -> ObjectRef {
        self.inputs.origins.object(kind, namespace, name)
    }

    /// A findings collector for `object`.
    pub fn report<'r>(&'r mut self, object: &'r ObjectRef) -> Report<'r> {
        Report {
            object,
            out: &mut self.findings,
        }
    }

    /// The annotation `key` of the namespace `ns`, when the namespace is known.
    pub fn namespace_annotation(&self, ns: &str, key: &str) -> Option<&'a str> {
        self.namespaces
            .get(ns)?
            .metadata
            .annotations
            .as_ref()?
            .get(key)
            .map(String::as_str)
    }
}

/// Why a host does not name a Service of the snapshot.
pub(crate) fn host_error(host: &str, why: &str) -> String {
    format!("host {host:?} {why}")
}

impl Catalog<'_> {
    /// The Service a host names, seen from namespace `from`: `web` (in `from`), `web.shop`,
    /// `web.shop.svc`, `web.shop.svc.<cluster domain>`.
    pub fn resolve_host(&self, host: &str, from: &str) -> Result<(String, String), String> {
        let h = host.trim_end_matches('.').to_ascii_lowercase();
        if h.contains('*') {
            return Err(host_error(
                host,
                "is a wildcard; meshctl routes Services only: name one Service",
            ));
        }
        let parts: Vec<&str> = h.split('.').collect();
        let domain = self.options.cluster_domain.to_ascii_lowercase();
        let (name, ns) = match parts.as_slice() {
            [name] => (*name, from),
            [name, ns] | [name, ns, "svc"] => (*name, *ns),
            [name, ns, "svc", rest @ ..] if rest.join(".") == domain => (*name, *ns),
            _ => {
                return Err(host_error(
                    host,
                    "is not a Service of this cluster (expected NAME, NAME.NS or \
                     NAME.NS.svc.CLUSTER-DOMAIN); traffic to it is not routed by the mesh",
                ));
            }
        };
        let key = (ns.to_owned(), name.to_owned());
        if self.services.contains_key(&key) {
            Ok(key)
        } else {
            Err(host_error(
                host,
                &format!(
                    "names Service {ns}/{name}, which does not exist; create it or fix the host"
                ),
            ))
        }
    }
}
