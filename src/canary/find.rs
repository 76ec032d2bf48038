//! Finding the object that routes a Service: every HTTPRoute, TrafficSplit and
//! VirtualService of its namespace (of the kinds the cluster serves) that names it.

use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::{self, ApiResource};
use serde_json::Value;

use super::{CanaryError, RouteKind, http_route, traffic_split, virtual_service};
use crate::k8s::Connection;

/// A routing kind the cluster serves, at its preferred version.
#[derive(Clone, Debug)]
pub struct Served {
    pub kind: RouteKind,
    pub resource: ApiResource,
}

/// One object routing the Service.
#[derive(Clone, Debug)]
pub struct Routing {
    pub served: Served,
    pub object: Value,
}

/// The routing kinds the cluster serves (a group it does not serve is left out).
pub async fn served(conn: &Connection) -> Result<Vec<Served>, CanaryError> {
    let mut out = Vec::new();
    for kind in RouteKind::ALL {
        match discovery::group(&conn.client, kind.group()).await {
            Ok(group) => {
                if let Some((resource, _)) = group.recommended_kind(kind.kind()) {
                    out.push(Served { kind, resource });
                }
            }
            Err(kube::Error::Discovery(_)) => {}
            Err(e) => {
                return Err(conn
                    .request_error("discovering", &format!("the {} API", kind.group()), &e)
                    .into());
            }
        }
    }
    Ok(out)
}

/// Whether `obj` of `kind` routes Service `service`.
pub fn routes(kind: RouteKind, obj: &Value, service: &str) -> bool {
    match kind {
        RouteKind::HttpRoute => http_route::routes(obj, service),
        RouteKind::TrafficSplit => traffic_split::routes(obj, service),
        RouteKind::VirtualService => virtual_service::routes(obj, service),
    }
}

pub fn api(conn: &Connection, served: &Served, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(conn.client.clone(), namespace, &served.resource)
}

/// The one object of `found` routing the Service; none or several is an error.
pub fn the_one(
    mut found: Vec<Routing>,
    namespace: &str,
    service: &str,
) -> Result<Routing, CanaryError> {
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(CanaryError::NoRoute {
            namespace: namespace.to_owned(),
            service: service.to_owned(),
        }),
        count => Err(CanaryError::Ambiguous {
            namespace: namespace.to_owned(),
            service: service.to_owned(),
            count,
            names: found
                .iter()
                .map(|r| super::describe(&r.object))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Every object in `namespace` routing `service`, in kind then name order.
pub async fn routing(
    conn: &Connection,
    served: &[Served],
    namespace: &str,
    service: &str,
) -> Result<Vec<Routing>, CanaryError> {
    let mut out = Vec::new();
    for s in served {
        let list = api(conn, s, namespace)
            .list(&ListParams::default())
            .await
            .map_err(|e| {
                conn.request_error(
                    "listing",
                    &format!("{}s in namespace {namespace}", s.kind.kind()),
                    &e,
                )
            })?;
        for obj in list.items {
            let mut value = serde_json::to_value(&obj).unwrap_or(Value::Null);
            // Lists leave out each item's apiVersion and kind.
            value["apiVersion"] = Value::String(s.resource.api_version.clone());
            value["kind"] = Value::String(s.kind.kind().to_owned());
            if routes(s.kind, &value, service) {
                out.push(Routing {
                    served: s.clone(),
                    object: value,
                });
            }
        }
    }
    Ok(out)
}
