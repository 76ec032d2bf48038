//! The control plane (`meshctl controller`): watches the cluster, translates its objects into
//! each proxy's `model` config and streams it (discovery), signs proxies' certificates after a
//! TokenReview (identity), injects the proxy into new pods (the admission webhook), and reports
//! on an admin port. Every replica serves everything; the replicas share nothing but the API
//! server. Without a cluster ([`Backend::Files`]) the objects come from a directory, the CA
//! from files and proxies show a bootstrap token (and there is no webhook); the rest is the
//! same code.

mod acks;
mod admin;
mod authn;
mod canary;
pub mod dir_source;
mod discovery;
#[cfg(test)]
mod discovery_tests;
mod jwks;
mod jwks_cache;
pub mod leader;
pub mod memory;
mod metrics;
mod peers;
mod pod_endpoints;
mod proxies;
mod publish;
mod roots;
mod route_status;
pub mod source;
mod synthetic;
mod token_review;
pub mod trust;
pub mod webhook;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use metrics::Metrics;
pub use pod_endpoints::derive as derive_endpoints;
pub use proxies::{Nacked, Proxies, ProxyRecord};
pub use publish::{ProxyConfig, proxy_configs};

use crate::api::discovery::discovery_server::DiscoveryServer;
use crate::api::identity::identity_server::IdentityServer;
use crate::identity::SpiffeId;
use crate::identity::auth::BootstrapToken;
use crate::identity::service::{CA_SERVICE_ACCOUNT, CaService, CaSlot, tls_incoming};
use authn::Authn;
use dir_source::DirSource;
use publish::Published;
use source::Source;
use token_review::TokenReviewer;
use trust::Trust;

/// Where the objects, the CA and the proxies' credentials come from.
pub enum Backend {
    /// The API server: reflectors, the issuer Secret and trust-roots ConfigMap (roots copied
    /// into every namespace), TokenReview of projected tokens.
    Cluster(kube::Client),
    /// No cluster: a directory of YAML, the CA from files, proxies show a bootstrap token.
    Files(FilesBackend),
}

/// [`Backend::Files`]: what `meshctl controller --from-dir` reads.
#[derive(Clone, Debug)]
pub struct FilesBackend {
    /// Kubernetes YAML, watched for changes.
    pub objects: PathBuf,
    /// What `meshctl certs create --out DIR` wrote (issuer.crt, issuer.key, ca.crt).
    pub identity: PathBuf,
    /// The token proxies send to get their first certificate.
    pub token: String,
    /// How often the files are checked for changes.
    pub poll: Duration,
}

/// The controller's admin port (`/proxies` is read there through the API server's pod proxy).
pub const ADMIN_PORT: u16 = 9990;

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The mesh's namespace: the issuer Secret and trust roots live there, and the
    /// controller's identity is its service account there.
    pub namespace: String,
    pub trust_domain: String,
    pub cluster_domain: String,
    /// Identity and discovery (gRPC over mesh TLS).
    pub grpc_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// The proxy injector (HTTPS, called by the API server).
    pub webhook_addr: SocketAddr,
    /// `istio-injection=enabled` and `linkerd.io/inject: enabled` opt namespaces in too.
    pub accept_foreign_labels: bool,
    /// How long the leaves it signs live.
    pub leaf_lifetime: Duration,
    /// Changes this close together are translated once.
    pub debounce: Duration,
    /// How long the leader's Lease holds without renewal (another replica takes over then).
    pub lease_duration: Duration,
    /// How often every RequestAuthentication jwksUri is fetched again (key rotation).
    pub jwks_refresh: Duration,
    /// What the webhook tells every proxy it injects about tracing.
    pub tracing: crate::model::tracing::Tracing,
}

