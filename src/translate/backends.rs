//! Backends of a model service beyond its own: other Services (split, mirror, route
//! destinations) and subsets (a Service's endpoints filtered by pod labels), each added once
//! under a name unique in the service.

use std::collections::BTreeMap;

use super::service::{Table, key};
use crate::model::endpoint::Endpoint;
use crate::model::service::Backend;

/// What a backend holds: port `port` of Service `namespace/service`, or a subset of it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct BackendKey {
    pub namespace: String,
    pub service: String,
    pub port: u16,
    pub subset: Option<String>,
}

impl BackendKey {
    pub fn service(namespace: &str, service: &str, port: u16) -> Self {
        Self {
            namespace: namespace.to_owned(),
            service: service.to_owned(),
            port,
            subset: None,
        }
    }

    pub fn with_subset(mut self, subset: Option<&str>) -> Self {
        self.subset = subset.map(str::to_owned);
        self
    }
}

/// Why a destination cannot be a backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Missing {
    /// No such Service port in the snapshot.
    Service(String),
}

/// The name of the backend of service `target` holding `dest` (added if needed).
/// `labels` filters the endpoints for a subset.
pub(crate) fn ensure(
    table: &mut Table,
    target: &str,
    dest: &BackendKey,
    labels: Option<&BTreeMap<String, String>>,
) -> Result<String, Missing> {
    if let Some(name) = table.get(target).and_then(|t| t.backend_names.get(dest)) {
        return Ok(name.clone());
    }
    let dest_key = key(&dest.service, &dest.namespace, dest.port);
    let Some(source) = table.get(&dest_key) else {
        return Err(Missing::Service(dest_key));
    };
    let endpoints: Vec<Endpoint> = source
        .endpoints
        .iter()
        .map(|f| &f.endpoint)
        .filter(|e| labels.is_none_or(|l| l.iter().all(|(k, v)| e.labels.get(k) == Some(v))))
        .cloned()
        .collect();
    let Some(target_svc) = table.get_mut(target) else {
        return Err(Missing::Service(target.to_owned()));
    };
    let same_ns = dest.namespace == target_svc.namespace;
    let base = if same_ns {
        dest.service.clone()
    } else {
        format!("{}.{}", dest.service, dest.namespace)
    };
    let preferred = match &dest.subset {
        Some(s) => format!("{base}-{s}"),
        None => base,
    };
    let taken = |n: &str| target_svc.model.backends.iter().any(|b| b.name == n);
    let mut name = preferred;
    if taken(&name) {
        // `web-v2` may be both a subset of `web` and a Service: the long form is unique.
        name = match &dest.subset {
            Some(s) => format!("{dest_key}/{s}"),
            None => dest_key.clone(),
        };
        let mut n = 2;
        while taken(&name) {
            name = format!("{dest_key}/{}#{n}", dest.subset.as_deref().unwrap_or(""));
            n += 1;
        }
    }
    target_svc.model.backends.push(Backend {
        name: name.clone(),
        endpoints,
    });
    target_svc.backend_names.insert(dest.clone(), name.clone());
    Ok(name)
}
