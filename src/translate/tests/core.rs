//! Services, EndpointSlices and Pods into model services.

use super::{findings, has_finding, inputs, mesh, service};
use crate::model::service::Protocol;
use crate::translate::{Options, Severity, translate};

/// A two-port dual-stack Service `web` in `shop`, its slices (one named target port), a
/// meshed pod with a service account, an unmeshed pod, a not-ready and a terminating one.
pub(crate) const WEB: &str = r#"
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec:
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10, "fd00::10"]
  selector: { app: web }
  ports:
  - { name: http, port: 80, targetPort: http-web }
  - { name: admin, port: 9000, targetPort: 9000, appProtocol: kubernetes.io/h2c }
  - { name: dns, port: 53, protocol: UDP }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  namespace: shop
  labels: { kubernetes.io/service-name: web }
addressType: IPv4
ports:
- { name: http, port: 8080 }
- { name: admin, port: 9000 }
endpoints:
- addresses: [10.0.0.2]
  conditions: { ready: true }
  targetRef: { kind: Pod, name: web-2, namespace: shop }
- addresses: [10.0.0.1]
  targetRef: { kind: Pod, name: web-1 }
- addresses: [10.0.0.3]
  conditions: { ready: false }
  targetRef: { kind: Pod, name: web-3 }
- addresses: [10.0.0.4]
  conditions: { ready: false, serving: true, terminating: true }
---
apiVersion: v1
kind: Pod
metadata: { name: web-1, namespace: shop, labels: { app: web, version: v1 } }
spec:
  serviceAccountName: web
  initContainers:
  - { name: meshctl-proxy, image: x, restartPolicy: Always }
  containers:
  - { name: app, image: x }
---
apiVersion: v1
kind: Pod
metadata: { name: web-2, namespace: shop, labels: { app: web, version: v2 } }
spec:
  containers:
  - { name: app, image: x }
"#;

#[test]
fn one_model_service_per_port_with_its_names_and_addresses() {
    let m = mesh(WEB);
    let names: Vec<String> = m.view("shop").keys().cloned().collect();
    assert_eq!(names, ["web.shop:80", "web.shop:9000"]);
    let http = service(&m, "other", "web.shop:80");
    assert_eq!(
        http.authorities,
        [
            "web.shop",
            "web.shop:80",
            "web.shop.svc",
            "web.shop.svc:80",
            "web.shop.svc.cluster.local",
            "web.shop.svc.cluster.local:80"
        ]
    );
    let addrs: Vec<String> = http.addresses.iter().map(ToString::to_string).collect();
    assert_eq!(addrs, ["10.96.0.10:80", "[fd00::10]:80"]);
    // Portless names only on port 80; short names only in the Service's namespace.
    let admin = service(&m, "other", "web.shop:9000");
    assert!(admin.authorities.iter().all(|a| a.ends_with(":9000")));
    let local = service(&m, "shop", "web.shop:80");
    assert_eq!(
        local.authorities[..2],
        ["web".to_owned(), "web:80".to_owned()]
    );
    assert!(
        service(&m, "shop", "web.shop:9000")
            .authorities
            .contains(&"web:9000".to_owned())
    );
    assert!(
        !service(&m, "shop", "web.shop:9000")
            .authorities
            .contains(&"web".to_owned())
    );
}

#[test]
fn endpoints_are_ready_ones_with_pod_labels_and_identity_only_when_meshed() {
    let m = mesh(WEB);
    let http = service(&m, "shop", "web.shop:80");
    assert_eq!(http.backends.len(), 1);
    assert_eq!(http.backends[0].name, "web");
    let eps = &http.backends[0].endpoints;
    let addrs: Vec<String> = eps.iter().map(|e| e.addr.to_string()).collect();
    // The named target port came from the slice's `http` entry; not-ready ones are out.
    assert_eq!(addrs, ["10.0.0.1:8080", "10.0.0.2:8080"]);
    assert_eq!(eps[0].labels["version"], "v1");
    assert_eq!(
        eps[0].identity.as_ref().map(ToString::to_string).as_deref(),
        Some("spiffe://cluster.local/ns/shop/sa/web")
    );
    assert_eq!(eps[1].labels["version"], "v2");
    assert_eq!(eps[1].identity, None, "web-2 has no proxy: plaintext");
    let admin = service(&m, "shop", "web.shop:9000");
    assert_eq!(
        admin.backends[0].endpoints[1].addr.to_string(),
        "10.0.0.2:9000"
    );
}

