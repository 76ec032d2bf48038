//! ServiceProfile and EnvoyFilter field by field.

use super::{has_finding, mesh, service};
use crate::model::duration::Duration;
use crate::model::route::PathMatch;

const WEB: &str = r#"
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { clusterIP: 10.96.0.1, selector: { app: web }, ports: [{ name: http, port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: web-v2, namespace: shop }
spec: { clusterIP: 10.96.0.2, selector: { app: web, version: v2 }, ports: [{ name: http, port: 80 }] }
"#;

#[test]
fn service_profile_conditions_response_classes_budget_and_overrides() {
    let m = mesh(&format!(
        "{WEB}---\n{}",
        r#"apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: { name: web.shop.svc.cluster.local, namespace: shop }
spec:
  routes:
  - name: reads
    condition:
      all:
      - any: [{ method: GET }, { method: HEAD }]
      - pathRegex: /items/[^/]+
    isRetryable: true
    timeout: 2s
    responseClasses:
    - condition: { status: { min: 502, max: 504 } }
      isFailure: true
  - name: never
    condition: { all: [{ method: GET }, { method: POST }] }
  - name: negated
    condition: { not: { method: GET } }
  retryBudget: { retryRatio: 0.5, minRetriesPerSecond: 3, ttl: 30s }
  dstOverrides:
  - { authority: web.shop.svc.cluster.local:80, weight: 750m }
  - { authority: web-v2.shop.svc.cluster.local:80, weight: 250m }
"#
    ));
    let s = service(&m, "shop", "web.shop:80");
    let names: Vec<&str> = s.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["reads", "default"]);
    let reads = &s.routes[0];
    let methods: Vec<_> = reads
        .matches
        .iter()
        .map(|m| m.method.clone().unwrap())
        .collect();
    assert_eq!(methods, ["GET", "HEAD"]);
    assert!(
        reads
            .matches
            .iter()
            .all(|m| m.path == Some(PathMatch::Regex("/items/[^/]+".into())))
    );
    let weights: Vec<(&str, u32)> = reads
        .backends
        .iter()
        .map(|b| (b.name.as_str(), b.weight))
        .collect();
    assert_eq!(weights, [("web", 750), ("web-v2", 250)]);
    let p = reads.policy.as_ref().unwrap();
    assert_eq!(p.timeouts.request, Some(Duration::from_secs(2)));
    let r = p.retries.as_ref().unwrap();
    assert_eq!(r.retriable_status_codes, [502, 503, 504]);
    assert_eq!((r.budget.ratio, r.budget.min_per_second), (0.5, 3));
    assert!(has_finding(&m, "spec.retryBudget.ttl", "10s"));
    assert!(has_finding(
        &m,
        "spec.routes[0].responseClasses",
        "not enforced"
    ));
    assert!(has_finding(&m, "spec.routes[1].condition", "never hold"));
    assert!(has_finding(
        &m,
        "spec.routes[2].condition.not",
        "not supported"
    ));
}

#[test]
fn a_service_profile_yields_to_a_virtual_service_and_names_a_service() {
    let m = mesh(&format!(
        "{WEB}---\n{}",
        r#"apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: { name: web.shop.svc.cluster.local, namespace: shop }
spec: { routes: [{ name: a, condition: { method: GET } }] }
---
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: { name: nothing.shop.svc.cluster.local, namespace: shop }
spec: { routes: [] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: shop }
spec: { hosts: [web], http: [{ route: [{ destination: { host: web-v2 } }] }] }
"#
    ));
    let s = service(&m, "shop", "web.shop:80");
    assert_eq!(s.routes[0].backends[0].name, "web-v2");
    assert!(has_finding(
        &m,
        "spec.routes",
        "a ServiceProfile adds to a TrafficSplit only"
    ));
    assert!(has_finding(&m, "metadata.name", "does not exist"));
}

#[test]
fn envoy_filters_other_than_the_local_rate_limit_are_named_and_inline_config_is_read() {
    let m = mesh(&format!(
        "{WEB}---\n{}",
        r#"apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: { name: mixed, namespace: shop }
spec:
  workloadSelector: { labels: { app: web, version: v2 } }
  configPatches:
  - applyTo: HTTP_FILTER
    patch: { operation: INSERT_BEFORE, value: { name: envoy.filters.http.lua, typed_config: {} } }
  - applyTo: CLUSTER
    patch: { operation: MERGE, value: { connect_timeout: 1s } }
  - applyTo: HTTP_FILTER
    patch:
      operation: INSERT_BEFORE
      value:
        name: envoy.filters.http.local_ratelimit
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
          stat_prefix: rl
          token_bucket: { max_tokens: 20, tokens_per_fill: 10, fill_interval: 1s }
          filter_enabled: { default_value: { numerator: 100, denominator: HUNDRED } }
          filter_enforced: { default_value: { numerator: 50, denominator: HUNDRED } }
          descriptors: []
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: { name: disabled, namespace: shop }
spec:
  workloadSelector: { labels: { app: web } }
  configPatches:
  - applyTo: HTTP_FILTER
    patch:
      value:
        name: envoy.filters.http.local_ratelimit
        typed_config: { token_bucket: { max_tokens: 1, fill_interval: 1s } }
"#
    ));
    // Both Services select the app=web,version=v2 pods.
    let v2 = service(&m, "shop", "web-v2.shop:80");
    let rl = v2.policy.rate_limit.as_ref().unwrap();
    assert_eq!(
        (rl.requests_per_second, rl.burst, rl.per),
        (10, Some(20), None)
    );
    // The other filter enables nothing (Envoy's 0 % default): web keeps the first's limit.
    assert_eq!(
        service(&m, "shop", "web.shop:80")
            .policy
            .rate_limit
            .as_ref(),
        Some(rl)
    );
    assert!(has_finding(
        &m,
        "spec.configPatches[0].patch",
        "\"envoy.filters.http.lua\" is not supported"
    ));
    assert!(has_finding(
        &m,
        "spec.configPatches[1].patch",
        "a CLUSTER patch is not supported"
    ));
    assert!(has_finding(
        &m,
        "spec.configPatches[2].patch.value.typed_config.descriptors",
        "ignored"
    ));
    assert!(has_finding(
        &m,
        "spec.configPatches[2].patch.value.typed_config.filter_enforced",
        "50%"
    ));
    assert!(has_finding(
        &m,
        "spec.configPatches[0].patch.value.typed_config.filter_enabled",
        "limits no request"
    ));
}
