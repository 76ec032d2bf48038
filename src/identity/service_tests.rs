//! The CA service and its client on 127.0.0.1: issuance with a token, renewal over mTLS,
//! refusals, and rotation of short-lived leaves under a steady stream of handshakes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::pki_types::{CertificateDer, UnixTime};
use tokio::net::TcpListener;

use super::auth::BootstrapToken;
use super::ca::{self, Ca};
use super::client::{CaClient, Token};
use super::rotate::{self, Backoff, CertStore};
use super::service::{self, CaService};
use super::spiffe::SpiffeId;
use super::tls::{self, ClientAuth};
use super::tls_tests::handshake;

const DAY: Duration = Duration::from_secs(86_400);
const TOKEN: &str = "bootstrap-s3cret";

struct RunningCa {
    addr: SocketAddr,
    anchor: CertificateDer<'static>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for RunningCa {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl RunningCa {
    async fn start(leaf_validity: Duration) -> Self {
        let g = ca::generate("cluster.local", DAY * 30, DAY * 20, SystemTime::now()).unwrap();
        let anchor = g.anchor.der().clone();
        let ca = Arc::new(Ca::new(g.issuer.der().clone(), g.issuer_key, leaf_validity).unwrap());
        // The CA's own serving certificate comes from itself and rotates like any other.
        let own = CertStore::new();
        let ca_id = service::ca_identity("cluster.local", crate::mesh_namespace::DEFAULT).unwrap();
        rotate::renew_once(&own, &ca_id, &ca).await.unwrap();
        let renew_own = tokio::spawn(rotate::keep_renewed(
            own.clone(),
            ca_id,
            ca.clone(),
            Backoff::default(),
        ));
        let roots = tls::root_store(std::slice::from_ref(&anchor)).unwrap();
        let server_tls =
            tls::server_config(own, roots, "cluster.local", ClientAuth::Optional).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = CaService::new(ca.clone(), BootstrapToken::new(TOKEN, "cluster.local"));
        let serve = tokio::spawn(async move {
            service::serve(listener, server_tls, service, std::future::pending())
                .await
                .unwrap();
        });
        Self {
            addr,
            anchor,
            tasks: vec![renew_own, serve],
        }
    }

    fn roots(&self) -> Arc<rustls::RootCertStore> {
        tls::root_store(std::slice::from_ref(&self.anchor)).unwrap()
    }

    fn client(&self, store: &Arc<CertStore>, token: Token) -> CaClient {
        let ca_id = service::ca_identity("cluster.local", crate::mesh_namespace::DEFAULT).unwrap();
        CaClient::new(
            &self.addr.to_string(),
            &ca_id,
            self.roots(),
            store.clone(),
            token,
        )
        .unwrap()
    }
}

fn id(sa: &str) -> SpiffeId {
    SpiffeId::new("cluster.local", "shop", sa).unwrap()
}

fn now() -> UnixTime {
    UnixTime::now()
}

#[tokio::test]
async fn a_token_gets_the_first_leaf_and_the_certificate_renews_it() {
    let ca = RunningCa::start(DAY).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();

    let store = CertStore::new();
    let client = ca.client(&store, Token::File(token_file));
    rotate::renew_once(&store, &id("web"), &client)
        .await
        .unwrap();
    let first = store.leaf().expect("a leaf");
    assert_eq!(first.id(), &id("web"));
    tls::verify_chain(first.chain(), std::slice::from_ref(&ca.anchor), now()).unwrap();

    // No token this time: the current certificate is the credential.
    let renewing = ca.client(&store, Token::None);
    rotate::renew_once(&store, &id("web"), &renewing)
        .await
        .unwrap();
    let second = store.leaf().unwrap();
    assert_eq!(second.id(), &id("web"));
    assert_ne!(second.chain()[0], first.chain()[0]);
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_refused() {
    let ca = RunningCa::start(DAY).await;
    let store = CertStore::new();
    for token in [Token::Literal("guess".into()), Token::None] {
        let client = ca.client(&store, token);
        let err = rotate::renew_once(&store, &id("web"), &client)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("no valid credentials"), "{err}");
        assert!(err.contains(&format!("the CA at {}", ca.addr)), "{err}");
    }
    assert!(!store.is_ready());

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-token");
    let client = ca.client(&store, Token::File(missing));
    let err = rotate::renew_once(&store, &id("web"), &client)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot read the identity token"), "{err}");
}

#[tokio::test]
async fn a_certificate_cannot_be_used_to_get_another_identity() {
    let ca = RunningCa::start(DAY).await;
    let store = CertStore::new();
    let client = ca.client(&store, Token::Literal(TOKEN.into()));
    rotate::renew_once(&store, &id("web"), &client)
        .await
        .unwrap();

    let renewing = ca.client(&store, Token::None);
    let err = rotate::renew_once(&store, &id("db"), &renewing)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the credentials are for `spiffe://cluster.local/ns/shop/sa/web`"),
        "{err}"
    );
    assert_eq!(store.leaf().unwrap().id(), &id("web"));
}

#[tokio::test]
async fn the_client_refuses_a_ca_with_another_identity() {
    let ca = RunningCa::start(DAY).await;
    let store = CertStore::new();
    let impostor_id = id("not-the-ca");
    let client = CaClient::new(
        &ca.addr.to_string(),
        &impostor_id,
        ca.roots(),
        store.clone(),
        Token::Literal(TOKEN.into()),
    )
    .unwrap();
    let err = rotate::renew_once(&store, &id("web"), &client)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("expected `spiffe://cluster.local/ns/shop/sa/not-the-ca`"),
        "{err}"
    );
    assert!(!store.is_ready());
}

/// Leaves live 3 s and renew at 70 %; handshakes every 50 ms for 7 s must all succeed while
/// the client presents at least three different certificates.
#[tokio::test]
async fn short_lived_leaves_rotate_under_steady_handshakes() {
    let ca = RunningCa::start(Duration::from_secs(3)).await;
    let (web, db) = (CertStore::new(), CertStore::new());
    let mut tasks = Vec::new();
    for (store, who) in [(&web, "web"), (&db, "db")] {
        let client = ca.client(store, Token::Literal(TOKEN.into()));
        rotate::renew_once(store, &id(who), &client).await.unwrap();
        let backoff = Backoff {
            first: Duration::from_millis(50),
            max: Duration::from_millis(200),
        };
        tasks.push(tokio::spawn(rotate::keep_renewed(
            store.clone(),
            id(who),
            client,
            backoff,
        )));
    }
    let server = tls::server_config(
        db.clone(),
        ca.roots(),
        "cluster.local",
        ClientAuth::Required,
    )
    .unwrap();
    let client = tls::client_config(web.clone(), ca.roots(), &id("db"), &[tls::ALPN_H2]).unwrap();

    let mut seen = Vec::new();
    let mut failures = Vec::new();
    for _ in 0..140 {
        let out = handshake(server.clone(), client.clone(), &id("db")).await;
        match (out.server, out.client) {
            (Ok(server), Ok(_)) => {
                let cert = server.get_ref().1.peer_certificates().unwrap()[0].clone();
                if !seen.contains(&cert) {
                    seen.push(cert);
                }
            }
            (server, client) => failures.push(format!("{:?} / {:?}", server.err(), client.err())),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for task in tasks {
        task.abort();
    }
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        failures.first()
    );
    assert!(
        seen.len() >= 3,
        "only {} client certificates seen",
        seen.len()
    );
}
