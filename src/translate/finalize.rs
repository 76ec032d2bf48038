//! The last step: every model service checked as the proxy will check it (a refused one
//! loses what made it invalid, with a finding), names and addresses made unique across
//! the mesh, and the per-namespace variants built.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::Entry;
use super::catalog::Catalog;
use super::service::{PortService, Table};
use crate::model::Config;
use crate::model::policy::Policy;

pub(crate) fn finish(catalog: &mut Catalog<'_>, table: Table) -> BTreeMap<String, Entry> {
    let mut entries = BTreeMap::new();
    let mut global: HashSet<String> = HashSet::new();
    let mut addresses = HashSet::new();
    let mut local: HashSet<(String, String)> = HashSet::new();
    for (name, mut svc) in table {
        make_valid(catalog, &mut svc);
        let object = svc.object.clone();
        let mut kept = Vec::new();
        for a in std::mem::take(&mut svc.model.authorities) {
            if global.insert(a.to_ascii_lowercase()) {
                kept.push(a);
            } else if !svc.per_pod {
                catalog.report(&object).error(
                    "metadata.name",
                    format!(
                        "authority {a:?} of {name} is already used by another service; dropped"
                    ),
                );
            }
        }
        svc.model.authorities = kept;
        // Two headless Services may select the same pod: its address stays with the first.
        svc.model.addresses.retain(|a| addresses.insert(*a));
        let global_svc = Arc::new(svc.model.clone());
        let mut mine: Vec<String> = svc
            .local_authorities
            .iter()
            .filter(|a| {
                let lower = a.to_ascii_lowercase();
                !global.contains(&lower) && local.insert((svc.namespace.clone(), lower))
            })
            .cloned()
            .collect();
        let local_svc = if mine.is_empty() {
            Arc::clone(&global_svc)
        } else {
            let mut with_short = svc.model;
            mine.append(&mut with_short.authorities);
            with_short.authorities = mine;
            Arc::new(with_short)
        };
        entries.insert(
            name,
            Entry {
                namespace: svc.namespace,
                global: global_svc,
                local: local_svc,
            },
        );
    }
    entries
}

/// Checks the service alone; on refusal drops the part refused (its routes, its policy, or
/// its names), so that what reaches the proxy always passes `Config::validate`.
fn make_valid(catalog: &mut Catalog<'_>, svc: &mut PortService) {
    let check = |s: &PortService| {
        let mut model = s.model.clone();
        model
            .authorities
            .extend(s.local_authorities.iter().cloned());
        Config {
            services: vec![model],
            ..Config::default()
        }
        .validate()
    };
    // Each step removes one part for good, so this ends within four rounds.
    for _ in 0..4 {
        let Err(e) = check(svc) else {
            return;
        };
        let path = e
            .path
            .strip_prefix("services[0].")
            .unwrap_or(&e.path)
            .to_owned();
        let what = if path.starts_with("routes") {
            svc.model.routes.clear();
            "its routes are dropped"
        } else if path.starts_with("policy") {
            svc.model.policy = Policy::default();
            "its policy is reset to the defaults"
        } else if path.starts_with("backends") {
            svc.model.routes.clear();
            svc.model.backends.truncate(1);
            "only its own backend is kept"
        } else {
            svc.model.authorities.clear();
            svc.local_authorities.clear();
            svc.model.addresses.clear();
            "its names and addresses are dropped"
        };
        let object = svc
            .route_source
            .clone()
            .unwrap_or_else(|| svc.object.clone());
        catalog.report(&object).error(
            "spec",
            format!(
                "the translated service {} is refused ({path}: {}); {what}",
                svc.model.name, e.message
            ),
        );
    }
}
