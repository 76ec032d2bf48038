//! The proxy's client of the CA service: sends CSR + token over mesh TLS (presenting its
//! current certificate when it has one) and hands back the chain. Used by `rotate.rs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint};

use super::csr::LeafRequest;
use super::rotate::{CertStore, LeafSource};
use super::spiffe::SpiffeId;
use super::tls::{self, TlsError};
use crate::api::identity::CertifyRequest;
use crate::api::identity::identity_client::IdentityClient;
use crate::secret::Secret;

/// The proof of identity sent with each request (a literal one Debug-prints redacted).
#[derive(Clone, Debug)]
pub enum Token {
    /// No token: renewals authenticated by the current certificate only.
    None,
    /// A fixed token (static mode's bootstrap token).
    Literal(Secret),
    /// A token file read at every request (kubelet rotates projected tokens).
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("CA address `{addr}` is invalid: {source}")]
    Address {
        addr: String,
        source: tonic::transport::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot read the identity token {}: {source}", path.display())]
    Token {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the CA at {addr} answered {}: {}", .status.code(), .status.message())]
    Status { addr: String, status: tonic::Status },
}

/// A lazily connected gRPC channel to the CA.
#[derive(Debug, Clone)]
pub struct CaClient {
    addr: String,
    client: IdentityClient<Channel>,
    token: Token,
}

impl CaClient {
    /// A client of the CA at `addr` (`host:port`) that must present `ca_id` and chain to
    /// `roots`; `store` supplies our client certificate once we have one.
    pub fn new(
        addr: &str,
        ca_id: &SpiffeId,
        roots: Arc<rustls::RootCertStore>,
        store: Arc<CertStore>,
        token: Token,
    ) -> Result<Self, ClientError> {
        let channel = mesh_channel(addr, ca_id, roots, store, Some(Duration::from_secs(10)))?;
        Ok(Self {
            addr: addr.to_owned(),
            client: IdentityClient::new(channel),
            token,
        })
    }

    async fn token(&self) -> Result<String, ClientError> {
        match &self.token {
            Token::None => Ok(String::new()),
            Token::Literal(token) => Ok(token.expose().to_owned()),
            Token::File(path) => tokio::fs::read_to_string(path)
                .await
                .map(|t| t.trim().to_owned())
                .map_err(|source| ClientError::Token {
                    path: path.clone(),
                    source,
                }),
        }
    }
}

/// A lazily connected gRPC channel to a mesh server at `addr` (`host:port`) that must present
/// `expected` and chain to `roots`, presenting `store`'s leaf when there is one. `timeout`
/// bounds each call (None for long-lived streams).
pub fn mesh_channel(
    addr: &str,
    expected: &SpiffeId,
    roots: Arc<rustls::RootCertStore>,
    store: Arc<CertStore>,
    timeout: Option<Duration>,
) -> Result<Channel, ClientError> {
    let config = tls::client_config(store, roots, expected, &[tls::ALPN_H2])?;
    let server_name = tls::server_name(expected)?;
    let mut endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|source| ClientError::Address {
            addr: addr.to_owned(),
            source,
        })?
        .connect_timeout(Duration::from_secs(5))
        // A stream idle behind a NAT or a dead peer is noticed within a minute.
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(20));
    if let Some(timeout) = timeout {
        endpoint = endpoint.timeout(timeout);
    }
    let connector = tower::service_fn(move |uri: http::Uri| {
        let config = config.clone();
        let server_name = server_name.clone();
        async move {
            let authority = uri
                .authority()
                .ok_or_else(|| std::io::Error::other("the server address has no host:port"))?;
            let tcp = TcpStream::connect(authority.as_str()).await?;
            tcp.set_nodelay(true)?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(server_name, tcp)
                .await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connector))
}

impl LeafSource for CaClient {
    type Error = ClientError;

    async fn issue(
        &self,
        request: &LeafRequest,
    ) -> Result<Vec<CertificateDer<'static>>, Self::Error> {
        let message = CertifyRequest {
            identity: request.id().to_string(),
            token: self.token().await?,
            certificate_signing_request: request.csr_der().to_vec(),
        };
        let answer = self
            .client
            .clone()
            .certify(message)
            .await
            .map_err(|status| ClientError::Status {
                addr: self.addr.clone(),
                status,
            })?
            .into_inner();
        let mut chain = Vec::with_capacity(1 + answer.intermediate_certificates.len());
        chain.push(CertificateDer::from(answer.leaf_certificate));
        chain.extend(
            answer
                .intermediate_certificates
                .into_iter()
                .map(CertificateDer::from),
        );
        Ok(chain)
    }
}
