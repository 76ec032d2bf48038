//! HTTPRoute and GRPCRoute (GAMMA) field by field, their precedence over VirtualService,
//! and the outcome their status is written from.

use super::{findings, has_finding, mesh, service};
use crate::model::duration::Duration;
use crate::model::policy::RetryOn;
use crate::model::route::{PathMatch, PathRewrite};
use crate::translate::Severity;
use crate::translate::route_status::parents;

const WEB: &str = r#"
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { clusterIP: 10.96.0.1, selector: { app: web }, ports: [{ name: http, port: 80 }, { name: grpc, port: 9090 }] }
---
apiVersion: v1
kind: Service
metadata: { name: web-v2, namespace: shop }
spec: { clusterIP: 10.96.0.2, ports: [{ name: http, port: 80 }, { name: grpc, port: 9090 }] }
---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: other }
spec: { clusterIP: 10.96.0.3, ports: [{ name: http, port: 8080 }] }
"#;

fn with(docs: &str) -> String {
    format!("{WEB}---\n{docs}")
}

#[test]
fn http_route_matches_weights_filters_timeouts_and_retry() {
    let m = mesh(&with(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: shop, generation: 4 }
spec:
  parentRefs: [{ group: "", kind: Service, name: web, port: 80 }]
  rules:
  - matches:
    - path: { type: PathPrefix, value: /api }
      headers: [{ name: X-Canary, value: "yes" }]
      queryParams: [{ type: RegularExpression, name: v, value: "[0-9]+" }]
      method: get
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: { set: [{ name: x-a, value: "1" }], add: [{ name: x-b, value: "2" }], remove: [x-c] }
    - type: ResponseHeaderModifier
      responseHeaderModifier: { set: [{ name: x-served-by, value: mesh }] }
    - type: URLRewrite
      urlRewrite: { hostname: api.internal, path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2 } }
    - type: RequestMirror
      requestMirror: { backendRef: { name: web-v2, port: 80 }, percent: 10 }
    backendRefs: [{ name: web, port: 80, weight: 90 }, { name: web-v2, port: 80, weight: 10 }]
    timeouts: { request: 10s, backendRequest: 2s }
    retry: { attempts: 3, codes: [503, 504], backoff: 100ms }
  - matches: [{ path: { type: Exact, value: /health } }]
    backendRefs: [{ name: web, port: 80 }]
  - matches: [{ path: { type: RegularExpression, value: "/item/[0-9]+" } }]
    backendRefs: [{ name: web, port: 80 }]
"#,
    ));
    let s = service(&m, "shop", "web.shop:80");
    let names: Vec<&str> = s.routes.iter().map(|r| r.name.as_str()).collect();
    // Exact first, then the regular expression, then the prefix.
    assert_eq!(
        names,
        ["shop.web.rule-1", "shop.web.rule-2", "shop.web.rule-0"]
    );
    let r = &s.routes[2];
    let rm = &r.matches[0];
    assert_eq!(rm.path, Some(PathMatch::Prefix("/api".into())));
    assert_eq!(rm.method.as_deref(), Some("GET"));
    assert_eq!(rm.headers[0].name, "x-canary");
    assert_eq!(rm.headers[0].exact.as_deref(), Some("yes"));
    assert_eq!(rm.query_params[0].regex.as_deref(), Some("[0-9]+"));
    let weights: Vec<(&str, u32)> = r
        .backends
        .iter()
        .map(|b| (b.name.as_str(), b.weight))
        .collect();
    assert_eq!(weights, [("web", 90), ("web-v2", 10)]);
    assert_eq!(r.request_headers.set[0].name, "x-a");
    assert_eq!(r.request_headers.add[0].value, "2");
    assert_eq!(r.request_headers.remove, ["x-c"]);
    assert_eq!(r.response_headers.set[0].value, "mesh");
    let rw = r.rewrite.as_ref().unwrap();
    assert_eq!(rw.path, Some(PathRewrite::Prefix("/v2".into())));
    assert_eq!(rw.authority.as_deref(), Some("api.internal"));
    let mirror = r.mirror.as_ref().unwrap();
    assert_eq!((mirror.backend.as_str(), mirror.percent), ("web-v2", 10.0));
    let p = r.policy.as_ref().unwrap();
    assert_eq!(p.timeouts.request, Some(Duration::from_secs(10)));
    assert_eq!(p.timeouts.per_try, Some(Duration::from_secs(2)));
    let retries = p.retries.as_ref().unwrap();
    assert_eq!(retries.attempts, 3);
    assert_eq!(retries.retriable_status_codes, [503, 504]);
    assert_eq!(retries.retry_on[0], RetryOn::RetriableStatusCodes);
    assert_eq!(retries.backoff.base, Duration::from_millis(100));
    assert!(has_finding(&m, "spec.rules[0].retry.backoff", "jittered"));
    assert_eq!(
        s.routes[0].matches[0].path,
        Some(PathMatch::Exact("/health".into()))
    );
    // Only port 80 is routed; port 9090 keeps its default.
    assert!(service(&m, "shop", "web.shop:9090").routes.is_empty());
    let outcome = &m.route_outcomes[&("HTTPRoute".into(), "shop".into(), "web".into())];
    assert_eq!(outcome.generation, Some(4));
    assert_eq!(outcome.parents.len(), 1);
    assert!(outcome.parents[0].1.is_ok());
    assert!(outcome.resolved_refs.is_ok());
}

