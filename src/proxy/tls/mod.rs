//! Mesh TLS in the data plane: the proxy's identity (leaf from files or a CA, kept
//! renewed), inbound termination per STRICT / PERMISSIVE / DISABLE, and outbound
//! origination to meshed endpoints that must present their expected SPIFFE id.
//!
//! It sits between accept/connect and protocol handling: everything above sees an [`Io`].

mod accept;
mod stream;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub use accept::{Accepted, Refused, negotiate};
pub use stream::Io;

use crate::identity::bundle::{Bundle, BundleError};
use crate::identity::client::{CaClient, ClientError, Token};
use crate::identity::inspect::rfc3339;
use crate::identity::pem::{self, PemError};
use crate::identity::rotate::{self, Backoff, CertStore};
use crate::identity::service::ca_identity;
use crate::identity::tls::{self as mesh, ClientAuth, TlsError};
use crate::identity::{SpiffeId, spiffe};
use crate::model::identity::Identity;
use crate::proxy::metrics::PeerLabels;
use crate::proxy::reload::stamp;

/// How long a peer may take to complete a handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the proxy's identity cannot be set up (names the file or the CA address).
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("identity: {0}")]
    Files(#[from] BundleError),
    #[error("identity.roots: {0}")]
    Roots(#[from] PemError),
    #[error("identity: {0}")]
    Tls(#[from] TlsError),
    #[error("identity.ca: {0}")]
    Ca(#[from] ClientError),
    #[error("identity.ca.identity: {0}")]
    CaId(#[from] spiffe::SpiffeError),
}

/// A meshed endpoint: the identity it must present, and the metrics labels of what it
/// answers (built once per config, handed to each response by reference).
#[derive(Clone, Debug)]
pub struct MeshPeer {
    pub id: SpiffeId,
    pub labels: PeerLabels,
}

impl MeshPeer {
    pub fn new(id: SpiffeId) -> Self {
        let labels = PeerLabels::server(Arc::from(id.to_string()));
        Self { id, labels }
    }
}

/// Files mode: the leaf's files, re-read when they change (cert-manager and the like write
/// new ones before the old leaf expires). Roots changes need a restart.
struct LeafFiles {
    cert: PathBuf,
    key: PathBuf,
    roots: PathBuf,
    id: SpiffeId,
}

impl LeafFiles {
    async fn watch(self, store: Arc<CertStore>, interval: Duration) {
        let stamps = || (stamp(&self.cert), stamp(&self.key));
        let mut last = stamps();
        loop {
            tokio::time::sleep(interval).await;
            let now = stamps();
            if now == last {
                continue;
            }
            // A half-written pair fails to load: tried again at the next tick.
            match Bundle::load(&self.cert, &self.key, &self.roots, SystemTime::now()) {
                Ok(b) if b.leaf.id() != &self.id => {
                    tracing::warn!(found = %b.leaf.id(), expected = %self.id, "new identity files are for another identity: kept the current leaf");
                    last = now;
                }
                Ok(b) => match store.set(b.leaf) {
                    Ok(()) => {
                        tracing::info!(identity = %self.id, "identity files changed: new leaf in use");
                        last = now;
                    }
                    Err(e) => tracing::warn!(error = %e, "new identity files cannot be used"),
                },
                Err(e) => tracing::warn!(error = %e, "new identity files cannot be used yet"),
            }
        }
    }
}

/// The proxy's identity as `/identity` shows it (JSON, camelCase); `check --proxy` reads it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityView {
    pub identity: String,
    /// Whether the proxy holds a leaf yet (CA mode starts without one).
    pub ready: bool,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    /// PEM chain, leaf first.
    pub certificates: Option<String>,
    /// PEM trust anchors.
    pub roots: String,
}

/// Connects to an endpoint: TCP to `addr`, then, when `mesh` gives this proxy's mesh TLS and
/// the peer that must answer, mesh TLS offering `alpn`.
pub async fn connect(
    addr: SocketAddr,
    mesh: Option<(&MeshTls, &MeshPeer)>,
    alpn: &'static [u8],
) -> std::io::Result<Io> {
    let tcp = crate::proxy::tcp::connect(addr).await?;
    let Some((tls, peer)) = mesh else {
        return Ok(Io::Plain(tcp));
    };
    let stream = tls.handshake(tcp, &peer.id, alpn).await?;
    Ok(Io::Client(Box::new(stream)))
}

/// The loop that keeps the leaf fresh (CA renewal, or files reloaded), run beside the proxy.
pub type Renewal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The proxy's mesh TLS state: shared by the listeners and the upstream pool.
pub struct MeshTls {
    store: Arc<CertStore>,
    roots: Arc<RootCertStore>,
    /// The trust anchors as loaded (shown on the admin port).
    roots_der: Vec<CertificateDer<'static>>,
    id: SpiffeId,
    strict: TlsAcceptor,
    permissive: TlsAcceptor,
    /// One client config per (expected peer, ALPN) pair, built on first use.
    connectors: Mutex<HashMap<(SpiffeId, &'static [u8]), TlsConnector>>,
    /// The identities of meshed endpoints (from the config in force), one shared peer each.
    /// By identity, not address: two endpoints can share an address with different
    /// identities while a pod IP is reused, and each must be checked for its own.
    peers: RwLock<Arc<HashMap<SpiffeId, Arc<MeshPeer>>>>,
}

impl std::fmt::Debug for MeshTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshTls")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MeshTls {
    /// Loads the identity files (the returned loop reloads them when they change, checked
    /// every `interval`), or prepares the CA client (then the store is empty until the
    /// returned renewal loop gets the first leaf).
    pub fn load(
        config: &Identity,
        interval: Duration,
    ) -> Result<(Arc<Self>, Option<Renewal>), IdentityError> {
        if let (Some(cert), Some(key)) = (&config.cert, &config.key) {
            let bundle = Bundle::load(cert, key, &config.roots, SystemTime::now())?;
            let id = bundle.leaf.id().clone();
            let store = CertStore::with_leaf(bundle.leaf)
                .map_err(|e| TlsError::Config(format!("{}: {e}", cert.display())))?;
            let files = LeafFiles {
                cert: cert.clone(),
                key: key.clone(),
                roots: config.roots.clone(),
                id: id.clone(),
            };
            let watch = Box::pin(files.watch(store.clone(), interval));
            return Ok((Self::new(store, bundle.roots, id)?, Some(watch)));
        }
        let Some(ca) = &config.ca else {
            return Err(
                TlsError::Config("no certificate source (cert + key, or ca)".into()).into(),
            );
        };
        let roots_der = pem::read_certs(&config.roots)?;
        let roots = mesh::root_store(&roots_der)?;
        let store = CertStore::new();
        let token = match (&ca.token, &ca.token_file) {
            (Some(t), _) => Token::Literal(t.clone()),
            (None, Some(path)) => Token::File(path.clone()),
            (None, None) => Token::None,
        };
        // The CA is the controller: named in the config, else its namespace is in its address
        // (`meshctl-controller.<ns>.svc`), else the default one.
        let ca_id = match &ca.server {
            Some(id) => id.clone(),
            None => {
                let namespace = crate::mesh_namespace::of_controller_addr(&ca.addr)
                    .unwrap_or(crate::mesh_namespace::DEFAULT);
                ca_identity(ca.identity.trust_domain(), namespace)?
            }
        };
        let client = CaClient::new(&ca.addr, &ca_id, roots.clone(), store.clone(), token)?;
        let renewal = rotate::keep_renewed(
            store.clone(),
            ca.identity.clone(),
            client,
            Backoff::default(),
        );
        let tls = Self::new(store, roots_der, ca.identity.clone())?;
        Ok((tls, Some(Box::pin(renewal))))
    }

    /// Mesh TLS presenting `store`'s leaf as `id` and trusting `roots`.
    pub fn new(
        store: Arc<CertStore>,
        roots_der: Vec<CertificateDer<'static>>,
        id: SpiffeId,
    ) -> Result<Arc<Self>, TlsError> {
        let roots = mesh::root_store(&roots_der)?;
        let td = id.trust_domain();
        let acceptor = |auth| {
            mesh::server_config(store.clone(), roots.clone(), td, auth).map(TlsAcceptor::from)
        };
        Ok(Arc::new(Self {
            strict: acceptor(ClientAuth::Required)?,
            permissive: acceptor(ClientAuth::Optional)?,
            store,
            roots,
            roots_der,
            id,
            connectors: Mutex::default(),
            peers: RwLock::default(),
        }))
    }

    /// Whether the proxy has a leaf to present (`/ready` waits for it).
    pub fn is_ready(&self) -> bool {
        self.store.is_ready()
    }

    /// What the admin port's `/identity` shows: public material only, never the key.
    pub fn view(&self) -> IdentityView {
        let leaf = self.store.leaf();
        IdentityView {
            identity: self.id.to_string(),
            ready: leaf.is_some(),
            not_before: leaf.as_ref().map(|l| rfc3339(l.not_before())),
            not_after: leaf.as_ref().map(|l| rfc3339(l.not_after())),
            certificates: leaf.map(|l| pem::encode_certs(l.chain())),
            roots: pem::encode_certs(&self.roots_der),
        }
    }

    /// This proxy's identity.
    pub fn id(&self) -> &SpiffeId {
        &self.id
    }

    /// Puts the meshed endpoints of a new config in force.
    pub fn set_peers(&self, peers: HashMap<SpiffeId, Arc<MeshPeer>>) {
        *self.peers.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(peers);
    }

    /// The peer an endpoint with identity `id` must be (looked up when an endpoint is added
    /// to a backend, not per request).
    pub fn peer(&self, id: &SpiffeId) -> Option<Arc<MeshPeer>> {
        self.peers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// A gRPC channel to a mesh server (the controller) that must present `expected`,
    /// presenting this proxy's leaf.
    pub fn channel(
        &self,
        addr: &str,
        expected: &SpiffeId,
    ) -> Result<tonic::transport::Channel, ClientError> {
        crate::identity::client::mesh_channel(
            addr,
            expected,
            self.roots.clone(),
            self.store.clone(),
            None,
        )
    }

    /// Originates mesh TLS on `tcp` to `peer`, offering `alpn`.
    async fn handshake(
        &self,
        tcp: TcpStream,
        peer: &SpiffeId,
        alpn: &'static [u8],
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let connector = self.connector(peer, alpn)?;
        let name = mesh::server_name(peer).map_err(std::io::Error::other)?;
        tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
            })?
    }

    fn connector(&self, peer: &SpiffeId, alpn: &'static [u8]) -> std::io::Result<TlsConnector> {
        let mut cache = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(&(peer.clone(), alpn)) {
            return Ok(c.clone());
        }
        let config = mesh::client_config(self.store.clone(), self.roots.clone(), peer, &[alpn])
            .map_err(std::io::Error::other)?;
        let connector = TlsConnector::from(config);
        cache.insert((peer.clone(), alpn), connector.clone());
        Ok(connector)
    }
}
