//! Where the controller's objects come from. A [`Source`] answers the snapshot the translation
//! reads and the pod a subscribing proxy names, and bumps a change counter the translation
//! loop waits on; nothing downstream knows which source it is. [`Stores`] is the API server's:
//! kube-rs reflectors on Services, EndpointSlices, Pods and Namespaces.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod, PodSpec, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::Resource;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;

use crate::translate::Inputs;

/// What the controller reads its objects from.
pub trait Source: Send + Sync + 'static {
    /// Everything, as the translation takes it.
    fn inputs(&self) -> Inputs;
    /// The pod `namespace/name`, if the source has it.
    fn pod(&self, namespace: &str, name: &str) -> Option<Arc<Pod>>;
    /// The namespace `name` (its labels and annotations opt its pods in), if the source has it.
    fn namespace(&self, name: &str) -> Option<Arc<Namespace>>;
    /// Whether the source has been read whole once.
    fn synced(&self) -> bool;
}

/// The config kinds the controller reads when their CRDs exist (group, kind).
pub const CONFIG_KINDS: [(&str, &str); 15] = [
    ("networking.istio.io", "VirtualService"),
    ("networking.istio.io", "DestinationRule"),
    ("networking.istio.io", "EnvoyFilter"),
    ("security.istio.io", "PeerAuthentication"),
    ("security.istio.io", "AuthorizationPolicy"),
    ("security.istio.io", "RequestAuthentication"),
    ("split.smi-spec.io", "TrafficSplit"),
    ("gateway.networking.k8s.io", "HTTPRoute"),
    ("gateway.networking.k8s.io", "GRPCRoute"),
    ("linkerd.io", "ServiceProfile"),
    ("policy.linkerd.io", "Server"),
    ("policy.linkerd.io", "ServerAuthorization"),
    ("policy.linkerd.io", "AuthorizationPolicy"),
    ("policy.linkerd.io", "MeshTLSAuthentication"),
    ("policy.linkerd.io", "NetworkAuthentication"),
];

/// How often the API server is asked again which config kinds it serves (a CRD installed
/// after the controller started is picked up).
const KINDS_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// The config kinds' stores, each with the resource it reflects.
type ConfigStores = Vec<(ApiResource, Store<DynamicObject>)>;

/// The objects the controller knows, kept current by the reflectors.
#[derive(Clone)]
pub struct Stores {
    pub services: Store<Service>,
    pub endpoint_slices: Store<EndpointSlice>,
    pub pods: Store<Pod>,
    pub namespaces: Store<Namespace>,
    /// One store per config kind the API server serves, added as their CRDs appear.
    objects: Arc<std::sync::RwLock<ConfigStores>>,
    /// How many reflectors have finished their first list, and how many there are.
    listed: Arc<AtomicUsize>,
    reflectors: Arc<AtomicUsize>,
}

impl Source for Stores {
    fn inputs(&self) -> Inputs {
        Inputs {
            services: self.services.state(),
            endpoint_slices: self.endpoint_slices.state(),
            pods: self.pods.state(),
            namespaces: self.namespaces.state(),
            objects: self
                .objects
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .flat_map(|(_, store)| store.state())
                .collect(),
            ..Inputs::default()
        }
    }

    fn pod(&self, namespace: &str, name: &str) -> Option<Arc<Pod>> {
        self.pods.get(&ObjectRef::new(name).within(namespace))
    }

    fn namespace(&self, name: &str) -> Option<Arc<Namespace>> {
        self.namespaces.get(&ObjectRef::new(name))
    }

    fn synced(&self) -> bool {
        self.listed.load(Ordering::Acquire) >= self.reflectors.load(Ordering::Acquire)
    }
}