#[test]
fn http_route_invalid_backends_answer_500_for_their_share_and_status_says_why() {
    let m = mesh(&with(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: shop }
spec:
  parentRefs:
  - { kind: Service, name: web }
  - { kind: Service, name: gone }
  - { kind: Service, name: web, port: 81 }
  - { name: my-gateway }
  rules:
  - backendRefs:
    - { name: web, port: 80, weight: 3 }
    - { name: nowhere, port: 80, weight: 1 }
  - matches: [{ path: { type: PathPrefix, value: /x } }]
    backendRefs: [{ name: api, namespace: other, port: 8080 }]
  - matches: [{ path: { type: PathPrefix, value: /y } }]
    filters: [{ type: RequestRedirect, requestRedirect: { hostname: example.com } }]
    backendRefs: [{ name: web, port: 80 }]
"#,
    ));
    let s = service(&m, "shop", "web.shop:80");
    let catch_all = s
        .routes
        .iter()
        .find(|r| r.name == "shop.web.rule-0")
        .unwrap();
    let abort = catch_all.fault.as_ref().unwrap().abort.as_ref().unwrap();
    assert_eq!((abort.status, abort.percent), (500, 25.0));
    // The cross-namespace backend has no ReferenceGrant: every request of the rule gets 500.
    let x = s
        .routes
        .iter()
        .find(|r| r.name == "shop.web.rule-1")
        .unwrap();
    assert_eq!(
        x.fault.as_ref().unwrap().abort.as_ref().unwrap().percent,
        100.0
    );
    let y = s
        .routes
        .iter()
        .find(|r| r.name == "shop.web.rule-2")
        .unwrap();
    assert_eq!(
        y.fault.as_ref().unwrap().abort.as_ref().unwrap().percent,
        100.0
    );
    assert!(has_finding(
        &m,
        "spec.rules[2].filters[0].type",
        "RequestRedirect"
    ));
    let outcome = &m.route_outcomes[&("HTTPRoute".into(), "shop".into(), "web".into())];
    // The gateway parent is a gateway controller's: no entry.
    let reasons: Vec<Option<&str>> = outcome
        .parents
        .iter()
        .map(|(_, v)| v.as_ref().err().map(|v| v.reason))
        .collect();
    assert_eq!(
        reasons,
        [None, Some("NoMatchingParent"), Some("NoMatchingParent")]
    );
    let refs = outcome.resolved_refs.as_ref().unwrap_err();
    assert_eq!(refs.reason, "BackendNotFound");
    assert!(refs.message.contains("ReferenceGrant"), "{}", refs.message);
    let status = parents(outcome, &[], "2026-01-01T00:00:00Z");
    assert_eq!(status.len(), 3);
    assert_eq!(status[1].conditions[0].reason, "NoMatchingParent");
    assert!(has_finding(&m, "spec.parentRefs[1]", "gone does not exist"));
}

#[test]
fn a_reference_grant_permits_a_cross_namespace_backend() {
    let m = mesh(&with(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: shop }
spec:
  parentRefs: [{ kind: Service, name: web, port: 80 }]
  rules: [{ backendRefs: [{ name: api, namespace: other, port: 8080 }] }]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: from-shop, namespace: other }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: shop }]
  to: [{ group: "", kind: Service }]
