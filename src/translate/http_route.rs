//! Gateway API HTTPRoute with a Service as parentRef (GAMMA): rules into model routes
//! (matches on path, headers, query parameters and method; weighted Service backendRefs;
//! header, mirror and rewrite filters; timeouts; the experimental `retry`).

use serde::{Deserialize, Serialize};

use super::catalog::Catalog;
use super::finding::Report;
use super::gateway::{self, BackendRef, Filter, ParentRef, RouteCtx, UrlRewrite, ValueMatchSpec};
use super::service::Table;
use super::spec::go_duration;
use crate::model::duration::Duration;
use crate::model::policy::{Retries, RetryOn};
use crate::model::route::{PathMatch, PathRewrite, Rewrite, Route, RouteMatch, ValueMatch};

/// The HTTPRoute kind.
pub const KIND: &str = "HTTPRoute";

/// An HTTPRoute's `spec`.
pub type Spec = gateway::RouteSpec<Rule>;

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub name: Option<String>,
    pub matches: Option<Vec<Match>>,
    pub filters: Option<Vec<Filter>>,
    pub backend_refs: Option<Vec<BackendRef>>,
    pub timeouts: Option<Timeouts>,
    pub retry: Option<Retry>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Match {
    pub path: Option<PathSpec>,
    pub headers: Option<Vec<ValueMatchSpec>>,
    pub query_params: Option<Vec<ValueMatchSpec>>,
    pub method: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PathSpec {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub value: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeouts {
    pub request: Option<String>,
    pub backend_request: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Retry {
    pub attempts: Option<i64>,
    pub codes: Option<Vec<i64>>,
    pub backoff: Option<String>,
}

/// The model routes of one HTTPRoute on port service `key`, each with its rank.
pub(crate) fn routes(
    catalog: &mut Catalog<'_>,
    table: &mut Table,
    ctx: &mut RouteCtx<'_>,
    spec: &Spec,
    key: &str,
) -> Vec<(gateway::Rank, Route)> {
    let mut out = Vec::new();
    let Some(service_policy) = table.get(key).map(|t| t.model.policy.clone()) else {
        return out;
    };
    let object = ctx.object;
    for (i, rule) in spec.rules.iter().flatten().enumerate() {
        let at = format!("spec.rules[{i}]");
        let mut base = gateway::rule_route(
            catalog,
            table,
            key,
            ctx,
            &at,
            rule.filters.as_deref().unwrap_or_default(),
            rule.backend_refs.as_deref().unwrap_or_default(),
            true,
        );
        let mut report = catalog.report(object);
        if let Some(policy) = rule_policy(rule, &service_policy, &at, &mut report) {
            base.policy = Some(policy);
        }
        let given = rule.matches.clone().unwrap_or_default();
        let matches: Vec<(usize, Option<RouteMatch>)> = if given.is_empty() {
            vec![(0, None)]
        } else {
            given
                .iter()
                .enumerate()
                .map(|(j, m)| {
                    (
                        j,
                        route_match(m, &format!("{at}.matches[{j}]"), &mut report),
                    )
                })
                .collect()
        };
        let name = rule.name.clone().unwrap_or_else(|| format!("rule-{i}"));
        for (j, m) in matches {
            let rm = match m {
                Some(m) => m,
                // A refused match: dropping only the bad condition would widen what it takes.
                None if !given.is_empty() => continue,
                None => RouteMatch::default(),
            };
            let mut route = base.clone();
            route.name = format!("{}.{}.{name}", object.namespace, object.name);
            if let Some(PathRewrite::Prefix(_)) =
                route.rewrite.as_ref().and_then(|r| r.path.as_ref())
                && !matches!(rm.path, None | Some(PathMatch::Prefix(_)))
            {
                report.error(
                    format!("{at}.matches[{j}].path"),
                    "URLRewrite ReplacePrefixMatch needs a PathPrefix match; the path rewrite is \
                     dropped for this match",
                );
                if let Some(rw) = &mut route.rewrite {
                    rw.path = None;
                }
                if route
                    .rewrite
                    .as_ref()
                    .is_some_and(|r| r.authority.is_none())
                {
                    route.rewrite = None;
                }
            }
            let mut rm = rm;
            if route
                .rewrite
                .as_ref()
                .is_some_and(|r| matches!(r.path, Some(PathRewrite::Prefix(_))))
                && rm.path.is_none()
            {
                // The Gateway API's default path match, made explicit for the prefix rewrite.
                rm.path = Some(PathMatch::Prefix("/".to_owned()));
            }
            let rank = gateway::http_rank(
                rm.path.as_ref(),
                rm.method.is_some(),
                rm.headers.len(),
                rm.query_params.len(),
            );
            if rm != RouteMatch::default() {
                route.matches = vec![rm];
            }
            out.push((rank, route));
        }
    }
    out
}

/// The rule's timeouts and retry on top of the service's policy; None when it sets neither.
fn rule_policy(
    rule: &Rule,
    service: &crate::model::policy::Policy,
    at: &str,
    report: &mut Report<'_>,
) -> Option<crate::model::policy::Policy> {
    if rule.timeouts.is_none() && rule.retry.is_none() {
        return None;
    }
    let mut policy = service.clone();
    if let Some(t) = &rule.timeouts {
        let mut read = |v: &Option<String>, field: &str| -> Option<Option<Duration>> {
            let text = v.as_ref()?;
            match go_duration(text) {
                Ok(d) if d.get().is_zero() => Some(None),
                Ok(d) => Some(Some(d)),
                Err(e) => {
                    report.error(format!("{at}.timeouts.{field}"), e);
                    None
                }
            }
        };
        if let Some(d) = read(&t.request, "request") {
            policy.timeouts.request = d;
        }
        if let Some(d) = read(&t.backend_request, "backendRequest") {
            policy.timeouts.per_try = d;
        }
        if let (Some(total), Some(per_try)) = (policy.timeouts.request, policy.timeouts.per_try)
            && per_try > total
        {
            report.error(
                format!("{at}.timeouts.backendRequest"),
                "must not be longer than timeouts.request: capped at it",
            );
            policy.timeouts.per_try = Some(total);
        }
    }
    if let Some(r) = &rule.retry {
        policy.retries = retry(r, &format!("{at}.retry"), report);
    }
    Some(policy)
}

/// The experimental `retry`: `codes` are retried, and so are tries the upstream never
/// processed (connect failures, refused streams).
fn retry(r: &Retry, at: &str, report: &mut Report<'_>) -> Option<Retries> {
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
                report.error(
                    format!("{at}.attempts"),
                    "must be 0 or more; retries are off",
                );
                0
            }
        };
    }
    out.retry_on = vec![RetryOn::ConnectFailure, RetryOn::RefusedStream];
    for (i, code) in r.codes.iter().flatten().enumerate() {
        match u16::try_from(*code)
            .ok()
            .filter(|c| (400..=599).contains(c))
        {
            Some(c) => out.retriable_status_codes.push(c),
            None => report.error(
                format!("{at}.codes[{i}]"),
                format!("{code} is not an HTTP error status (400 to 599)"),
            ),
        }
    }
    out.retriable_status_codes.sort_unstable();
    out.retriable_status_codes.dedup();
    if !out.retriable_status_codes.is_empty() {
        out.retry_on.insert(0, RetryOn::RetriableStatusCodes);
    }
    if let Some(b) = &r.backoff {
        match go_duration(b) {
            Ok(d) => {
                out.backoff.base = d;
                if out.backoff.max < d {
                    out.backoff.max = d;
                }
                report.warn(
                    format!("{at}.backoff"),
                    "used as the base of a jittered exponential backoff: a wait may be shorter",
                );
            }
            Err(e) => report.error(format!("{at}.backoff"), e),
        }
    }
    (out.attempts > 0).then_some(out)
}