impl Stores {
    /// The config object `kind` of `group` at `namespace/name` as last seen, with its status.
    pub fn config_object(
        &self,
        group: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<(ApiResource, Arc<DynamicObject>)> {
        let objects = self.objects.read().unwrap_or_else(|e| e.into_inner());
        let (resource, store) = objects
            .iter()
            .find(|(r, _)| r.group == group && r.kind == kind)?;
        let object = store.get(&ObjectRef::new_with(name, resource.clone()).within(namespace))?;
        Some((resource.clone(), object))
    }
}

/// Starts the reflectors; each change adds one to the counter on `changes`.
pub fn watch_cluster(
    client: &kube::Client,
    changes: watch::Sender<u64>,
) -> (Stores, Vec<tokio::task::JoinHandle<()>>) {
    let changes = Arc::new(changes);
    let listed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();

    let services = reflect(
        Api::<Service>::all(client.clone()),
        &changes,
        &listed,
        &mut tasks,
        |s: &mut Service| {
            s.meta_mut().managed_fields = None;
        },
    );
    let endpoint_slices = reflect(
        Api::<EndpointSlice>::all(client.clone()),
        &changes,
        &listed,
        &mut tasks,
        |s: &mut EndpointSlice| s.meta_mut().managed_fields = None,
    );
    let pods = reflect(
        Api::<Pod>::all(client.clone()),
        &changes,
        &listed,
        &mut tasks,
        slim_pod,
    );
    let namespaces = reflect(
        Api::<Namespace>::all(client.clone()),
        &changes,
        &listed,
        &mut tasks,
        |n: &mut Namespace| n.meta_mut().managed_fields = None,
    );
    let stores = Stores {
        services,
        endpoint_slices,
        pods,
        namespaces,
        objects: Arc::default(),
        // The four above, and the config kinds once discovery has answered (one more until then).
        reflectors: Arc::new(AtomicUsize::new(5)),
        listed: listed.clone(),
    };
    tasks.push(tokio::spawn(watch_config_kinds(
        client.clone(),
        stores.clone(),
        changes,
        listed,
    )));
    (stores, tasks)
}

/// The cluster's objects were not all listed in time.
#[derive(Debug, thiserror::Error)]
#[error(
    "the cluster's Services, EndpointSlices, Pods, Namespaces and config objects were not all \
     listed within {0:?}: the caller needs list and watch on them \
     (`kubectl auth can-i watch pods -A`)"
)]
pub struct NotListed(std::time::Duration);