"#,
    ));
    let s = service(&m, "shop", "web.shop:80");
    assert_eq!(s.routes[0].backends[0].name, "api.other");
    assert!(s.routes[0].fault.is_none());
    assert!(m.findings.is_empty(), "{:#?}", findings(&m));
}

#[test]
fn http_route_wins_over_virtual_service_and_grpc_route_over_http_route() {
    let m = mesh(&with(
        r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: shop }
spec:
  hosts: [web]
  http: [{ route: [{ destination: { host: web-v2 } }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: shop }
spec:
  parentRefs: [{ kind: Service, name: web }]
  rules: [{ backendRefs: [{ name: web, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: web-grpc, namespace: shop }
spec:
  parentRefs: [{ kind: Service, name: web, port: 9090 }]
  rules:
  - matches:
    - method: { service: shop.Cart, method: Add }
      headers: [{ name: x-user, value: alice }]
    - method: { service: shop.Cart }
    - method: { type: RegularExpression, method: "Get.*" }
    filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: x-grpc, value: "1" }] } }]
    backendRefs: [{ name: web-v2, port: 9090 }]
"#,
    ));
    let http = service(&m, "shop", "web.shop:80");
    assert_eq!(http.routes[0].backends[0].name, "web");
    let f: Vec<_> = m
        .findings
        .iter()
        .filter(|f| f.object.kind == "VirtualService")
        .collect();
    assert_eq!(f.len(), 2, "{f:#?}");
    assert!(f.iter().all(|f| f.severity == Severity::Warning
        && f.message.contains("HTTPRoute/GRPCRoute > VirtualService")));
    let grpc = service(&m, "shop", "web.shop:9090");
    let paths: Vec<_> = grpc
        .routes
        .iter()
        .map(|r| r.matches[0].path.clone().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            PathMatch::Exact("/shop.Cart/Add".into()),
            PathMatch::Prefix("/shop.Cart".into()),
            PathMatch::Regex("/(?:[^/]+)/(?:Get.*)".into()),
        ]
    );
    assert_eq!(grpc.routes[0].matches[0].headers[0].name, "x-user");
    assert_eq!(grpc.routes[0].backends[0].name, "web-v2");
    assert_eq!(grpc.routes[0].response_headers.add[0].name, "x-grpc");
    // The HTTPRoute names every port; on 9090 the GRPCRoute wins (GEP-1426).
    assert!(has_finding(&m, "spec.parentRefs", "GEP-1426"));
    let outcome = &m.route_outcomes[&("HTTPRoute".into(), "shop".into(), "web".into())];
    assert!(
        outcome.parents[0].1.is_ok(),
        "port 80 is still the HTTPRoute's"
    );
}

#[test]
fn a_consumer_route_and_an_unknown_field_are_reported() {
    let m = mesh(&with(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: other }
spec:
  parentRefs: [{ kind: Service, name: web, namespace: shop }]
  hostnames: [web.example]
  rules: [{ backendRefs: [{ name: web, namespace: shop, port: 80 }], sessionPersistence: { type: Cookie } }]
"#,
    ));
    assert!(service(&m, "shop", "web.shop:80").routes.is_empty());
    let outcome = &m.route_outcomes[&("HTTPRoute".into(), "other".into(), "web".into())];
    assert_eq!(
        outcome.parents[0].1.as_ref().unwrap_err().reason,
        "UnsupportedValue"
    );
    assert!(has_finding(
        &m,
        "spec.rules[0].sessionPersistence",
        "does not implement"
    ));
    assert!(has_finding(&m, "spec.hostnames", "ignored"));
}

#[test]
fn an_unreadable_route_is_not_accepted_by_the_services_it_names() {
    let m = mesh(&with(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: shop, generation: 2 }
spec:
  parentRefs: [{ group: "", kind: Service, name: web, port: 80 }, { name: edge }]
  rules: many
"#,
    ));
    let outcome = &m.route_outcomes[&("HTTPRoute".into(), "shop".into(), "web".into())];
    assert_eq!(outcome.generation, Some(2));
    let [(parent, Err(verdict))] = outcome.parents.as_slice() else {
        panic!("one Service parent, not accepted: {outcome:?}");
    };
    assert_eq!(parent.name.as_deref(), Some("web"));
    assert_eq!(verdict.reason, "UnsupportedValue");
    assert!(verdict.message.contains("spec"), "{}", verdict.message);
    let status = parents(outcome, &[], "2026-01-01T00:00:00Z");
    assert_eq!(status[0].conditions[0].status, "False");
}