/// One HTTPRouteMatch; None (reported) when a condition cannot be expressed.
fn route_match(m: &Match, at: &str, report: &mut Report<'_>) -> Option<RouteMatch> {
    let mut rm = RouteMatch::default();
    if let Some(p) = &m.path {
        let value = p.value.clone().unwrap_or_else(|| "/".to_owned());
        rm.path = Some(match p.kind.as_deref().unwrap_or("PathPrefix") {
            "Exact" if value.starts_with('/') => PathMatch::Exact(value),
            "PathPrefix" if value.starts_with('/') => PathMatch::Prefix(value),
            "RegularExpression" => match regex::Regex::new(&value) {
                Ok(_) => PathMatch::Regex(value),
                Err(e) => {
                    report.error(
                        format!("{at}.path.value"),
                        format!("not a valid regular expression ({e}); this match is dropped"),
                    );
                    return None;
                }
            },
            "Exact" | "PathPrefix" => {
                report.error(
                    format!("{at}.path.value"),
                    "a path starts with /; this match is dropped",
                );
                return None;
            }
            other => {
                report.error(format!("{at}.path.type"), format!("{other:?} is not a path match type (Exact, PathPrefix, RegularExpression); this match is dropped"));
                return None;
            }
        });
    }
    if let Some(method) = &m.method {
        rm.method = Some(method.to_ascii_uppercase());
    }
    for (k, h) in m.headers.iter().flatten().enumerate() {
        rm.headers
            .push(value_match(h, true, &format!("{at}.headers[{k}]"), report)?);
    }
    for (k, q) in m.query_params.iter().flatten().enumerate() {
        rm.query_params.push(value_match(
            q,
            false,
            &format!("{at}.queryParams[{k}]"),
            report,
        )?);
    }
    Some(rm)
}