impl Options {
    pub fn new(namespace: &str, trust_domain: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            trust_domain: trust_domain.to_owned(),
            cluster_domain: "cluster.local".to_owned(),
            grpc_addr: SocketAddr::from(([0, 0, 0, 0], 8086)),
            admin_addr: SocketAddr::from(([0, 0, 0, 0], ADMIN_PORT)),
            webhook_addr: SocketAddr::from(([0, 0, 0, 0], 8443)),
            accept_foreign_labels: false,
            leaf_lifetime: Duration::from_secs(24 * 3600),
            debounce: Duration::from_millis(20),
            lease_duration: Duration::from_secs(15),
            jwks_refresh: Duration::from_secs(20 * 60),
            tracing: crate::model::tracing::Tracing::default(),
        }
    }
}

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("cannot listen on {addr} ({which}): {source}; pick a free address with --{which}-addr")]
    Bind {
        which: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the controller's identity: {0}")]
    Identity(#[from] crate::identity::spiffe::SpiffeError),
    #[error("the gRPC server failed: {0}")]
    Serve(tonic::transport::Error),
    #[error(transparent)]
    Dir(#[from] dir_source::DirError),
    #[error("--{key}: {reason}")]
    Setting { key: &'static str, reason: String },
}

/// The webhook injects proxies for this controller: its namespace and its trust domain
/// (annotations still override them, as they override `meshctl inject`'s flags). Defaults are
/// left unset, so a default install's pods equal `meshctl inject`'s output.
fn webhook_overrides(options: &Options) -> Result<crate::inject::Overrides, ControllerError> {
    use crate::inject::Key;
    let mut overrides = crate::inject::Overrides::default();
    for (key, value, default) in [
        (
            Key::MeshNamespace,
            &options.namespace,
            crate::mesh_namespace::DEFAULT,
        ),
        (
            Key::TrustDomain,
            &options.trust_domain,
            crate::identity::DEFAULT_TRUST_DOMAIN,
        ),
    ] {
        if value == default {
            continue;
        }
        set(&mut overrides, key, value)?;
    }
    // Tracing is on only with an endpoint; the rate alone would reach no collector.
    if let Some(endpoint) = &options.tracing.endpoint {
        set(&mut overrides, Key::TracingEndpoint, endpoint)?;
        let rate = options.tracing.sampling.to_string();
        set(&mut overrides, Key::TracingSampling, &rate)?;
    }
    Ok(overrides)
}

fn set(
    overrides: &mut crate::inject::Overrides,
    key: crate::inject::Key,
    value: &str,
) -> Result<(), ControllerError> {
    overrides
        .set(key, value)
        .map_err(|reason| ControllerError::Setting {
            key: key.name(),
            reason,
        })
}

/// What the servers share.
pub struct Shared {
    pub stores: Arc<dyn Source>,
    pub metrics: Arc<Metrics>,
    pub proxies: Arc<Proxies>,
    trust: watch::Receiver<Option<Arc<Trust>>>,
    /// The webhook's serving certificate (None: no webhook, in files mode).
    webhook_tls: Option<watch::Receiver<Option<Arc<rustls::ServerConfig>>>>,
    /// Where the CA comes from, for `/ready`'s message.
    trust_from: String,
    published: watch::Receiver<Option<Arc<Published>>>,
}

impl Shared {
    /// What `/ready` still waits for.
    pub fn not_ready(&self) -> Option<String> {
        if !self.stores.synced() {
            Some(
                "the caches of Services, EndpointSlices, Pods and Namespaces are not synced yet"
                    .to_owned(),
            )
        } else if self.trust.borrow().is_none() {
            Some(format!(
                "the identity issuer and trust roots are not loaded ({})",
                self.trust_from
            ))
        } else if self
            .webhook_tls
            .as_ref()
            .is_some_and(|tls| tls.borrow().is_none())
        {
            Some(
                "the webhook serving certificate is not loaded (Secret meshctl-webhook-tls)"
                    .to_owned(),
            )
        } else if self.published.borrow().is_none() {
            Some("no config computed yet".to_owned())
        } else {
            None
        }
    }
}

/// A bound controller, not yet serving.
pub struct Controller {
    options: Options,
    grpc: TcpListener,
    admin: TcpListener,
    webhook: TcpListener,
}

async fn bind(which: &'static str, addr: SocketAddr) -> Result<TcpListener, ControllerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ControllerError::Bind {
            which,
            addr,
            source,
        })
}

impl Controller {
    pub async fn bind(options: Options) -> Result<Self, ControllerError> {
        Ok(Self {
            grpc: bind("grpc", options.grpc_addr).await?,
            admin: bind("admin", options.admin_addr).await?,
            webhook: bind("webhook", options.webhook_addr).await?,
            options,
        })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc.local_addr().unwrap_or(self.options.grpc_addr)
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.local_addr().unwrap_or(self.options.admin_addr)
    }

    pub fn webhook_addr(&self) -> SocketAddr {
        self.webhook
            .local_addr()
            .unwrap_or(self.options.webhook_addr)
    }

    /// Serves until `shutdown` resolves. Both backends run the same servers; they differ in
    /// the source, where the CA is loaded from and how a proxy's first request is checked.
    pub async fn run(
        self,
        backend: Backend,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ControllerError> {
        let mut shutdown = std::pin::pin!(shutdown);
        let options = self.options;
        let own_id = SpiffeId::new(
            &options.trust_domain,
            &options.namespace,
            CA_SERVICE_ACCOUNT,
        )?;
        let metrics = Arc::new(Metrics::default());
        let mut tasks = tokio::task::JoinSet::new();

        let (changes_tx, changes_rx) = watch::channel(0u64);
        let jwks_changes = changes_tx.clone();
        let (trust_tx, trust_rx) = watch::channel(None);
        let reloads = metrics.trust_reloads.clone();
        let mut reflectors = Vec::new();
        // Route statuses are written from the cluster's stores (they hold each route's status).
        let mut route_stores = None;
        let (source, trust_from, authn, client): (Arc<dyn Source>, String, Authn, _) = match backend
        {
            Backend::Cluster(client) => {
                let (stores, spawned) = source::watch_cluster(&client, changes_tx);
                reflectors = spawned;
                route_stores = Some(stores.clone());
                tasks.spawn(trust::watch_trust(
                    client.clone(),
                    options.namespace.clone(),
                    options.leaf_lifetime,
                    trust_tx,
                    reloads,
                ));
                // Roots are copied into every namespace only where pods mount them.
                tasks.spawn(roots::distribute(
                    client.clone(),
                    stores.clone(),
                    options.namespace.clone(),
                    trust_rx.clone(),
                    Duration::from_secs(2),
                ));
                let from = format!(
                    "Secret {ns}/{}, ConfigMap {ns}/{}",
                    trust::ISSUER_SECRET,
                    trust::TRUST_ROOTS_CONFIGMAP,
                    ns = options.namespace
                );
                let reviewer = TokenReviewer::new(
                    client.clone(),
                    &options.trust_domain,
                    metrics.token_review_failures.clone(),
                );
                (
                    Arc::new(stores),
                    from,
                    Authn::TokenReview(Box::new(reviewer)),
                    Some(client),
                )
            }
            Backend::Files(files) => {
                let dir = Arc::new(DirSource::open(&files.objects)?);
                tasks.spawn(dir.clone().watch(files.poll, changes_tx));
                tasks.spawn(trust::watch_trust_dir(
                    files.identity.clone(),
                    options.leaf_lifetime,
                    files.poll,
                    trust_tx,
                    reloads,
                ));
                let from = format!(
                    "files {} in {}",
                    trust::FILES.join(", "),
                    files.identity.display()
                );
                let token = BootstrapToken::new(&files.token, &options.trust_domain);
                (dir, from, Authn::Bootstrap(token), None)
            }
        };
        let jwks = Arc::new(jwks::Jwks::default());
        let source: Arc<dyn Source> = Arc::new(jwks::WithJwks::new(source, jwks.clone()));
        let cache = client.clone().map(|client| jwks_cache::Cache {
            client,
            namespace: options.namespace.clone(),
        });
        tasks.spawn(jwks::refresh(
            source.clone(),
            jwks,
            jwks_changes,
            options.jwks_refresh,
            cache,
        ));
        let (published_tx, published_rx) = watch::channel(None);
        tasks.spawn(publish::translate_loop(
            source.clone(),
            changes_rx,
            crate::translate::Options {
                cluster_domain: options.cluster_domain.clone(),
                trust_domain: options.trust_domain.clone(),
                mesh_namespace: options.namespace.clone(),
            },
            published_tx,
            metrics.clone(),
            options.debounce,
        ));

        let (slot_tx, mut slot_rx) = watch::channel::<Option<CaSlot>>(None);
        let (tls_tx, mut tls_rx) = watch::channel(None);
        tasks.spawn(trust::serve_with(trust_rx.clone(), slot_tx, own_id, tls_tx));

        let canary_client = client.clone();
        // The proxy injector: the API server calls it, so only with a cluster.
        let webhook_addr = self.webhook.local_addr().unwrap_or(options.webhook_addr);
        let overrides = webhook_overrides(&options)?;
        let webhook_tls_rx = client.map(|client| {
            let (webhook_tls_tx, webhook_tls_rx) = watch::channel(None);
            tasks.spawn(webhook::watch_cert(
                client.clone(),
                options.namespace.clone(),
                webhook_tls_tx,
                metrics.webhook_cert_reloads.clone(),
            ));
            tasks.spawn(webhook::serve(
                self.webhook,
                webhook_tls_rx.clone(),
                Arc::new(webhook::Injector {
                    source: source.clone(),
                    client,
                    options: crate::inject::review::ReviewOptions {
                        mesh_namespace: options.namespace.clone(),
                        accept_foreign_labels: options.accept_foreign_labels,
                        overrides: overrides.clone(),
                    },
                    metrics: metrics.clone(),
                }),
            ));
            webhook_tls_rx
        });

        let shared = Arc::new(Shared {
            stores: source.clone(),
            metrics: metrics.clone(),
            proxies: Arc::new(Proxies::default()),
            trust: trust_rx,
            webhook_tls: webhook_tls_rx,
            trust_from,
            published: published_rx.clone(),
        });
        tasks.spawn(admin::serve(self.admin, shared.clone()));
        // Canaries and route statuses are driven by one replica, the Lease's holder.
        let mut elected = None;
        if let Some(client) = canary_client {
            let (leading_tx, leading_rx) = watch::channel(false);
            let election = leader::Election::new(&options.namespace, options.lease_duration);
            elected = Some((client.clone(), election.clone()));
            tasks.spawn(leader::run(client.clone(), election, leading_tx));
            let gauge = metrics.leader.clone();
            let mut watched = leading_rx.clone();
            tasks.spawn(async move {
                loop {
                    gauge.set(i64::from(*watched.borrow_and_update()));
                    if watched.changed().await.is_err() {
                        return;
                    }
                }
            });
            if let Some(stores) = route_stores {
                tasks.spawn(
                    route_status::Writer {
                        client: client.clone(),
                        stores,
                        published: published_rx.clone(),
                        leading: leading_rx.clone(),
                        writes: metrics.route_status_writes.clone(),
                    }
                    .run(),
                );
            }
            tasks.spawn(
                canary::Driver {
                    client,
                    proxies: shared.proxies.clone(),
                    published: published_rx.clone(),
                    stores: source.clone(),
                    leading: leading_rx,
                    mesh_namespace: options.namespace.clone(),
                    tick: Duration::from_millis(200),
                    loads: synthetic::Loads::default(),
                }
                .run(),
            );
        }

        // The gRPC port opens once there is a CA and a serving certificate.
        let slot = loop {
            if let Some(slot) = slot_rx.borrow_and_update().clone() {
                break slot;
            }
            tokio::select! {
                changed = slot_rx.changed() => if changed.is_err() { return Ok(()) },
                () = &mut shutdown => return Ok(()),
            }
        };
        let first_tls = loop {
            if let Some(config) = tls_rx.borrow_and_update().clone() {
                break config;
            }
            tokio::select! {
                changed = tls_rx.changed() => if changed.is_err() { return Ok(()) },
                () = &mut shutdown => return Ok(()),
            }
        };
        let (config_tx, config_rx) = watch::channel(first_tls);
        tasks.spawn(async move {
            while tls_rx.changed().await.is_ok() {
                if let Some(config) = tls_rx.borrow_and_update().clone() {
                    config_tx.send_replace(config);
                }
            }
        });
        let identity = CaService::new(slot, authn).counting(metrics.issued.clone());
        let full_snapshots = Arc::new(tokio::sync::Semaphore::new(
            discovery::FULL_SNAPSHOTS_IN_FLIGHT,
        ));
        tasks.spawn(memory::trim_when_settled(
            published_rx.clone(),
            full_snapshots.clone(),
            discovery::FULL_SNAPSHOTS_IN_FLIGHT,
        ));
        let discovery = discovery::DiscoveryService {
            stores: source,
            published: published_rx,
            proxies: shared.proxies.clone(),
            metrics: metrics.clone(),
            full_snapshots,
        };
        tracing::info!(grpc = %self_grpc_addr(&self.grpc), admin = %options.admin_addr,
            webhook = %webhook_addr,
            namespace = %options.namespace, "controller serving");
        let served = tonic::transport::Server::builder()
            .add_service(IdentityServer::new(identity))
            .add_service(DiscoveryServer::new(discovery))
            .serve_with_incoming_shutdown(tls_incoming(self.grpc, config_rx), shutdown)
            .await;
        tasks.abort_all();
        for task in reflectors {
            task.abort();
        }
        if let Some((client, election)) = elected {
            // Every task stopped first: no renewal of the lease may land after its release.
            while tasks.join_next().await.is_some() {}
            leader::release(client, &election).await;
        }
        served.map_err(ControllerError::Serve)
    }
}

fn self_grpc_addr(listener: &TcpListener) -> String {
    listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inject::Key;

    #[test]
    fn the_webhook_injects_for_this_controllers_namespace_and_trust_domain() {
        let defaults = webhook_overrides(&Options::new("meshctl-system", "cluster.local")).unwrap();
        assert_eq!(defaults.get(Key::MeshNamespace), None);
        assert_eq!(defaults.get(Key::TrustDomain), None);

        let other = webhook_overrides(&Options::new("mesh-x", "example.org")).unwrap();
        assert_eq!(other.get(Key::MeshNamespace), Some("mesh-x"));
        assert_eq!(other.get(Key::TrustDomain), Some("example.org"));

        let mut traced = Options::new("meshctl-system", "cluster.local");
        traced.tracing.endpoint = Some("collector.obs:4317".to_owned());
        traced.tracing.sampling = 0.5;
        let traced = webhook_overrides(&traced).unwrap();
        assert_eq!(traced.get(Key::TracingEndpoint), Some("collector.obs:4317"));
        assert_eq!(traced.get(Key::TracingSampling), Some("0.5"));

        let err = webhook_overrides(&Options::new("meshctl-system", "Not A Domain")).unwrap_err();
        assert!(err.to_string().starts_with("--trust-domain: "), "{err}");
    }
}
