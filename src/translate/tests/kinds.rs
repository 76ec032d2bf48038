//! Config kinds field by field: what each becomes, and the findings for what it cannot.

use super::{has_finding, mesh, service};
use crate::model::policy::{GrpcCode, RetryOn};
use crate::model::route::PathRewrite;
use crate::translate::Severity;

const WEB: &str = r#"
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { clusterIP: 10.96.0.1, selector: { app: web }, ports: [{ name: http, port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: web-v2, namespace: shop }
spec: { clusterIP: 10.96.0.2, ports: [{ name: http, port: 80 }] }
"#;

#[test]
fn virtual_service_fields_and_their_findings() {
    let yaml = format!(
        "{WEB}---\n{}",
        r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: shop }
spec:
  hosts: [web, example.com]
  http:
  - match: [{ uri: { prefix: /api }, method: { exact: get } }, { uri: { regex: "(" } }]
    rewrite: { uri: /v2, authority: api.internal }
    corsPolicy: { allowOrigins: [{ exact: "*" }] }
    retries: { attempts: 12, retryOn: "retriable-4xx,503,unavailable,bogus", retryRemoteLocalities: true }
    fault: { abort: { grpcStatus: UNAVAILABLE, percentage: { value: 5 } } }
    mirror: { host: web-v2 }
    mirrorPercentage: { value: 25 }
    route: [{ destination: { host: web } }]
  - route: [{ destination: { host: nowhere } }]
"#
    );
    let m = mesh(&yaml);
    let s = service(&m, "shop", "web.shop:80");
    assert_eq!(s.routes.len(), 1, "the route to nowhere is dropped");
    let r = &s.routes[0];
    assert_eq!(r.matches.len(), 1, "the bad regex match is dropped");
    assert_eq!(r.matches[0].method.as_deref(), Some("GET"));
    let rw = r.rewrite.as_ref().unwrap();
    assert_eq!(rw.path, Some(PathRewrite::Prefix("/v2".into())));
    let retries = r.policy.as_ref().unwrap().retries.as_ref().unwrap();
    assert_eq!(retries.attempts, 10);
    assert_eq!(
        retries.retry_on,
        [
            RetryOn::RetriableStatusCodes,
            RetryOn::Grpc(GrpcCode::Unavailable)
        ]
    );
    assert_eq!(retries.retriable_status_codes, [409, 503]);
    let abort = r.fault.as_ref().unwrap().abort.as_ref().unwrap();
    assert_eq!((abort.status, abort.grpc_status), (503, Some(14)));
    let mirror = r.mirror.as_ref().unwrap();
    assert_eq!((mirror.backend.as_str(), mirror.percent), ("web-v2", 25.0));
    for (field, needle) in [
        ("spec.hosts[1]", "example.com"),
        ("spec.http[0].corsPolicy", "does not implement"),
        ("spec.http[0].retries.attempts", "10 are used"),
        ("spec.http[0].retries.retryOn", "bogus"),
        ("spec.http[0].retries.retryRemoteLocalities", "no effect"),
        ("spec.http[0].match[1].uri", "regular expression"),
        ("spec.http[1].route[0].destination", "nowhere"),
    ] {
        assert!(has_finding(&m, field, needle), "{field}: {:#?}", m.findings);
    }
    // The proxy enforces rewrites and gRPC aborts: nothing to report about them.
    assert!(
        !m.findings
            .iter()
            .any(|f| f.field.contains("rewrite") || f.field.contains("grpcStatus"))
    );
}

#[test]
fn precedence_virtual_service_over_traffic_split_is_reported() {
    let yaml = format!(
        "{WEB}---\n{}",
        r#"apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: { name: split, namespace: shop }
spec: { service: web, backends: [{ service: web, weight: 1 }, { service: web-v2, weight: 1 }] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: vs, namespace: shop }
spec: { hosts: [web], http: [{ route: [{ destination: { host: web-v2 } }] }] }
"#
    );
    let m = mesh(&yaml);
    let s = service(&m, "shop", "web.shop:80");
    assert_eq!(s.routes[0].backends[0].name, "web-v2");
    assert_eq!(s.routes[0].name, "http-0");
    let lost = m
        .findings
        .iter()
        .find(|f| f.object.kind == "TrafficSplit")
        .expect("the split is reported");
    assert_eq!(lost.severity, Severity::Warning);
    assert!(
        lost.message.contains("virtualservice/vs"),
        "{}",
        lost.message
    );
}

#[test]
fn wrong_types_are_errors_at_the_field_and_the_object_is_skipped() {
    let yaml = format!(
        "{WEB}---\n{}",
        r#"apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: web, namespace: shop }
spec:
  host: web
  trafficPolicy: { connectionPool: { tcp: { maxConnections: lots } } }
"#
    );
    let m = mesh(&yaml);
    assert!(has_finding(
        &m,
        "spec.trafficPolicy.connectionPool.tcp.maxConnections",
        "invalid type"
    ));
    assert_eq!(
        service(&m, "shop", "web.shop:80").policy,
        Default::default()
    );
}

#[test]
fn connection_pool_request_limits_and_idle_timeout_reach_the_model() {
    let yaml = format!(
        "{WEB}---\n{}",
        r#"apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: web, namespace: shop }
spec:
  host: web
  trafficPolicy:
    connectionPool: { http: { maxRequestsPerConnection: 10, idleTimeout: 90s } }
"#
    );
    let m = mesh(&yaml);
    let cb = &service(&m, "shop", "web.shop:80").policy.circuit_breaker;
    assert_eq!(cb.max_requests_per_connection, 10);
    assert_eq!(
        cb.idle_timeout.map(|d| d.get()),
        Some(std::time::Duration::from_secs(90))
    );
    assert!(m.findings.is_empty(), "{:?}", m.findings);
}
