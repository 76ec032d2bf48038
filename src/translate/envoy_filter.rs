//! Istio EnvoyFilter: only Envoy's local rate limit (`envoy.filters.http.local_ratelimit`,
//! a token bucket) is read, into the `rateLimit` of the selected workload's Services; every
//! other patch is reported as unsupported by its filter's name.

use std::collections::BTreeMap;

use kube::api::DynamicObject;
use serde_json::Value;

use super::catalog::{Catalog, namespace_of};
use super::destination_rule::is_istio;
use super::finding::{ObjectRef, Report};
use super::service::Table;
use super::spec::go_duration;
use crate::model::duration::Duration;
use crate::model::policy::RateLimit;
use crate::model::service::Protocol;

/// The EnvoyFilter kind.
pub const KIND: &str = "EnvoyFilter";

/// The one Envoy filter translated.
const LOCAL_RATELIMIT: &str = "envoy.filters.http.local_ratelimit";

/// Fields of the LocalRateLimit config that are read (the others are reported).
const KNOWN: [&str; 4] = [
    "stat_prefix",
    "token_bucket",
    "filter_enabled",
    "filter_enforced",
];

/// Applies every EnvoyFilter of the snapshot (after the route APIs: routes with their own
/// policy get the limit too).
pub(crate) fn apply_all(catalog: &mut Catalog<'_>, table: &mut Table) {
    let mut filters: Vec<&DynamicObject> = catalog
        .inputs
        .objects
        .iter()
        .map(|o| &**o)
        .filter(|o| {
            let t = o.types.clone().unwrap_or_default();
            t.kind == KIND && is_istio(&t.api_version)
        })
        .collect();
    filters.sort_by_key(|o| (namespace_of(&o.metadata), o.metadata.name.clone()));
    for obj in filters {
        let ns = namespace_of(&obj.metadata);
        let name = obj.metadata.name.clone().unwrap_or_default();
        let object = catalog.object(KIND, &ns, &name);
        let spec = obj.data.get("spec").cloned().unwrap_or(Value::Null);
        let limits = limits(&spec, &mut catalog.report(&object));
        let Some(limit) = limits else { continue };
        let services = selected(catalog, &spec, &ns);
        if services.is_empty() {
            catalog.report(&object).warn(
                "spec.workloadSelector",
                "selects no Service's pods: the rate limit applies nowhere",
            );
            continue;
        }
        apply(catalog, table, &object, &services, &limit);
    }
}

/// The rate limit among the patches (None when there is none to apply); every other patch
/// is reported.
fn limits(spec: &Value, report: &mut Report<'_>) -> Option<RateLimit> {
    let patches = spec
        .get("configPatches")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if patches.is_empty() {
        report.warn(
            "spec.configPatches",
            "no patches: this EnvoyFilter does nothing",
        );
    }
    let mut found = None;
    for (i, p) in patches.iter().enumerate() {
        let at = format!("spec.configPatches[{i}]");
        let value = p.pointer("/patch/value");
        let name = value.and_then(|v| v.get("name")).and_then(Value::as_str);
        if name != Some(LOCAL_RATELIMIT) {
            let what = name.map_or_else(
                || {
                    format!(
                        "a {} patch",
                        p.get("applyTo")
                            .and_then(Value::as_str)
                            .unwrap_or("(no applyTo)")
                    )
                },
                |n| format!("filter {n:?}"),
            );
            report.warn(
                format!("{at}.patch"),
                format!(
                    "{what} is not supported: meshctl runs no Envoy, and translates only \
                     {LOCAL_RATELIMIT}; this patch has no effect"
                ),
            );
            continue;
        }
        if p.get("applyTo").and_then(Value::as_str) != Some("HTTP_FILTER") {
            report.warn(
                format!("{at}.applyTo"),
                "the local rate limit is read as an HTTP_FILTER patch whatever applyTo says",
            );
        }
        let Some(config) = typed_config(value.unwrap_or(&Value::Null)) else {
            report.error(
                format!("{at}.patch.value.typed_config"),
                "no LocalRateLimit config (typed_config) found; this patch is not applied",
            );
            continue;
        };
        let cat = format!("{at}.patch.value.typed_config");
        if let Value::Object(m) = &config.1 {
            for k in m.keys().filter(|k| !KNOWN.contains(&k.as_str())) {
                report.warn(
                    format!("{cat}{}.{k}", config.0),
                    "not supported by meshctl's rate limit; it is ignored",
                );
            }
        }
        if let Some(limit) = token_bucket(&config.1, &format!("{cat}{}", config.0), report) {
            if found.is_some() {
                report.warn(at, "a second local rate limit: only the first is applied");
            } else {
                found = Some(limit);
            }
        }
    }
    found
}

