//! The inbound side of a pod: the ports its proxy forwards as TCP without detection (from
//! its or its namespace's `meshctl.io/opaque-ports` annotation and from opaque Service
//! ports that send to it), its mTLS modes (PeerAuthentication), its authorization
//! (Istio AuthorizationPolicy, Linkerd Server and its authorizations) and the JWTs it
//! verifies (RequestAuthentication).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::authorization_policy::AuthzIndex;
use super::catalog::{Catalog, namespace_of};
use super::linkerd_policy::LinkerdIndex;
use super::names::{self, OPAQUE_PORTS};
use super::peer_authentication::PeerIndex;
use super::request_authentication::JwtIndex;
use super::service::Table;
use crate::model::config::Inbound;
use crate::model::service::Protocol;

/// What `Mesh::inbound` needs, kept from one translation (pods may be new since then).
#[derive(Clone, Debug, Default)]
pub(crate) struct InboundIndex {
    /// Namespaces' opaque-ports annotations.
    namespace_opaque: BTreeMap<String, BTreeSet<u16>>,
    /// Opaque Service ports with a selector: (namespace, selector, target port).
    selected: Vec<(String, BTreeMap<String, String>, IntOrString)>,
    /// Target ports of opaque Service ports, by the pod their endpoints name.
    by_pod: BTreeMap<(String, String), BTreeSet<u16>>,
    peer: PeerIndex,
    authz: AuthzIndex,
    jwt: JwtIndex,
    linkerd: LinkerdIndex,
}

impl InboundIndex {
    pub fn new(catalog: &mut Catalog<'_>, table: &Table) -> Self {
        let mut index = InboundIndex {
            peer: catalog.peer.clone(),
            authz: AuthzIndex::new(catalog),
            jwt: JwtIndex::new(catalog),
            linkerd: LinkerdIndex::new(catalog),
            ..InboundIndex::default()
        };
        for (ns, obj) in &catalog.namespaces {
            if let Some(v) = obj
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(OPAQUE_PORTS))
            {
                index
                    .namespace_opaque
                    .insert(ns.clone(), names::opaque_ports(v).0);
            }
        }
        for svc in table
            .values()
            .filter(|s| s.model.protocol == Protocol::Opaque)
        {
            if svc.per_pod {
                continue;
            }
            if !svc.selector.is_empty() {
                let target = svc
                    .target_port
                    .clone()
                    .unwrap_or(IntOrString::Int(i32::from(svc.port)));
                index
                    .selected
                    .push((svc.namespace.clone(), svc.selector.clone(), target));
            }
            for f in &svc.endpoints {
                if let Some(pod) = &f.pod {
                    index
                        .by_pod
                        .entry(pod.clone())
                        .or_default()
                        .insert(f.endpoint.addr.port());
                }
            }
        }
        index
    }

    pub fn inbound(&self, pod: &Pod) -> Inbound {
        let ns = namespace_of(&pod.metadata);
        let own = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(OPAQUE_PORTS));
        let mut ports = match own {
            Some(v) => names::opaque_ports(v).0,
            None => self.namespace_opaque.get(&ns).cloned().unwrap_or_default(),
        };
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        for (svc_ns, selector, target) in &self.selected {
            if *svc_ns == ns && selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                ports.extend(container_port(pod, target));
            }
        }
        if let Some(name) = &pod.metadata.name
            && let Some(by_pod) = self.by_pod.get(&(ns.clone(), name.clone()))
        {
            ports.extend(by_pod);
        }
        let mut authorization = self.authz.authorization(&ns, &labels);
        self.linkerd.apply(pod, &ns, &labels, &mut authorization);
        Inbound {
            opaque_ports: ports.into_iter().collect(),
            tls: self.peer.tls(&ns, &labels),
            authorization,
            jwt: self.jwt.rules(&ns, &labels),
            ..Inbound::default()
        }
    }
}

/// A Service's (or Linkerd Server's) port on one pod: a number, or a container port's name.
pub(crate) fn container_port(pod: &Pod, target: &IntOrString) -> Option<u16> {
    match target {
        IntOrString::Int(p) => u16::try_from(*p).ok().filter(|p| *p > 0),
        IntOrString::String(name) => {
            let spec = pod.spec.as_ref()?;
            let port = spec
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| p.name.as_deref() == Some(name))?;
            u16::try_from(port.container_port).ok().filter(|p| *p > 0)
        }
    }
}
