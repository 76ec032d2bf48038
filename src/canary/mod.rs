//! Canary releases: adapters that set the weights of the object routing a Service (HTTPRoute,
//! TrafficSplit, VirtualService) touching only those weights, and the rollout state machine.

pub mod analysis;
pub mod apply;
pub mod distribute;
pub mod find;
pub mod http_route;
pub mod owned;
pub mod record;
pub mod resource;
pub mod rollout;
pub mod traffic_split;
pub mod virtual_service;

use serde::Serialize;
use serde_json::Value;

pub use apply::{SetWeight, set_weight};

/// The routing APIs a canary's weights can live in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RouteKind {
    #[serde(rename = "HTTPRoute")]
    HttpRoute,
    TrafficSplit,
    VirtualService,
}

impl RouteKind {
    pub const ALL: [RouteKind; 3] = [
        RouteKind::HttpRoute,
        RouteKind::TrafficSplit,
        RouteKind::VirtualService,
    ];

    pub fn kind(self) -> &'static str {
        match self {
            RouteKind::HttpRoute => "HTTPRoute",
            RouteKind::TrafficSplit => "TrafficSplit",
            RouteKind::VirtualService => "VirtualService",
        }
    }

    pub fn group(self) -> &'static str {
        match self {
            RouteKind::HttpRoute => "gateway.networking.k8s.io",
            RouteKind::TrafficSplit => "split.smi-spec.io",
            RouteKind::VirtualService => "networking.istio.io",
        }
    }

    /// The spec list that holds the weights. It is an atomic list in every schema (no
    /// `x-kubernetes-list-type: map`), so it is applied whole.
    pub fn weight_list(self) -> &'static str {
        match self {
            RouteKind::HttpRoute => "rules",
            RouteKind::TrafficSplit => "backends",
            RouteKind::VirtualService => "http",
        }
    }
}

/// The weights asked for: each canary backend's percentage; the other backends of a route
/// share the rest in the ratio they had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Want {
    pub canaries: Vec<(String, u32)>,
}

impl Want {
    pub fn one(canary: &str, percent: u32) -> Self {
        Self {
            canaries: vec![(canary.to_owned(), percent)],
        }
    }

    pub fn percent_of(&self, name: &str) -> Option<u32> {
        self.canaries.iter().find(|(n, _)| n == name).map(|c| c.1)
    }

    fn names(&self) -> String {
        let names: Vec<&str> = self.canaries.iter().map(|c| c.0.as_str()).collect();
        names.join(", ")
    }
}

/// One backend whose weight was (or would be) changed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    /// Where the backend is, e.g. `spec.rules[0].backendRefs[1]`.
    pub path: String,
    pub backend: String,
    pub from: Value,
    pub to: Value,
}

/// Why weights could not be set.
#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    #[error("{object}: {field}: {reason}")]
    Object {
        object: String,
        field: String,
        reason: String,
    },
    #[error(
        "{count} objects route service {namespace}/{service}: {names}; the weights would be \
         ambiguous, so nothing was changed: delete all but one, or set the weights on one \
         by hand"
    )]
    Ambiguous {
        namespace: String,
        service: String,
        count: usize,
        names: String,
    },
    #[error(
        "no HTTPRoute, TrafficSplit or VirtualService routes service {namespace}/{service}; \
         write one with --create httproute|trafficsplit|virtualservice"
    )]
    NoRoute { namespace: String, service: String },
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    K8s(#[from] crate::k8s::K8sError),
}

impl CanaryError {
    fn object(object: &str, field: impl Into<String>, reason: impl Into<String>) -> Self {
        CanaryError::Object {
            object: object.to_owned(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// `Kind namespace/name` of an object as JSON.
pub fn describe(obj: &Value) -> String {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("?");
    format!(
        "{} {}/{}",
        s("/kind"),
        s("/metadata/namespace"),
        s("/metadata/name")
    )
}

/// Whether `host` names Service `service` in `namespace` (`web`, `web.shop`,
/// `web.shop.svc`, `web.shop.svc.<cluster domain>`); short names resolve in `namespace`.
pub fn host_is(host: &str, service: &str, namespace: &str) -> bool {
    let Some(rest) = host.strip_prefix(service) else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(rest) = rest
        .strip_prefix('.')
        .and_then(|r| r.strip_prefix(namespace))
    else {
        return false;
    };
    rest.is_empty() || rest == ".svc" || rest.starts_with(".svc.")
}
