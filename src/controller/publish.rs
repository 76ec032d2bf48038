//! From objects to what proxies receive: the translation loop re-runs `translate` after each
//! batch of changes and publishes the result; each namespace's view is encoded once per
//! publication (services that did not change keep their bytes from the last one).

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use k8s_openapi::api::core::v1::Pod;
use tokio::sync::watch;

use super::metrics::Metrics;
use super::source::Source;
use crate::model::service::Service;
use crate::translate::{self, Mesh};

/// One translation, as proxies get it.
pub struct Published {
    pub mesh: Arc<Mesh>,
    /// When the first change behind it was seen: push latency counts from here.
    pub since: Instant,
    views: Mutex<HashMap<String, Arc<View>>>,
    /// The previous publication's encodings, reused for services that did not change.
    previous: Option<Arc<Published>>,
    /// The resourceVersion of each config object it was translated from.
    pub objects: ObjectVersions,
}

/// resourceVersions of config objects by (kind, namespace, name): a canary's weight shift is
/// in a publication once its route's written version is.
pub type ObjectVersions = BTreeMap<(String, String, String), String>;

fn object_versions(inputs: &translate::Inputs) -> ObjectVersions {
    inputs
        .objects
        .iter()
        .filter_map(|o| {
            let kind = o.types.as_ref()?.kind.clone();
            let m = &o.metadata;
            let key = (kind, m.namespace.clone()?, m.name.clone()?);
            Some((key, m.resource_version.clone()?))
        })
        .collect()
}

/// The outbound services of one namespace, encoded.
#[derive(Default)]
pub struct View {
    pub services: BTreeMap<String, Encoded>,
    /// Of every name and service hash: a proxy's version is this and its inbound hash.
    pub hash: u64,
}

impl View {
    pub fn new(services: BTreeMap<String, Encoded>) -> Self {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for (name, encoded) in &services {
            name.hash(&mut h);
            encoded.hash.hash(&mut h);
        }
        Self {
            services,
            hash: h.finish(),
        }
    }
}

/// A service as it goes on the wire.
#[derive(Clone)]
pub struct Encoded {
    pub service: Arc<Service>,
    pub json: Bytes,
    pub hash: u64,
}

pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

impl Published {
    pub fn new(mesh: Mesh, since: Instant, previous: Option<Arc<Published>>) -> Self {
        Self {
            mesh: Arc::new(mesh),
            since,
            views: Mutex::default(),
            previous,
            objects: ObjectVersions::new(),
        }
    }

    /// A publication whose views are given, not computed (tests of what proxies do with
    /// what they are sent).
    #[cfg(test)]
    pub fn with_views(mesh: Mesh, since: Instant, views: HashMap<String, Arc<View>>) -> Self {
        Self {
            mesh: Arc::new(mesh),
            since,
            views: Mutex::new(views),
            previous: None,
            objects: ObjectVersions::new(),
        }
    }

    /// The view of `namespace`, encoded on first use.
    pub fn view(&self, namespace: &str) -> Arc<View> {
        if let Some(view) = self
            .views
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(namespace)
        {
            return view.clone();
        }
        let old = self.previous.as_ref().and_then(|p| {
            p.views
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(namespace)
                .cloned()
        });
        let services = self
            .mesh
            .view(namespace)
            .into_iter()
            .map(|(name, service)| {
                // The encoding is reused, the service is this mesh's: an old mesh's copy
                // kept alive by its encoding would be a second copy of every service.
                let reused = old
                    .as_ref()
                    .and_then(|v| v.services.get(&name))
                    .filter(|e| Arc::ptr_eq(&e.service, &service) || *e.service == *service)
                    .map(|e| Encoded {
                        service: service.clone(),
                        json: e.json.clone(),
                        hash: e.hash,
                    });
                let encoded = reused.unwrap_or_else(|| encode(service));
                (name, encoded)
            })
            .collect();
        let view = Arc::new(View::new(services));
        self.views
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(namespace.to_owned(), view.clone());
        view
    }
}

