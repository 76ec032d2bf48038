//! EndpointSlices derived from Pods, as Kubernetes' EndpointSlice controller writes them: for
//! a directory source, where nothing else does. A Service with a selector and no slice of its
//! own gets one slice per set of resolved ports, listing the selected pods that have a
//! `status.podIP` (ready when the pod is Running, or has no phase written).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::translate::Inputs;

const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn namespace(meta: &ObjectMeta) -> &str {
    meta.namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
}

/// Adds the derived slices to `inputs` (Services that have a slice already are left alone).
pub fn derive(inputs: &mut Inputs) {
    let has_slice: std::collections::BTreeSet<(String, String)> = inputs
        .endpoint_slices
        .iter()
        .filter_map(|s| {
            let name = s.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
            Some((namespace(&s.metadata).to_owned(), name.clone()))
        })
        .collect();
    let mut derived = Vec::new();
    for svc in &inputs.services {
        let (Some(name), Some(spec)) = (&svc.metadata.name, &svc.spec) else {
            continue;
        };
        let ns = namespace(&svc.metadata);
        let selector = spec.selector.clone().unwrap_or_default();
        if selector.is_empty() || has_slice.contains(&(ns.to_owned(), name.clone())) {
            continue;
        }
        // Pods whose named target ports resolve to different numbers go in different slices.
        let mut by_ports: BTreeMap<Vec<(String, i32)>, Vec<Endpoint>> = BTreeMap::new();
        for pod in &inputs.pods {
            let labels = pod.metadata.labels.clone().unwrap_or_default();
            if namespace(&pod.metadata) != ns
                || !selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            {
                continue;
            }
            let Some(ip) = pod.status.as_ref().and_then(|s| s.pod_ip.clone()) else {
                continue;
            };
            let ports = resolve_ports(svc, pod);
            by_ports
                .entry(ports)
                .or_default()
                .push(endpoint(pod, ip, ns));
        }
        for (i, (ports, endpoints)) in by_ports.into_iter().enumerate() {
            derived.push(slice(ns, name, i, ports, endpoints));
        }
    }
    inputs
        .endpoint_slices
        .extend(derived.into_iter().map(Arc::new));
}

/// (port name, number) of each Service port for this pod; a named target port the pod does
/// not declare leaves that port out, as Kubernetes does.
fn resolve_ports(svc: &Service, pod: &Pod) -> Vec<(String, i32)> {
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    let declared: Vec<_> = pod
        .spec
        .iter()
        .flat_map(|s| &s.containers)
        .flat_map(|c| c.ports.iter().flatten())
        .collect();
    ports
        .iter()
        .filter(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
        .filter_map(|p| {
            let number = match &p.target_port {
                None => p.port,
                Some(IntOrString::Int(n)) => *n,
                Some(IntOrString::String(named)) => {
                    declared
                        .iter()
                        .find(|c| c.name.as_deref() == Some(named.as_str()))?
                        .container_port
                }
            };
            Some((p.name.clone().unwrap_or_default(), number))
        })
        .collect()
}

fn endpoint(pod: &Pod, ip: String, ns: &str) -> Endpoint {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    let ready = matches!(phase, None | Some("Running"));
    Endpoint {
        addresses: vec![ip],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(ready),
            terminating: Some(false),
        }),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".to_owned()),
            name: pod.metadata.name.clone(),
            namespace: Some(ns.to_owned()),
            ..ObjectReference::default()
        }),
        ..Endpoint::default()
    }
}

fn slice(
    ns: &str,
    service: &str,
    index: usize,
    ports: Vec<(String, i32)>,
    mut endpoints: Vec<Endpoint>,
) -> EndpointSlice {
    endpoints.sort_by(|a, b| a.addresses.cmp(&b.addresses));
    let address_type = match endpoints.first().and_then(|e| e.addresses.first()) {
        Some(ip) if ip.contains(':') => "IPv6",
        _ => "IPv4",
    };
    EndpointSlice {
        metadata: ObjectMeta {
            name: Some(format!("{service}-derived-{index}")),
            namespace: Some(ns.to_owned()),
            labels: Some([(SERVICE_NAME_LABEL.to_owned(), service.to_owned())].into()),
            ..ObjectMeta::default()
        },
        address_type: address_type.to_owned(),
        endpoints,
        ports: Some(
            ports
                .into_iter()
                .map(|(name, port)| EndpointPort {
                    name: Some(name),
                    port: Some(port),
                    protocol: Some("TCP".to_owned()),
                    ..EndpointPort::default()
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(yaml: &str) -> Inputs {
        let input = crate::inject::Input {
            name: "test.yaml",
            bytes: yaml.as_bytes(),
        };
        let (inputs, findings) = Inputs::from_documents(&[input]);
        assert!(findings.is_empty(), "{findings:?}");
        inputs
    }

    const OBJECTS: &str = r"
apiVersion: v1
kind: Service
metadata: { name: web, namespace: demo }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: http }]
---
apiVersion: v1
kind: Pod
metadata: { name: web-v1, namespace: demo, labels: { app: web, version: v1 } }
spec:
  containers: [{ name: app, image: echo, ports: [{ name: http, containerPort: 8080 }] }]
status: { podIP: 127.0.10.2, phase: Running }
---
apiVersion: v1
kind: Pod
metadata: { name: web-v2, namespace: demo, labels: { app: web, version: v2 } }
spec:
  containers: [{ name: app, image: echo, ports: [{ name: http, containerPort: 9090 }] }]
status: { podIP: 127.0.10.3, phase: Pending }
---
apiVersion: v1
kind: Pod
metadata: { name: web-v3, namespace: demo, labels: { app: web } }
spec:
  containers: [{ name: app, image: echo }]
---
apiVersion: v1
kind: Pod
metadata: { name: other, namespace: other, labels: { app: web } }
spec:
  containers: [{ name: app, image: echo, ports: [{ name: http, containerPort: 8080 }] }]
status: { podIP: 127.0.10.9 }
";

    #[test]
    fn selected_pods_with_an_ip_become_endpoints_per_resolved_port() {
        let mut inputs = inputs(OBJECTS);
        derive(&mut inputs);
        let slices = &inputs.endpoint_slices;
        assert_eq!(slices.len(), 2, "{slices:#?}");
        let summary: Vec<_> = slices
            .iter()
            .map(|s| {
                let port = s.ports.as_ref().unwrap()[0].port.unwrap();
                let ep = &s.endpoints[0];
                let ready = ep.conditions.as_ref().unwrap().ready.unwrap();
                let pod = ep.target_ref.as_ref().unwrap().name.clone().unwrap();
                (ep.addresses[0].clone(), port, ready, pod)
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("127.0.10.2".to_owned(), 8080, true, "web-v1".to_owned()),
                ("127.0.10.3".to_owned(), 9090, false, "web-v2".to_owned()),
            ]
        );
        let label = &slices[0].metadata.labels.as_ref().unwrap()[SERVICE_NAME_LABEL];
        assert_eq!(label, "web");
    }

    #[test]
    fn a_service_with_its_own_slice_is_left_alone() {
        let own = r"
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, namespace: demo, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: 7000 }]
endpoints: [{ addresses: [10.0.0.1] }]
";
        let mut inputs = inputs(&format!("{OBJECTS}{own}"));
        derive(&mut inputs);
        assert_eq!(inputs.endpoint_slices.len(), 1);
        assert_eq!(
            inputs.endpoint_slices[0].metadata.name.as_deref(),
            Some("web-1")
        );
    }
}
