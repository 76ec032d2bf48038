//! rustls configurations for mesh mTLS: TLS 1.3 only, ring provider. The client checks that the
//! peer's SPIFFE id is the expected one; the server requires (or accepts) a client certificate
//! from the trust roots and exposes the peer's identity.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{
    CertificateError, CipherSuite, ClientConfig, DigitallySignedStruct, DistinguishedName,
    OtherError, RootCertStore, ServerConfig, SignatureScheme,
};

use super::rotate::CertStore;
use super::spiffe::{self, SpiffeId};

/// ALPN ids: HTTP/2, HTTP/1.1, and raw TCP carried inside mesh TLS.
pub const ALPN_H2: &[u8] = b"h2";
pub const ALPN_HTTP1: &[u8] = b"http/1.1";
pub const ALPN_OPAQUE: &[u8] = b"meshctl.io/opaque";

/// Why a TLS configuration cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("trust root #{number} cannot be used: {source}")]
    Root {
        number: usize,
        source: rustls::Error,
    },
    #[error("no trust roots given")]
    NoRoots,
    #[error("cannot build the TLS configuration: {0}")]
    Config(String),
}

/// A peer certificate that chains correctly but is not the mesh identity we want.
#[derive(thiserror::Error)]
pub enum PeerIdError {
    #[error("peer identity: {0}")]
    NoId(#[from] spiffe::CertIdError),
    #[error("peer is `{found}`, expected `{expected}`")]
    Unexpected { expected: SpiffeId, found: SpiffeId },
    #[error("peer `{found}` is not in trust domain `{trust_domain}`")]
    OtherTrustDomain {
        trust_domain: String,
        found: SpiffeId,
    },
}

// rustls prints `CertificateError::Other` with `{:?}`: make that the readable message.
impl std::fmt::Debug for PeerIdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// The one crypto provider of the mesh (ring), AES-128-GCM first: ring's default puts
/// AES-256-GCM first, whose 14 AES rounds to 10 cost every meshed request about 1,000
/// instructions per kB sealed or opened, for strength beyond the 128 bits of the mesh's
/// P-256 keys.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let mut provider = rustls::crypto::ring::default_provider();
            provider
                .cipher_suites
                .sort_by_key(|s| s.suite() != CipherSuite::TLS13_AES_128_GCM_SHA256);
            Arc::new(provider)
        })
        .clone()
}

/// The trust anchors peers must chain to.
pub fn root_store(roots: &[CertificateDer<'_>]) -> Result<Arc<RootCertStore>, TlsError> {
    if roots.is_empty() {
        return Err(TlsError::NoRoots);
    }
    let mut store = RootCertStore::empty();
    for (i, root) in roots.iter().enumerate() {
        store
            .add(root.clone().into_owned())
            .map_err(|source| TlsError::Root {
                number: i + 1,
                source,
            })?;
    }
    Ok(Arc::new(store))
}

/// Verifies a chain (leaf first) to `roots` at `now` the way handshakes do.
pub fn verify_chain(
    chain: &[CertificateDer<'_>],
    roots: &[CertificateDer<'_>],
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let store = root_store(roots).map_err(|e| rustls::Error::General(e.to_string()))?;
    verify_with(
        &store,
        chain,
        now,
        &provider().signature_verification_algorithms,
    )
}

fn verify_with(
    roots: &RootCertStore,
    chain: &[CertificateDer<'_>],
    now: UnixTime,
    algs: &WebPkiSupportedAlgorithms,
) -> Result<(), rustls::Error> {
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or(rustls::Error::NoCertificatesPresented)?;
    let parsed = ParsedCertificate::try_from(leaf)?;
    rustls::client::verify_server_cert_signed_by_trust_anchor(
        &parsed,
        roots,
        intermediates,
        now,
        algs.all,
    )
}

fn peer_error(e: PeerIdError) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(e))))
}

/// The SNI name sent for a peer identity.
pub fn server_name(id: &SpiffeId) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(id.sni_name()).map_err(|e| TlsError::Config(e.to_string()))
}

/// The SPIFFE id of the peer of an established connection (None without a client cert).
pub fn peer_id(conn: &rustls::CommonState) -> Option<SpiffeId> {
    let cert = conn.peer_certificates()?.first()?;
    spiffe::from_certificate(cert).ok()
}

/// Client side: the server must chain to the roots and present exactly `expected`.
#[derive(Debug)]
struct ExpectedPeer {
    roots: Arc<RootCertStore>,
    algs: WebPkiSupportedAlgorithms,
    expected: SpiffeId,
}

impl ServerCertVerifier for ExpectedPeer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let parsed = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            intermediates,
            now,
            self.algs.all,
        )?;
        let found = spiffe::from_certificate(end_entity).map_err(|e| peer_error(e.into()))?;
        if found != self.expected {
            return Err(peer_error(PeerIdError::Unexpected {
                expected: self.expected.clone(),
                found,
            }));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// Server side: webpki chain checks, plus a SPIFFE id in our trust domain.
#[derive(Debug)]
struct MeshClients {
    inner: Arc<dyn ClientCertVerifier>,
    trust_domain: String,
    mandatory: bool,
}

impl ClientCertVerifier for MeshClients {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let found = spiffe::from_certificate(end_entity).map_err(|e| peer_error(e.into()))?;
        if found.trust_domain() != self.trust_domain {
            return Err(peer_error(PeerIdError::OtherTrustDomain {
                trust_domain: self.trust_domain.clone(),
                found,
            }));
        }
        Ok(ClientCertVerified::assertion())
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Whether the server insists on a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Handshakes without a valid client certificate fail.
    Required,
    /// A client certificate is verified when sent; clients without one are let through
    /// (their identity is then `None`).
    Optional,
}

/// The inbound (server) side of mesh TLS, presenting the store's current leaf.
pub fn server_config(
    store: Arc<CertStore>,
    roots: Arc<RootCertStore>,
    trust_domain: &str,
    client_auth: ClientAuth,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let builder = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
    let builder = match client_auth {
        ClientAuth::Required => builder,
        ClientAuth::Optional => builder.allow_unauthenticated(),
    };
    let inner = builder
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let verifier = MeshClients {
        inner,
        trust_domain: trust_domain.to_owned(),
        mandatory: client_auth == ClientAuth::Required,
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(store);
    // No resumption: every connection presents (and checks) the current certificates,
    // so rotation and expiry take effect on the next connection.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec(), ALPN_OPAQUE.to_vec()];
    Ok(Arc::new(config))
}

/// The outbound (client) side of mesh TLS towards one peer identity, offering `alpn`.
pub fn client_config(
    store: Arc<CertStore>,
    roots: Arc<RootCertStore>,
    expected: &SpiffeId,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let verifier = ExpectedPeer {
        roots,
        algs: provider.signature_verification_algorithms,
        expected: expected.clone(),
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_cert_resolver(store);
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
