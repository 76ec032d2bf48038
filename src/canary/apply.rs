//! `set-weight` against a cluster: find the one object routing the Service (or create one),
//! change only its weights and server-side apply them (field manager `meshctl`), retrying
//! when another writer changed the object between the read and the write.

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde::Serialize;
use serde_json::Value;

use super::find::{Routing, Served, api, routing, served, the_one};
use super::owned::apply_patch;
use super::{
    CanaryError, Change, RouteKind, Want, describe, http_route, traffic_split, virtual_service,
};
use crate::k8s::{Connection, FIELD_MANAGER};

/// What to do.
#[derive(Clone, Debug)]
pub struct SetWeight {
    pub namespace: String,
    pub service: String,
    pub want: Want,
    /// Which kind to write when no object routes the Service.
    pub create: Option<RouteKind>,
}

/// What was done.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub kind: RouteKind,
    pub api_version: String,
    pub namespace: String,
    pub name: String,
    pub created: bool,
    /// The weights changed (none when they already were as asked).
    pub changes: Vec<Change>,
    /// The object's resourceVersion after the write (what a canary waits for proxies to run).
    #[serde(skip)]
    pub resource_version: String,
}

/// Writes attempted before giving up on an object others keep changing.
const ATTEMPTS: usize = 5;

/// The canaries' weights of `kind`'s object, changed in a copy.
pub fn set_weights(
    kind: RouteKind,
    obj: &Value,
    want: &Want,
) -> Result<(Value, Vec<Change>), CanaryError> {
    match kind {
        RouteKind::HttpRoute => http_route::set_weights(obj, want),
        RouteKind::TrafficSplit => traffic_split::set_weights(obj, want),
        RouteKind::VirtualService => virtual_service::set_weights(obj, want),
    }
}

pub async fn set_weight(conn: &Connection, plan: &SetWeight) -> Result<Outcome, CanaryError> {
    let (ns, service) = (&plan.namespace, &plan.service);
    let served = served(conn).await?;
    let found = routing(conn, &served, ns, service).await?;
    match (found.is_empty(), plan.create) {
        (true, Some(kind)) => create(conn, &served, plan, kind).await,
        _ => update(conn, the_one(found, ns, service)?, &plan.want).await,
    }
}

fn outcome(served: &Served, obj: &Value, created: bool, changes: Vec<Change>) -> Outcome {
    let s = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    Outcome {
        kind: served.kind,
        api_version: served.resource.api_version.clone(),
        namespace: s("/metadata/namespace"),
        name: s("/metadata/name"),
        created,
        changes,
        resource_version: s("/metadata/resourceVersion"),
    }
}

async fn update(conn: &Connection, found: Routing, want: &Want) -> Result<Outcome, CanaryError> {
    let Routing { served, mut object } = found;
    let what = describe(&object);
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let ns = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let api = api(conn, &served, &ns);
    for _ in 0..ATTEMPTS {
        let (changed, changes) = set_weights(served.kind, &object, want)?;
        if changes.is_empty() {
            return Ok(outcome(&served, &object, false, changes));
        }
        let patch = apply_patch(&object, &changed, served.kind.weight_list());
        // Forced: the weight list is atomic, so whoever wrote the route owns it; taking it
        // over is what setting a weight means. The resourceVersion keeps it to this read.
        let params = PatchParams::apply(FIELD_MANAGER).force();
        match api.patch(&name, &params, &Patch::Apply(&patch)).await {
            Ok(written) => {
                let written = typed_value(&served, &written);
                return Ok(outcome(&served, &written, false, changes));
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let fresh = api
                    .get(&name)
                    .await
                    .map_err(|e| conn.request_error("reading", &what, &e))?;
                object = typed_value(&served, &fresh);
            }
            Err(e) => {
                return Err(conn
                    .request_error("setting the weights of", &what, &e)
                    .into());
            }
        }
    }
    Err(CanaryError::Refused(format!(
        "{what} changed under every one of {ATTEMPTS} attempts to set its weights; try again"
    )))
}

fn typed_value(served: &Served, obj: &DynamicObject) -> Value {
    let mut value = serde_json::to_value(obj).unwrap_or(Value::Null);
    value["apiVersion"] = Value::String(served.resource.api_version.clone());
    value["kind"] = Value::String(served.kind.kind().to_owned());
    value
}

async fn create(
    conn: &Connection,
    served: &[Served],
    plan: &SetWeight,
    kind: RouteKind,
) -> Result<Outcome, CanaryError> {
    let (ns, service) = (plan.namespace.as_str(), plan.service.as_str());
    let Some(s) = served.iter().find(|s| s.kind == kind) else {
        return Err(CanaryError::Refused(format!(
            "the cluster does not serve {} ({}): install its CRD (`meshctl install --crds all`) or pick another --create kind",
            kind.kind(),
            kind.group()
        )));
    };
    let services: Api<Service> = Api::namespaced(conn.client.clone(), ns);
    let get = |name: String| {
        let services = services.clone();
        async move {
            let what = format!("Service {ns}/{name}");
            services
                .get_opt(&name)
                .await
                .map_err(|e| CanaryError::from(conn.request_error("reading", &what, &e)))?
                .ok_or_else(|| {
                    CanaryError::Refused(format!(
                        "{what} does not exist; create it before routing to it"
                    ))
                })
        }
    };
    let svc = get(service.to_owned()).await?;
    let version = s.resource.api_version.as_str();
    let object = match kind {
        RouteKind::HttpRoute => {
            let ports: Vec<i32> = svc
                .spec
                .and_then(|s| s.ports)
                .unwrap_or_default()
                .iter()
                .map(|p| p.port)
                .collect();
            let [port] = ports[..] else {
                return Err(CanaryError::Refused(format!(
                    "Service {ns}/{service} has {} ports ({}); --create httproute writes a route for a single-port Service: write the HTTPRoute by hand",
                    ports.len(),
                    ports
                        .iter()
                        .map(i32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            http_route::create(version, ns, service, i64::from(port), &plan.want)
        }
        RouteKind::TrafficSplit => traffic_split::create(version, ns, service, &plan.want),
        RouteKind::VirtualService => virtual_service::create(version, ns, service, &plan.want),
    };
    // The created object names the canaries as Services: they must exist.
    for (canary, _) in &plan.want.canaries {
        get(canary.clone()).await?;
    }
    let what = describe(&object);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let written = api(conn, s, ns)
        .patch(service, &params, &Patch::Apply(&object))
        .await
        .map_err(|e| conn.request_error("creating", &what, &e))?;
    let value = typed_value(s, &written);
    Ok(outcome(s, &value, true, created_weights(kind, &object)))
}

/// Every weight of a created object, as changes from nothing.
fn created_weights(kind: RouteKind, obj: &Value) -> Vec<Change> {
    let (list, name): (&str, fn(&Value) -> Option<&str>) = match kind {
        RouteKind::HttpRoute => ("/spec/rules/0/backendRefs", |b| b.get("name")?.as_str()),
        RouteKind::TrafficSplit => ("/spec/backends", |b| b.get("service")?.as_str()),
        RouteKind::VirtualService => ("/spec/http/0/route", |b| {
            b.pointer("/destination/host")?.as_str()
        }),
    };
    let path = list
        .trim_start_matches('/')
        .replace("/0/", "[0].")
        .replace('/', ".");
    (obj.pointer(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate())
    .map(|(i, b)| Change {
        path: format!("{path}[{i}]"),
        backend: name(b).unwrap_or("").to_owned(),
        from: Value::Null,
        to: b.get("weight").cloned().unwrap_or(Value::Null),
    })
    .collect()
}
