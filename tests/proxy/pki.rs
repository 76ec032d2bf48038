//! mTLS test helpers on top of the shared PKI: the CA as a gRPC service on loopback, raw
//! rustls clients, and two-proxy meshes (client side A, server side B in front of an app).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use meshctl::identity::SpiffeId;
use meshctl::identity::auth::BootstrapToken;
use meshctl::identity::rotate::{self, Backoff, CertStore};
use meshctl::identity::service::{self, CaService};
use meshctl::identity::tls::{self, ClientAuth};
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub use crate::mesh_pki::*;
use crate::support::{TestProxy, poll_until};

impl Pki {
    /// Serves this CA over gRPC on `listener` (bootstrap token [`TOKEN`]) until dropped.
    pub async fn serve_on(&self, listener: TcpListener) -> RunningCa {
        let own = CertStore::new();
        let ca_id = service::ca_identity(TD, meshctl::mesh_namespace::DEFAULT).unwrap();
        rotate::renew_once(&own, &ca_id, &self.ca).await.unwrap();
        let renew = tokio::spawn(rotate::keep_renewed(
            own.clone(),
            ca_id,
            self.ca.clone(),
            Backoff::default(),
        ));
        let server_tls =
            tls::server_config(own, self.root_store(), TD, ClientAuth::Optional).unwrap();
        let svc = CaService::new(self.ca.clone(), BootstrapToken::new(TOKEN, TD));
        let serve = tokio::spawn(async move {
            let _ = service::serve(listener, server_tls, svc, std::future::pending()).await;
        });
        RunningCa {
            tasks: vec![renew, serve],
        }
    }

    /// The `identity:` section of a proxy that asks the CA at `ca` for `who`.
    pub fn ca_yaml(&self, ca: SocketAddr, who: &SpiffeId) -> String {
        format!(
            "identity: {{ roots: \"{}\", ca: {{ addr: \"{ca}\", identity: \"{who}\", token: {TOKEN} }} }}\n",
            self.roots_path().display()
        )
    }
}

/// A CA service on loopback; stops when dropped.
pub struct RunningCa {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for RunningCa {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// What a raw mesh-TLS client saw.
#[derive(Debug)]
pub struct RawOutcome {
    /// The server's leaf, when the handshake completed on the client side.
    pub server_leaf: Option<CertificateDer<'static>>,
    pub version: Option<rustls::ProtocolVersion>,
    /// The answer to a plain HTTP/1 GET sent inside the connection (empty when refused).
    pub answer: String,
}

/// Connects to `addr` with mesh TLS as whoever `store` holds, expecting the server to be
/// `server`, and sends one HTTP/1 GET inside.
pub async fn raw_tls_get(
    addr: SocketAddr,
    store: Arc<CertStore>,
    roots: Arc<rustls::RootCertStore>,
    server: &SpiffeId,
) -> RawOutcome {
    let config = tls::client_config(store, roots, server, &[tls::ALPN_HTTP1]).unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(config);
    let name = tls::server_name(server).unwrap();
    let mut outcome = RawOutcome {
        server_leaf: None,
        version: None,
        answer: String::new(),
    };
    let Ok(mut stream) = connector.connect(name, tcp).await else {
        return outcome;
    };
    let (_, conn) = stream.get_ref();
    outcome.server_leaf = conn.peer_certificates().map(|c| c[0].clone().into_owned());
    outcome.version = conn.protocol_version();
    let req = b"GET / HTTP/1.1\r\nhost: app\r\nconnection: close\r\n\r\n";
    if stream.write_all(req).await.is_err() {
        return outcome;
    }
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server neither answered nor closed");
    outcome.answer = String::from_utf8_lossy(&buf).into_owned();
    outcome
}

/// Server side B: a proxy in front of `app` (inbound appPort) with `files`' identity and
/// `extra` config (indented for the `inbound:` map, e.g. `  tls: { mode: STRICT }\n`).
pub async fn server_proxy(app: SocketAddr, identity: &str, extra: &str) -> TestProxy {
    let yaml = format!("{identity}inbound:\n  appPort: {}\n{extra}", app.port());
    TestProxy::start(&yaml).await
}

/// Client side A: a proxy whose service `web` (authority `web.test`) has one endpoint at
/// `endpoint` that must present `peer`.
pub async fn client_proxy(identity: &str, endpoint: SocketAddr, peer: &SpiffeId) -> TestProxy {
    TestProxy::start(&client_yaml(identity, endpoint, peer)).await
}

pub fn client_yaml(identity: &str, endpoint: SocketAddr, peer: &SpiffeId) -> String {
    format!(
        "{identity}services:\n  - name: web\n    authorities: [web.test]\n    backends:\n      \
         - {{ name: b, endpoints: [{{ addr: \"{endpoint}\", identity: \"{peer}\" }}] }}\n"
    )
}

/// The value of the metric line starting with `prefix` in `proxy`'s /metrics, once it has
/// reached `want` (counters are bumped after the response is sent).
pub async fn metric_reaches(proxy: &TestProxy, prefix: &str, want: f64) -> f64 {
    let what = format!("{prefix} reaches {want}");
    poll_until(&what, async || proxy.metric(prefix).await >= want).await;
    proxy.metric(prefix).await
}