/// A header or query parameter match (Exact or RegularExpression).
pub(crate) fn value_match(
    v: &ValueMatchSpec,
    header: bool,
    at: &str,
    report: &mut Report<'_>,
) -> Option<ValueMatch> {
    let (Some(name), Some(value)) = (&v.name, &v.value) else {
        report.error(at, "a match needs name and value; this match is dropped");
        return None;
    };
    if header && http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        report.error(
            format!("{at}.name"),
            format!("{name:?} is not a header name; this match is dropped"),
        );
        return None;
    }
    let mut out = ValueMatch {
        name: if header {
            name.to_ascii_lowercase()
        } else {
            name.clone()
        },
        ..ValueMatch::default()
    };
    match v.kind.as_deref().unwrap_or("Exact") {
        "Exact" => out.exact = Some(value.clone()),
        "RegularExpression" => {
            if let Err(e) = regex::Regex::new(value) {
                report.error(
                    format!("{at}.value"),
                    format!("not a valid regular expression ({e}); this match is dropped"),
                );
                return None;
            }
            out.regex = Some(value.clone());
        }
        other => {
            report.error(format!("{at}.type"), format!("{other:?} is not a match type (Exact, RegularExpression); this match is dropped"));
            return None;
        }
    }
    Some(out)
}

/// The URLRewrite filter: hostname becomes the authority, the path is replaced in full or
/// by prefix.
pub(crate) fn rewrite(rw: &UrlRewrite, at: &str, report: &mut Report<'_>) -> Option<Rewrite> {
    let mut out = Rewrite::default();
    if let Some(h) = &rw.hostname {
        if h.parse::<http::uri::Authority>().is_ok() && !h.contains('@') {
            out.authority = Some(h.clone());
        } else {
            report.error(
                format!("{at}.hostname"),
                "expected a host name; the rewrite of the authority is dropped",
            );
        }
    }
    if let Some(p) = &rw.path {
        let (kind, value) = match p.kind.as_deref() {
            Some("ReplaceFullPath") => ("replaceFullPath", p.replace_full_path.clone()),
            Some("ReplacePrefixMatch") => ("replacePrefixMatch", p.replace_prefix_match.clone()),
            other => {
                report.error(format!("{at}.path.type"), format!("{other:?} is not a path modifier (ReplaceFullPath, ReplacePrefixMatch); the path rewrite is dropped"));
                ("", None)
            }
        };
        match value {
            Some(v) if v.starts_with('/') => {
                out.path = Some(if kind == "replaceFullPath" {
                    PathRewrite::Full(v)
                } else {
                    PathRewrite::Prefix(v)
                });
            }
            Some(_) | None if !kind.is_empty() => report.error(
                format!("{at}.path.{kind}"),
                "give a path starting with /; the path rewrite is dropped",
            ),
            _ => {}
        }
    }
    (out.path.is_some() || out.authority.is_some()).then_some(out)
}

/// The parentRefs of an HTTPRoute.
pub(crate) fn parents(spec: &Spec) -> &[ParentRef] {
    spec.parent_refs.as_deref().unwrap_or_default()
}

/// Whether `object` sets hostnames (ignored for Service parents).
pub(crate) fn has_hostnames(spec: &Spec) -> bool {
    spec.hostnames.as_ref().is_some_and(|h| !h.is_empty())
}
