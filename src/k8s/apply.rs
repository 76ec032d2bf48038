//! Server-side apply of arbitrary objects (field manager `meshctl`), their kinds resolved
//! through discovery once per kind, plus the waits an install needs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};

use super::connect::{Connection, K8sError};

/// The field manager of every object meshctl applies.
pub const FIELD_MANAGER: &str = "meshctl";

/// How often waits poll the server.
const POLL: Duration = Duration::from_millis(500);

/// Applies objects to one cluster, remembering each kind's REST resource.
pub struct Applier<'a> {
    conn: &'a Connection,
    dry_run: bool,
    kinds: HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>,
}

/// `Kind namespace/name` or `Kind name`: how errors and progress lines name an object.
pub fn describe(obj: &DynamicObject) -> String {
    let kind = obj.types.as_ref().map_or("object", |t| t.kind.as_str());
    let name = obj.metadata.name.as_deref().unwrap_or("<unnamed>");
    match obj.metadata.namespace.as_deref() {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

impl<'a> Applier<'a> {
    /// With `dry_run`, the server checks and defaults every object but stores nothing.
    pub fn new(conn: &'a Connection, dry_run: bool) -> Self {
        Self {
            conn,
            dry_run,
            kinds: HashMap::new(),
        }
    }

    pub fn connection(&self) -> &Connection {
        self.conn
    }

    /// Server-side applies `obj`, taking over fields other managers set (meshctl owns these
    /// objects). Returns the object as the server has it afterwards.
    pub async fn apply(&mut self, obj: &DynamicObject) -> Result<DynamicObject, K8sError> {
        let what = describe(obj);
        let name = obj.metadata.name.clone().unwrap_or_default();
        let api = self.api_for(obj, &what).await?;
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        if self.dry_run {
            params = params.dry_run();
        }
        api.patch(&name, &params, &Patch::Apply(obj))
            .await
            .map_err(|e| self.conn.request_error("applying", &what, &e))
    }

    /// The object's current state on the server, if it exists.
    pub async fn get(&mut self, obj: &DynamicObject) -> Result<Option<DynamicObject>, K8sError> {
        let what = describe(obj);
        let name = obj.metadata.name.clone().unwrap_or_default();
        let api = self.api_for(obj, &what).await?;
        api.get_opt(&name)
            .await
            .map_err(|e| self.conn.request_error("reading", &what, &e))
    }

    /// Deletes the object (in the background); a missing object is not an error.
    pub async fn delete(&mut self, obj: &DynamicObject) -> Result<bool, K8sError> {
        let what = describe(obj);
        let name = obj.metadata.name.clone().unwrap_or_default();
        let api = match self.api_for(obj, &what).await {
            Ok(api) => api,
            // The kind itself is gone (e.g. its CRD was deleted first): so is the object.
            Err(K8sError::Request { .. }) if !self.dry_run => return Ok(false),
            Err(e) => return Err(e),
        };
        let params = DeleteParams {
            dry_run: self.dry_run,
            ..DeleteParams::background()
        };
        match api.delete(&name, &params).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
            Err(e) => Err(self.conn.request_error("deleting", &what, &e)),
        }
    }

    /// Polls the object until `ready` says yes, for at most `timeout`.
    pub async fn wait_for(
        &mut self,
        obj: &DynamicObject,
        condition: &str,
        timeout: Duration,
        ready: impl Fn(&DynamicObject) -> bool,
    ) -> Result<(), K8sError> {
        let start = Instant::now();
        loop {
            if let Some(current) = self.get(obj).await?
                && ready(&current)
            {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(self
                    .conn
                    .timeout_error(&describe(obj), condition, timeout.as_secs()));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn api_for(
        &mut self,
        obj: &DynamicObject,
        what: &str,
    ) -> Result<Api<DynamicObject>, K8sError> {
        let types = obj.types.as_ref().ok_or_else(|| K8sError::Request {
            action: "applying".to_owned(),
            object: what.to_owned(),
            server: self.conn.server.clone(),
            context: self.conn.context.clone(),
            reason: "the object has no apiVersion/kind".to_owned(),
        })?;
        let gvk = GroupVersionKind::try_from(types).map_err(|e| K8sError::Request {
            action: "applying".to_owned(),
            object: what.to_owned(),
            server: self.conn.server.clone(),
            context: self.conn.context.clone(),
            reason: e.to_string(),
        })?;
        if !self.kinds.contains_key(&gvk) {
            let found = kube::discovery::pinned_kind(&self.conn.client, &gvk)
                .await
                .map_err(|e| self.conn.request_error("finding the API of", what, &e))?;
            self.kinds.insert(gvk.clone(), found);
        }
        let (resource, caps) = &self.kinds[&gvk];
        let client = self.conn.client.clone();
        Ok(match (&caps.scope, obj.metadata.namespace.as_deref()) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client, ns, resource),
            (Scope::Namespaced, None) => {
                Api::namespaced_with(client, &self.conn.namespace, resource)
            }
            (Scope::Cluster, _) => Api::all_with(client, resource),
        })
    }
}

/// Whether a status condition of `type_` is `True` (CRD Established, Deployment Available).
pub fn condition_true(obj: &DynamicObject, type_: &str) -> bool {
    obj.data
        .pointer("/status/conditions")
        .and_then(|c| c.as_array())
        .is_some_and(|conditions| {
            conditions.iter().any(|c| {
                c.get("type").and_then(|t| t.as_str()) == Some(type_)
                    && c.get("status").and_then(|s| s.as_str()) == Some("True")
            })
        })
}