fn encode(service: Arc<Service>) -> Encoded {
    // A model value always serializes.
    let json = Bytes::from(serde_json::to_vec(&*service).unwrap_or_default());
    Encoded {
        hash: hash_bytes(&json),
        service,
        json,
    }
}

/// The version of one proxy's config: the same content gives the same version on every
/// controller replica.
pub fn version_of(inbound_hash: u64, view: &View) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    inbound_hash.hash(&mut h);
    view.hash.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// What the proxy of one pod gets from a publication.
pub struct Expected {
    pub view: Arc<View>,
    pub inbound_json: Vec<u8>,
    pub inbound_hash: u64,
    pub version: String,
}

/// The config the proxy of `pod` (in `namespace`) should run under `published`.
pub fn expected(published: &Published, namespace: &str, pod: &Pod) -> Expected {
    let view = published.view(namespace);
    let inbound = published.mesh.inbound(pod);
    let inbound_json = serde_json::to_vec(&inbound).unwrap_or_default();
    let inbound_hash = hash_bytes(&inbound_json);
    Expected {
        version: version_of(inbound_hash, &view),
        view,
        inbound_json,
        inbound_hash,
    }
}

/// What the proxy of one pod receives, as `meshctl proxy-config` prints it: the services and
/// inbound side as they go on the wire, and the version the controller pushes with them (a
/// proxy's `/config` shows the version it runs).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ProxyConfig {
    pub version: String,
    pub inbound: serde_json::Value,
    pub services: Vec<serde_json::Value>,
}

/// The config each of `pods` gets from `mesh`, computed as discovery computes it.
pub fn proxy_configs(mesh: Mesh, pods: &[&Pod]) -> Vec<ProxyConfig> {
    let published = Published::new(mesh, Instant::now(), None);
    let wire = |bytes: &[u8]| serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null);
    pods.iter()
        .map(|pod| {
            let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
            let e = expected(&published, namespace, pod);
            ProxyConfig {
                inbound: wire(&e.inbound_json),
                services: e.view.services.values().map(|s| wire(&s.json)).collect(),
                version: e.version,
            }
        })
        .collect()
}

/// Re-translates after changes (batched: changes within `debounce` of the first go together)
/// and publishes each result; runs for the controller's life.
pub async fn translate_loop(
    stores: Arc<dyn Source>,
    mut changes: watch::Receiver<u64>,
    options: translate::Options,
    tx: watch::Sender<Option<Arc<Published>>>,
    metrics: Arc<Metrics>,
    debounce: Duration,
) {
    while !stores.synced() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut since = Instant::now();
    loop {
        changes.borrow_and_update();
        let started = Instant::now();
        // The inputs are a copy of every object: gone before the wait for the next change.
        let (objects, mesh) = {
            let inputs = stores.inputs();
            (
                object_versions(&inputs),
                translate::translate(&inputs, &options),
            )
        };
        for finding in &mesh.findings {
            tracing::debug!(%finding, "translation finding");
        }
        metrics.observe_translation(started.elapsed(), mesh.findings.len());
        let previous = tx.borrow().clone();
        let mut mesh = mesh;
        if let Some(previous) = &previous {
            mesh.share_unchanged(&previous.mesh);
        }
        let mut published = Published::new(mesh, since, previous.map(strip));
        published.objects = objects;
        tx.send_replace(Some(Arc::new(published)));
        if changes.changed().await.is_err() {
            return;
        }
        since = Instant::now();
        tokio::time::sleep(debounce).await;
    }
}

/// The previous publication as the next one needs it: its encodings, without its mesh
/// (shared where unchanged, see `Mesh::share_unchanged`) or its own predecessor.
fn strip(p: Arc<Published>) -> Arc<Published> {
    let views = p.views.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Arc::new(Published {
        mesh: Arc::default(),
        since: p.since,
        views: Mutex::new(views),
        previous: None,
        objects: ObjectVersions::new(),
    })
}
