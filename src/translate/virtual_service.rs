//! Istio VirtualService (networking.istio.io v1, v1beta1, v1alpha3) for Service hosts:
//! `http[]` in order into model routes (matches, weighted destinations, timeout, retries,
//! fault, mirror, headers, rewrite) and `tcp[]` into the backend opaque connections use.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::catalog::Catalog;
use super::finding::{ObjectRef, Report};
use super::routes::{self, Dest};
use super::service::Table;
use super::spec::{go_duration, percent};
use crate::model::policy::{GrpcCode, Policy, Retries, RetryOn};
use crate::model::route::{
    BackendRef, Fault, FaultAbort, FaultDelay, Mirror, PathMatch, PathRewrite, Rewrite, Route,
    RouteMatch, ValueMatch,
};
use crate::model::service::Protocol;

/// The VirtualService kind.
pub const KIND: &str = "VirtualService";

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub hosts: Option<Vec<String>>,
    pub http: Option<Vec<HttpRoute>>,
    pub tcp: Option<Vec<TcpRoute>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    pub name: Option<String>,
    #[serde(rename = "match")]
    pub matches: Option<Vec<Match>>,
    pub route: Option<Vec<RouteDestination>>,
    pub timeout: Option<String>,
    pub retries: Option<RetrySpec>,
    pub fault: Option<FaultSpec>,
    pub mirror: Option<Destination>,
    pub mirror_percentage: Option<Percent>,
    pub mirror_percent: Option<u32>,
    pub headers: Option<Headers>,
    pub rewrite: Option<RewriteSpec>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Match {
    pub name: Option<String>,
    pub uri: Option<StringMatch>,
    pub method: Option<StringMatch>,
    pub headers: Option<BTreeMap<String, StringMatch>>,
    pub without_headers: Option<BTreeMap<String, StringMatch>>,
    pub query_params: Option<BTreeMap<String, StringMatch>>,
    pub port: Option<u32>,
    pub ignore_uri_case: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StringMatch {
    pub exact: Option<String>,
    pub prefix: Option<String>,
    pub regex: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteDestination {
    pub destination: Option<Destination>,
    pub weight: Option<i64>,
    pub headers: Option<Headers>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    pub host: Option<String>,
    pub subset: Option<String>,
    pub port: Option<super::destination_rule::PortSelector>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetrySpec {
    pub attempts: Option<i64>,
    pub per_try_timeout: Option<String>,
    pub retry_on: Option<String>,
    pub retry_remote_localities: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultSpec {
    pub delay: Option<Delay>,
    pub abort: Option<Abort>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delay {
    pub fixed_delay: Option<String>,
    pub percentage: Option<Percent>,
    pub percent: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Abort {
    pub http_status: Option<i64>,
    pub grpc_status: Option<String>,
    pub percentage: Option<Percent>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Percent {
    pub value: Option<f64>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Headers {
    pub request: Option<HeaderOps>,
    pub response: Option<HeaderOps>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderOps {
    pub set: Option<BTreeMap<String, String>>,
    pub add: Option<BTreeMap<String, String>>,
    pub remove: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RewriteSpec {
    pub uri: Option<String>,
    pub authority: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpRoute {
    #[serde(rename = "match")]
    pub matches: Option<Vec<TcpMatch>>,
    pub route: Option<Vec<RouteDestination>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpMatch {
    pub port: Option<u32>,
}

/// The Services a VirtualService's hosts name (hosts that are not Services are reported).
pub(crate) fn targets(
    catalog: &mut Catalog<'_>,
    object: &ObjectRef,
    spec: &Spec,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let hosts = spec.hosts.clone().unwrap_or_default();
    if hosts.is_empty() {
        catalog.report(object).error(
            "spec.hosts",
            "a VirtualService needs hosts; it is not applied",
        );
    }
    for (i, host) in hosts.iter().enumerate() {
        match catalog.resolve_host(host, &object.namespace) {
            Ok(t) if !out.contains(&t) => out.push(t),
            Ok(_) => {}
            Err(e) => catalog.report(object).warn(
                format!("spec.hosts[{i}]"),
                format!("{e}; this host is skipped"),
            ),
        }
    }
    out
}

/// Writes the VirtualService's routes into port service `key`.
pub(crate) fn apply(
    catalog: &mut Catalog<'_>,
    table: &mut Table,
    object: &ObjectRef,
    spec: &Spec,
    key: &str,
) {
    let Some(target) = table.get(key) else {
        return;
    };
    let (port, protocol, service_policy) = (
        target.port,
        target.model.protocol,
        target.model.policy.clone(),
    );
    if protocol == Protocol::Opaque {
        tcp_routes(catalog, table, object, spec, key, port);
        if spec.http.as_ref().is_some_and(|h| !h.is_empty()) {
            catalog.report(object).warn(
                "spec.http",
                format!("port {port} of this host is opaque (TCP): http routes do not apply to it"),
            );
        }
        return;
    }
    let mut used = BTreeSet::new();
    let mut out = Vec::new();
    for (i, http) in spec.http.iter().flatten().enumerate() {
        let at = format!("spec.http[{i}]");
        if let Some(route) = http_route(
            catalog,
            table,
            object,
            http,
            key,
            port,
            &service_policy,
            &at,
            &mut used,
        ) {
            out.push(route);
        }
    }
    if let Some(t) = table.get_mut(key) {
        t.model.routes = out;
        t.route_source = Some(object.clone());
    }
}

#[allow(clippy::too_many_arguments)]
fn http_route(
    catalog: &mut Catalog<'_>,
    table: &mut Table,
    object: &ObjectRef,
    http: &HttpRoute,
    key: &str,
    port: u16,
    service_policy: &Policy,
    at: &str,
    used: &mut BTreeSet<String>,
) -> Option<Route> {
    let prefix_rewrite = http.rewrite.as_ref().is_some_and(|r| r.uri.is_some());
    let mut matches = Vec::new();
    let given = http.matches.clone().unwrap_or_default();
    for (j, m) in given.iter().enumerate() {
        if m.port.is_some_and(|p| p != u32::from(port)) {
            continue;
        }
        let mut report = catalog.report(object);
        if let Some(rm) = route_match(m, &format!("{at}.match[{j}]"), prefix_rewrite, &mut report) {
            matches.push(rm);
        }
    }
    if !given.is_empty() && matches.is_empty() {
        // Every match was for another port, or refused: the route takes nothing here.
        return None;
    }
    let mut backends = Vec::new();
    let mut subset_policies = Vec::new();
    let dests = http.route.clone().unwrap_or_default();
    if dests.is_empty() {
        catalog.report(object).error(
            format!("{at}.route"),
            "a route needs destinations; it is skipped",
        );
        return None;
    }
    let single = dests.len() == 1;
    for (k, d) in dests.iter().enumerate() {
        let field = format!("{at}.route[{k}]");
        let Some(dest) = dest_of(d.destination.as_ref()) else {
            catalog.report(object).error(
                format!("{field}.destination.host"),
                "a destination needs a host",
            );
            continue;
        };
        let weight = match d.weight {
            None if single => 100,
            None => 0,
            Some(w) => match u32::try_from(w) {
                Ok(w) => w,
                Err(_) => {
                    catalog.report(object).error(
                        format!("{field}.weight"),
                        format!("{w} is not a weight (0 or more)"),
                    );
                    continue;
                }
            },
        };
        let Some(r) = routes::resolve(
            catalog,
            table,
            key,
            &object.namespace,
            &dest,
            &format!("{field}.destination"),
            object,
        ) else {
            continue;
        };
        backends.push(BackendRef {
            name: r.backend,
            weight,
        });
        subset_policies.push(r.subset_policy);
        if d.headers.is_some() && !single {
            catalog.report(object).warn(
                format!("{field}.headers"),
                "header changes per destination are not supported with several destinations; \
                 put them on the route",
            );
        }
    }
    if backends.iter().all(|b| b.weight == 0) {
        catalog.report(object).error(
            format!("{at}.route"),
            "no destination could be used (or every weight is 0); this route is skipped",
        );
        return None;
    }
    let mut report = catalog.report(object);
    let name = routes::unique_name(
        http.name.as_deref(),
        &format!(
            "http-{}",
            at.trim_start_matches("spec.http[").trim_end_matches(']')
        ),
        used,
    );
    let mut policy = routes::base_policy(
        service_policy,
        &subset_policies,
        &format!("{at}.route"),
        &mut report,
    );
    let mut has_policy = subset_policies.iter().any(Option::is_some);
    if let Some(t) = &http.timeout {
        match go_duration(t) {
            Ok(d) if d.get().is_zero() => policy.timeouts.request = None,
            Ok(d) => policy.timeouts.request = Some(d),
            Err(e) => report.error(format!("{at}.timeout"), e),
        }
        has_policy = true;
    }
    if let Some(r) = &http.retries {
        policy.retries = retries(r, &format!("{at}.retries"), &mut policy, &mut report);
        has_policy = true;
    }
    if let (Some(total), Some(per_try)) = (policy.timeouts.request, policy.timeouts.per_try)
        && per_try > total
    {
        report.warn(
            format!("{at}.retries.perTryTimeout"),
            "longer than the route's timeout: capped at the timeout",
        );
        policy.timeouts.per_try = Some(total);
    }
    let mut route = Route {
        name,
        matches,
        backends,
        ..Route::default()
    };
    if has_policy {
        route.policy = Some(policy);
    }
    let mut headers: Vec<(&Headers, String)> = http
        .headers
        .iter()
        .map(|h| (h, format!("{at}.headers")))
        .collect();
    if single && let Some(h) = &dests[0].headers {
        headers.push((h, format!("{at}.route[0].headers")));
    }
    for (h, field) in headers {
        for (ops, side, filter) in [
            (&h.request, "request", &mut route.request_headers),
            (&h.response, "response", &mut route.response_headers),
        ] {
            if let Some(ops) = ops {
                let f = routes::header_filter(
                    &ops.set.clone().unwrap_or_default(),
                    &ops.add.clone().unwrap_or_default(),
                    &ops.remove.clone().unwrap_or_default(),
                    &format!("{field}.{side}"),
                    &mut report,
                );
                filter.set.extend(f.set);
                filter.add.extend(f.add);
                filter.remove.extend(f.remove);
            }
        }
    }
    if let Some(f) = &http.fault {
        route.fault = fault(f, &format!("{at}.fault"), &mut report);
    }
    if let Some(rw) = &http.rewrite {
        route.rewrite = rewrite(rw, &route, &format!("{at}.rewrite"), &mut report);
    }
    if let Some(m) = &http.mirror {
        let field = format!("{at}.mirror");
        let pct = http
            .mirror_percentage
            .as_ref()
            .and_then(|p| p.value)
            .or(http.mirror_percent.map(f64::from))
            .unwrap_or(100.0);
        match (dest_of(Some(m)), percent(pct)) {
            (Some(dest), Ok(pct)) => {
                if let Some(r) = routes::resolve(
                    catalog,
                    table,
                    key,
                    &object.namespace,
                    &dest,
                    &field,
                    object,
                ) {
                    route.mirror = Some(Mirror {
                        backend: r.backend,
                        percent: pct,
                    });
                }
            }
            (None, _) => catalog
                .report(object)
                .error(format!("{field}.host"), "a mirror needs a host"),
            (_, Err(e)) => catalog
                .report(object)
                .error(format!("{at}.mirrorPercentage.value"), e),
        }
    }
    Some(route)
}

fn dest_of(d: Option<&Destination>) -> Option<Dest> {
    let d = d?;
    Some(Dest {
        host: d.host.clone().filter(|h| !h.is_empty())?,
        subset: d.subset.clone().filter(|s| !s.is_empty()),
        port: d.port.as_ref().and_then(|p| p.number),
    })
}

/// One `match` entry; `None` (reported) when a condition cannot be expressed, since
/// dropping only that condition would widen what the route takes.
fn route_match(
    m: &Match,
    at: &str,
    prefix_rewrite: bool,
    report: &mut Report<'_>,
) -> Option<RouteMatch> {
    let mut rm = RouteMatch::default();
    let icase = m.ignore_uri_case == Some(true);
    if let Some(uri) = &m.uri {
        rm.path = Some(path_match(
            uri,
            icase,
            prefix_rewrite,
            &format!("{at}.uri"),
            report,
        )?);
    }
    if let Some(method) = &m.method {
        match method {
            StringMatch {
                exact: Some(e),
                prefix: None,
                regex: None,
            } => rm.method = Some(e.to_ascii_uppercase()),
            _ => {
                report.error(
                    format!("{at}.method"),
                    "only an exact method is supported; this match is dropped",
                );
                return None;
            }
        }
    }
    for (name, sm) in m.headers.iter().flatten() {
        let field = format!("{at}.headers.{name}");
        rm.headers
            .push(value_match(name, sm, true, &field, report)?);
    }
    for (name, sm) in m.without_headers.iter().flatten() {
        if *sm != StringMatch::default() {
            report.error(
                format!("{at}.withoutHeaders.{name}"),
                "only `{}` (the header is absent) is supported; this match is dropped",
            );
            return None;
        }
        rm.headers.push(ValueMatch {
            name: name.to_ascii_lowercase(),
            present: Some(false),
            ..ValueMatch::default()
        });
    }
    for (name, sm) in m.query_params.iter().flatten() {
        let field = format!("{at}.queryParams.{name}");
        rm.query_params
            .push(value_match(name, sm, false, &field, report)?);
    }
    Some(rm)
}

/// Istio's prefix is a string prefix (`/api` takes `/apix`), the model's is per segment:
/// a regex keeps Istio's meaning. With a prefix rewrite the model's prefix is needed.
fn path_match(
    uri: &StringMatch,
    icase: bool,
    prefix_rewrite: bool,
    at: &str,
    report: &mut Report<'_>,
) -> Option<PathMatch> {
    let flag = if icase { "(?i)" } else { "" };
    let check = |r: String, report: &mut Report<'_>| match regex::Regex::new(&r) {
        Ok(_) => Some(PathMatch::Regex(r)),
        Err(e) => {
            report.error(
                at,
                format!("not a valid regular expression ({e}); this match is dropped"),
            );
            None
        }
    };
    match uri {
        StringMatch {
            exact: Some(p),
            prefix: None,
            regex: None,
        } if p.starts_with('/') => {
            if icase {
                check(format!("{flag}{}", regex::escape(p)), report)
            } else {
                Some(PathMatch::Exact(p.clone()))
            }
        }
        StringMatch {
            exact: None,
            prefix: Some(p),
            regex: None,
        } if p.starts_with('/') => {
            if prefix_rewrite {
                if icase {
                    report.warn(
                        format!("{at}.prefix"),
                        "ignoreUriCase is not kept with a prefix rewrite",
                    );
                }
                report.warn(
                    format!("{at}.prefix"),
                    "with rewrite.uri this prefix matches whole path segments (`/api` takes \
                     `/api/x`, not `/apix`)",
                );
                Some(PathMatch::Prefix(p.clone()))
            } else if p == "/" && !icase {
                Some(PathMatch::Prefix(p.clone()))
            } else {
                check(format!("{flag}{}.*", regex::escape(p)), report)
            }
        }
        StringMatch {
            exact: None,
            prefix: None,
            regex: Some(r),
        } => check(format!("{flag}{r}"), report),
        _ => {
            report.error(
                at,
                "give exactly one of exact, prefix, regex (paths start with /); this match is dropped",
            );
            None
        }
    }
}

fn value_match(
    name: &str,
    sm: &StringMatch,
    header: bool,
    at: &str,
    report: &mut Report<'_>,
) -> Option<ValueMatch> {
    if header && http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        report.error(
            at,
            format!("{name:?} is not a header name; this match is dropped"),
        );
        return None;
    }
    let mut vm = ValueMatch {
        name: if header {
            name.to_ascii_lowercase()
        } else {
            name.to_owned()
        },
        ..ValueMatch::default()
    };
    match sm {
        StringMatch {
            exact: None,
            prefix: None,
            regex: None,
        } => vm.present = Some(true),
        StringMatch {
            exact: Some(e),
            prefix: None,
            regex: None,
        } => vm.exact = Some(e.clone()),
        StringMatch {
            exact: None,
            prefix: Some(p),
            regex: None,
        } => vm.prefix = Some(p.clone()),
        StringMatch {
            exact: None,
            prefix: None,
            regex: Some(r),
        } => {
            if let Err(e) = regex::Regex::new(r) {
                report.error(
                    format!("{at}.regex"),
                    format!("not a valid regular expression ({e}); this match is dropped"),
                );
                return None;
            }
            vm.regex = Some(r.clone());
        }
        _ => {
            report.error(
                at,
                "give one of exact, prefix, regex; this match is dropped",
            );
            return None;
        }
    }
    Some(vm)
}

/// Istio's retry settings; `policy` receives the per-try timeout.
fn retries(
    r: &RetrySpec,
    at: &str,
    policy: &mut Policy,
    report: &mut Report<'_>,
) -> Option<Retries> {
    let mut out = Retries::default();
    if let Some(a) = r.attempts {
        out.attempts = match u32::try_from(a) {
            Ok(a) if a <= 10 => a,
            Ok(_) => {
                report.warn(
                    format!("{at}.attempts"),
                    format!("{a} retries is more than 10: 10 are used"),
                );
                10
            }
            Err(_) => {
                report.error(format!("{at}.attempts"), "must be 0 or more; 0 is used");
                0
            }
        };
    }
    if let Some(t) = &r.per_try_timeout {
        match go_duration(t) {
            Ok(d) => policy.timeouts.per_try = Some(d),
            Err(e) => report.error(format!("{at}.perTryTimeout"), e),
        }
    }
    if r.retry_remote_localities.is_some() {
        report.warn(
            format!("{at}.retryRemoteLocalities"),
            "accepted and has no effect: meshctl does not balance by locality",
        );
    }
    if let Some(list) = &r.retry_on {
        out.retry_on.clear();
        for cond in list.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            retry_on(cond, &mut out, &format!("{at}.retryOn"), report);
        }
        out.retriable_status_codes.sort_unstable();
        out.retriable_status_codes.dedup();
        let mut seen = Vec::new();
        out.retry_on.retain(|c| {
            let new = !seen.contains(c);
            seen.push(*c);
            new
        });
    }
    (out.attempts > 0 && !out.retry_on.is_empty()).then_some(out)
}

/// One Istio/Envoy `retryOn` condition into the model's.
pub(crate) fn retry_on(cond: &str, out: &mut Retries, at: &str, report: &mut Report<'_>) {
    let grpc = |name: &str| match name {
        "cancelled" => Some(GrpcCode::Cancelled),
        "deadline-exceeded" => Some(GrpcCode::DeadlineExceeded),
        "resource-exhausted" => Some(GrpcCode::ResourceExhausted),
        "internal" => Some(GrpcCode::Internal),
        "unavailable" => Some(GrpcCode::Unavailable),
        _ => None,
    };
    if let Ok(status) = cond.parse::<u16>() {
        if (100..=599).contains(&status) {
            out.retry_on.push(RetryOn::RetriableStatusCodes);
            out.retriable_status_codes.push(status);
        } else {
            report.error(at, format!("{status} is not an HTTP status"));
        }
        return;
    }
    match cond {
        // Envoy's only retriable 4xx is 409.
        "retriable-4xx" => {
            out.retry_on.push(RetryOn::RetriableStatusCodes);
            out.retriable_status_codes.push(409);
        }
        "reset-before-request" => {
            out.retry_on.push(RetryOn::Reset);
            report.warn(
                at,
                "reset-before-request is read as reset (any reset before a response)",
            );
        }
        "retriable-status-codes" => {}
        other => match other.parse::<RetryOn>() {
            Ok(c) => out.retry_on.push(c),
            Err(_) => match grpc(other) {
                Some(code) => out.retry_on.push(RetryOn::Grpc(code)),
                None => report.warn(
                    at,
                    format!(
                        "{other:?} is not supported and is left out; supported: 5xx, \
                         gateway-error, reset, connect-failure, refused-stream, retriable-4xx, \
                         retriable-status-codes (with status codes), cancelled, \
                         deadline-exceeded, internal, resource-exhausted, unavailable"
                    ),
                ),
            },
        },
    }
}

fn fault(f: &FaultSpec, at: &str, report: &mut Report<'_>) -> Option<Fault> {
    let mut out = Fault::default();
    let pct = |p: &Option<Percent>, old: Option<i64>, field: String, report: &mut Report<'_>| {
        let value = p
            .as_ref()
            .and_then(|p| p.value)
            .or(old.map(|o| o as f64))
            .unwrap_or(100.0);
        percent(value).map_err(|e| report.error(field, e)).ok()
    };
    if let Some(d) = &f.delay {
        match d.fixed_delay.as_deref().map(go_duration) {
            Some(Ok(fixed)) => {
                if let Some(p) = pct(
                    &d.percentage,
                    d.percent,
                    format!("{at}.delay.percentage.value"),
                    report,
                ) {
                    out.delay = Some(FaultDelay { fixed, percent: p });
                }
            }
            Some(Err(e)) => report.error(format!("{at}.delay.fixedDelay"), e),
            None => report.error(
                format!("{at}.delay.fixedDelay"),
                "a delay needs fixedDelay (e.g. 5s)",
            ),
        }
    }
    if let Some(a) = &f.abort {
        let p = pct(
            &a.percentage,
            None,
            format!("{at}.abort.percentage.value"),
            report,
        );
        let code = match (a.http_status, &a.grpc_status) {
            (Some(s), _) => match u16::try_from(s).ok().filter(|s| (200..=599).contains(s)) {
                Some(s) => Some((s, None)),
                None => {
                    report.error(
                        format!("{at}.abort.httpStatus"),
                        format!("{s} is not an HTTP status 200 to 599"),
                    );
                    None
                }
            },
            (None, Some(g)) => match grpc_code(g) {
                Some((code, status)) => Some((status, Some(code))),
                None => {
                    report.error(
                        format!("{at}.abort.grpcStatus"),
                        format!("{g:?} is not a gRPC status name (e.g. UNAVAILABLE)"),
                    );
                    None
                }
            },
            (None, None) => {
                report.error(
                    format!("{at}.abort"),
                    "an abort needs httpStatus or grpcStatus",
                );
                None
            }
        };
        if let (Some((status, grpc_status)), Some(percent)) = (code, p) {
            out.abort = Some(FaultAbort {
                status,
                percent,
                grpc_status,
            });
        }
    }
    (out.delay.is_some() || out.abort.is_some()).then_some(out)
}

/// A gRPC status name's code, and the HTTP status gRPC clients map to the same (or nearest)
/// code (gRPC's HTTP-to-status table).
fn grpc_code(name: &str) -> Option<(u32, u16)> {
    const CODES: [(&str, u32, u16); 17] = [
        ("OK", 0, 200),
        ("CANCELLED", 1, 500),
        ("UNKNOWN", 2, 500),
        ("INVALID_ARGUMENT", 3, 400),
        ("DEADLINE_EXCEEDED", 4, 504),
        ("NOT_FOUND", 5, 404),
        ("ALREADY_EXISTS", 6, 409),
        ("PERMISSION_DENIED", 7, 403),
        ("RESOURCE_EXHAUSTED", 8, 429),
        ("FAILED_PRECONDITION", 9, 400),
        ("ABORTED", 10, 409),
        ("OUT_OF_RANGE", 11, 400),
        ("UNIMPLEMENTED", 12, 404),
        ("INTERNAL", 13, 500),
        ("UNAVAILABLE", 14, 503),
        ("DATA_LOSS", 15, 500),
        ("UNAUTHENTICATED", 16, 401),
    ];
    if let Ok(n) = name.parse::<u32>() {
        return CODES.iter().find(|c| c.1 == n).map(|c| (c.1, c.2));
    }
    CODES
        .iter()
        .find(|c| c.0.eq_ignore_ascii_case(name))
        .map(|c| (c.1, c.2))
}

fn rewrite(rw: &RewriteSpec, route: &Route, at: &str, report: &mut Report<'_>) -> Option<Rewrite> {
    let mut out = Rewrite::default();
    if let Some(uri) = &rw.uri {
        let all_prefix = !route.matches.is_empty()
            && route
                .matches
                .iter()
                .all(|m| matches!(m.path, Some(PathMatch::Prefix(_))));
        if !uri.starts_with('/') {
            report.error(
                format!("{at}.uri"),
                "a path starts with /; the rewrite is dropped",
            );
        } else {
            out.path = Some(if all_prefix {
                PathRewrite::Prefix(uri.clone())
            } else {
                PathRewrite::Full(uri.clone())
            });
        }
    }
    if let Some(a) = &rw.authority {
        if a.parse::<http::uri::Authority>().is_ok() && !a.contains('@') {
            out.authority = Some(a.clone());
        } else {
            report.error(
                format!("{at}.authority"),
                "expected host or host:port; the rewrite is dropped",
            );
        }
    }
    (out.path.is_some() || out.authority.is_some()).then_some(out)
}

/// `tcp[]`: the first route for this port picks the backend opaque connections go to.
fn tcp_routes(
    catalog: &mut Catalog<'_>,
    table: &mut Table,
    object: &ObjectRef,
    spec: &Spec,
    key: &str,
    port: u16,
) {
    let chosen = spec.tcp.iter().flatten().enumerate().find(|(_, t)| {
        let ms = t.matches.clone().unwrap_or_default();
        ms.is_empty()
            || ms
                .iter()
                .any(|m| m.port.is_none_or(|p| p == u32::from(port)))
    });
    let Some((i, tcp)) = chosen else {
        return;
    };
    let at = format!("spec.tcp[{i}]");
    let mut best: Option<(String, i64)> = None;
    let dests = tcp.route.clone().unwrap_or_default();
    for (k, d) in dests.iter().enumerate() {
        let field = format!("{at}.route[{k}].destination");
        let Some(dest) = dest_of(d.destination.as_ref()) else {
            catalog
                .report(object)
                .error(format!("{field}.host"), "a destination needs a host");
            continue;
        };
        let weight = d.weight.unwrap_or(if dests.len() == 1 { 100 } else { 0 });
        if let Some(r) = routes::resolve(
            catalog,
            table,
            key,
            &object.namespace,
            &dest,
            &field,
            object,
        ) && best.as_ref().is_none_or(|b| weight > b.1)
        {
            best = Some((r.backend, weight));
        }
    }
    if dests.len() > 1 {
        catalog.report(object).warn(
            format!("{at}.route"),
            "weights between TCP destinations are not supported: every connection goes to the \
             destination with the highest weight",
        );
    }
    if let (Some((backend, _)), Some(t)) = (best, table.get_mut(key)) {
        // Opaque connections go to the first backend.
        if let Some(pos) = t.model.backends.iter().position(|b| b.name == backend) {
            let b = t.model.backends.remove(pos);
            t.model.backends.insert(0, b);
        }
        t.route_source = Some(object.clone());
    }
}
