//! Real TLS 1.3 handshakes on 127.0.0.1 between the mesh client and server configurations.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::ca::{self, Ca};
use super::csr::LeafRequest;
use super::rotate::CertStore;
use super::spiffe::SpiffeId;
use super::tls::{self, ClientAuth};

const DAY: Duration = Duration::from_secs(86_400);

struct Mesh {
    ca: Ca,
    anchor: CertificateDer<'static>,
}

impl Mesh {
    fn new(now: SystemTime) -> Self {
        let g = ca::generate("cluster.local", DAY * 30, DAY * 20, now).unwrap();
        Self {
            ca: Ca::new(g.issuer.der().clone(), g.issuer_key, DAY).unwrap(),
            anchor: g.anchor.der().clone(),
        }
    }

    fn store(&self, sa: &str, now: SystemTime) -> Arc<CertStore> {
        let id = id(sa);
        let request = LeafRequest::new(&id).unwrap();
        let issued = self.ca.sign(request.csr_der(), &id, now).unwrap();
        CertStore::with_leaf(request.complete(issued.chain).unwrap()).unwrap()
    }

    fn roots(&self) -> Arc<rustls::RootCertStore> {
        tls::root_store(std::slice::from_ref(&self.anchor)).unwrap()
    }
}

fn id(sa: &str) -> SpiffeId {
    SpiffeId::new("cluster.local", "shop", sa).unwrap()
}

pub(super) struct Outcome {
    pub(super) server: Result<tokio_rustls::server::TlsStream<TcpStream>, String>,
    pub(super) client: Result<tokio_rustls::client::TlsStream<TcpStream>, String>,
}

/// One handshake; the client writes "ping" and the server answers "pong" when both succeed.
pub(super) async fn handshake(
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
    peer: &SpiffeId,
) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = async {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = TlsAcceptor::from(server)
            .accept(tcp)
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        tls.write_all(b"pong").await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        Ok(tls)
    };
    let connect = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let mut tls = TlsConnector::from(client)
            .connect(tls::server_name(peer).unwrap(), tcp)
            .await
            .map_err(|e| e.to_string())?;
        tls.write_all(b"ping").await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        Ok(tls)
    };
    let both = async { tokio::join!(accept, connect) };
    let (server, client) = tokio::time::timeout(Duration::from_secs(10), both)
        .await
        .expect("handshake finished in time");
    Outcome { server, client }
}

fn configs(
    mesh: &Mesh,
    server: Arc<CertStore>,
    client: Arc<CertStore>,
    auth: ClientAuth,
) -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    (
        tls::server_config(server, mesh.roots(), "cluster.local", auth).unwrap(),
        tls::client_config(client, mesh.roots(), &id("db"), &[tls::ALPN_H2]).unwrap(),
    )
}

/// A client expecting `db` meets a server; both trust `mesh`'s root.
async fn meet(
    mesh: &Mesh,
    server: Arc<CertStore>,
    client: Arc<CertStore>,
    auth: ClientAuth,
) -> Outcome {
    let (server, client) = configs(mesh, server, client, auth);
    handshake(server, client, &id("db")).await
}

