//! The discovery stream between a real proxy and the controller's servers on 127.0.0.1 over
//! mesh TLS: the proxy gets its leaf from the CA, applies the first snapshot and acks it; a
//! version it cannot apply (a service in a newer model, as a newer controller would send) is
//! nacked with the reason, the proxy keeps the last good config, and the controller counts it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::core::v1::Pod;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::discovery::DiscoveryService;
use super::metrics::Metrics;
use super::proxies::Proxies;
use super::publish::{Encoded, Published, View, hash_bytes};
use super::source::Source;
use crate::api::discovery::discovery_server::DiscoveryServer;
use crate::api::identity::identity_server::IdentityServer;
use crate::identity::auth::BootstrapToken;
use crate::identity::ca::{self, Ca};
use crate::identity::rotate::{self, CertStore};
use crate::identity::service::{CA_SERVICE_ACCOUNT, CaService, tls_incoming};
use crate::identity::tls::{self, ClientAuth};
use crate::identity::{SpiffeId, pem};
use crate::model::Config;
use crate::model::identity::{CaSource, Identity};
use crate::proxy::discovery::DiscoveryOptions;
use crate::proxy::{Options, Proxy};
use crate::translate::{Inputs, Mesh};

const DAY: Duration = Duration::from_secs(86_400);

/// One pod, `shop/web-1`, running as service account `web`.
struct OnePod(Arc<Pod>);

impl Source for OnePod {
    fn inputs(&self) -> Inputs {
        Inputs::default()
    }
    fn pod(&self, namespace: &str, name: &str) -> Option<Arc<Pod>> {
        (namespace == "shop" && name == "web-1").then(|| self.0.clone())
    }
    fn namespace(&self, _: &str) -> Option<Arc<k8s_openapi::api::core::v1::Namespace>> {
        None
    }
    fn synced(&self) -> bool {
        true
    }
}

/// A view with one service whose JSON is `json`.
fn view(json: serde_json::Value) -> View {
    let service: crate::model::service::Service =
        serde_json::from_value(json.clone()).unwrap_or_default();
    let bytes = bytes::Bytes::from(serde_json::to_vec(&json).unwrap());
    let encoded = Encoded {
        service: Arc::new(service),
        hash: hash_bytes(&bytes),
        json: bytes,
    };
    View::new([("api.shop:80".to_owned(), encoded)].into())
}

fn publish(view: View) -> Arc<Published> {
    let views = HashMap::from([("shop".to_owned(), Arc::new(view))]);
    Arc::new(Published::with_views(
        Mesh::default(),
        Instant::now(),
        views,
    ))
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_the_proxy_cannot_apply_is_nacked_and_the_last_good_one_stays() {
    let now = SystemTime::now();
    let g = ca::generate("cluster.local", DAY * 30, DAY * 20, now).unwrap();
    let anchor = g.anchor.der().clone();
    let ca = Arc::new(Ca::new(g.issuer.der().clone(), g.issuer_key, DAY).unwrap());
    let controller_id =
        SpiffeId::new("cluster.local", "meshctl-system", CA_SERVICE_ACCOUNT).unwrap();
    let own = CertStore::new();
    rotate::renew_once(&own, &controller_id, &ca).await.unwrap();
    let roots = tls::root_store(std::slice::from_ref(&anchor)).unwrap();
    let server_tls = tls::server_config(own, roots, "cluster.local", ClientAuth::Optional).unwrap();

    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web-1", "namespace": "shop"},
        "spec": {"serviceAccountName": "web", "containers": []},
    }))
    .unwrap();
    let good = serde_json::json!({
        "name": "api.shop:80", "authorities": ["api.shop:80"],
        "backends": [{"name": "api", "endpoints": [{"addr": "10.0.0.1:8080"}]}],
    });
    let (published_tx, published_rx) = watch::channel(Some(publish(view(good))));
    let proxies = Arc::new(Proxies::default());
    let metrics = Arc::new(Metrics::default());
    let discovery = DiscoveryService {
        stores: Arc::new(OnePod(Arc::new(pod))),
        published: published_rx,
        proxies: proxies.clone(),
        metrics: metrics.clone(),
        full_snapshots: Arc::new(tokio::sync::Semaphore::new(4)),
    };
    let identity = CaService::new(ca, BootstrapToken::new("t0ken", "cluster.local"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (_keep, tls_rx) = watch::channel(server_tls);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(IdentityServer::new(identity))
            .add_service(DiscoveryServer::new(discovery))
            .serve_with_incoming(tls_incoming(listener, tls_rx)),
    );

    let dir = tempfile::tempdir().unwrap();
    let roots_file = dir.path().join("roots.pem");
    std::fs::write(&roots_file, pem::encode_certs(&[anchor])).unwrap();
    let me = SpiffeId::new("cluster.local", "shop", "web").unwrap();
    let config = Config {
        identity: Some(Identity {
            roots: roots_file,
            cert: None,
            key: None,
            ca: Some(CaSource {
                addr: addr.clone(),
                identity: me,
                token: Some("t0ken".into()),
                token_file: None,
                server: Some(controller_id.clone()),
            }),
        }),
        ..Config::default()
    };
    let mut options = Options::new(config);
    for a in [
        &mut options.outbound_addr,
        &mut options.inbound_addr,
        &mut options.admin_addr,
    ] {
        *a = "127.0.0.1:0".parse().unwrap();
    }
    options.discovery = Some(DiscoveryOptions {
        addr,
        controller: controller_id,
        pod_name: "web-1".into(),
        pod_namespace: "shop".into(),
    });
    let proxy = Proxy::bind(options).await.unwrap();
    let state = proxy.state();
    tokio::spawn(proxy.run(std::future::pending()));

    until("the first config", || state.is_ready()).await;
    let first = state.discovery().unwrap().version().unwrap();
    until("its ack", || {
        proxies.list().first().and_then(|p| p.acked_version.clone()) == Some(first.clone())
    })
    .await;
    assert_eq!(state.table().config.services.len(), 1);

    // A newer controller's service, with a field this proxy's model does not know.
    let newer = serde_json::json!({
        "name": "api.shop:80", "authorities": ["api.shop:80"], "weightedZones": true,
        "backends": [{"name": "api", "endpoints": [{"addr": "10.0.0.2:8080"}]}],
    });
    published_tx.send_replace(Some(publish(view(newer))));
    until("the nack", || {
        proxies.list().first().is_some_and(|p| p.nacked.is_some())
    })
    .await;
    let record = proxies.list().remove(0);
    let nacked = record.nacked.unwrap();
    assert!(nacked.reason.contains("weightedZones"), "{}", nacked.reason);
    assert_eq!(record.acked_version, Some(first.clone()));
    assert_eq!(metrics.nacks.get(), 1);
    // Still the last good config, version and endpoint.
    assert_eq!(state.discovery().unwrap().version(), Some(first));
    let endpoints = &state.table().config.services[0].backends[0].endpoints;
    assert_eq!(endpoints[0].addr.to_string(), "10.0.0.1:8080");
    assert!(state.is_ready());
}
