//! Writes the `status.parents` of HTTPRoutes and GRPCRoutes (Gateway API, GAMMA) from each
//! publication's route outcomes, on the leader only. A route is written (one merge patch of
//! its status subresource) only when its entries differ from what translation decided; our
//! own write comes back as a watch event and a new publication, which then finds nothing to
//! change, so there is no write loop. Other controllers' entries are kept as they are.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams};
use prometheus_client::metrics::counter::Counter;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::publish::Published;
use super::source::Stores;
use crate::translate::route_status::{self, RouteOutcome};

/// The API group of the route kinds.
const GROUP: &str = "gateway.networking.k8s.io";

/// How often every route is looked at again without a new publication (a write that failed
/// for a reason other than a conflict is tried again then).
const RESYNC: Duration = Duration::from_secs(30);

/// What the writer reads and writes.
pub struct Writer {
    pub client: kube::Client,
    pub stores: Stores,
    pub published: watch::Receiver<Option<Arc<Published>>>,
    pub leading: watch::Receiver<bool>,
    /// Status patches sent.
    pub writes: Counter,
}

impl Writer {
    /// Runs for the controller's life.
    pub async fn run(mut self) {
        loop {
            while !*self.leading.borrow_and_update() {
                if self.leading.changed().await.is_err() {
                    return;
                }
            }
            let published = self.published.borrow_and_update().clone();
            if let Some(published) = published {
                for (key, outcome) in &published.mesh.route_outcomes {
                    self.write_one(key, outcome).await;
                }
            }
            tokio::select! {
                changed = self.published.changed() => if changed.is_err() { return },
                changed = self.leading.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(RESYNC) => {}
            }
        }
    }

    /// Patches one route's status if what it says is not what translation decided.
    async fn write_one(
        &self,
        (kind, namespace, name): &(String, String, String),
        outcome: &RouteOutcome,
    ) {
        // Gone since it was translated: nothing to write.
        let Some((resource, object)) = self.stores.config_object(GROUP, kind, namespace, name)
        else {
            return;
        };
        let previous: Vec<Value> = object
            .data
            .pointer("/status/parents")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let now = crate::identity::inspect::rfc3339(SystemTime::now());
        let ours = route_status::parents(outcome, &previous, &now);
        let parents = route_status::merge(&previous, &ours);
        if parents == previous {
            return;
        }
        // The resourceVersion makes the patch fail on a route changed since it was read; that
        // change brings a new publication, and this is tried again then.
        let patch = json!({
            "metadata": {"resourceVersion": object.metadata.resource_version},
            "status": {"parents": parents},
        });
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &resource);
        self.writes.inc();
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => tracing::debug!(%kind, %namespace, %name, "route status written"),
            Err(kube::Error::Api(status)) if status.code == 409 || status.code == 404 => {
                tracing::debug!(%kind, %namespace, %name, code = status.code,
                    "route changed or went before its status was written");
            }
            Err(error) => {
                tracing::warn!(%kind, %namespace, %name, %error,
                    "cannot write the route's status (the install's ClusterRole grants patch on httproutes/status and grpcroutes/status)");
            }
        }
    }
}
