//! Which route API shapes a Service port when several target it, and the dispatch of each
//! config object to its kind.
//!
//! Precedence: Gateway API (HTTPRoute, GRPCRoute) > VirtualService > TrafficSplit >
//! ServiceProfile. The Gateway API is the standard the mesh APIs converge on (Istio and
//! Linkerd both read it), so a route written in it is the operator's latest intent;
//! VirtualService is the richer API (faults, subsets) of the next two, a TrafficSplit only
//! weighs backends, and a ServiceProfile only sets per-route timeouts and retries: it adds
//! them to a TrafficSplit of its Service (as Linkerd does) and yields to the others.
//!
//! Every Gateway API route attached to one Service port is merged, most specific match
//! first, as the Gateway API defines for routes sharing a parent; when a GRPCRoute and an
//! HTTPRoute share one, the HTTPRoute is not accepted (reason `Conflicted`, GEP-1426). With
//! the other APIs, the first object by namespace and name wins. Each object that loses on a
//! port gets a Warning naming the winner.

use std::collections::BTreeMap;

use kube::api::DynamicObject;
use serde_json::Value;

use super::authorization_policy;
use super::catalog::{Catalog, namespace_of};
use super::destination_rule;
use super::documents::CONFIG_GROUPS;
use super::envoy_filter;
use super::finding::ObjectRef;
use super::gateway::{self, RouteCtx};
use super::grpc_route;
use super::http_route;
use super::linkerd_policy;
use super::peer_authentication;
use super::request_authentication;
use super::route_status::{RouteOutcome, Verdict};
use super::service::Table;
use super::service_profile;
use super::spec;
use super::traffic_split;
use super::virtual_service;
use super::workload::{is_group, is_security};

/// The route APIs, highest precedence first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Api {
    /// HTTPRoute and GRPCRoute: several merge on one port.
    GatewayApi,
    VirtualService,
    TrafficSplit,
    /// Per-route timeouts and retries, over a TrafficSplit's weights or the Service alone.
    ServiceProfile,
}

enum Parsed {
    Http(http_route::Spec),
    Grpc(grpc_route::Spec),
    Vs(virtual_service::Spec),
    Ts(traffic_split::Spec),
    Sp(service_profile::Spec),
}

struct Claim {
    api: Api,
    object: ObjectRef,
    parsed: Parsed,
    /// `metadata.creationTimestamp` (RFC 3339 sorts as text): older Gateway API routes win ties.
    created: String,
}

fn outcome_key(object: &ObjectRef) -> (String, String, String) {
    (
        object.kind.clone(),
        object.namespace.clone(),
        object.name.clone(),
    )
}

