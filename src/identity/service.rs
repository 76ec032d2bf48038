//! The CA as a gRPC service over mesh TLS: a proxy sends a CSR and a token (or renews with its
//! current certificate) and gets a leaf and its chain back.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tokio::net::{TcpListener, TcpStream};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::{Request, Response, Status};

use super::auth::{AuthError, Authenticator, Credentials};
use super::ca::{Ca, CaError};
use super::csr::LeafRequest;
use super::rotate::LeafSource;
use super::spiffe::{self, SpiffeId};
use crate::api::identity::identity_server::{Identity, IdentityServer};
use crate::api::identity::{CertifyRequest, CertifyResponse};

/// The CA's service account (in the mesh namespace) is its identity.
pub const CA_SERVICE_ACCOUNT: &str = crate::mesh_namespace::CONTROLLER;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The identity the CA service presents (and proxies expect) in `trust_domain`, when the
/// control plane runs in `mesh_namespace`.
pub fn ca_identity(
    trust_domain: &str,
    mesh_namespace: &str,
) -> Result<SpiffeId, spiffe::SpiffeError> {
    SpiffeId::new(trust_domain, mesh_namespace, CA_SERVICE_ACCOUNT)
}

/// The CA in force; the controller swaps it when the issuer Secret changes.
#[derive(Clone, Debug)]
pub struct CaSlot(Arc<RwLock<Arc<Ca>>>);

impl CaSlot {
    pub fn new(ca: Arc<Ca>) -> Self {
        Self(Arc::new(RwLock::new(ca)))
    }

    pub fn get(&self) -> Arc<Ca> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set(&self, ca: Arc<Ca>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = ca;
    }
}

impl From<Arc<Ca>> for CaSlot {
    fn from(ca: Arc<Ca>) -> Self {
        Self::new(ca)
    }
}

/// A CA in this process (the controller's own serving leaf comes from it).
impl LeafSource for CaSlot {
    type Error = CaError;

    async fn issue(
        &self,
        request: &LeafRequest,
    ) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, Self::Error> {
        self.get().issue(request).await
    }
}

/// Signs CSRs for authenticated callers.
pub struct CaService<A> {
    ca: CaSlot,
    auth: A,
    issued: Option<prometheus_client::metrics::counter::Counter>,
}

impl<A: Authenticator> CaService<A> {
    pub fn new(ca: impl Into<CaSlot>, auth: A) -> Self {
        Self {
            ca: ca.into(),
            auth,
            issued: None,
        }
    }

    /// Counts every certificate issued in `counter`.
    pub fn counting(mut self, counter: prometheus_client::metrics::counter::Counter) -> Self {
        self.issued = Some(counter);
        self
    }
}

#[tonic::async_trait]
impl<A: Authenticator> Identity for CaService<A> {
    async fn certify(
        &self,
        request: Request<CertifyRequest>,
    ) -> Result<Response<CertifyResponse>, Status> {
        // The TLS layer already verified the chain; this is only the id it carries.
        let peer = request
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(TlsConnectInfo::peer_certs)
            .and_then(|certs| spiffe::from_certificate(certs.first()?).ok());
        let request = request.into_inner();
        let asked: SpiffeId = request
            .identity
            .parse()
            .map_err(|e| Status::invalid_argument(format!("identity: {e}")))?;
        let credentials = Credentials {
            asked: &asked,
            token: &request.token,
            peer: peer.as_ref(),
        };
        let allowed = self.auth.authenticate(&credentials).await.map_err(|e| {
            tracing::warn!(identity = %asked, error = %e, "certificate request refused");
            auth_status(e)
        })?;
        let leaf = self
            .ca
            .get()
            .sign(
                &request.certificate_signing_request,
                &allowed,
                SystemTime::now(),
            )
            .map_err(|e| {
                tracing::warn!(identity = %asked, error = %e, "certificate request refused");
                ca_status(e)
            })?;
        tracing::info!(identity = %allowed, "certificate issued");
        if let Some(issued) = &self.issued {
            issued.inc();
        }
        let valid_until = leaf
            .not_after
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let mut chain = leaf.chain.into_iter().map(|der| der.to_vec());
        Ok(Response::new(CertifyResponse {
            leaf_certificate: chain.next().unwrap_or_default(),
            intermediate_certificates: chain.collect(),
            valid_until_unix_seconds: valid_until,
        }))
    }
}

fn auth_status(e: AuthError) -> Status {
    match e {
        AuthError::Unauthenticated | AuthError::Rejected(_) => {
            Status::unauthenticated(e.to_string())
        }
        AuthError::Unavailable(_) => Status::unavailable(e.to_string()),
        AuthError::OtherTrustDomain { .. } | AuthError::NotAllowed { .. } => {
            Status::permission_denied(e.to_string())
        }
    }
}

fn ca_status(e: CaError) -> Status {
    match e {
        CaError::IdentityNotAllowed { .. } | CaError::OtherTrustDomain { .. } => {
            Status::permission_denied(e.to_string())
        }
        CaError::BadCsr(_) | CaError::CsrKeyType(_) => Status::invalid_argument(e.to_string()),
        _ => Status::failed_precondition(e.to_string()),
    }
}

/// Serves `service` on `listener` over TLS (`tls` from [`super::tls::server_config`], with
/// optional client auth so first-time callers without a certificate can come in) until
/// `shutdown` resolves.
pub async fn serve<A: Authenticator>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    service: CaService<A>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let (_keep, tls) = tokio::sync::watch::channel(tls);
    tonic::transport::Server::builder()
        .add_service(IdentityServer::new(service))
        .serve_with_incoming_shutdown(tls_incoming(listener, tls), shutdown)
        .await
}

pub type TlsStream = tokio_rustls::server::TlsStream<TcpStream>;

/// Accepted connections after their TLS handshake, each with the config `tls` holds when it
/// comes in (the controller swaps it when the trust roots change); handshakes run
/// concurrently, so a slow client never holds up the others. Stops accepting when the stream
/// is dropped.
pub fn tls_incoming(
    listener: TcpListener,
    tls: tokio::sync::watch::Receiver<Arc<rustls::ServerConfig>>,
) -> ReceiverStream<Result<TlsStream, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = tx.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let (tcp, remote) = match accepted {
                Ok(conn) => conn,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let tx = tx.clone();
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.borrow().clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(Ok(stream)).await;
                    }
                    Ok(Err(error)) => tracing::info!(%remote, %error, "TLS handshake failed"),
                    Err(_) => tracing::info!(%remote, "TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
