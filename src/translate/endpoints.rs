//! Endpoints of one Service port, from its EndpointSlices: the port from the slice entry of
//! the same name, readiness as Kubernetes defines it, and pod labels and identity through
//! each endpoint's `targetRef`.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::{Endpoint as SliceEndpoint, EndpointSlice};

use super::catalog::{Catalog, namespace_of};
use crate::identity::SpiffeId;
use crate::inject::sidecar::PROXY_CONTAINER;
use crate::model::endpoint::Endpoint;
use crate::model::identity::TlsMode;

/// An endpoint and what else translation needs to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Found {
    pub endpoint: Endpoint,
    /// The pod's hostname under a headless Service (`web-0`).
    pub hostname: Option<String>,
    /// The pod behind it, (namespace, name).
    pub pod: Option<(String, String)>,
}

/// Whether the pod runs the mesh proxy (as a native sidecar or a classic container): only
/// then is it reached over mTLS. The container, not an annotation, is what answers TLS.
pub(crate) fn runs_proxy(pod: &Pod) -> bool {
    pod.spec.as_ref().is_some_and(|spec| {
        (spec.init_containers.iter().flatten())
            .chain(&spec.containers)
            .any(|c| c.name == PROXY_CONTAINER)
    })
}

/// The SPIFFE id of a meshed pod, `None` for a pod without the proxy.
pub(crate) fn identity(pod: &Pod, trust_domain: &str) -> Option<SpiffeId> {
    if !runs_proxy(pod) {
        return None;
    }
    let sa = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or("default");
    SpiffeId::new(trust_domain, &namespace_of(&pod.metadata), sa).ok()
}

/// The endpoints of port `port_name` of Service `ns/name`, sorted by address.
///
/// Ready endpoints are used; when none is ready, serving endpoints that are terminating
/// are (what kube-proxy does, KEP-1669), so a rollout's last pods still get traffic.
/// Unset conditions mean ready/serving, as the API defines them.
pub(crate) fn for_port(
    catalog: &mut Catalog<'_>,
    ns: &str,
    name: &str,
    port_name: Option<&str>,
    publish_not_ready: bool,
) -> Vec<Found> {
    let slices: Vec<&EndpointSlice> = catalog
        .slices
        .get(&(ns.to_owned(), name.to_owned()))
        .cloned()
        .unwrap_or_default();
    let mut ready = Vec::new();
    let mut terminating = Vec::new();
    for slice in slices {
        let slice_name = slice.metadata.name.clone().unwrap_or_default();
        let object = catalog.object("EndpointSlice", ns, &slice_name);
        if !matches!(slice.address_type.as_str(), "IPv4" | "IPv6") {
            catalog.report(&object).warn(
                "addressType",
                format!(
                    "addressType {:?} is not routed by the mesh (only IPv4 and IPv6)",
                    slice.address_type
                ),
            );
            continue;
        }
        let wanted = port_name.unwrap_or("");
        let port = slice.ports.iter().flatten().find(|p| {
            p.name.as_deref().unwrap_or("") == wanted
                && p.protocol.as_deref().unwrap_or("TCP") == "TCP"
        });
        let Some(port) = port.and_then(|p| p.port) else {
            continue;
        };
        let Some(port) = u16::try_from(port).ok().filter(|p| *p > 0) else {
            catalog.report(&object).error(
                "ports",
                format!("port {port} of {wanted:?} is not 1 to 65535; its endpoints are skipped"),
            );
            continue;
        };
        for (i, ep) in slice.endpoints.iter().enumerate() {
            let Some(address) = ep.addresses.first() else {
                continue;
            };
            let Ok(ip) = address.parse::<IpAddr>() else {
                catalog.report(&object).error(
                    format!("endpoints[{i}].addresses[0]"),
                    format!("{address:?} is not an IP address; this endpoint is skipped"),
                );
                continue;
            };
            let found = found(catalog, ep, ns, SocketAddr::new(ip, port));
            let c = ep.conditions.clone().unwrap_or_default();
            let is_ready = publish_not_ready || c.ready.unwrap_or(true);
            let serving = c.serving.unwrap_or(is_ready);
            if is_ready {
                ready.push(found);
            } else if serving && c.terminating.unwrap_or(false) {
                terminating.push(found);
            }
        }
    }
    let mut chosen = if ready.is_empty() { terminating } else { ready };
    chosen.sort_by_key(|f| f.endpoint.addr);
    // One address can be in two slices while a slice is being replaced.
    let mut seen = BTreeSet::new();
    chosen.retain(|f| seen.insert(f.endpoint.addr));
    chosen
}

fn found(catalog: &Catalog<'_>, ep: &SliceEndpoint, ns: &str, addr: SocketAddr) -> Found {
    let mut endpoint = Endpoint::new(addr);
    let pod_key = ep
        .target_ref
        .as_ref()
        .filter(|r| r.kind.as_deref() == Some("Pod"))
        .and_then(|r| {
            let pod_ns = r.namespace.clone().unwrap_or_else(|| ns.to_owned());
            Some((pod_ns, r.name.clone()?))
        });
    if let Some(key) = &pod_key
        && let Some(pod) = catalog.pods.get(key)
    {
        endpoint.labels = catalog.pod_labels.get(key).cloned().unwrap_or_default();
        endpoint.identity = identity(pod, &catalog.options.trust_domain);
        // A port whose PeerAuthentication says DISABLE takes plaintext only (Istio's auto
        // mTLS does the same for its clients).
        if catalog
            .peer
            .tls(&key.0, &endpoint.labels)
            .mode_for(addr.port())
            == TlsMode::Disable
        {
            endpoint.identity = None;
        }
    }
    Found {
        endpoint,
        hostname: ep
            .hostname
            .clone()
            .filter(|h| super::names::is_dns_label(h)),
        pod: pod_key,
    }
}
