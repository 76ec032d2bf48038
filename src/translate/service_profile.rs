//! Linkerd ServiceProfile (linkerd.io/v1alpha2), named for the Service's FQDN: routes by
//! method and path regex (conditions all/any/not), per-route timeout and `isRetryable`
//! under the profile's retry budget, and `dstOverrides` as a weighted split.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::catalog::Catalog;
use super::finding::{ObjectRef, Report};
use super::routes::{self, Dest};
use super::service::Table;
use super::spec::go_duration;
use super::traffic_split::weight_milli;
use crate::model::duration::Duration;
use crate::model::policy::{Retries, RetryBudget, RetryOn};
use crate::model::route::{BackendRef, PathMatch, Route, RouteMatch};

/// The ServiceProfile kind.
pub const KIND: &str = "ServiceProfile";

/// Whether an apiVersion is a ServiceProfile version this reads.
pub(crate) fn is_linkerd(api_version: &str) -> bool {
    matches!(api_version, "linkerd.io/v1alpha2" | "linkerd.io/v1alpha1")
}

/// Linkerd's timeout of a profile route that gives none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The budget window the proxy uses (Linkerd's default `ttl`).
const BUDGET_WINDOW: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub routes: Option<Vec<ProfileRoute>>,
    pub retry_budget: Option<Budget>,
    pub dst_overrides: Option<Vec<DstOverride>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileRoute {
    pub name: Option<String>,
    pub condition: Option<Condition>,
    pub response_classes: Option<Vec<ResponseClass>>,
    pub is_retryable: Option<bool>,
    pub timeout: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    pub method: Option<String>,
    pub path_regex: Option<String>,
    pub all: Option<Vec<Condition>>,
    pub any: Option<Vec<Condition>>,
    pub not: Option<Box<Condition>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseClass {
    pub condition: Option<ResponseCondition>,
    pub is_failure: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseCondition {
    pub status: Option<StatusRange>,
    pub all: Option<Vec<ResponseCondition>>,
    pub any: Option<Vec<ResponseCondition>>,
    pub not: Option<Box<ResponseCondition>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusRange {
    pub min: Option<u16>,
    pub max: Option<u16>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    pub retry_ratio: Option<f64>,
    pub min_retries_per_second: Option<u32>,
    pub ttl: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DstOverride {
    pub authority: Option<String>,
    pub weight: Option<Value>,
}

/// The Service the profile's name (its FQDN) names; profiles in another namespace than the
/// Service (client-side overrides) are reported and skipped.
pub(crate) fn targets(catalog: &mut Catalog<'_>, object: &ObjectRef) -> Vec<(String, String)> {
    match catalog.resolve_host(&object.name, &object.namespace) {
        Ok((ns, svc)) if ns == object.namespace => vec![(ns, svc)],
        Ok((ns, svc)) => {
            catalog.report(object).warn(
                "metadata.namespace",
                format!(
                    "a ServiceProfile for {svc}.{ns} in namespace {} (a client-side profile) is \
                     not supported: put it in namespace {ns}",
                    object.namespace
                ),
            );
            Vec::new()
        }
        Err(e) => {
            catalog.report(object).error(
                "metadata.name",
                format!("{e}; a ServiceProfile is named for its Service's FQDN (web.shop.svc.cluster.local)"),
            );
            Vec::new()
        }
    }
}

/// Writes the profile's routes into port service `key`, then a catch-all route, so requests
/// no profile route takes still reach the Service.
pub(crate) fn apply(
    catalog: &mut Catalog<'_>,
    table: &mut Table,
    object: &ObjectRef,
    spec: &Spec,
    key: &str,
) {
    let Some(t) = table.get(key) else { return };
    if t.model.protocol == crate::model::service::Protocol::Opaque {
        let port = t.port;
        catalog.report(object).warn(
            "spec.routes",
            format!("port {port} is opaque (TCP): profile routes do not apply to it"),
        );
        return;
    }
    let service_policy = t.model.policy.clone();
    let backends = overrides(catalog, table, object, spec, key);
    let mut report = catalog.report(object);
    let budget = budget(spec.retry_budget.as_ref(), &mut report);
    let mut used = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (i, r) in spec.routes.iter().flatten().enumerate() {
        let at = format!("spec.routes[{i}]");
        let Some(cond) = &r.condition else {
            report.error(
                format!("{at}.condition"),
                "a route needs a condition; it is skipped",
            );
            continue;
        };
        let Some(matches) = condition(cond, &format!("{at}.condition"), &mut report) else {
            continue;
        };
        if matches.is_empty() {
            report.warn(
                format!("{at}.condition"),
                "this condition can never hold (two methods under all); the route is skipped",
            );
            continue;
        }
        let mut policy = service_policy.clone();
        policy.timeouts.request = match r.timeout.as_deref().map(go_duration) {
            None => Some(DEFAULT_TIMEOUT),
            Some(Ok(d)) if d.get().is_zero() => None,
            Some(Ok(d)) => Some(d),
            Some(Err(e)) => {
                report.error(
                    format!("{at}.timeout"),
                    format!("{e}; Linkerd's default 10s is used"),
                );
                Some(DEFAULT_TIMEOUT)
            }
        };
        let failures = failure_statuses(
            r.response_classes.as_deref().unwrap_or_default(),
            &format!("{at}.responseClasses"),
            &mut report,
        );
        if r.is_retryable == Some(true) {
            let mut retries = Retries {
                // Linkerd bounds retries by the budget alone; 10 is the model's most.
                attempts: 10,
                budget: budget.clone(),
                ..Retries::default()
            };
            retries.retry_on = vec![RetryOn::ConnectFailure, RetryOn::RefusedStream];
            match &failures {
                None => retries.retry_on.insert(0, RetryOn::Status5xx),
                Some(codes) => {
                    retries.retry_on.insert(0, RetryOn::RetriableStatusCodes);
                    retries.retriable_status_codes = codes.clone();
                }
            }
            policy.retries = Some(retries);
        }
        let name = routes::unique_name(r.name.as_deref(), &format!("route-{i}"), &mut used);
        out.push(Route {
            name,
            matches,
            backends: backends.clone(),
            policy: Some(policy),
            ..Route::default()
        });
    }
    out.push(Route {
        name: routes::unique_name(Some("default"), "default", &mut used),
        backends,
        ..Route::default()
    });
    if let Some(t) = table.get_mut(key) {
        t.model.routes = out;
        t.route_source = Some(object.clone());
    }
}

/// `dstOverrides` as weighted backends; without them, the Service's own backend.
fn overrides(
    catalog: &mut Catalog<'_>,
    table: &mut Table,
    object: &ObjectRef,
    spec: &Spec,
    key: &str,
) -> Vec<BackendRef> {
    let own = |table: &Table| {
        table
            .get(key)
            .and_then(|t| t.model.backends.first())
            .map(|b| {
                vec![BackendRef {
                    name: b.name.clone(),
                    weight: 1,
                }]
            })
            .unwrap_or_default()
    };
    let list = spec.dst_overrides.clone().unwrap_or_default();
    // A TrafficSplit of the Service already wrote its weights: the profile's routes keep them.
    let split = table
        .get(key)
        .and_then(|t| match t.model.routes.as_slice() {
            [r] if r.matches.is_empty() => Some(r.backends.clone()),
            _ => None,
        });
    if let Some(split) = split {
        if !list.is_empty() {
            catalog.report(object).warn(
                "spec.dstOverrides",
                "a TrafficSplit of this Service sets the weights; dstOverrides are ignored",
            );
        }
        return split;
    }
    if list.is_empty() {
        return own(table);
    }
    let mut out: Vec<(String, u64)> = Vec::new();
    for (i, d) in list.iter().enumerate() {
        let at = format!("spec.dstOverrides[{i}]");
        let Some(authority) = d.authority.clone() else {
            catalog
                .report(object)
                .error(format!("{at}.authority"), "an override needs an authority");
            continue;
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse::<u32>().ok()),
            None => (authority.clone(), None),
        };
        let weight = match d.weight.as_ref().map(weight_milli).unwrap_or(Ok(1000)) {
            Ok(w) => w,
            Err(e) => {
                catalog.report(object).error(format!("{at}.weight"), e);
                continue;
            }
        };
        let dest = Dest {
            host,
            subset: None,
            port,
        };
        if let Some(r) = routes::resolve(
            catalog,
            table,
            key,
            &object.namespace,
            &dest,
            &format!("{at}.authority"),
            object,
        ) {
            out.push((r.backend, weight));
        }
    }
    let max = out.iter().map(|o| o.1).max().unwrap_or(0);
    if max == 0 {
        catalog.report(object).error(
            "spec.dstOverrides",
            "no override could be used (or every weight is 0): traffic stays on the Service",
        );
        return own(table);
    }
    // Thousandths fit u32 for any weight a profile writes; scale down only when they do not.
    let divisor = max.div_ceil(u64::from(u32::MAX / 16)).max(1);
    out.into_iter()
        .map(|(name, w)| BackendRef {
            name,
            weight: u32::try_from(w / divisor).unwrap_or(u32::MAX),
        })
        .collect()
}

fn budget(b: Option<&Budget>, report: &mut Report<'_>) -> RetryBudget {
    let mut out = RetryBudget::default();
    let Some(b) = b else { return out };
    if let Some(r) = b.retry_ratio {
        if r.is_finite() && r >= 0.0 {
            out.ratio = r;
        } else {
            report.error(
                "spec.retryBudget.retryRatio",
                format!("{r} is not a ratio (0 or more)"),
            );
        }
    }
    if let Some(m) = b.min_retries_per_second {
        out.min_per_second = m;
    }
    if let Some(ttl) = &b.ttl {
        match go_duration(ttl) {
            Ok(d) if d == BUDGET_WINDOW => {}
            Ok(_) => report.warn(
                "spec.retryBudget.ttl",
                "the proxy's budget window is 10s: retries are counted over 10s, not this ttl",
            ),
            Err(e) => report.error("spec.retryBudget.ttl", e),
        }
    }
    out
}

/// The condition as alternatives (any of the matches); None (reported) when the model cannot
/// express it; an empty list when it can never hold.
fn condition(c: &Condition, at: &str, report: &mut Report<'_>) -> Option<Vec<RouteMatch>> {
    if c.not.is_some() {
        report.error(
            format!("{at}.not"),
            "negated conditions are not supported; the route is skipped",
        );
        return None;
    }
    let mut leaf = RouteMatch::default();
    if let Some(m) = &c.method {
        leaf.method = Some(m.to_ascii_uppercase());
    }
    if let Some(re) = &c.path_regex {
        if let Err(e) = regex::Regex::new(re) {
            report.error(
                format!("{at}.pathRegex"),
                format!("not a valid regular expression ({e}); the route is skipped"),
            );
            return None;
        }
        leaf.path = Some(PathMatch::Regex(re.clone()));
    }
    let mut alternatives = vec![leaf];
    for (i, part) in c.all.iter().flatten().enumerate() {
        let inner = condition(part, &format!("{at}.all[{i}]"), report)?;
        let mut next = Vec::new();
        for a in &alternatives {
            for b in &inner {
                match both(a, b) {
                    Ok(Some(m)) => next.push(m),
                    Ok(None) => {}
                    Err(()) => {
                        report.error(format!("{at}.all[{i}]"), "two path regexes that must both match are not supported; the route is skipped");
                        return None;
                    }
                }
            }
        }
        alternatives = next;
    }
    if let Some(any) = &c.any {
        let mut union = Vec::new();
        for (i, part) in any.iter().enumerate() {
            union.extend(condition(part, &format!("{at}.any[{i}]"), report)?);
        }
        let mut next = Vec::new();
        for a in &alternatives {
            for b in &union {
                match both(a, b) {
                    Ok(Some(m)) => next.push(m),
                    Ok(None) => {}
                    Err(()) => {
                        report.error(format!("{at}.any"), "two path regexes that must both match are not supported; the route is skipped");
                        return None;
                    }
                }
            }
        }
        alternatives = next;
    }
    Some(alternatives)
}

/// Both matches at once: None when they can never hold together, Err when the model cannot
/// say it (two path regexes).
fn both(a: &RouteMatch, b: &RouteMatch) -> Result<Option<RouteMatch>, ()> {
    let mut out = a.clone();
    match (&a.method, &b.method) {
        (Some(x), Some(y)) if x != y => return Ok(None),
        (None, Some(y)) => out.method = Some(y.clone()),
        _ => {}
    }
    match (&a.path, &b.path) {
        (Some(x), Some(y)) if x != y => return Err(()),
        (None, Some(y)) => out.path = Some(y.clone()),
        _ => {}
    }
    Ok(Some(out))
}

/// The statuses `responseClasses` count as failures (used as what a retryable route
/// retries); None: the default, 5xx. Classifying metrics by them is reported as not
/// enforced: the proxy counts 5xx as failures.
fn failure_statuses(
    classes: &[ResponseClass],
    at: &str,
    report: &mut Report<'_>,
) -> Option<Vec<u16>> {
    if classes.is_empty() {
        return None;
    }
    let mut codes = Vec::new();
    for (i, c) in classes.iter().enumerate() {
        let field = format!("{at}[{i}]");
        if c.is_failure != Some(true) {
            report.warn(
                format!("{field}.isFailure"),
                "only failure classes are read: a success class changes nothing",
            );
            continue;
        }
        match c.condition.as_ref() {
            Some(ResponseCondition {
                status: Some(s),
                all: None,
                any: None,
                not: None,
            }) => {
                let (min, max) = (s.min.unwrap_or(100), s.max.unwrap_or(599));
                if min > max || !(100..=599).contains(&min) || !(100..=599).contains(&max) {
                    report.error(
                        format!("{field}.condition.status"),
                        format!("{min} to {max} is not a status range within 100 to 599"),
                    );
                    continue;
                }
                codes.extend(min..=max);
            }
            _ => report.error(
                format!("{field}.condition"),
                "only a status range (min, max) is supported; this class is ignored",
            ),
        }
    }
    report.not_enforced(at, "counting these statuses as failures in metrics (the proxy counts 5xx); retries of the route use them");
    codes.sort_unstable();
    codes.dedup();
    (!codes.is_empty()).then_some(codes)
}
