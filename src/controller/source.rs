//! Where the controller's objects come from: kube-rs reflectors on Services, EndpointSlices,
//! Pods and Namespaces. Every change bumps a counter the translation loop waits on; the
//! stores answer the snapshot the translation reads and the pod a subscribing proxy names.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod, PodSpec, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::Resource;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;

use crate::translate::Inputs;

/// The objects the controller knows, kept current by the reflectors.
#[derive(Clone)]
pub struct Stores {
    pub services: Store<Service>,
    pub endpoint_slices: Store<EndpointSlice>,
    pub pods: Store<Pod>,
    pub namespaces: Store<Namespace>,
    /// How many reflectors have finished their first list.
    listed: Arc<AtomicUsize>,
}

impl Stores {
    /// Everything, as the translation takes it.
    pub fn inputs(&self) -> Inputs {
        fn owned<K: Clone>(store: &Store<K>) -> Vec<K>
        where
            K: kube::Resource + 'static,
            K::DynamicType: std::hash::Hash + Eq + Clone,
        {
            store.state().iter().map(|k| (**k).clone()).collect()
        }
        Inputs {
            services: owned(&self.services),
            endpoint_slices: owned(&self.endpoint_slices),
            pods: owned(&self.pods),
            namespaces: owned(&self.namespaces),
            ..Inputs::default()
        }
    }

    /// The pod `namespace/name`, if the reflector has seen it.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<Arc<Pod>> {
        self.pods.get(&ObjectRef::new(name).within(namespace))
    }

    /// Whether every reflector has listed once.
    pub fn synced(&self) -> bool {
        self.listed.load(Ordering::Acquire) >= REFLECTORS
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
    (
        Stores {
            services,
            endpoint_slices,
            pods,
            namespaces,
            listed,
        },
        tasks,
    )
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

/// The reflectors `Stores::synced` waits for.
const REFLECTORS: usize = 4;

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
    let changes = changes.clone();
    let listed = listed.clone();
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    let stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(modify)
        .reflect(writer);
    tasks.push(tokio::spawn(async move {
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
    }));
    store
}
