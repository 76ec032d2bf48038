//! The keys behind RequestAuthentications' `jwksUri`s: the controller fetches them (proxies
//! get them in their config and never reach out), at once for a new URI and again every
//! refresh period (key rotation); a change starts a translation. A failed fetch keeps the
//! last good document, and is retried within seconds while a URI has none. With a
//! [`Cache`], documents survive a restart of the controller.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use tokio::sync::watch;

use super::jwks_cache::Cache;
use super::source::Source;
use crate::translate::Inputs;
use crate::translate::request_authentication::jwks_uris;

/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest JWKS document read.
const MAX_DOCUMENT: usize = 1024 * 1024;

/// How soon a URI without a document is tried again.
const RETRY: Duration = Duration::from_secs(5);

/// The documents fetched, by URI.
#[derive(Debug, Default)]
pub struct Jwks {
    docs: RwLock<BTreeMap<String, String>>,
}

impl Jwks {
    pub fn snapshot(&self) -> BTreeMap<String, String> {
        self.docs.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stores `doc` for `uri`; whether it changed.
    fn put(&self, uri: &str, doc: String) -> bool {
        let mut docs = self.docs.write().unwrap_or_else(|e| e.into_inner());
        docs.insert(uri.to_owned(), doc.clone()).as_ref() != Some(&doc)
    }

    /// Takes documents kept by an earlier run (fetches replace them).
    fn restore(&self, docs: BTreeMap<String, String>) {
        let mut mine = self.docs.write().unwrap_or_else(|e| e.into_inner());
        for (uri, doc) in docs {
            mine.entry(uri).or_insert(doc);
        }
    }

    /// Forgets the URIs no policy names any more; whether any was.
    fn retain(&self, uris: &BTreeSet<String>) -> bool {
        let mut docs = self.docs.write().unwrap_or_else(|e| e.into_inner());
        let before = docs.len();
        docs.retain(|uri, _| uris.contains(uri));
        docs.len() != before
    }

    fn has(&self, uri: &str) -> bool {
        self.docs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(uri)
    }
}

/// A source whose inputs carry the fetched documents.
pub struct WithJwks {
    inner: Arc<dyn Source>,
    jwks: Arc<Jwks>,
}

impl WithJwks {
    pub fn new(inner: Arc<dyn Source>, jwks: Arc<Jwks>) -> Self {
        Self { inner, jwks }
    }
}

impl Source for WithJwks {
    fn inputs(&self) -> Inputs {
        let mut inputs = self.inner.inputs();
        inputs.jwks = self.jwks.snapshot();
        inputs
    }

    fn pod(&self, namespace: &str, name: &str) -> Option<Arc<Pod>> {
        self.inner.pod(namespace, name)
    }

    fn namespace(&self, name: &str) -> Option<Arc<Namespace>> {
        self.inner.namespace(name)
    }

    fn synced(&self) -> bool {
        self.inner.synced()
    }
}

/// Why one fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Request(String),
    #[error("answered {0}")]
    Status(http::StatusCode),
    #[error("not a JWKS document: {0}")]
    Document(String),
    #[error("no answer within {FETCH_TIMEOUT:?}")]
    Timeout,
}

type HttpsClient = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Empty<Bytes>,
>;

fn client() -> std::io::Result<HttpsClient> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// GETs `uri` and checks it is a JWKS document; returns it as compact JSON.
async fn fetch(client: &HttpsClient, uri: &str) -> Result<String, FetchError> {
    let uri: http::Uri = uri
        .parse()
        .map_err(|e| FetchError::Request(format!("{e}")))?;
    let get = async {
        let resp = client
            .get(uri)
            .await
            .map_err(|e| FetchError::Request(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(FetchError::Status(resp.status()));
        }
        Limited::new(resp.into_body(), MAX_DOCUMENT)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(|e| FetchError::Request(e.to_string()))
    };
    let body = tokio::time::timeout(FETCH_TIMEOUT, get)
        .await
        .map_err(|_| FetchError::Timeout)??;
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_slice(&body).map_err(|e| FetchError::Document(e.to_string()))?;
    serde_json::to_string(&set).map_err(|e| FetchError::Document(e.to_string()))
}

/// Keeps `jwks` current for the URIs the source's policies name; runs for the controller's
/// life. Fetches a URI without a document on every change of the source, every URI every
/// `every`.
pub async fn refresh(
    source: Arc<dyn Source>,
    jwks: Arc<Jwks>,
    changes: watch::Sender<u64>,
    every: Duration,
    cache: Option<Cache>,
) {
    if let Some(cache) = &cache {
        jwks.restore(cache.load().await);
        changes.send_modify(|n| *n += 1);
    }
    // Until the source has been read whole, its policies (and so the URIs to keep) are not.
    while !source.synced() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let client = match client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no TLS roots for fetching jwksUri: RequestAuthentication keys stay unknown");
            return;
        }
    };
    let mut seen = changes.subscribe();
    let mut next_full = tokio::time::Instant::now();
    loop {
        let uris = jwks_uris(&source.inputs().objects);
        let full = tokio::time::Instant::now() >= next_full;
        if full {
            next_full = tokio::time::Instant::now() + every;
        }
        let mut changed = jwks.retain(&uris);
        let mut missing = false;
        for uri in uris.iter().filter(|u| full || !jwks.has(u)) {
            match fetch(&client, uri).await {
                Ok(doc) => changed |= jwks.put(uri, doc),
                Err(e) => {
                    missing |= !jwks.has(uri);
                    tracing::warn!(%uri, error = %e, "fetching a jwksUri failed; the last good keys (if any) stay in use");
                }
            }
        }
        if changed {
            tracing::info!(uris = uris.len(), "JWKS documents changed");
            changes.send_modify(|n| *n += 1);
            if let Some(cache) = &cache {
                cache.save(&jwks.snapshot()).await;
            }
        }
        seen.borrow_and_update();
        let wake = if missing {
            next_full.min(tokio::time::Instant::now() + RETRY)
        } else {
            next_full
        };
        tokio::select! {
            r = seen.changed() => {
                if r.is_err() {
                    return;
                }
                // Changes come in bursts (a rollout): read the policies once they settle.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            () = tokio::time::sleep_until(wake) => {}
        }
    }
}

#[cfg(test)]
#[path = "jwks_tests.rs"]
mod tests;
