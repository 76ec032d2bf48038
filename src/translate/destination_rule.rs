//! Istio DestinationRule (networking.istio.io v1, v1beta1, v1alpha3): subsets by pod labels,
//! and the traffic policy (load balancer, connection pool, outlier detection, TLS mode) of
//! the host, per port and per subset. Subsets become backends when a route sends to them.

use std::collections::BTreeMap;

use kube::api::DynamicObject;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::catalog::{Catalog, namespace_of};
use super::finding::{ObjectRef, Report};
use super::service::Table;
use super::spec::{self, go_duration};
use crate::model::policy::{
    Algorithm, HashOn, LoadBalancer, OutlierDetection, Policy, StickyCookie,
};

/// The DestinationRule kind.
pub const KIND: &str = "DestinationRule";

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub host: Option<String>,
    pub traffic_policy: Option<TrafficPolicy>,
    pub subsets: Option<Vec<SubsetSpec>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubsetSpec {
    pub name: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub traffic_policy: Option<TrafficPolicy>,
}

/// The sections a subset or port overrides as wholes.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficPolicy {
    pub load_balancer: Option<LoadBalancerSpec>,
    pub connection_pool: Option<ConnectionPool>,
    pub outlier_detection: Option<Outlier>,
    pub tls: Option<Tls>,
    pub port_level_settings: Option<Vec<PortSettings>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortSettings {
    pub port: Option<PortSelector>,
    pub load_balancer: Option<LoadBalancerSpec>,
    pub connection_pool: Option<ConnectionPool>,
    pub outlier_detection: Option<Outlier>,
    pub tls: Option<Tls>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortSelector {
    pub number: Option<u32>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerSpec {
    pub simple: Option<String>,
    pub consistent_hash: Option<ConsistentHash>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsistentHash {
    pub http_header_name: Option<String>,
    pub http_cookie: Option<HttpCookie>,
    pub use_source_ip: Option<bool>,
    pub http_query_parameter_name: Option<String>,
    pub minimum_ring_size: Option<u64>,
    pub ring_hash: Option<Value>,
    pub maglev: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpCookie {
    pub name: Option<String>,
    pub path: Option<String>,
    pub ttl: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionPool {
    pub tcp: Option<TcpPool>,
    pub http: Option<HttpPool>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpPool {
    pub max_connections: Option<u32>,
    pub connect_timeout: Option<String>,
    pub idle_timeout: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpPool {
    pub http1_max_pending_requests: Option<u32>,
    pub http2_max_requests: Option<u32>,
    pub max_requests_per_connection: Option<u32>,
    pub max_retries: Option<u32>,
    pub idle_timeout: Option<String>,
    pub h2_upgrade_policy: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outlier {
    #[serde(rename = "consecutive5xxErrors")]
    pub consecutive_5xx_errors: Option<u32>,
    pub consecutive_gateway_errors: Option<u32>,
    pub consecutive_errors: Option<u32>,
    pub interval: Option<String>,
    pub base_ejection_time: Option<String>,
    pub max_ejection_percent: Option<i32>,
    pub min_health_percent: Option<i32>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tls {
    pub mode: Option<String>,
}

/// One subset of a Service: the pod labels it selects and its merged traffic policy.
#[derive(Clone, Debug, Default)]
pub struct Subset {
    pub labels: BTreeMap<String, String>,
    pub policy: TrafficPolicy,
    /// The DestinationRule, for findings.
    pub object: ObjectRef,
    /// The field path of the subset (`spec.subsets[1]`).
    pub field: String,
}

/// The subsets of one Service by name.
pub type Subsets = BTreeMap<String, Subset>;

/// Applies every DestinationRule: policies to the port services of its host, subsets to
/// the catalog for the route APIs.
pub(crate) fn apply_all(catalog: &mut Catalog<'_>, table: &mut Table) {
    let mut rules: Vec<&DynamicObject> = catalog
        .inputs
        .objects
        .iter()
        .map(|o| &**o)
        .filter(|o| {
            o.types
                .as_ref()
                .is_some_and(|t| t.kind == KIND && is_istio(&t.api_version))
        })
        .collect();
    rules.sort_by_key(|o| (namespace_of(&o.metadata), o.metadata.name.clone()));
    let mut applied: BTreeMap<(String, String), ObjectRef> = BTreeMap::new();
    for rule in rules {
        let ns = namespace_of(&rule.metadata);
        let name = rule.metadata.name.clone().unwrap_or_default();
        let object = catalog.object(KIND, &ns, &name);
        let spec_value = rule.data.get("spec").cloned().unwrap_or(Value::Null);
        let parsed = {
            let mut report = catalog.report(&object);
            unknown_top_level(&rule.data, &mut report);
            spec::parse::<Spec>(&spec_value, "spec", &mut report)
        };
        let Some(spec) = parsed else { continue };
        let Some(host) = spec.host.clone() else {
            catalog.report(&object).error(
                "spec.host",
                "a DestinationRule needs a host; it is not applied",
            );
            continue;
        };
        let target = match catalog.resolve_host(&host, &ns) {
            Ok(t) => t,
            Err(e) => {
                catalog.report(&object).error("spec.host", e);
                continue;
            }
        };
        if let Some(first) = applied.get(&target) {
            let message = format!(
                "{} already applies to this host (the first by namespace and name wins); \
                 merge the two rules",
                first
            );
            catalog.report(&object).warn("spec.host", message);
            continue;
        }
        applied.insert(target.clone(), object.clone());
        apply_one(catalog, table, &object, &spec, &target);
    }
}

/// Whether an apiVersion is one of Istio's networking versions this reads.
pub(crate) fn is_istio(api_version: &str) -> bool {
    matches!(
        api_version,
        "networking.istio.io/v1" | "networking.istio.io/v1beta1" | "networking.istio.io/v1alpha3"
    )
}

/// Top-level keys other than the ones every object has and `spec` (e.g. a misplaced field).
pub(crate) fn unknown_top_level(data: &Value, report: &mut Report<'_>) {
    if let Value::Object(map) = data {
        for key in map.keys() {
            if key != "spec" && key != "status" {
                report.warn(
                    key.clone(),
                    "not a field of this kind; it is ignored (fields go under spec)",
                );
            }
        }
    }
}

fn apply_one(
    catalog: &mut Catalog<'_>,
    table: &mut Table,
    object: &ObjectRef,
    spec: &Spec,
    (ns, svc): &(String, String),
) {
    let top = spec.traffic_policy.clone().unwrap_or_default();
    let ports: Vec<String> = table
        .iter()
        .filter(|(_, p)| p.namespace == *ns && p.service == *svc && !p.per_pod)
        .map(|(k, _)| k.clone())
        .collect();
    for key in &ports {
        let Some(port) = table.get(key).map(|p| p.port) else {
            continue;
        };
        let mut report = catalog.report(object);
        let (policy, plaintext) = policy_for(
            &top,
            port,
            &Policy::default(),
            "spec.trafficPolicy",
            &mut report,
        );
        if let Some(p) = table.get_mut(key) {
            p.model.policy = policy;
            if plaintext {
                for b in &mut p.model.backends {
                    for e in &mut b.endpoints {
                        e.identity = None;
                    }
                }
                for f in &mut p.endpoints {
                    f.endpoint.identity = None;
                }
            }
        }
    }
    let mut subsets = Subsets::new();
    for (i, s) in spec.subsets.iter().flatten().enumerate() {
        let field = format!("spec.subsets[{i}]");
        let Some(name) = s.name.clone().filter(|n| !n.is_empty()) else {
            catalog.report(object).error(
                format!("{field}.name"),
                "a subset needs a name; it is skipped",
            );
            continue;
        };
        if subsets.contains_key(&name) {
            catalog.report(object).error(
                format!("{field}.name"),
                format!("subset {name:?} is defined twice; the first is used"),
            );
            continue;
        }
        let labels = s.labels.clone().unwrap_or_default();
        let selects_any = catalog.pods.values().any(|pod| {
            namespace_of(&pod.metadata) == *ns
                && pod
                    .metadata
                    .labels
                    .as_ref()
                    .is_some_and(|l| labels.iter().all(|(k, v)| l.get(k) == Some(v)))
        });
        if !selects_any && !catalog.pods.is_empty() {
            catalog.report(object).warn(
                format!("{field}.labels"),
                format!("subset {name:?} selects no pod in namespace {ns}; its backend is empty"),
            );
        }
        let policy = merge(&top, s.traffic_policy.as_ref());
        // Check the subset's own policy once, so its findings carry its path.
        if let Some(own) = &s.traffic_policy {
            let mut report = catalog.report(object);
            for port in ports
                .iter()
                .filter_map(|k| table.get(k).map(|p| p.port))
                .take(1)
            {
                let _ = policy_for(
                    own,
                    port,
                    &Policy::default(),
                    &format!("{field}.trafficPolicy"),
                    &mut report,
                );
            }
        }
        subsets.insert(
            name,
            Subset {
                labels,
                policy,
                object: object.clone(),
                field,
            },
        );
    }
    catalog.subsets.insert((ns.clone(), svc.clone()), subsets);
}

/// `top` with the sections `sub` sets replacing its own.
fn merge(top: &TrafficPolicy, sub: Option<&TrafficPolicy>) -> TrafficPolicy {
    let Some(sub) = sub else {
        return top.clone();
    };
    TrafficPolicy {
        load_balancer: sub
            .load_balancer
            .clone()
            .or_else(|| top.load_balancer.clone()),
        connection_pool: sub
            .connection_pool
            .clone()
            .or_else(|| top.connection_pool.clone()),
        outlier_detection: sub
            .outlier_detection
            .clone()
            .or_else(|| top.outlier_detection.clone()),
        tls: sub.tls.clone().or_else(|| top.tls.clone()),
        port_level_settings: sub
            .port_level_settings
            .clone()
            .or_else(|| top.port_level_settings.clone()),
    }
}

/// The model policy of port `port` under `tp` (its port-level settings override), on top of
/// `base`; and whether TLS is disabled (endpoints are then reached in plaintext).
/// Findings go to `report` with paths under `at`.
pub(crate) fn policy_for(
    tp: &TrafficPolicy,
    port: u16,
    base: &Policy,
    at: &str,
    report: &mut Report<'_>,
) -> (Policy, bool) {
    let mut policy = base.clone();
    let mut plaintext = false;
    let level = tp
        .port_level_settings
        .iter()
        .flatten()
        .enumerate()
        .find(|(_, p)| p.port.as_ref().and_then(|s| s.number) == Some(u32::from(port)));
    let (lb, pool, outlier, tls) = (
        &tp.load_balancer,
        &tp.connection_pool,
        &tp.outlier_detection,
        &tp.tls,
    );
    let mut sections = vec![(
        at.to_owned(),
        lb.clone(),
        pool.clone(),
        outlier.clone(),
        tls.clone(),
    )];
    if let Some((i, p)) = level {
        sections.push((
            format!("{at}.portLevelSettings[{i}]"),
            p.load_balancer.clone(),
            p.connection_pool.clone(),
            p.outlier_detection.clone(),
            p.tls.clone(),
        ));
    }
    for (at, lb, pool, outlier, tls) in sections {
        if let Some(lb) = &lb {
            load_balancer(&mut policy, lb, &format!("{at}.loadBalancer"), report);
        }
        if let Some(pool) = &pool {
            connection_pool(&mut policy, pool, &format!("{at}.connectionPool"), report);
        }
        if let Some(o) = &outlier {
            policy.outlier_detection = Some(outlier_detection(
                o,
                &format!("{at}.outlierDetection"),
                report,
            ));
        }
        if let Some(mode) = tls.as_ref().and_then(|t| t.mode.as_deref()) {
            match mode {
                "ISTIO_MUTUAL" => plaintext = false,
                "DISABLE" => plaintext = true,
                other => report.warn(
                    format!("{at}.tls.mode"),
                    format!(
                        "mode {other} (TLS the app itself originates) is not supported: meshed \
                         endpoints get mesh mTLS, others plaintext; use ISTIO_MUTUAL or DISABLE"
                    ),
                ),
            }
        }
    }
    (policy, plaintext)
}

fn load_balancer(policy: &mut Policy, lb: &LoadBalancerSpec, at: &str, report: &mut Report<'_>) {
    if let Some(simple) = &lb.simple {
        let algorithm = match simple.as_str() {
            "ROUND_ROBIN" => Some(Algorithm::RoundRobin),
            "LEAST_REQUEST" | "LEAST_CONN" => Some(Algorithm::LeastRequest),
            "RANDOM" => Some(Algorithm::Random),
            "UNSPECIFIED" => Some(Algorithm::P2cEwma),
            "PASSTHROUGH" => {
                report.warn(
                    format!("{at}.simple"),
                    "PASSTHROUGH (send to the original destination) is not supported; the \
                     default balancer (P2C with peak-EWMA) is used",
                );
                None
            }
            other => {
                report.error(
                    format!("{at}.simple"),
                    format!(
                        "{other:?} is not a load balancer; allowed: ROUND_ROBIN, LEAST_REQUEST, \
                         RANDOM, PASSTHROUGH"
                    ),
                );
                None
            }
        };
        if let Some(a) = algorithm {
            policy.load_balancer = LoadBalancer {
                algorithm: a,
                hash_on: None,
            };
            policy.sticky_cookie = None;
        }
    }
    let Some(ch) = &lb.consistent_hash else {
        return;
    };
    let at = format!("{at}.consistentHash");
    for (field, given) in [
        ("minimumRingSize", ch.minimum_ring_size.is_some()),
        ("ringHash", ch.ring_hash.is_some()),
        ("maglev", ch.maglev.is_some()),
    ] {
        if given {
            report.warn(
                format!("{at}.{field}"),
                "the hash table is meshctl's own; this tuning is ignored",
            );
        }
    }
    let hash = |on: HashOn| LoadBalancer {
        algorithm: Algorithm::ConsistentHash,
        hash_on: Some(on),
    };
    if let Some(header) = &ch.http_header_name {
        if http::HeaderName::from_bytes(header.as_bytes()).is_ok() {
            policy.load_balancer = hash(HashOn::Header(header.to_ascii_lowercase()));
            policy.sticky_cookie = None;
        } else {
            report.error(
                format!("{at}.httpHeaderName"),
                format!("{header:?} is not a header name"),
            );
        }
    } else if let Some(cookie) = &ch.http_cookie {
        let Some(name) = cookie
            .name
            .clone()
            .filter(|n| http::HeaderName::from_bytes(n.as_bytes()).is_ok())
        else {
            report.error(
                format!("{at}.httpCookie.name"),
                "a cookie needs a valid, non-empty name",
            );
            return;
        };
        policy.load_balancer = hash(HashOn::Cookie(name));
        policy.sticky_cookie = None;
        if let Some(ttl) = &cookie.ttl {
            match go_duration(ttl) {
                Ok(ttl) => {
                    let path = cookie.path.clone().filter(|p| {
                        p.starts_with('/') && !p.chars().any(|c| c.is_control() || c == ';')
                    });
                    if cookie.path.is_some() && path.is_none() {
                        report.error(
                            format!("{at}.httpCookie.path"),
                            "a cookie path starts with / and has no ';'",
                        );
                    }
                    policy.sticky_cookie = Some(StickyCookie { path, ttl });
                }
                Err(e) => report.error(format!("{at}.httpCookie.ttl"), e),
            }
        }
    } else if ch.use_source_ip == Some(true) {
        report.warn(
            format!("{at}.useSourceIp"),
            "hashing on the source IP is not supported; the default balancer is used (a \
             header or cookie hash keeps affinity)",
        );
    } else if ch.http_query_parameter_name.is_some() {
        report.warn(
            format!("{at}.httpQueryParameterName"),
            "hashing on a query parameter is not supported; the default balancer is used (a \
             header or cookie hash keeps affinity)",
        );
    } else {
        report.error(
            at,
            "consistentHash needs httpHeaderName or httpCookie; the default balancer is used",
        );
    }
}

fn connection_pool(policy: &mut Policy, pool: &ConnectionPool, at: &str, report: &mut Report<'_>) {
    let cb = &mut policy.circuit_breaker;
    let positive = |v: u32, field: &str, report: &mut Report<'_>| {
        if v == 0 {
            report.error(
                format!("{at}.{field}"),
                "must be at least 1; the default is kept",
            );
            None
        } else {
            Some(v)
        }
    };
    if let Some(tcp) = &pool.tcp {
        if let Some(v) = tcp
            .max_connections
            .and_then(|v| positive(v, "tcp.maxConnections", report))
        {
            cb.max_connections = v;
        }
        for (field, given) in [
            ("connectTimeout", &tcp.connect_timeout),
            ("idleTimeout", &tcp.idle_timeout),
        ] {
            if given.is_some() {
                report.warn(
                    format!("{at}.tcp.{field}"),
                    "not supported by the proxy; ignored",
                );
            }
        }
    }
    let Some(http) = &pool.http else {
        return;
    };
    if let Some(v) = http
        .http1_max_pending_requests
        .and_then(|v| positive(v, "http.http1MaxPendingRequests", report))
    {
        cb.max_pending_requests = v;
    }
    // Both limit the requests in flight to the destination: the lower one holds.
    if let Some(v) = http
        .http2_max_requests
        .and_then(|v| positive(v, "http.http2MaxRequests", report))
    {
        cb.max_connections = if pool.tcp.as_ref().and_then(|t| t.max_connections).is_some() {
            cb.max_connections.min(v)
        } else {
            v
        };
    }
    if let Some(v) = http.max_requests_per_connection {
        cb.max_requests_per_connection = v;
    }
    if http.max_retries.is_some() {
        report.warn(
            format!("{at}.http.maxRetries"),
            "not supported: retries are capped by the retry budget (20 % of requests plus 10/s)",
        );
    }
    if let Some(text) = &http.idle_timeout {
        match go_duration(text) {
            Ok(d) if d.get().is_zero() => report.error(
                format!("{at}.http.idleTimeout"),
                "must be more than 0s; the default (30s) is kept",
            ),
            Ok(d) => cb.idle_timeout = Some(d),
            Err(e) => report.error(format!("{at}.http.idleTimeout"), e),
        }
    }
    match http.h2_upgrade_policy.as_deref() {
        None | Some("DEFAULT" | "DO_NOT_UPGRADE") => {}
        Some(other) => report.warn(
            format!("{at}.http.h2UpgradePolicy"),
            format!("{other}: the proxy keeps each request's HTTP version; ignored"),
        ),
    }
}

fn outlier_detection(o: &Outlier, at: &str, report: &mut Report<'_>) -> OutlierDetection {
    // Istio's defaults, not the model's: a rule written for Istio behaves as there.
    let mut od = OutlierDetection {
        consecutive_5xx: o.consecutive_5xx_errors.unwrap_or(5),
        consecutive_gateway_errors: o.consecutive_gateway_errors.unwrap_or(0),
        interval: crate::model::duration::Duration::from_secs(10),
        base_ejection_time: crate::model::duration::Duration::from_secs(30),
        max_ejection_percent: 10,
        min_health_percent: 0,
    };
    if let Some(n) = o.consecutive_errors {
        report.warn(
            format!("{at}.consecutiveErrors"),
            "deprecated: read as consecutiveGatewayErrors (502, 503, 504); write \
             consecutiveGatewayErrors or consecutive5xxErrors instead",
        );
        if o.consecutive_5xx_errors.is_none() && o.consecutive_gateway_errors.is_none() {
            od.consecutive_gateway_errors = n;
            od.consecutive_5xx = 0;
        }
    }
    for (field, given, slot) in [
        ("interval", &o.interval, &mut od.interval),
        (
            "baseEjectionTime",
            &o.base_ejection_time,
            &mut od.base_ejection_time,
        ),
    ] {
        if let Some(text) = given {
            match go_duration(text) {
                Ok(d) if field == "interval" && d.get().is_zero() => {
                    report.error(format!("{at}.{field}"), "must be more than 0s; 10s is used");
                }
                Ok(d) => *slot = d,
                Err(e) => report.error(format!("{at}.{field}"), e),
            }
        }
    }
    for (field, given, slot) in [
        (
            "maxEjectionPercent",
            o.max_ejection_percent,
            &mut od.max_ejection_percent,
        ),
        (
            "minHealthPercent",
            o.min_health_percent,
            &mut od.min_health_percent,
        ),
    ] {
        if let Some(v) = given {
            match u8::try_from(v).ok().filter(|v| *v <= 100) {
                Some(v) => *slot = v,
                None => report.error(format!("{at}.{field}"), format!("{v} is not 0 to 100")),
            }
        }
    }
    od
}