#[test]
fn terminating_serving_endpoints_are_used_when_none_is_ready() {
    let yaml = WEB
        .replace(
            "conditions: { ready: true }",
            "conditions: { ready: false }",
        )
        .replace(
            "targetRef: { kind: Pod, name: web-1 }",
            "conditions: { ready: false }",
        );
    let m = mesh(&yaml);
    let eps = &service(&m, "shop", "web.shop:80").backends[0].endpoints;
    let addrs: Vec<String> = eps.iter().map(|e| e.addr.to_string()).collect();
    assert_eq!(addrs, ["10.0.0.4:8080"]);
}

#[test]
fn protocols_from_app_protocol_port_names_and_annotations() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: { name: db, namespace: data, annotations: { meshctl.io/opaque-ports: "7000" } }
spec:
  clusterIP: 10.96.1.1
  ports:
  - { name: http-api, port: 80 }
  - { name: tcp-x, port: 81 }
  - { name: grpc, port: 82 }
  - { name: xx, port: 83, appProtocol: mysql }
  - { name: yy, port: 84, appProtocol: http }
  - { name: zz, port: 85, appProtocol: example.com/custom }
  - { name: cache, port: 7000, appProtocol: http }
  - { name: pg, port: 5432 }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: db-1, namespace: data, labels: { kubernetes.io/service-name: db } }
addressType: IPv4
ports: [{ name: pg, port: 5432 }]
endpoints: [{ addresses: [10.0.1.1], targetRef: { kind: Pod, name: db-0 } }]
---
apiVersion: v1
kind: Pod
metadata: { name: db-0, namespace: data, annotations: { meshctl.io/opaque-ports: "5432" } }
spec: { containers: [{ name: db, image: x }] }
"#;
    let m = mesh(yaml);
    let proto = |port: u16| service(&m, "data", &format!("db.data:{port}")).protocol;
    assert_eq!(proto(80), Protocol::Detect);
    assert_eq!(proto(81), Protocol::Opaque);
    assert_eq!(proto(82), Protocol::Detect);
    assert_eq!(proto(83), Protocol::Opaque);
    assert_eq!(proto(84), Protocol::Detect);
    assert_eq!(proto(85), Protocol::Detect);
    assert_eq!(
        proto(7000),
        Protocol::Opaque,
        "the Service's annotation wins"
    );
    assert_eq!(
        proto(5432),
        Protocol::Opaque,
        "the pod marks its port opaque"
    );
    assert!(has_finding(
        &m,
        "spec.ports[5].appProtocol",
        "example.com/custom"
    ));
    let pod = &inputs(yaml).pods[0];
    assert_eq!(m.inbound(pod).opaque_ports, [5432]);
}

#[test]
fn inbound_opaque_ports_come_from_annotations_and_opaque_services() {
    let yaml = r#"
apiVersion: v1
kind: Namespace
metadata: { name: data, annotations: { meshctl.io/opaque-ports: "6379" } }
---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: data }
spec:
  clusterIP: 10.96.1.1
  selector: { app: db }
  ports: [{ name: tcp-db, port: 3306, targetPort: mysql }]
---
apiVersion: v1
kind: Pod
metadata: { name: db-0, namespace: data, labels: { app: db } }
spec: { containers: [{ name: db, image: x, ports: [{ name: mysql, containerPort: 13306 }] }] }
"#;
    let m = mesh(yaml);
    let pod = &inputs(yaml).pods[0];
    assert_eq!(m.inbound(pod).opaque_ports, [6379, 13306]);
}