/// The LocalRateLimit fields and the path suffix they sit at: inline, or inside a
/// `udpa.type.v1.TypedStruct`'s `value`.
fn typed_config(value: &Value) -> Option<(&'static str, Value)> {
    let tc = value
        .get("typed_config")
        .or_else(|| value.get("typedConfig"))?;
    let is_struct = tc
        .get("@type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.ends_with("TypedStruct"));
    if is_struct {
        Some((".value", tc.get("value")?.clone()))
    } else {
        let mut inline = tc.clone();
        if let Value::Object(m) = &mut inline {
            m.remove("@type");
        }
        Some(("", inline))
    }
}

fn token_bucket(config: &Value, at: &str, report: &mut Report<'_>) -> Option<RateLimit> {
    let Some(bucket) = config.get("token_bucket") else {
        report.error(
            format!("{at}.token_bucket"),
            "a local rate limit needs token_bucket; this patch is not applied",
        );
        return None;
    };
    let number = |k: &str, default: Option<u64>, report: &mut Report<'_>| -> Option<u32> {
        let v = match bucket.get(k) {
            None => default,
            Some(v) => v.as_u64().or_else(|| v.as_str()?.parse().ok()),
        };
        match v.and_then(|v| u32::try_from(v).ok()).filter(|v| *v > 0) {
            Some(v) => Some(v),
            None => {
                report.error(
                    format!("{at}.token_bucket.{k}"),
                    "give a whole number of tokens, at least 1; this patch is not applied",
                );
                None
            }
        }
    };
    let max_tokens = number("max_tokens", None, report)?;
    let per_fill = number("tokens_per_fill", Some(1), report)?;
    let interval = match bucket
        .get("fill_interval")
        .and_then(Value::as_str)
        .map(go_duration)
    {
        Some(Ok(d)) if !d.get().is_zero() => d,
        Some(Err(e)) => {
            report.error(format!("{at}.token_bucket.fill_interval"), e);
            return None;
        }
        _ => {
            report.error(
                format!("{at}.token_bucket.fill_interval"),
                "a token bucket needs fill_interval (more than 0s); this patch is not applied",
            );
            return None;
        }
    };
    // Envoy's local rate limit defaults to 0 % enabled and enforced: set neither, limit nothing.
    for key in ["filter_enabled", "filter_enforced"] {
        match fraction(config.pointer(&format!("/{key}/default_value"))) {
            Some(p) if p >= 100.0 => {}
            Some(p) if p > 0.0 => report.warn(
                format!("{at}.{key}"),
                format!(
                    "{p}% of requests: meshctl limits every request (a share is not supported)"
                ),
            ),
            _ => {
                report.warn(
                    format!("{at}.{key}"),
                    "not set or 0%: Envoy then limits no request, and neither does meshctl",
                );
                return None;
            }
        }
    }
    report.warn(
        at,
        "enforced by each client's proxy on its requests to the Service (Envoy limits each \
         server pod): the total a pod receives can be higher; the bucket refills smoothly",
    );
    Some(RateLimit {
        requests_per_second: per_fill,
        burst: Some(max_tokens),
        per: (interval != Duration::from_secs(1)).then_some(interval),
    })
}

/// A runtime FractionalPercent as a percentage.
fn fraction(v: Option<&Value>) -> Option<f64> {
    let v = v?;
    let n = v.get("numerator")?.as_f64()?;
    let scale = match v
        .get("denominator")
        .and_then(Value::as_str)
        .unwrap_or("HUNDRED")
    {
        "HUNDRED" => 1.0,
        "TEN_THOUSAND" => 100.0,
        "MILLION" => 10_000.0,
        _ => return None,
    };
    Some(n / scale)
}

/// The Services (namespace, name) of the pods `workloadSelector` selects, in `ns`; no
/// selector selects every pod of the namespace.
fn selected(catalog: &Catalog<'_>, spec: &Value, ns: &str) -> Vec<(String, String)> {
    let labels: BTreeMap<String, String> = spec
        .pointer("/workloadSelector/labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default();
    let pods: Vec<BTreeMap<String, String>> = catalog
        .pods
        .iter()
        .filter(|((pod_ns, _), _)| pod_ns == ns)
        .map(|(_, p)| p.metadata.labels.clone().unwrap_or_default())
        .filter(|pl| labels.iter().all(|(k, v)| pl.get(k) == Some(v)))
        .collect();
    catalog
        .services
        .iter()
        .filter(|((svc_ns, _), _)| svc_ns == ns)
        .filter(|(_, s)| {
            let sel = s
                .spec
                .as_ref()
                .and_then(|s| s.selector.clone())
                .unwrap_or_default();
            if sel.is_empty() {
                return false;
            }
            let within =
                |l: &BTreeMap<String, String>| sel.iter().all(|(k, v)| l.get(k) == Some(v));
            // Pods may be missing from a snapshot read from files: a selector inside the
            // workload's labels names the same workload.
            within(&labels) || pods.iter().any(within)
        })
        .map(|(k, _)| k.clone())
        .collect()
}

fn apply(
    catalog: &mut Catalog<'_>,
    table: &mut Table,
    object: &ObjectRef,
    services: &[(String, String)],
    limit: &RateLimit,
) {
    for t in table.values_mut() {
        if t.per_pod || !services.contains(&(t.namespace.clone(), t.service.clone())) {
            continue;
        }
        if t.model.protocol == Protocol::Opaque {
            let port = t.port;
            catalog.report(object).warn(
                "spec.configPatches",
                format!("port {port} of Service {}/{} is opaque (TCP): HTTP requests are not limited there", t.namespace, t.service),
            );
            continue;
        }
        t.model.policy.rate_limit = Some(limit.clone());
        for r in &mut t.model.routes {
            if let Some(p) = &mut r.policy {
                p.rate_limit = Some(limit.clone());
            }
        }
    }
}
