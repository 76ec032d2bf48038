//! Kubernetes Services into model services, one per Service port (`web.shop:80`): the
//! names and addresses it answers to, its protocol, and one backend of its endpoints.
//!
//! Headless Services (clusterIP None) have no addresses: clients resolve pod IPs and
//! connect to them. Each of their endpoints also becomes a service of its own
//! (`web-0.web.shop:80`, or `10.0.0.5.web.shop:80` without a hostname) answering to the
//! pod's DNS names (`web-0.web.shop.svc.cluster.local`, when the slice gives a hostname) and
//! to the pod IP and port, so that such connections are routed (and mTLS'd) to that pod.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::core::v1::Service as KubeService;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::backends::BackendKey;
use super::catalog::{Catalog, namespace_of};
use super::endpoints::{self, Found};
use super::finding::ObjectRef;
use super::names::{self, OPAQUE_PORTS};
use super::protocol;
use crate::model::service::{Backend, Protocol, Service};

/// One Service port being translated; config kinds edit `model` in place.
#[derive(Clone, Debug)]
pub(crate) struct PortService {
    pub namespace: String,
    /// The Kubernetes Service's name.
    pub service: String,
    pub port: u16,
    /// The Service, for findings.
    pub object: ObjectRef,
    /// Named `<svc>.<ns>:<port>`, with the authorities every namespace resolves.
    pub model: Service,
    /// `web`, `web:80`: only in the Service's own namespace.
    pub local_authorities: Vec<String>,
    pub selector: BTreeMap<String, String>,
    pub target_port: Option<IntOrString>,
    /// The endpoints of this port, with their pods (the own backend's endpoints).
    pub endpoints: Vec<Found>,
    /// A per-pod service of a headless Service: route APIs do not target it.
    pub per_pod: bool,
    /// Backends added so far, by what they hold.
    pub backend_names: BTreeMap<BackendKey, String>,
    /// The object whose routes the service carries (for findings when they are refused).
    pub route_source: Option<ObjectRef>,
}

/// Every Service port in the snapshot, keyed by model service name.
pub(crate) type Table = BTreeMap<String, PortService>;

/// The model name of port `port` of Service `ns/name`.
pub(crate) fn key(name: &str, ns: &str, port: u16) -> String {
    format!("{name}.{ns}:{port}")
}

/// Translates every Service (in namespace, name order).
pub(crate) fn port_services(catalog: &mut Catalog<'_>) -> Table {
    let mut table = Table::new();
    let services: Vec<_> = catalog
        .services
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    for ((ns, name), svc) in services {
        one_service(catalog, &ns, &name, svc, &mut table);
    }
    table
}

fn one_service(
    catalog: &mut Catalog<'_>,
    ns: &str,
    name: &str,
    svc: &KubeService,
    table: &mut Table,
) {
    let object = catalog.object("Service", ns, name);
    if !names::is_dns_label(name) || !names::is_dns_label(ns) {
        catalog.report(&object).error(
            "metadata.name",
            "Service and namespace names must be DNS labels (lowercase letters, digits, '-'); \
             the Service is not translated",
        );
        return;
    }
    let Some(spec) = &svc.spec else {
        return;
    };
    if spec.type_.as_deref() == Some("ExternalName") {
        catalog.report(&object).warn(
            "spec.type",
            "ExternalName Services are not meshed: their traffic leaves the proxy as it came",
        );
        return;
    }
    let (addresses, headless) = cluster_ips(catalog, &object, spec);
    let opaque = service_opaque_ports(catalog, &object, ns, svc);
    let tcp_ports: Vec<(usize, &k8s_openapi::api::core::v1::ServicePort)> = spec
        .ports
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, p)| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
        .collect();
    let mut valid = Vec::new();
    for (i, p) in tcp_ports {
        match u16::try_from(p.port).ok().filter(|p| *p > 0) {
            Some(port) => valid.push((i, port, p)),
            None => catalog.report(&object).error(
                format!("spec.ports[{i}].port"),
                format!("{} is not a port (1-65535); this port is skipped", p.port),
            ),
        }
    }
    // Portless names go to one port only, so they stay unique: 80, else the first.
    let primary = valid
        .iter()
        .find(|(_, port, _)| *port == 80)
        .or(valid.first())
        .map(|(_, port, _)| *port);
    let selector = spec.selector.clone().unwrap_or_default();
    let publish = spec.publish_not_ready_addresses.unwrap_or(false);
    let domain = catalog.options.cluster_domain.clone();
    let hosts = names::qualified_hosts(name, ns, &domain);
    let mut seen_ports = BTreeSet::new();
    for (i, port, p) in valid {
        if !seen_ports.insert(port) {
            catalog.report(&object).error(
                format!("spec.ports[{i}].port"),
                format!("port {port} is listed twice; only the first is used"),
            );
            continue;
        }
        let portless = Some(port) == primary;
        let found = endpoints::for_port(catalog, ns, name, p.name.as_deref(), publish);
        let protocol = port_protocol(catalog, &object, i, p, port, &opaque, &found);
        let local = names::with_ports(&[name.to_owned()], port, portless);
        let model_key = key(name, ns, port);
        let base = PortService {
            namespace: ns.to_owned(),
            service: name.to_owned(),
            port,
            object: object.clone(),
            model: Service {
                name: model_key.clone(),
                authorities: names::with_ports(&hosts, port, portless),
                addresses: addresses
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, port))
                    .collect(),
                protocol,
                backends: vec![Backend {
                    name: name.to_owned(),
                    endpoints: found.iter().map(|f| f.endpoint.clone()).collect(),
                }],
                ..Service::default()
            },
            local_authorities: local,
            selector: selector.clone(),
            target_port: p.target_port.clone(),
            endpoints: found.clone(),
            per_pod: false,
            backend_names: BTreeMap::from([(BackendKey::service(ns, name, port), name.to_owned())]),
            route_source: None,
        };
        if headless {
            for f in &found {
                per_pod_service(&base, f, portless, &domain, table);
            }
        }
        table.insert(model_key, base);
    }
}

