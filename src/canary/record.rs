//! What `meshctl canary start|promote|abort|pause|resume|status|list` do: write and read
//! `Canary` objects only; the controller's leader does the rollout.

use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::CanaryError;
use super::find::{routing, served, the_one};
use super::resource::{Canary, CanarySpec};
use crate::k8s::{Connection, FIELD_MANAGER};

/// A command to a running rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Pause,
    Resume,
    Abort,
    Promote { full: bool },
}

fn api(conn: &Connection, namespace: &str) -> Api<Canary> {
    Api::namespaced(conn.client.clone(), namespace)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Whether the rollout has ended, or cannot run (either may be replaced by a new start).
pub fn finished(canary: &Canary) -> bool {
    let status = canary.status.as_ref();
    status
        .and_then(|s| s.state.as_ref())
        .is_some_and(|s| s.phase.is_done())
        || status.and_then(|s| s.phase.as_deref()) == Some(INVALID)
}

/// The phase of a Canary whose spec cannot run.
pub const INVALID: &str = "Invalid";

/// Records a rollout named after its Service. The Service must be routed by exactly one
/// object (what the controller will set the weights of); a rollout still running is refused.
pub async fn start(
    conn: &Connection,
    namespace: &str,
    spec: CanarySpec,
) -> Result<Canary, CanaryError> {
    let kinds = served(conn).await?;
    let found = routing(conn, &kinds, namespace, &spec.service).await?;
    the_one(found, namespace, &spec.service)?;
    let api = api(conn, namespace);
    let name = spec.service.clone();
    let what = format!("Canary {namespace}/{name}");
    if let Some(old) = api
        .get_opt(&name)
        .await
        .map_err(|e| conn.request_error("reading", &what, &e))?
    {
        if !finished(&old) {
            let phase = old
                .status
                .and_then(|s| s.phase)
                .unwrap_or_else(|| "Pending".to_owned());
            return Err(CanaryError::Refused(format!(
                "{what} is still running ({phase}): wait for it, or `meshctl canary abort {name} -n {namespace}` first"
            )));
        }
        api.delete(&name, &DeleteParams::default())
            .await
            .map_err(|e| conn.request_error("deleting the finished", &what, &e))?;
    }
    let mut canary = Canary::new(&name, spec);
    canary.metadata.namespace = Some(namespace.to_owned());
    api.create(&PostParams::default(), &canary)
        .await
        .map_err(|e| conn.request_error("creating", &what, &e).into())
}

/// Sends `command` to the rollout of `service` (a merge patch of its spec).
pub async fn command(
    conn: &Connection,
    namespace: &str,
    service: &str,
    command: Command,
) -> Result<Canary, CanaryError> {
    let current = get(conn, namespace, service).await?;
    if finished(&current) {
        let phase = current.status.and_then(|s| s.phase).unwrap_or_default();
        return Err(CanaryError::Refused(format!(
            "Canary {namespace}/{service} has finished ({phase}): nothing to change; start a new one"
        )));
    }
    let spec = match command {
        Command::Pause => json!({"paused": true}),
        Command::Resume => json!({"paused": false}),
        Command::Abort => json!({"aborted": true}),
        // A promotion also ends a pause: it is asked to move on.
        Command::Promote { full } => {
            json!({"paused": false, "promotion": {"full": full, "requestedMs": now_ms()}})
        }
    };
    let what = format!("Canary {namespace}/{service}");
    api(conn, namespace)
        .patch(
            service,
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.to_owned()),
                ..PatchParams::default()
            },
            &Patch::Merge(&json!({"spec": spec})),
        )
        .await
        .map_err(|e| conn.request_error("changing", &what, &e).into())
}

/// The rollout of `service`.
pub async fn get(conn: &Connection, namespace: &str, service: &str) -> Result<Canary, CanaryError> {
    let what = format!("Canary {namespace}/{service}");
    api(conn, namespace)
        .get_opt(service)
        .await
        .map_err(|e| conn.request_error("reading", &what, &e))?
        .ok_or_else(|| {
            CanaryError::Refused(format!(
                "no rollout of {service} in namespace {namespace}: start one with `meshctl canary start {service} --canary NAME -n {namespace}`"
            ))
        })
}

/// Every rollout in `namespace` (all namespaces with `None`), by namespace and name.
pub async fn list(conn: &Connection, namespace: Option<&str>) -> Result<Vec<Canary>, CanaryError> {
    let api: Api<Canary> = match namespace {
        Some(ns) => api(conn, ns),
        None => Api::all(conn.client.clone()),
    };
    let mut items = api
        .list(&ListParams::default())
        .await
        .map_err(|e| conn.request_error("listing", "Canary objects", &e))?
        .items;
    items.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    Ok(items)
}
