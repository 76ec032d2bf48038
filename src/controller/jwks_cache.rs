//! The fetched JWKS documents kept in a ConfigMap of the mesh namespace, so that a
//! restarted controller has every issuer's keys before (or without) reaching the issuers:
//! read once at start, written after each change.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::k8s::FIELD_MANAGER;

/// The ConfigMap's name (in the mesh namespace).
pub const JWKS_CACHE_CONFIGMAP: &str = "meshctl-jwks-cache";

/// Its one key: a JSON object of documents by jwksUri.
const KEY: &str = "documents.json";

/// Where the cache lives.
#[derive(Clone)]
pub struct Cache {
    pub client: kube::Client,
    pub namespace: String,
}

impl Cache {
    /// The documents kept by an earlier run (none when there is no cache yet or it cannot
    /// be read: they are fetched again).
    pub async fn load(&self) -> BTreeMap<String, String> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        match api.get_opt(JWKS_CACHE_CONFIGMAP).await {
            Ok(Some(map)) => map
                .data
                .and_then(|d| d.get(KEY).cloned())
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default(),
            Ok(None) => BTreeMap::new(),
            Err(error) => {
                tracing::warn!(%error, "cannot read the JWKS cache; the keys are fetched again");
                BTreeMap::new()
            }
        }
    }

    /// Writes `docs` (logged, not fatal, when it fails: the next change tries again).
    pub async fn save(&self, docs: &BTreeMap<String, String>) {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        let text = serde_json::to_string(docs).unwrap_or_default();
        let map = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": JWKS_CACHE_CONFIGMAP,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/part-of": "meshctl", "app.kubernetes.io/managed-by": "meshctl-controller"},
            },
            "data": {KEY: text},
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        if let Err(error) = api
            .patch(JWKS_CACHE_CONFIGMAP, &params, &Patch::Apply(&map))
            .await
        {
            tracing::warn!(%error, "cannot write the JWKS cache");
        }
    }
}