/// The per-pod service of endpoint `f` of a headless Service port.
fn per_pod_service(base: &PortService, f: &Found, portless: bool, domain: &str, table: &mut Table) {
    let host = match &f.hostname {
        Some(h) => h.clone(),
        None => f.endpoint.addr.ip().to_string(),
    };
    let sub = format!("{host}.{}", base.service);
    let name = key(&sub, &base.namespace, base.port);
    let authorities = match &f.hostname {
        Some(_) => names::with_ports(
            &names::qualified_hosts(&sub, &base.namespace, domain),
            base.port,
            portless,
        ),
        None => Vec::new(),
    };
    let mut svc = base.clone();
    svc.model.name.clone_from(&name);
    svc.model.authorities = authorities;
    svc.model.addresses = vec![f.endpoint.addr];
    svc.model.backends[0].endpoints = vec![f.endpoint.clone()];
    svc.local_authorities.clear();
    svc.endpoints = vec![f.clone()];
    svc.per_pod = true;
    table.entry(name).or_insert(svc);
}

/// The cluster IPs (both families), and whether the Service is headless.
fn cluster_ips(
    catalog: &mut Catalog<'_>,
    object: &ObjectRef,
    spec: &k8s_openapi::api::core::v1::ServiceSpec,
) -> (Vec<IpAddr>, bool) {
    let (field, listed): (&str, Vec<String>) = match (&spec.cluster_ips, &spec.cluster_ip) {
        (Some(ips), _) if !ips.is_empty() => ("spec.clusterIPs", ips.clone()),
        (_, Some(ip)) => ("spec.clusterIP", vec![ip.clone()]),
        _ => ("spec.clusterIP", Vec::new()),
    };
    if listed.iter().any(|ip| ip == "None") {
        return (Vec::new(), true);
    }
    let mut ips = Vec::new();
    for (i, ip) in listed.iter().enumerate() {
        if ip.is_empty() {
            continue;
        }
        match ip.parse::<IpAddr>() {
            Ok(ip) if !ips.contains(&ip) => ips.push(ip),
            Ok(_) => {}
            Err(_) => {
                let at = if field == "spec.clusterIPs" {
                    format!("{field}[{i}]")
                } else {
                    field.to_owned()
                };
                catalog.report(object).error(
                    at,
                    format!("{ip:?} is not an IP address; connections to it are not matched"),
                );
            }
        }
    }
    (ips, false)
}

/// Service ports listed in the Service's (else its namespace's) opaque-ports annotation.
fn service_opaque_ports(
    catalog: &mut Catalog<'_>,
    object: &ObjectRef,
    ns: &str,
    svc: &KubeService,
) -> BTreeSet<u16> {
    let own = svc
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(OPAQUE_PORTS))
        .map(String::as_str);
    let Some(value) = own.or_else(|| catalog.namespace_annotation(ns, OPAQUE_PORTS)) else {
        return BTreeSet::new();
    };
    let (ports, bad) = names::opaque_ports(value);
    if !bad.is_empty() && own.is_some() {
        catalog.report(object).warn(
            format!("metadata.annotations.{OPAQUE_PORTS}"),
            format!(
                "{} not a port (1-65535) or range; expected a list like 3306,5432",
                bad.join(", ")
            ),
        );
    }
    ports
}

/// Opaque ports of a pod from its (else its namespace's) annotation.
pub(crate) fn pod_opaque_ports(
    catalog: &Catalog<'_>,
    pod: &k8s_openapi::api::core::v1::Pod,
) -> BTreeSet<u16> {
    let own = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(OPAQUE_PORTS))
        .map(String::as_str);
    let ns = namespace_of(&pod.metadata);
    own.or_else(|| catalog.namespace_annotation(&ns, OPAQUE_PORTS))
        .map(|v| names::opaque_ports(v).0)
        .unwrap_or_default()
}

fn port_protocol(
    catalog: &mut Catalog<'_>,
    object: &ObjectRef,
    i: usize,
    p: &k8s_openapi::api::core::v1::ServicePort,
    port: u16,
    opaque: &BTreeSet<u16>,
    found: &[Found],
) -> Protocol {
    if opaque.contains(&port) {
        return Protocol::Opaque;
    }
    // A pod that marks its target port opaque makes the Service port opaque too: the
    // bytes reaching that pod are not HTTP either way.
    let pod_opaque = found.iter().any(|f| {
        f.pod
            .as_ref()
            .and_then(|k| catalog.pods.get(k))
            .is_some_and(|pod| pod_opaque_ports(catalog, pod).contains(&f.endpoint.addr.port()))
    });
    if pod_opaque {
        return Protocol::Opaque;
    }
    if let Some(app) = p.app_protocol.as_deref() {
        let said = protocol::app_protocol(app);
        if let Some(proto) = said.protocol() {
            return proto;
        }
        catalog.report(object).warn(
            format!("spec.ports[{i}].appProtocol"),
            format!(
                "appProtocol {app:?} is not one meshctl knows (http, http2, grpc, \
                 kubernetes.io/h2c, tcp, tls, mysql, redis...); the protocol is detected"
            ),
        );
    }
    p.name
        .as_deref()
        .and_then(|n| protocol::port_name(n).protocol())
        .unwrap_or_default()
}
