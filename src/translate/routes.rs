//! What the route APIs share: destinations into backends (Services, subsets), unique route
//! names, header filters, and the policy a route runs under.

use std::collections::{BTreeMap, BTreeSet};

use super::backends::{self, BackendKey, Missing};
use super::catalog::Catalog;
use super::destination_rule;
use super::finding::Report;
use super::service::Table;
use crate::model::policy::Policy;
use crate::model::route::{Header, HeaderFilter};

/// A destination as the APIs write it: a Service, maybe a subset, maybe a port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Dest {
    pub host: String,
    pub subset: Option<String>,
    pub port: Option<u32>,
}

/// A resolved destination: its backend in the target service, and the policy of its subset
/// (from the DestinationRule) when it has one.
pub(crate) struct Resolved {
    pub backend: String,
    pub subset_policy: Option<Policy>,
}

/// Adds the backend for `dest` (seen from namespace `from`) to service `target`.
/// `None`, with an Error finding at `field`, when it names nothing that exists.
pub(crate) fn resolve(
    catalog: &mut Catalog<'_>,
    table: &mut Table,
    target: &str,
    from: &str,
    dest: &Dest,
    field: &str,
    report_object: &super::finding::ObjectRef,
) -> Option<Resolved> {
    let fail = |catalog: &mut Catalog<'_>, message: String| {
        catalog.report(report_object).error(field, message);
        None
    };
    let (ns, svc) = match catalog.resolve_host(&dest.host, from) {
        Ok(t) => t,
        Err(e) => return fail(catalog, format!("{e}; this destination is dropped")),
    };
    let target_port = table.get(target).map_or(0, |t| t.port);
    let target_is_same = table
        .get(target)
        .is_some_and(|t| t.namespace == ns && t.service == svc);
    let ports: Vec<u16> = table
        .values()
        .filter(|p| p.namespace == ns && p.service == svc && !p.per_pod)
        .map(|p| p.port)
        .collect();
    let port = match dest.port {
        Some(p) => match u16::try_from(p).ok().filter(|p| ports.contains(p)) {
            Some(p) => p,
            None => {
                return fail(
                    catalog,
                    format!(
                        "Service {ns}/{svc} has no port {p} (ports: {}); this destination is dropped",
                        list(&ports)
                    ),
                );
            }
        },
        None if target_is_same || ports.contains(&target_port) => target_port,
        None if ports.len() == 1 => ports[0],
        None => {
            return fail(
                catalog,
                format!(
                    "Service {ns}/{svc} has several ports ({}); give the destination's port",
                    list(&ports)
                ),
            );
        }
    };
    let key = BackendKey::service(&ns, &svc, port).with_subset(dest.subset.as_deref());
    let (labels, subset_policy, plaintext) = match &dest.subset {
        None => (None, None, false),
        Some(name) => {
            let subset = catalog
                .subsets
                .get(&(ns.clone(), svc.clone()))
                .and_then(|s| s.get(name))
                .cloned();
            let Some(subset) = subset else {
                let known: Vec<String> = catalog
                    .subsets
                    .get(&(ns.clone(), svc.clone()))
                    .map(|s| s.keys().cloned().collect())
                    .unwrap_or_default();
                return fail(
                    catalog,
                    format!(
                        "no subset {name:?} of {ns}/{svc} in any DestinationRule (known: {}); \
                         this destination is dropped",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
            };
            // Findings about the subset's policy were made where the rule was read.
            let mut scratch = Vec::new();
            let object = subset.object.clone();
            let mut report = Report {
                object: &object,
                out: &mut scratch,
            };
            let (policy, plaintext) = destination_rule::policy_for(
                &subset.policy,
                port,
                &Policy::default(),
                &subset.field,
                &mut report,
            );
            (Some(subset.labels), Some(policy), plaintext)
        }
    };
    match backends::ensure(table, target, &key, labels.as_ref()) {
        Ok(backend) => {
            if plaintext && let Some(t) = table.get_mut(target) {
                for b in t.model.backends.iter_mut().filter(|b| b.name == backend) {
                    for e in &mut b.endpoints {
                        e.identity = None;
                    }
                }
            }
            Some(Resolved {
                backend,
                subset_policy,
            })
        }
        Err(Missing::Service(k)) => fail(
            catalog,
            format!("no Service port {k}; this destination is dropped"),
        ),
    }
}

fn list(ports: &[u16]) -> String {
    ports
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The policy a route runs under: the subset's when every destination shares one, else the
/// service's. Warns when destinations' subset policies differ (the model has one per route).
pub(crate) fn base_policy(
    service: &Policy,
    subset_policies: &[Option<Policy>],
    field: &str,
    report: &mut Report<'_>,
) -> Policy {
    let Some(first) = subset_policies.first() else {
        return service.clone();
    };
    if subset_policies.iter().all(|p| p == first) {
        return first.clone().unwrap_or_else(|| service.clone());
    }
    report.warn(
        field,
        "the destinations' subsets have different traffic policies, and a route has one: the \
         Service's DestinationRule policy is used for this route",
    );
    service.clone()
}

/// A unique route name: `given`, else `fallback`; `-2`, `-3`... when taken.
pub(crate) fn unique_name(
    given: Option<&str>,
    fallback: &str,
    used: &mut BTreeSet<String>,
) -> String {
    let base = given
        .filter(|g| !g.is_empty())
        .unwrap_or(fallback)
        .to_owned();
    let mut name = base.clone();
    let mut n = 2;
    while !used.insert(name.clone()) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

/// A header filter from set/add maps and a remove list; invalid names or values are
/// reported at `field` and left out.
pub(crate) fn header_filter(
    set: &BTreeMap<String, String>,
    add: &BTreeMap<String, String>,
    remove: &[String],
    field: &str,
    report: &mut Report<'_>,
) -> HeaderFilter {
    let mut filter = HeaderFilter::default();
    let header = |kind: &str, name: &str, value: &str, report: &mut Report<'_>| {
        let ok = http::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && http::HeaderValue::from_str(value).is_ok();
        if !ok {
            report.error(
                format!("{field}.{kind}.{name}"),
                "not a valid header name or value (visible ASCII); this header is left out",
            );
        }
        ok.then(|| Header {
            name: name.to_ascii_lowercase(),
            value: value.to_owned(),
        })
    };
    for (name, value) in set {
        filter.set.extend(header("set", name, value, report));
    }
    for (name, value) in add {
        filter.add.extend(header("add", name, value, report));
    }
    for (i, name) in remove.iter().enumerate() {
        if http::HeaderName::from_bytes(name.as_bytes()).is_ok() {
            filter.remove.push(name.to_ascii_lowercase());
        } else {
            report.error(
                format!("{field}.remove[{i}]"),
                format!("{name:?} is not a header name"),
            );
        }
    }
    filter
}
