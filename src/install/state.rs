//! What an existing install recorded in its namespace: the values it was made with and the
//! certificates it carries, so a repeated install or an upgrade keeps the mesh's identity.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;

use super::InstallError;
use crate::k8s::Connection;
use crate::manifests::{IdentityCerts, InstallCerts, Values, WebhookCerts};

/// Names of the objects `templates/config.yaml` writes.
pub const VALUES_CONFIG_MAP: &str = "meshctl-values";
pub const TRUST_ROOTS_CONFIG_MAP: &str = "meshctl-identity-trust-roots";
pub const ISSUER_SECRET: &str = "meshctl-identity-issuer";
pub const WEBHOOK_SECRET: &str = "meshctl-webhook-tls";

/// An install found in a namespace (each part only when present).
#[derive(Debug, Default)]
pub struct InstalledState {
    pub values: Option<Values>,
    /// The meshctl version that wrote the values.
    pub version: Option<String>,
    pub identity: Option<IdentityCerts>,
    pub webhook: Option<WebhookCerts>,
}

impl InstalledState {
    /// The recorded certificates, when the install has all of them.
    pub fn certs(&self) -> Option<InstallCerts> {
        Some(InstallCerts {
            identity: self.identity.clone()?,
            webhook: self.webhook.clone()?,
        })
    }
}

/// Reads the install in `namespace`; missing objects are `None`, unreadable ones an error.
pub async fn read_state(
    conn: &Connection,
    namespace: &str,
) -> Result<InstalledState, InstallError> {
    let maps: Api<ConfigMap> = Api::namespaced(conn.client.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(conn.client.clone(), namespace);
    let bad = |object: String, reason: String| InstallError::BadState {
        object,
        namespace: namespace.to_owned(),
        server: conn.server.clone(),
        reason,
    };
    let get_map = async |name: &str| {
        maps.get_opt(name).await.map_err(|e| {
            conn.request_error("reading", &format!("ConfigMap {namespace}/{name}"), &e)
        })
    };
    let get_secret = async |name: &str| {
        secrets
            .get_opt(name)
            .await
            .map_err(|e| conn.request_error("reading", &format!("Secret {namespace}/{name}"), &e))
    };
    let mut state = InstalledState::default();
    if let Some(map) = get_map(VALUES_CONFIG_MAP).await? {
        let what = format!("ConfigMap {VALUES_CONFIG_MAP}");
        let json = map_entry(&map, "values.json").map_err(|r| bad(what.clone(), r))?;
        let values: Values = serde_json::from_str(json)
            .map_err(|e| bad(what.clone(), format!("values.json: {e}")))?;
        state.values = Some(values);
        state.version = map_entry(&map, "version").ok().map(str::to_owned);
    }
    let roots = get_map(TRUST_ROOTS_CONFIG_MAP).await?;
    let issuer = get_secret(ISSUER_SECRET).await?;
    if let (Some(roots), Some(issuer)) = (roots, issuer) {
        let what = format!("Secret {ISSUER_SECRET}");
        state.identity = Some(IdentityCerts {
            trust_anchors: map_entry(&roots, "ca-bundle.crt")
                .map_err(|r| bad(format!("ConfigMap {TRUST_ROOTS_CONFIG_MAP}"), r))?
                .to_owned(),
            issuer_cert: secret_entry(&issuer, "tls.crt").map_err(|r| bad(what.clone(), r))?,
            issuer_key: secret_entry(&issuer, "tls.key")
                .map_err(|r| bad(what.clone(), r))?
                .into(),
        });
    }
    if let Some(webhook) = get_secret(WEBHOOK_SECRET).await? {
        let what = format!("Secret {WEBHOOK_SECRET}");
        state.webhook = Some(WebhookCerts {
            ca: secret_entry(&webhook, "ca.crt").map_err(|r| bad(what.clone(), r))?,
            cert: secret_entry(&webhook, "tls.crt").map_err(|r| bad(what.clone(), r))?,
            key: secret_entry(&webhook, "tls.key")
                .map_err(|r| bad(what.clone(), r))?
                .into(),
        });
    }
    Ok(state)
}

fn map_entry<'a>(map: &'a ConfigMap, key: &str) -> Result<&'a str, String> {
    map.data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(String::as_str)
        .ok_or_else(|| format!("it has no data key `{key}`"))
}

fn secret_entry(secret: &Secret, key: &str) -> Result<String, String> {
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .ok_or_else(|| format!("it has no data key `{key}`"))?;
    String::from_utf8(bytes.0.clone()).map_err(|_| format!("`{key}` is not PEM text"))
}