#[tokio::test]
async fn mutual_tls_13_with_both_identities_checked() {
    let now = SystemTime::now();
    let mesh = Mesh::new(now);
    let out = meet(
        &mesh,
        mesh.store("db", now),
        mesh.store("web", now),
        ClientAuth::Required,
    )
    .await;
    let server = out.server.unwrap();
    let client = out.client.unwrap();
    let (_, s) = server.get_ref();
    let (_, c) = client.get_ref();
    assert_eq!(s.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(c.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(s.alpn_protocol(), Some(tls::ALPN_H2));
    // The fastest suite on x86 with AES-NI, not ring's default AES-256 (see `tls::provider`).
    let suite = c.negotiated_cipher_suite().map(|s| s.suite());
    assert_eq!(suite, Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256));
    assert_eq!(tls::peer_id(s), Some(id("web")));
    assert_eq!(tls::peer_id(c), Some(id("db")));
    assert_eq!(
        s.server_name(),
        Some("db.shop.serviceaccount.identity.cluster.local")
    );
}

#[tokio::test]
async fn the_client_refuses_a_server_with_another_identity() {
    let now = SystemTime::now();
    let mesh = Mesh::new(now);
    let out = meet(
        &mesh,
        mesh.store("cache", now),
        mesh.store("web", now),
        ClientAuth::Required,
    )
    .await;
    let err = refused(out.client);
    assert!(
        err.contains(
            "peer is `spiffe://cluster.local/ns/shop/sa/cache`, expected \
             `spiffe://cluster.local/ns/shop/sa/db`"
        ),
        "{err}"
    );
    assert!(out.server.is_err());
}

fn refused<T>(outcome: Result<T, String>) -> String {
    match outcome {
        Ok(_) => panic!("the handshake should have been refused"),
        Err(e) => e,
    }
}

/// Another root with the same names fails on the signature, an unrelated one on the issuer.
fn foreign(err: &str) -> bool {
    err.contains("invalid peer certificate: BadSignature")
        || err.contains("invalid peer certificate: UnknownIssuer")
}

#[tokio::test]
async fn certificates_from_another_trust_root_are_refused_both_ways() {
    let now = SystemTime::now();
    let mesh = Mesh::new(now);
    let other = Mesh::new(now);
    // A client with a foreign certificate.
    let out = meet(
        &mesh,
        mesh.store("db", now),
        other.store("web", now),
        ClientAuth::Required,
    )
    .await;
    let err = refused(out.server);
    assert!(foreign(&err), "{err}");
    assert!(out.client.is_err());
    // A server with a foreign certificate.
    let out = meet(
        &mesh,
        other.store("db", now),
        mesh.store("web", now),
        ClientAuth::Required,
    )
    .await;
    let err = refused(out.client);
    assert!(foreign(&err), "{err}");
}

#[tokio::test]
async fn an_expired_client_certificate_is_refused() {
    let now = SystemTime::now();
    let mesh = Mesh::new(now - DAY * 5);
    let out = meet(
        &mesh,
        mesh.store("db", now),
        mesh.store("web", now - DAY * 3),
        ClientAuth::Required,
    )
    .await;
    let err = refused(out.server);
    assert!(err.contains("certificate expired"), "{err}");
}

#[tokio::test]
async fn no_client_certificate_is_refused_when_required_and_anonymous_when_optional() {
    let now = SystemTime::now();
    let mesh = Mesh::new(now);
    let out = meet(
        &mesh,
        mesh.store("db", now),
        CertStore::new(),
        ClientAuth::Required,
    )
    .await;
    let err = refused(out.server);
    assert!(err.contains("peer sent no certificates"), "{err}");

    let out = meet(
        &mesh,
        mesh.store("db", now),
        CertStore::new(),
        ClientAuth::Optional,
    )
    .await;
    let server = out.server.expect("optional client auth");
    assert_eq!(tls::peer_id(server.get_ref().1), None);
    // An optional certificate that is sent is still verified.
    let out = meet(
        &mesh,
        mesh.store("db", now),
        Mesh::new(now).store("web", now),
        ClientAuth::Optional,
    )
    .await;
    assert!(out.server.is_err());
}

#[tokio::test]
async fn a_rotated_leaf_serves_new_handshakes_while_old_connections_keep_working() {
    let now = SystemTime::now();
    let mesh = Mesh::new(now);
    let server_store = mesh.store("db", now);
    let (server, client) = configs(
        &mesh,
        server_store.clone(),
        mesh.store("web", now),
        ClientAuth::Required,
    );
    let first = handshake(server.clone(), client.clone(), &id("db")).await;
    let (mut old_server, mut old_client) = (first.server.unwrap(), first.client.unwrap());
    let old_cert = old_client.get_ref().1.peer_certificates().unwrap()[0].clone();

    let fresh = mesh.store("db", now).leaf().unwrap();
    server_store.set(fresh.clone()).unwrap();

    let second = handshake(server, client, &id("db")).await;
    let new_client = second.client.unwrap();
    let new_cert = &new_client.get_ref().1.peer_certificates().unwrap()[0];
    assert_eq!(new_cert, &fresh.chain()[0]);
    assert_ne!(new_cert, &old_cert);

    // The connection made before the swap still carries data both ways.
    old_client.write_all(b"more").await.unwrap();
    let mut buf = [0u8; 4];
    old_server.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"more");
    old_server.write_all(b"back").await.unwrap();
    old_server.flush().await.unwrap();
    old_client.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"back");
}
