//! Which route API shapes a Service port when several target it, and the dispatch of each
//! config object to its kind.
//!
//! Precedence: VirtualService > TrafficSplit. VirtualService is the richer API (matches,
//! retries, faults) and an operator who wrote one for a host means it to decide; a
//! TrafficSplit only weighs backends. Within one API, the first object by namespace and name
//! wins. Each object that loses on a port gets a Warning naming the winner.

use std::collections::BTreeMap;

use kube::api::DynamicObject;
use serde_json::Value;

use super::catalog::{Catalog, namespace_of};
use super::destination_rule;
use super::documents::CONFIG_GROUPS;
use super::finding::ObjectRef;
use super::service::Table;
use super::spec;
use super::traffic_split;
use super::virtual_service;

/// The route APIs, highest precedence first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Api {
    VirtualService,
    TrafficSplit,
}

enum Parsed {
    Vs(virtual_service::Spec),
    Ts(traffic_split::Spec),
}

struct Claim {
    api: Api,
    object: ObjectRef,
    parsed: Parsed,
}

/// Reads every route object, picks one per Service port, and writes its routes.
pub(crate) fn apply_routes(catalog: &mut Catalog<'_>, table: &mut Table) {
    let mut objects: Vec<&DynamicObject> = catalog.inputs.objects.iter().collect();
    objects.sort_by_key(|o| {
        let t = o.types.clone().unwrap_or_default();
        (t.kind, namespace_of(&o.metadata), o.metadata.name.clone())
    });
    let mut claims: Vec<(Claim, Vec<(String, String)>)> = Vec::new();
    for obj in objects {
        let t = obj.types.clone().unwrap_or_default();
        let ns = namespace_of(&obj.metadata);
        let name = obj.metadata.name.clone().unwrap_or_default();
        let object = catalog.object(&t.kind, &ns, &name);
        let spec_value = obj.data.get("spec").cloned().unwrap_or(Value::Null);
        let parsed = match (t.kind.as_str(), t.api_version.as_str()) {
            (virtual_service::KIND, v) if destination_rule::is_istio(v) => {
                parse(catalog, &object, obj, &spec_value)
                    .map(|s| (Api::VirtualService, Parsed::Vs(s)))
            }
            (traffic_split::KIND, v) if traffic_split::is_smi(v) => {
                parse(catalog, &object, obj, &spec_value)
                    .map(|s| (Api::TrafficSplit, Parsed::Ts(s)))
            }
            (destination_rule::KIND, v) if destination_rule::is_istio(v) => continue,
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
            continue;
        };
        let targets = match &parsed {
            Parsed::Vs(s) => virtual_service::targets(catalog, &object, s),
            Parsed::Ts(s) => traffic_split::targets(catalog, &object, s),
        };
        claims.push((
            Claim {
                api,
                object,
                parsed,
            },
            targets,
        ));
    }
    // Port service key -> index of the winning claim.
    let mut winners: BTreeMap<String, usize> = BTreeMap::new();
    let mut order: Vec<usize> = (0..claims.len()).collect();
    order.sort_by_key(|i| claims[*i].0.api);
    for i in order {
        let (claim, targets) = &claims[i];
        for (ns, svc) in targets {
            let keys: Vec<String> = table
                .iter()
                .filter(|(_, p)| p.namespace == *ns && p.service == *svc && !p.per_pod)
                .map(|(k, _)| k.clone())
                .collect();
            for key in keys {
                match winners.get(&key) {
                    Some(w) => {
                        let winner = claims[*w].0.object.clone();
                        catalog.report(&claim.object).warn(
                            "spec",
                            format!(
                                "{winner} already routes {key} (precedence: VirtualService > \
                                 TrafficSplit, then namespace and name); this object is ignored \
                                 for it"
                            ),
                        );
                    }
                    None => {
                        winners.insert(key, i);
                    }
                }
            }
        }
    }
    for (key, i) in winners {
        let claim = &claims[i].0;
        match &claim.parsed {
            Parsed::Vs(s) => virtual_service::apply(catalog, table, &claim.object, s, &key),
            Parsed::Ts(s) => traffic_split::apply(catalog, table, &claim.object, s, &key),
        }
    }
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
