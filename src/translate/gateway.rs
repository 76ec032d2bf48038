//! What HTTPRoute and GRPCRoute share (Gateway API, GAMMA: a Service as parentRef): parent
//! and backend references, ReferenceGrants, filters, and the merge of every route attached
//! to one Service port into model routes ordered by the Gateway API's match precedence.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::catalog::Catalog;
use super::finding::{ObjectRef, Report};
use super::route_status::{RouteOutcome, Verdict};
use super::routes::{self, Dest};
use super::service::Table;
use crate::model::route::{
    BackendRef as ModelBackendRef, Fault, FaultAbort, HeaderFilter, Mirror, PathMatch, Route,
};
use crate::model::service::Protocol;

/// The Gateway API group.
pub const GROUP: &str = "gateway.networking.k8s.io";

/// The ReferenceGrant kind: lets routes of other namespaces send to a namespace's Services.
pub const REFERENCE_GRANT: &str = "ReferenceGrant";

/// Whether an apiVersion is a Gateway API version whose route schema this reads.
pub(crate) fn is_gateway_api(api_version: &str) -> bool {
    matches!(
        api_version,
        "gateway.networking.k8s.io/v1"
            | "gateway.networking.k8s.io/v1beta1"
            | "gateway.networking.k8s.io/v1alpha2"
    )
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentRef {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub section_name: Option<String>,
    pub port: Option<i64>,
}

impl ParentRef {
    /// A Service parent (GAMMA): core group and kind Service; kind defaults to Gateway.
    pub(crate) fn is_service(&self) -> bool {
        self.group.as_deref().unwrap_or("").is_empty() && self.kind.as_deref() == Some("Service")
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendRef {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub port: Option<i64>,
    pub weight: Option<i64>,
    pub filters: Option<Vec<Value>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub request_header_modifier: Option<HeaderModifier>,
    pub response_header_modifier: Option<HeaderModifier>,
    pub request_mirror: Option<MirrorFilter>,
    #[serde(rename = "urlRewrite")]
    pub url_rewrite: Option<UrlRewrite>,
    pub request_redirect: Option<Value>,
    pub extension_ref: Option<Value>,
    pub cors: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderModifier {
    pub set: Option<Vec<NameValue>>,
    pub add: Option<Vec<NameValue>>,
    pub remove: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NameValue {
    pub name: Option<String>,
    pub value: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorFilter {
    pub backend_ref: Option<BackendRef>,
    pub percent: Option<i64>,
    pub fraction: Option<Fraction>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fraction {
    pub numerator: Option<i64>,
    pub denominator: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlRewrite {
    pub hostname: Option<String>,
    pub path: Option<PathModifier>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PathModifier {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub replace_full_path: Option<String>,
    pub replace_prefix_match: Option<String>,
}

/// The `spec` both route kinds share, with their own kind of rule.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteSpec<R> {
    pub parent_refs: Option<Vec<ParentRef>>,
    pub hostnames: Option<Vec<String>>,
    pub rules: Option<Vec<R>>,
}

/// A header or query parameter match as both route kinds write it.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueMatchSpec {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: Option<String>,
    pub value: Option<String>,
}

/// The Service ports `parent_refs` attach to. Records each Service parent's `Accepted`
/// verdict in `outcome` (parents that are not Services belong to gateway controllers).
pub(crate) fn attachments(
    catalog: &mut Catalog<'_>,
    table: &Table,
    object: &ObjectRef,
    parent_refs: &[ParentRef],
    hostnames: bool,
    outcome: &mut RouteOutcome,
) -> Vec<String> {
    let mut out = Vec::new();
    if hostnames {
        catalog.report(object).warn(
            "spec.hostnames",
            "ignored for Service parents (GAMMA): the Service's own names select the route",
        );
    }
    for (i, p) in parent_refs.iter().enumerate() {
        if !p.is_service() {
            continue;
        }
        let at = format!("spec.parentRefs[{i}]");
        let verdict = attach_one(catalog, table, p, object, &mut out);
        if let Err(v) = &verdict {
            catalog
                .report(object)
                .error(at, format!("{}; this parentRef is not applied", v.message));
        }
        outcome.parents.push((p.clone(), verdict));
    }
    if outcome.parents.is_empty() {
        catalog.report(object).warn(
            "spec.parentRefs",
            "no parentRef is a Service (group \"\", kind Service): the mesh does not route by \
             this object (a gateway controller may)",
        );
    }
    out
}

fn attach_one(
    catalog: &mut Catalog<'_>,
    table: &Table,
    p: &ParentRef,
    object: &ObjectRef,
    out: &mut Vec<String>,
) -> Result<(), Verdict> {
    let ns = p
        .namespace
        .clone()
        .unwrap_or_else(|| object.namespace.clone());
    let name = p.name.clone().unwrap_or_default();
    let no_parent = |message: String| Err(Verdict::new("NoMatchingParent", message));
    if !catalog.services.contains_key(&(ns.clone(), name.clone())) {
        return no_parent(format!("Service {ns}/{name} does not exist"));
    }
    if ns != object.namespace {
        // A consumer route changes the Service for its own namespace only; the model has one
        // set of routes per Service, shared by every client namespace.
        return Err(Verdict::new(
            "UnsupportedValue",
            format!(
                "a route in namespace {} for Service {ns}/{name} (a consumer route) is not \
                 supported: put the route in namespace {ns}",
                object.namespace
            ),
        ));
    }
    let section_port = match &p.section_name {
        None => None,
        Some(section) => {
            let port = catalog
                .services
                .get(&(ns.clone(), name.clone()))
                .and_then(|s| s.spec.as_ref()?.ports.as_ref())
                .and_then(|ports| ports.iter().find(|sp| sp.name.as_deref() == Some(section)))
                .and_then(|sp| u16::try_from(sp.port).ok());
            match port {
                Some(port) => Some(port),
                None => {
                    return no_parent(format!("Service {ns}/{name} has no port named {section:?}"));
                }
            }
        }
    };
    let want = p.port.map(|port| u16::try_from(port).unwrap_or(0));
    let keys: Vec<(String, Protocol)> = table
        .iter()
        .filter(|(_, t)| t.namespace == ns && t.service == name && !t.per_pod)
        .filter(|(_, t)| want.is_none_or(|w| w == t.port))
        .filter(|(_, t)| section_port.is_none_or(|s| s == t.port))
        .map(|(k, t)| (k.clone(), t.model.protocol))
        .collect();
    if keys.is_empty() {
        return no_parent(match want {
            Some(port) => format!("Service {ns}/{name} has no port {port}"),
            None => format!("Service {ns}/{name} has no ports"),
        });
    }
    if keys.iter().all(|(_, proto)| *proto == Protocol::Opaque) {
        return Err(Verdict::new(
            "UnsupportedValue",
            format!(
                "the ports of Service {ns}/{name} it names are opaque (TCP): HTTP routes do not apply"
            ),
        ));
    }
    for (key, proto) in keys {
        if proto != Protocol::Opaque {
            out.push(key);
        }
    }
    Ok(())
}

/// Whether a ReferenceGrant in namespace `to_ns` lets `from_kind` objects of `from_ns` refer
/// to Service `to_name`.
fn ref_permitted(
    catalog: &Catalog<'_>,
    from_kind: &str,
    from_ns: &str,
    to_ns: &str,
    to_name: &str,
) -> bool {
    catalog.inputs.objects.iter().any(|o| {
        let t = o.types.clone().unwrap_or_default();
        if t.kind != REFERENCE_GRANT || !is_gateway_api(&t.api_version) {
            return false;
        }
        if super::catalog::namespace_of(&o.metadata) != to_ns {
            return false;
        }
        let spec = o.data.get("spec");
        let list = |k: &str| {
            spec.and_then(|s| s.get(k))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let from = list("from").iter().any(|f| {
            text(f, "group") == GROUP
                && text(f, "kind") == from_kind
                && text(f, "namespace") == from_ns
        });
        let to = list("to").iter().any(|t| {
            text(t, "group").is_empty()
                && text(t, "kind") == "Service"
                && t.get("name")
                    .and_then(Value::as_str)
                    .is_none_or(|n| n == to_name)
        });
        from && to
    })
}

/// Where one route's rules go: the object, its kind, and its ResolvedRefs verdict.
pub(crate) struct RouteCtx<'o> {
    pub object: &'o ObjectRef,
    pub outcome: &'o mut RouteOutcome,
}

impl RouteCtx<'_> {
    fn unresolved(&mut self, reason: &'static str, message: String) {
        if self.outcome.resolved_refs.is_ok() {
            self.outcome.resolved_refs = Err(Verdict::new(reason, message));
        } else if let Err(v) = &mut self.outcome.resolved_refs {
            v.message.push_str("; ");
            v.message.push_str(&message);
        }
    }
}

/// A backendRef as a destination of service `key`: the backend's name, or the reason it
/// cannot be one (recorded in ResolvedRefs and as an Error at `at`).
fn backend(
    catalog: &mut Catalog<'_>,
    table: &mut Table,
    key: &str,
    ctx: &mut RouteCtx<'_>,
    b: &BackendRef,
    at: &str,
) -> Option<String> {
    let object = ctx.object;
    let group = b.group.as_deref().unwrap_or("");
    let kind = b.kind.as_deref().unwrap_or("Service");
    if !group.is_empty() || kind != "Service" {
        let message =
            format!("backendRef kind {kind:?} (group {group:?}) is not supported: name a Service");
        catalog.report(object).error(at, message.clone());
        ctx.unresolved("InvalidKind", message);
        return None;
    }
    let Some(name) = b.name.clone().filter(|n| !n.is_empty()) else {
        let message = "a backendRef needs a name".to_owned();
        catalog
            .report(object)
            .error(format!("{at}.name"), message.clone());
        ctx.unresolved("BackendNotFound", message);
        return None;
    };
    let ns = b
        .namespace
        .clone()
        .unwrap_or_else(|| object.namespace.clone());
    if ns != object.namespace
        && !ref_permitted(catalog, &object.kind, &object.namespace, &ns, &name)
    {
        let message = format!(
            "Service {ns}/{name} is in another namespace and no ReferenceGrant in {ns} allows \
             {} of {} to refer to it; add one",
            object.kind, object.namespace
        );
        catalog
            .report(object)
            .error(format!("{at}.namespace"), message.clone());
        ctx.unresolved("RefNotPermitted", message);
        return None;
    }
    let Some(port) = b.port else {
        let message = format!("a backendRef to Service {ns}/{name} needs a port");
        catalog
            .report(object)
            .error(format!("{at}.port"), message.clone());
        ctx.unresolved("BackendNotFound", message);
        return None;
    };
    let dest = Dest {
        host: format!("{name}.{ns}"),
        subset: None,
        port: Some(u32::try_from(port).unwrap_or(0)),
    };
    let before = catalog.findings.len();
    let resolved = routes::resolve(catalog, table, key, &object.namespace, &dest, at, object);
    if resolved.is_none() {
        let message = catalog.findings[before..].last().map_or_else(
            || format!("Service {ns}/{name} port {port} not found"),
            |f| f.message.clone(),
        );
        ctx.unresolved("BackendNotFound", message);
    }
    resolved.map(|r| r.backend)
}

/// A rule's filters and backends into a route (matches and policy are the kind's): weights
/// of invalid backends, and rules whose filters the mesh cannot run, answer 500 as the
/// Gateway API requires (never send their traffic elsewhere).
#[allow(clippy::too_many_arguments)]
pub(crate) fn rule_route(
    catalog: &mut Catalog<'_>,
    table: &mut Table,
    key: &str,
    ctx: &mut RouteCtx<'_>,
    at: &str,
    filters: &[Filter],
    backend_refs: &[BackendRef],
    allow_rewrite: bool,
) -> Route {
    let object = ctx.object;
    let mut route = Route::default();
    let mut failed_weight: u64 = 0;
    let mut total_weight: u64 = 0;
    for (k, b) in backend_refs.iter().enumerate() {
        let field = format!("{at}.backendRefs[{k}]");
        let weight = match b.weight {
            None => 1,
            Some(w) => match u32::try_from(w) {
                Ok(w) => w,
                Err(_) => {
                    catalog.report(object).error(
                        format!("{field}.weight"),
                        format!("{w} is not a weight (0 to 1000000)"),
                    );
                    0
                }
            },
        };
        total_weight += u64::from(weight);
        if b.filters.as_ref().is_some_and(|f| !f.is_empty()) {
            catalog.report(object).warn(
                format!("{field}.filters"),
                "filters per backendRef are not supported and are ignored; put them on the rule",
            );
        }
        match backend(catalog, table, key, ctx, b, &field) {
            Some(name) => match route.backends.iter_mut().find(|x| x.name == name) {
                Some(existing) => existing.weight = existing.weight.saturating_add(weight),
                None => route.backends.push(ModelBackendRef { name, weight }),
            },
            None => failed_weight += u64::from(weight),
        }
    }
    let mut unsupported = false;
    let mut mirrors = 0;
    for (f_i, f) in filters.iter().enumerate() {
        let field = format!("{at}.filters[{f_i}]");
        let kind = f.kind.as_deref().unwrap_or("");
        let mut report = catalog.report(object);
        match kind {
            "RequestHeaderModifier" => {
                let f = header_modifier(
                    f.request_header_modifier.as_ref(),
                    &format!("{field}.requestHeaderModifier"),
                    &mut report,
                );
                merge_filter(&mut route.request_headers, f);
            }
            "ResponseHeaderModifier" => {
                let f = header_modifier(
                    f.response_header_modifier.as_ref(),
                    &format!("{field}.responseHeaderModifier"),
                    &mut report,
                );
                merge_filter(&mut route.response_headers, f);
            }
            "URLRewrite" if allow_rewrite => {
                if let Some(rw) = &f.url_rewrite {
                    route.rewrite =
                        super::http_route::rewrite(rw, &format!("{field}.urlRewrite"), &mut report);
                }
            }
            "RequestMirror" => {
                mirrors += 1;
                if mirrors > 1 {
                    report.warn(
                        field,
                        "only the first RequestMirror of a rule is applied; this one is ignored",
                    );
                    continue;
                }
                let Some(m) = &f.request_mirror else {
                    report.error(
                        format!("{field}.requestMirror"),
                        "a RequestMirror filter needs requestMirror",
                    );
                    continue;
                };
                let percent = match (m.percent, &m.fraction) {
                    (Some(p), _) => super::spec::percent(p as f64),
                    (None, Some(fr)) => {
                        let n = fr.numerator.unwrap_or(0);
                        let d = fr.denominator.unwrap_or(100);
                        if d <= 0 || n < 0 || n > d {
                            Err(format!("{n}/{d} is not a fraction between 0 and 1"))
                        } else {
                            Ok(n as f64 * 100.0 / d as f64)
                        }
                    }
                    (None, None) => Ok(100.0),
                };
                let percent = match percent {
                    Ok(p) => p,
                    Err(e) => {
                        report.error(format!("{field}.requestMirror"), e);
                        continue;
                    }
                };
                let Some(b) = &m.backend_ref else {
                    report.error(
                        format!("{field}.requestMirror.backendRef"),
                        "a mirror needs a backendRef",
                    );
                    continue;
                };
                if let Some(name) = backend(
                    catalog,
                    table,
                    key,
                    ctx,
                    b,
                    &format!("{field}.requestMirror.backendRef"),
                ) {
                    route.mirror = Some(Mirror {
                        backend: name,
                        percent,
                    });
                }
            }
            other => {
                unsupported = true;
                report.error(
                    format!("{field}.type"),
                    format!(
                        "filter {other:?} is not supported by meshctl: requests this rule takes \
                         get 500 until it is removed (supported: RequestHeaderModifier, \
                         ResponseHeaderModifier, RequestMirror{})",
                        if allow_rewrite { ", URLRewrite" } else { "" }
                    ),
                );
            }
        }
    }
    let valid: u64 = route.backends.iter().map(|b| u64::from(b.weight)).sum();
    if unsupported || valid == 0 {
        // Nothing can be forwarded: every request of the rule gets a 500.
        if !unsupported && backend_refs.is_empty() {
            catalog.report(object).warn(
                format!("{at}.backendRefs"),
                "a rule without backendRefs answers 500 to the requests it takes",
            );
        }
        let own = table
            .get(key)
            .and_then(|t| t.model.backends.first())
            .map(|b| b.name.clone());
        route.backends = own
            .into_iter()
            .map(|name| ModelBackendRef { name, weight: 1 })
            .collect();
        route.mirror = None;
        route.fault = Some(abort_500(100.0));
    } else if failed_weight > 0 {
        // The share of the invalid backends gets 500; the rest splits as written.
        route.fault = Some(abort_500(
            failed_weight as f64 * 100.0 / total_weight as f64,
        ));
    }
    route
}

fn abort_500(percent: f64) -> Fault {
    Fault {
        delay: None,
        abort: Some(FaultAbort {
            status: 500,
            percent,
            grpc_status: None,
        }),
    }
}

fn merge_filter(into: &mut HeaderFilter, f: HeaderFilter) {
    into.set.extend(f.set);
    into.add.extend(f.add);
    into.remove.extend(f.remove);
}

fn header_modifier(m: Option<&HeaderModifier>, at: &str, report: &mut Report<'_>) -> HeaderFilter {
    let Some(m) = m else {
        report.error(at, "the filter needs its settings; it is ignored");
        return HeaderFilter::default();
    };
    let pairs = |list: &Option<Vec<NameValue>>, side: &str, report: &mut Report<'_>| {
        let mut out = BTreeMap::new();
        for (i, nv) in list.iter().flatten().enumerate() {
            match (&nv.name, &nv.value) {
                (Some(n), Some(v)) => {
                    out.insert(n.clone(), v.clone());
                }
                _ => report.error(format!("{at}.{side}[{i}]"), "a header needs name and value"),
            }
        }
        out
    };
    let set = pairs(&m.set, "set", report);
    let add = pairs(&m.add, "add", report);
    routes::header_filter(
        &set,
        &add,
        &m.remove.clone().unwrap_or_default(),
        at,
        report,
    )
}

/// How specific a match is (smaller sorts first): a class, then lengths and counts.
pub(crate) type Rank = (u8, Reverse<usize>, bool, Reverse<usize>, Reverse<usize>);

/// Orders the routes of every Gateway API route on one port, most specific first, as the
/// Gateway API defines (`rank` is the kind's specificity); ties keep the order they came in
/// (oldest route, then namespace/name, then rule and match order).
pub(crate) fn order<K: Ord>(routes: Vec<(K, Route)>) -> Vec<Route> {
    let mut routes = routes;
    routes.sort_by(|a, b| a.0.cmp(&b.0));
    routes.into_iter().map(|(_, r)| r).collect()
}

/// HTTPRoute specificity of a match: exact path, then regular expressions (a deliberate
/// match; below prefixes the default `/` would hide it), then the longest prefix; then a
/// method, more headers, more query parameters. Smaller sorts first.
pub(crate) fn http_rank(
    path: Option<&PathMatch>,
    method: bool,
    headers: usize,
    query: usize,
) -> Rank {
    let (class, len) = match path {
        Some(PathMatch::Exact(p)) => (0, p.len()),
        Some(PathMatch::Regex(r)) => (1, r.len()),
        Some(PathMatch::Prefix(p)) => (2, p.len()),
        None => (2, 1),
    };
    (
        class,
        Reverse(len),
        !method,
        Reverse(headers),
        Reverse(query),
    )
}
