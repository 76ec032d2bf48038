//! Gateway API GRPCRoute with a Service as parentRef (GAMMA): rules into model routes
//! (matches on the gRPC service and method, i.e. the request path `/service/method`, and on
//! headers; weighted Service backendRefs; header and mirror filters).

use std::cmp::Reverse;

use serde::{Deserialize, Serialize};

use super::catalog::Catalog;
use super::finding::Report;
use super::gateway::{self, BackendRef, Filter, ParentRef, RouteCtx, ValueMatchSpec};
use super::http_route::value_match;
use super::service::Table;
use crate::model::route::{PathMatch, Route, RouteMatch};

/// The GRPCRoute kind.
pub const KIND: &str = "GRPCRoute";

/// An GRPCRoute's `spec`.
pub type Spec = gateway::RouteSpec<Rule>;

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub name: Option<String>,
    pub matches: Option<Vec<Match>>,
    pub filters: Option<Vec<Filter>>,
    pub backend_refs: Option<Vec<BackendRef>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Match {
    pub method: Option<MethodMatch>,
    pub headers: Option<Vec<ValueMatchSpec>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodMatch {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub service: Option<String>,
    pub method: Option<String>,
}

/// The model routes of one GRPCRoute on port service `key`, each with its rank: the longest
/// service, then the longest method, then the most headers first (the Gateway API's order).
pub(crate) fn routes(
    catalog: &mut Catalog<'_>,
    table: &mut Table,
    ctx: &mut RouteCtx<'_>,
    spec: &Spec,
    key: &str,
) -> Vec<(gateway::Rank, Route)> {
    let mut out = Vec::new();
    let object = ctx.object;
    for (i, rule) in spec.rules.iter().flatten().enumerate() {
        let at = format!("spec.rules[{i}]");
        let base = gateway::rule_route(
            catalog,
            table,
            key,
            ctx,
            &at,
            rule.filters.as_deref().unwrap_or_default(),
            rule.backend_refs.as_deref().unwrap_or_default(),
            false,
        );
        let mut report = catalog.report(object);
        let given = rule.matches.clone().unwrap_or_default();
        let name = rule.name.clone().unwrap_or_else(|| format!("rule-{i}"));
        let mut push = |rm: RouteMatch, rank: gateway::Rank| {
            let mut route = base.clone();
            route.name = format!("{}.{}.{name}", object.namespace, object.name);
            if rm != RouteMatch::default() {
                route.matches = vec![rm];
            }
            out.push((rank, route));
        };
        if given.is_empty() {
            push(
                RouteMatch::default(),
                (2, Reverse(0), false, Reverse(0), Reverse(0)),
            );
        }
        for (j, m) in given.iter().enumerate() {
            if let Some((rm, rank)) = route_match(m, &format!("{at}.matches[{j}]"), &mut report) {
                push(rm, rank);
            }
        }
    }
    out
}

/// One GRPCRouteMatch; None (reported) when a condition cannot be expressed.
fn route_match(
    m: &Match,
    at: &str,
    report: &mut Report<'_>,
) -> Option<(RouteMatch, gateway::Rank)> {
    let mut rm = RouteMatch::default();
    let (mut class, mut service_len, mut method_len) = (2, 0, 0);
    if let Some(mm) = &m.method {
        let service = mm.service.as_deref().filter(|s| !s.is_empty());
        let method = mm.method.as_deref().filter(|s| !s.is_empty());
        service_len = service.map_or(0, str::len);
        method_len = method.map_or(0, str::len);
        let path = match (mm.kind.as_deref().unwrap_or("Exact"), service, method) {
            (_, None, None) => {
                report.error(
                    format!("{at}.method"),
                    "give service, method or both; this match is dropped",
                );
                return None;
            }
            ("Exact", Some(s), Some(m)) => PathMatch::Exact(format!("/{s}/{m}")),
            ("Exact", Some(s), None) => PathMatch::Prefix(format!("/{s}")),
            ("Exact", None, Some(m)) => PathMatch::Regex(format!("/[^/]+/{}", regex::escape(m))),
            ("RegularExpression", s, m) => {
                for (field, re) in [("service", s), ("method", m)] {
                    if let Some(re) = re
                        && let Err(e) = regex::Regex::new(re)
                    {
                        report.error(
                            format!("{at}.method.{field}"),
                            format!("not a valid regular expression ({e}); this match is dropped"),
                        );
                        return None;
                    }
                }
                PathMatch::Regex(format!(
                    "/(?:{})/(?:{})",
                    s.unwrap_or("[^/]+"),
                    m.unwrap_or("[^/]+")
                ))
            }
            (other, ..) => {
                report.error(format!("{at}.method.type"), format!("{other:?} is not a method match type (Exact, RegularExpression); this match is dropped"));
                return None;
            }
        };
        class = if matches!(path, PathMatch::Exact(_)) {
            0
        } else {
            1
        };
        rm.path = Some(path);
    }
    for (k, h) in m.headers.iter().flatten().enumerate() {
        rm.headers
            .push(value_match(h, true, &format!("{at}.headers[{k}]"), report)?);
    }
    let rank = (
        class.min(1),
        Reverse(service_len),
        false,
        Reverse(method_len),
        Reverse(rm.headers.len()),
    );
    let rank = if m.method.is_none() {
        (2, rank.1, rank.2, rank.3, rank.4)
    } else {
        rank
    };
    Some((rm, rank))
}

/// The parentRefs of a GRPCRoute.
pub(crate) fn parents(spec: &Spec) -> &[ParentRef] {
    spec.parent_refs.as_deref().unwrap_or_default()
}

/// Whether the route sets hostnames (ignored for Service parents).
pub(crate) fn has_hostnames(spec: &Spec) -> bool {
    spec.hostnames.as_ref().is_some_and(|h| !h.is_empty())
}