/// Reads every route object, picks one per Service port, and writes its routes.
pub(crate) fn apply_routes(catalog: &mut Catalog<'_>, table: &mut Table) {
    let mut objects: Vec<&DynamicObject> = catalog.inputs.objects.iter().map(|o| &**o).collect();
    objects.sort_by_key(|o| {
        let t = o.types.clone().unwrap_or_default();
        (t.kind, namespace_of(&o.metadata), o.metadata.name.clone())
    });
    // Each claim and the port service keys it targets.
    let mut claims: Vec<(Claim, Vec<String>)> = Vec::new();
    for obj in objects {
        let t = obj.types.clone().unwrap_or_default();
        let ns = namespace_of(&obj.metadata);
        let name = obj.metadata.name.clone().unwrap_or_default();
        let object = catalog.object(&t.kind, &ns, &name);
        let spec_value = obj.data.get("spec").cloned().unwrap_or(Value::Null);
        let parsed = match (t.kind.as_str(), t.api_version.as_str()) {
            (http_route::KIND, v) if gateway::is_gateway_api(v) => {
                parse(catalog, &object, obj, &spec_value)
                    .map(|s| (Api::GatewayApi, Parsed::Http(s)))
            }
            (grpc_route::KIND, v) if gateway::is_gateway_api(v) => {
                parse(catalog, &object, obj, &spec_value)
                    .map(|s| (Api::GatewayApi, Parsed::Grpc(s)))
            }
            (service_profile::KIND, v) if service_profile::is_linkerd(v) => {
                parse(catalog, &object, obj, &spec_value)
                    .map(|s| (Api::ServiceProfile, Parsed::Sp(s)))
            }
            (gateway::REFERENCE_GRANT, v) if gateway::is_gateway_api(v) => continue,
            (virtual_service::KIND, v) if destination_rule::is_istio(v) => {
                parse(catalog, &object, obj, &spec_value)
                    .map(|s| (Api::VirtualService, Parsed::Vs(s)))
            }
            (traffic_split::KIND, v) if traffic_split::is_smi(v) => {
                parse(catalog, &object, obj, &spec_value)
                    .map(|s| (Api::TrafficSplit, Parsed::Ts(s)))
            }
            (destination_rule::KIND | envoy_filter::KIND, v) if destination_rule::is_istio(v) => {
                continue;
            }
            (
                peer_authentication::KIND
                | authorization_policy::KIND
                | request_authentication::KIND,
                v,
            ) if is_security(v) => {
                continue;
            }
            (kind, v)
                if is_group(v, linkerd_policy::GROUP) && linkerd_policy::KINDS.contains(&kind) =>
            {
                continue;
            }
            (kind, version) => {
                let group = version.rsplit_once('/').map_or("", |(g, _)| g);
                if CONFIG_GROUPS.contains(&group) {
                    catalog.report(&object).warn(
                        "kind",
                        format!(
                            "{kind} ({version}) is not translated by meshctl yet; it has no effect"
                        ),
                    );
                }
                continue;
            }
        };
        let Some((api, parsed)) = parsed else {
            if matches!(t.kind.as_str(), http_route::KIND | grpc_route::KIND)
                && gateway::is_gateway_api(&t.api_version)
            {
                unreadable_route(catalog, &object, obj, &spec_value);
            }
            continue;
        };
        let service_keys = |table: &Table, targets: Vec<(String, String)>| -> Vec<String> {
            targets
                .iter()
                .flat_map(|(ns, svc)| {
                    table
                        .iter()
                        .filter(|(_, p)| p.namespace == *ns && p.service == *svc && !p.per_pod)
                        .map(|(k, _)| k.clone())
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let keys = match &parsed {
            Parsed::Http(s) => gateway_keys(
                catalog,
                table,
                &object,
                obj,
                http_route::parents(s),
                http_route::has_hostnames(s),
            ),
            Parsed::Grpc(s) => gateway_keys(
                catalog,
                table,
                &object,
                obj,
                grpc_route::parents(s),
                grpc_route::has_hostnames(s),
            ),
            Parsed::Vs(s) => {
                let t = virtual_service::targets(catalog, &object, s);
                service_keys(table, t)
            }
            Parsed::Ts(s) => {
                let t = traffic_split::targets(catalog, &object, s);
                service_keys(table, t)
            }
            Parsed::Sp(_) => {
                let t = service_profile::targets(catalog, &object);
                service_keys(table, t)
            }
        };
        let created = obj
            .metadata
            .creation_timestamp
            .as_ref()
            .and_then(|t| serde_json::to_value(t).ok())
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        claims.push((
            Claim {
                api,
                object,
                parsed,
                created,
            },
            keys,
        ));
    }
    // Port service key -> the winning claims (several only for the Gateway API).
    let mut winners: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut order: Vec<usize> = (0..claims.len()).collect();
    order.sort_by(|a, b| {
        let (a, b) = (&claims[*a].0, &claims[*b].0);
        // Oldest first among Gateway API routes; namespace and name order otherwise.
        let age = |c: &Claim| {
            if c.api == Api::GatewayApi {
                c.created.clone()
            } else {
                String::new()
            }
        };
        (a.api, age(a)).cmp(&(b.api, age(b)))
    });
    let grpc_keys: Vec<&String> = claims
        .iter()
        .filter(|(c, _)| matches!(c.parsed, Parsed::Grpc(_)))
        .flat_map(|(_, keys)| keys)
        .collect();
    let mut conflicted: BTreeMap<usize, usize> = BTreeMap::new();
    // ServiceProfiles add per-route policy on top of a TrafficSplit, or of the Service alone.
    let mut overlays: Vec<(String, usize)> = Vec::new();
    for i in order {
        let (claim, keys) = &claims[i];
        for key in keys {
            if claim.api == Api::ServiceProfile {
                if !overlays.iter().any(|(k, _)| k == key) {
                    overlays.push((key.clone(), i));
                }
                continue;
            }
            if matches!(claim.parsed, Parsed::Http(_)) && grpc_keys.contains(&key) {
                *conflicted.entry(i).or_default() += 1;
                catalog.report(&claim.object).warn(
                    "spec.parentRefs",
                    format!("a GRPCRoute also routes {key}: this HTTPRoute is not applied to it (Gateway API: GRPCRoute wins, GEP-1426)"),
                );
                continue;
            }
            match winners.get_mut(key) {
                Some(w)
                    if claim.api == Api::GatewayApi && claims[w[0]].0.api == Api::GatewayApi =>
                {
                    w.push(i);
                }
                Some(w) => {
                    let winner = claims[w[0]].0.object.clone();
                    catalog.report(&claim.object).warn(
                        "spec",
                        format!(
                            "{winner} already routes {key} (precedence: HTTPRoute/GRPCRoute > \
                             VirtualService > TrafficSplit > ServiceProfile, then namespace and name); this \
                             object is ignored for it"
                        ),
                    );
                }
                None => {
                    winners.insert(key.clone(), vec![i]);
                }
            }
        }
    }
    for (i, n) in conflicted {
        let (claim, keys) = &claims[i];
        if n == keys.len()
            && let Some(outcome) = catalog.route_outcomes.get_mut(&outcome_key(&claim.object))
        {
            for (_, verdict) in &mut outcome.parents {
                if verdict.is_ok() {
                    *verdict = Err(Verdict::new(
                        "Conflicted",
                        "a GRPCRoute is attached to the same Service port (GEP-1426)",
                    ));
                }
            }
        }
    }
    for (key, ids) in &winners {
        let (key, ids) = (key.clone(), ids.clone());
        let first = &claims[ids[0]].0;
        match &first.parsed {
            Parsed::Vs(s) => virtual_service::apply(catalog, table, &first.object, s, &key),
            Parsed::Ts(s) => traffic_split::apply(catalog, table, &first.object, s, &key),
            Parsed::Sp(s) => service_profile::apply(catalog, table, &first.object, s, &key),
            Parsed::Http(_) | Parsed::Grpc(_) => {
                let mut ranked = Vec::new();
                for i in &ids {
                    let claim = &claims[*i].0;
                    let okey = outcome_key(&claim.object);
                    let mut outcome = catalog.route_outcomes.remove(&okey).unwrap_or_default();
                    let mut ctx = RouteCtx {
                        object: &claim.object,
                        outcome: &mut outcome,
                    };
                    ranked.extend(match &claim.parsed {
                        Parsed::Http(s) => http_route::routes(catalog, table, &mut ctx, s, &key),
                        Parsed::Grpc(s) => grpc_route::routes(catalog, table, &mut ctx, s, &key),
                        _ => Vec::new(),
                    });
                    catalog.route_outcomes.insert(okey, outcome);
                }
                let mut used = std::collections::BTreeSet::new();
                let mut out = gateway::order(ranked);
                for r in &mut out {
                    r.name = super::routes::unique_name(Some(&r.name), "route", &mut used);
                }
                if let Some(t) = table.get_mut(&key) {
                    t.model.routes = out;
                    t.route_source = Some(first.object.clone());
                }
            }
        }
    }
    for (key, i) in overlays {
        let claim = &claims[i].0;
        let Parsed::Sp(spec) = &claim.parsed else {
            continue;
        };
        match winners.get(&key).map(|w| &claims[w[0]].0) {
            Some(w) if w.api != Api::TrafficSplit => {
                let winner = w.object.clone();
                catalog.report(&claim.object).warn(
                    "spec.routes",
                    format!(
                        "{winner} already routes {key} (a ServiceProfile adds to a TrafficSplit \
                         only); this profile is ignored for it"
                    ),
                );
            }
            _ => service_profile::apply(catalog, table, &claim.object, spec, &key),
        }
    }
}

/// The ports a Gateway API route attaches to; records its outcome for the status.
fn gateway_keys(
    catalog: &mut Catalog<'_>,
    table: &Table,
    object: &ObjectRef,
    obj: &DynamicObject,
    parents: &[gateway::ParentRef],
    hostnames: bool,
) -> Vec<String> {
    let mut outcome = RouteOutcome {
        generation: obj.metadata.generation,
        ..RouteOutcome::default()
    };
    let attached = gateway::attachments(catalog, table, object, parents, hostnames, &mut outcome);
    catalog.route_outcomes.insert(outcome_key(object), outcome);
    let mut keys = attached;
    keys.sort();
    keys.dedup();
    keys
}

/// A route whose spec cannot be read is not accepted by any Service parent its `parentRefs`
/// still name (so no earlier status of ours stands), with the reading error as the reason.
fn unreadable_route(
    catalog: &mut Catalog<'_>,
    object: &ObjectRef,
    obj: &DynamicObject,
    spec_value: &Value,
) {
    let why = catalog
        .findings
        .iter()
        .rev()
        .find(|f| f.object == *object)
        .map_or_else(
            || "the spec cannot be read".to_owned(),
            |f| format!("{}: {}", f.field, f.message),
        );
    let refs: Vec<gateway::ParentRef> = spec_value
        .get("parentRefs")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let outcome = RouteOutcome {
        generation: obj.metadata.generation,
        parents: refs
            .into_iter()
            .filter(gateway::ParentRef::is_service)
            .map(|p| (p, Err(Verdict::new("UnsupportedValue", why.clone()))))
            .collect(),
        ..RouteOutcome::default()
    };
    catalog.route_outcomes.insert(outcome_key(object), outcome);
}

fn parse<T: serde::de::DeserializeOwned + serde::Serialize>(
    catalog: &mut Catalog<'_>,
    object: &ObjectRef,
    obj: &DynamicObject,
    spec_value: &Value,
) -> Option<T> {
    let mut report = catalog.report(object);
    destination_rule::unknown_top_level(&obj.data, &mut report);
    spec::parse::<T>(spec_value, "spec", &mut report)
}