/// Every object the controller would translate, read once with the controller's own
/// reflectors (`meshctl analyze` and `check` judge exactly what the controller sees).
pub async fn read_once(
    client: &kube::Client,
    within: std::time::Duration,
) -> Result<Inputs, NotListed> {
    let (changes, _keep) = watch::channel(0);
    let (stores, tasks) = watch_cluster(client, changes);
    let deadline = tokio::time::Instant::now() + within;
    let listed = loop {
        if stores.synced() {
            break true;
        }
        if tokio::time::Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let inputs = listed.then(|| stores.inputs());
    for task in tasks {
        task.abort();
    }
    inputs.ok_or(NotListed(within))
}

/// A pod as the mesh needs it: what says whether it is meshed and who it is, not its whole
/// spec (10,000 pods' env and volumes would be most of the controller's memory).
fn slim_pod(pod: &mut Pod) {
    pod.meta_mut().managed_fields = None;
    if let Some(spec) = pod.spec.take() {
        let names = |list: Vec<k8s_openapi::api::core::v1::Container>| {
            list.into_iter()
                .map(|c| k8s_openapi::api::core::v1::Container {
                    name: c.name,
                    ports: c.ports,
                    restart_policy: c.restart_policy,
                    ..Default::default()
                })
                .collect::<Vec<_>>()
        };
        pod.spec = Some(PodSpec {
            containers: names(spec.containers),
            init_containers: spec.init_containers.map(names),
            service_account_name: spec.service_account_name,
            host_network: spec.host_network,
            hostname: spec.hostname,
            subdomain: spec.subdomain,
            node_name: spec.node_name,
            ..Default::default()
        });
    }
}

/// Finds which config kinds the API server serves and reflects each, now and every
/// [`KINDS_EVERY`] (CRDs installed later).
async fn watch_config_kinds(
    client: kube::Client,
    stores: Stores,
    changes: Arc<watch::Sender<u64>>,
    listed: Arc<AtomicUsize>,
) {
    let groups: Vec<&str> = CONFIG_KINDS.iter().map(|(g, _)| *g).collect();
    let mut first = true;
    let mut tasks = Vec::new();
    loop {
        match kube::discovery::Discovery::new(client.clone())
            .filter(&groups)
            .run()
            .await
        {
            Ok(discovery) => {
                for group in discovery.groups() {
                    // Each kind at its most stable version: a group's kinds may live in
                    // different versions (Linkerd's Server in v1beta3, ServerAuthorization
                    // in v1beta1), so the preferred version alone would miss some.
                    for (resource, _) in group.resources_by_stability() {
                        let wanted = CONFIG_KINDS
                            .iter()
                            .any(|(g, k)| *g == resource.group && *k == resource.kind);
                        let known = stores
                            .objects
                            .read()
                            .unwrap_or_else(|e| e.into_inner())
                            .iter()
                            .any(|(r, _)| r.group == resource.group && r.kind == resource.kind);
                        if !wanted || known {
                            continue;
                        }
                        tracing::info!(kind = %resource.kind, version = %resource.version, "watching config kind");
                        stores.reflectors.fetch_add(1, Ordering::AcqRel);
                        let store =
                            reflect_dynamic(&client, &resource, &changes, &listed, &mut tasks);
                        stores
                            .objects
                            .write()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((resource, store));
                    }
                }
                if std::mem::take(&mut first) {
                    // Discovery itself counted as one reflector to wait for.
                    listed.fetch_add(1, Ordering::AcqRel);
                }
            }
            Err(error) => tracing::warn!(%error, "cannot discover the config kinds; retrying"),
        }
        tokio::time::sleep(if first {
            std::time::Duration::from_secs(1)
        } else {
            KINDS_EVERY
        })
        .await;
    }
}

/// A reflector of one config kind; its objects carry their apiVersion and kind (list
/// answers may leave them out, and translation reads them).
fn reflect_dynamic(
    client: &kube::Client,
    resource: &ApiResource,
    changes: &Arc<watch::Sender<u64>>,
    listed: &Arc<AtomicUsize>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Store<DynamicObject> {
    let writer = reflector::store::Writer::new(resource.clone());
    let store = writer.as_reader();
    let types = kube::core::TypeMeta {
        api_version: resource.api_version.clone(),
        kind: resource.kind.clone(),
    };
    let stream = watcher::watcher(
        Api::<DynamicObject>::all_with(client.clone(), resource),
        watcher::Config::default(),
    )
    .default_backoff()
    .modify(move |o: &mut DynamicObject| {
        o.types = Some(types.clone());
        o.metadata.managed_fields = None;
    })
    .reflect(writer);
    tasks.push(tokio::spawn(count_changes(
        stream,
        changes.clone(),
        listed.clone(),
        resource.kind.clone(),
    )));
    store
}

fn reflect<K>(
    api: Api<K>,
    changes: &Arc<watch::Sender<u64>>,
    listed: &Arc<AtomicUsize>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
    modify: fn(&mut K),
) -> Store<K>
where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + std::hash::Hash + Eq + Clone + Send + Sync,
{
    let (store, writer) = reflector::store();
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    let stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(modify)
        .reflect(writer);
    tasks.push(tokio::spawn(count_changes(
        stream,
        changes.clone(),
        listed.clone(),
        kind,
    )));
    store
}

/// Drives a reflector's stream: each change adds one to `changes`; the end of its first
/// list adds one to `listed`.
async fn count_changes<K>(
    stream: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
    changes: Arc<watch::Sender<u64>>,
    listed: Arc<AtomicUsize>,
    kind: String,
) {
    futures::pin_mut!(stream);
    let mut first_list = true;
    while let Some(event) = stream.next().await {
        match event {
            // A (re)list: its objects count as one change, at its end.
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
            Ok(watcher::Event::InitDone) => {
                if std::mem::take(&mut first_list) {
                    listed.fetch_add(1, Ordering::AcqRel);
                }
                changes.send_modify(|n| *n += 1);
            }
            Ok(_) => {
                changes.send_modify(|n| *n += 1);
            }
            Err(error) => tracing::warn!(kind, %error, "watch failed; retrying"),
        }
    }
}