#[test]
fn same_name_in_two_namespaces_never_clashes() {
    let two = r#"
apiVersion: v1
kind: Service
metadata: { name: web, namespace: a }
spec: { clusterIP: 10.96.0.1, ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: b }
spec: { clusterIP: 10.96.0.2, ports: [{ port: 80 }] }
"#;
    let m = mesh(two);
    let a = service(&m, "a", "web.a:80");
    assert!(a.authorities.contains(&"web".to_owned()));
    assert!(
        !service(&m, "a", "web.b:80")
            .authorities
            .contains(&"web".to_owned())
    );
    assert!(
        service(&m, "b", "web.b:80")
            .authorities
            .contains(&"web".to_owned())
    );
}

#[test]
fn headless_services_get_a_service_per_pod() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: { name: db, namespace: data }
spec: { clusterIP: None, ports: [{ name: tcp, port: 5432 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: db-1, namespace: data, labels: { kubernetes.io/service-name: db } }
addressType: IPv4
ports: [{ name: tcp, port: 5432 }]
endpoints:
- { addresses: [10.0.1.1], hostname: db-0 }
- { addresses: [10.0.1.2] }
"#;
    let m = mesh(yaml);
    let all = service(&m, "x", "db.data:5432");
    assert!(all.addresses.is_empty());
    assert_eq!(all.backends[0].endpoints.len(), 2);
    let one = service(&m, "x", "db-0.db.data:5432");
    assert!(
        one.authorities
            .contains(&"db-0.db.data.svc.cluster.local:5432".to_owned())
    );
    assert!(
        one.authorities
            .contains(&"db-0.db.data.svc.cluster.local".to_owned())
    );
    assert_eq!(one.addresses[0].to_string(), "10.0.1.1:5432");
    assert_eq!(one.backends[0].endpoints.len(), 1);
    let by_ip = service(&m, "x", "10.0.1.2.db.data:5432");
    assert!(by_ip.authorities.is_empty());
    assert_eq!(by_ip.addresses[0].to_string(), "10.0.1.2:5432");
}

#[test]
fn bad_values_are_findings_not_panics() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec:
  clusterIPs: [10.96.0.300]
  ports: [{ port: 0 }, { port: 80 }, { port: 80 }]
---
apiVersion: v1
kind: Service
metadata: { name: Bad.Name, namespace: shop }
spec: { ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: ext, namespace: shop }
spec: { type: ExternalName, externalName: example.com }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, namespace: shop, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ port: 8080 }]
endpoints: [{ addresses: [not-an-ip] }, { addresses: [] }, { addresses: [10.0.0.1] }]
"#;
    let m = mesh(yaml);
    let f = findings(&m);
    let fields: Vec<(&str, &str, &str)> = f
        .iter()
        .map(|(s, o, field, _)| (s.as_str(), o.as_str(), field.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("error", "EndpointSlice/web-1", "endpoints[0].addresses[0]"),
            ("error", "Service/Bad.Name", "metadata.name"),
            ("warning", "Service/ext", "spec.type"),
            ("error", "Service/web", "spec.clusterIPs[0]"),
            ("error", "Service/web", "spec.ports[0].port"),
            ("error", "Service/web", "spec.ports[2].port"),
        ]
    );
    let web = service(&m, "shop", "web.shop:80");
    assert!(web.addresses.is_empty());
    assert_eq!(
        web.backends[0].endpoints[0].addr.to_string(),
        "10.0.0.1:8080"
    );
}

#[test]
fn output_does_not_depend_on_input_order() {
    let mut a = inputs(WEB);
    let m1 = translate(&a, &Options::default());
    a.services.reverse();
    a.endpoint_slices.reverse();
    a.pods.reverse();
    let m2 = translate(&a, &Options::default());
    assert_eq!(m1.view("shop"), m2.view("shop"));
    assert_eq!(m1.findings, m2.findings);
    assert!(m1.findings.iter().all(|f| f.severity != Severity::Error));
}

#[test]
fn cluster_domain_comes_from_the_options() {
    let options = Options {
        cluster_domain: "corp.example".to_owned(),
        ..Options::default()
    };
    let m = translate(&inputs(WEB), &options);
    let http = &m.view("x")["web.shop:80"];
    assert!(
        http.authorities
            .contains(&"web.shop.svc.corp.example:80".to_owned())
    );
}
