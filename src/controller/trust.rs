//! The controller's CA material: the issuer (Secret `meshctl-identity-issuer`) and the trust
//! anchors (ConfigMap `meshctl-identity-trust-roots`) watched in the mesh's namespace and
//! reloaded when they change, without restart; and the controller's own serving leaf, signed by
//! that issuer and renewed like any proxy's.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use rustls::pki_types::CertificateDer;
use tokio::sync::watch;

use crate::identity::SpiffeId;
use crate::identity::ca::Ca;
use crate::identity::pem::PemFile;
use crate::identity::rotate::{self, Backoff, CertStore};
use crate::identity::service::CaSlot;
use crate::identity::tls::{self, ClientAuth};

pub const ISSUER_SECRET: &str = "meshctl-identity-issuer";
pub const TRUST_ROOTS_CONFIGMAP: &str = "meshctl-identity-trust-roots";
pub const TRUST_ROOTS_KEY: &str = "ca-bundle.crt";

/// The CA material in force.
pub struct Trust {
    pub ca: Arc<Ca>,
    pub roots: Vec<CertificateDer<'static>>,
}

/// Why the issuer or the roots cannot be used (the last good ones stay in force).
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{what} has no `{key}`; `meshctl install` writes it, `meshctl upgrade` restores it")]
    Missing { what: String, key: &'static str },
    #[error("{0}")]
    Pem(#[from] crate::identity::pem::PemError),
    #[error("{what}: {source}")]
    Ca {
        what: String,
        source: crate::identity::ca::CaError,
    },
    #[error(
        "cannot read {path}: {cause}; --identity-dir must hold what `meshctl certs create --out DIR` wrote"
    )]
    File {
        path: std::path::PathBuf,
        cause: std::io::Error,
    },
    #[error("the issuer in {issuer} does not chain to the trust anchors in {roots}: {reason}")]
    Chain {
        issuer: String,
        roots: String,
        reason: String,
    },
}

/// Builds the CA from the Secret's and ConfigMap's contents.
pub fn build(
    namespace: &str,
    issuer: &Secret,
    roots: &ConfigMap,
    leaf_validity: Duration,
) -> Result<Trust, TrustError> {
    let secret = format!("Secret {namespace}/{ISSUER_SECRET}");
    let map = format!("ConfigMap {namespace}/{TRUST_ROOTS_CONFIGMAP}");
    let data = issuer.data.as_ref();
    let field = |key: &'static str| {
        data.and_then(|d| d.get(key))
            .map(|b| b.0.clone())
            .ok_or_else(|| TrustError::Missing {
                what: secret.clone(),
                key,
            })
    };
    let (cert_pem, key_pem) = (field("tls.crt")?, field("tls.key")?);
    let roots_pem = roots
        .data
        .as_ref()
        .and_then(|d| d.get(TRUST_ROOTS_KEY))
        .ok_or_else(|| TrustError::Missing {
            what: map.clone(),
            key: TRUST_ROOTS_KEY,
        })?;
    let material = Material {
        issuer: &secret,
        cert: (format!("{secret} tls.crt"), &cert_pem),
        key: (format!("{secret} tls.key"), &key_pem),
        roots_what: &map,
        roots: (format!("{map} {TRUST_ROOTS_KEY}"), roots_pem.as_bytes()),
    };
    from_pem(&material, leaf_validity)
}

/// The issuer's certificate chain and key and the trust anchors, as PEM, each with the name
/// messages give it.
struct Material<'a> {
    issuer: &'a str,
    cert: (String, &'a [u8]),
    key: (String, &'a [u8]),
    roots_what: &'a str,
    roots: (String, &'a [u8]),
}

fn from_pem(m: &Material<'_>, leaf_validity: Duration) -> Result<Trust, TrustError> {
    let certs = PemFile::parse(Path::new(&m.cert.0), m.cert.1)?.into_certs()?;
    let key = PemFile::parse(Path::new(&m.key.0), m.key.1)?.into_key()?;
    let anchors = PemFile::parse(Path::new(&m.roots.0), m.roots.1)?.into_certs()?;
    signed_by_an_anchor(&certs, &anchors).map_err(|reason| TrustError::Chain {
        issuer: m.issuer.to_owned(),
        roots: m.roots_what.to_owned(),
        reason,
    })?;
    let ca = Ca::new(certs[0].clone(), key, leaf_validity).map_err(|source| TrustError::Ca {
        what: m.issuer.to_owned(),
        source,
    })?;
    Ok(Trust {
        ca: Arc::new(ca),
        roots: anchors,
    })
}

/// The files `meshctl certs create --out DIR` writes that the CA needs: the issuer's
/// certificate and key, and the trust anchor (its key stays offline).
pub const FILES: [&str; 3] = ["issuer.crt", "issuer.key", "ca.crt"];

/// Builds the CA from the files of `certs create --out DIR`.
pub fn from_dir(dir: &Path, leaf_validity: Duration) -> Result<Trust, TrustError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|cause| TrustError::File { path, cause })
    };
    let (cert, key, roots) = (read(FILES[0])?, read(FILES[1])?, read(FILES[2])?);
    let shown = |name: &str| dir.join(name).display().to_string();
    let material = Material {
        issuer: &shown(FILES[0]),
        cert: (shown(FILES[0]), &cert),
        key: (shown(FILES[1]), &key),
        roots_what: &shown(FILES[2]),
        roots: (shown(FILES[2]), &roots),
    };
    from_pem(&material, leaf_validity)
}

/// Loads the CA from `dir` and again whenever one of its files changes (polled every
/// `interval`); a bad set is logged and the last good one stays.
pub async fn watch_trust_dir(
    dir: std::path::PathBuf,
    leaf_validity: Duration,
    interval: Duration,
    tx: watch::Sender<Option<Arc<Trust>>>,
    reloads: prometheus_client::metrics::counter::Counter,
) {
    let stamp = |dir: &Path| {
        FILES.map(|name| {
            let meta = std::fs::metadata(dir.join(name)).ok();
            meta.map(|m| (m.modified().ok(), m.len()))
        })
    };
    let mut last = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = Some(stamp(&dir));
        if now == last {
            continue;
        }
        last = now;
        match from_dir(&dir, leaf_validity) {
            Ok(trust) => {
                tracing::info!(dir = %dir.display(), "identity issuer and trust roots loaded");
                reloads.inc();
                tx.send_replace(Some(Arc::new(trust)));
            }
            Err(error) => {
                tracing::error!(%error, "identity issuer refused; keeping the last good one")
            }
        }
    }
}

/// The issuer (or the last certificate of its chain) must be signed by one of the anchors
/// (or be one): else every leaf it signs would be refused by the proxies.
fn signed_by_an_anchor(
    chain: &[CertificateDer<'_>],
    anchors: &[CertificateDer<'_>],
) -> Result<(), String> {
    let top = chain.last().ok_or("no issuer certificate")?;
    let (_, top) = x509_parser::parse_x509_certificate(top).map_err(|e| e.to_string())?;
    for anchor in anchors {
        let Ok((_, anchor)) = x509_parser::parse_x509_certificate(anchor) else {
            continue;
        };
        if top.verify_signature(Some(anchor.public_key())).is_ok() {
            return Ok(());
        }
    }
    Err(format!(
        "`{}` is signed by none of the {} anchor(s)",
        top.subject(),
        anchors.len()
    ))
}

/// Watches the issuer Secret and the roots ConfigMap of `namespace`; every good pair is
/// published on `tx`, a bad one is logged and the last good one stays.
pub async fn watch_trust(
    client: kube::Client,
    namespace: String,
    leaf_validity: Duration,
    tx: watch::Sender<Option<Arc<Trust>>>,
    reloads: prometheus_client::metrics::counter::Counter,
) {
    let by_name = |name: &str| watcher::Config::default().fields(&format!("metadata.name={name}"));
    let secrets = watcher::watcher(
        Api::<Secret>::namespaced(client.clone(), &namespace),
        by_name(ISSUER_SECRET),
    )
    .default_backoff()
    .map(|e| e.map(Either::Secret));
    let maps = watcher::watcher(
        Api::<ConfigMap>::namespaced(client, &namespace),
        by_name(TRUST_ROOTS_CONFIGMAP),
    )
    .default_backoff()
    .map(|e| e.map(Either::Map));
    let mut events = std::pin::pin!(futures::stream::select(secrets, maps));
    let (mut secret, mut map): (Option<Secret>, Option<ConfigMap>) = (None, None);
    while let Some(event) = events.next().await {
        let changed = match event {
            Ok(Either::Secret(Event::Apply(s) | Event::InitApply(s))) => {
                secret = Some(s);
                true
            }
            Ok(Either::Map(Event::Apply(m) | Event::InitApply(m))) => {
                map = Some(m);
                true
            }
            Ok(Either::Secret(Event::Delete(_))) => {
                tracing::error!(
                    "the issuer Secret {namespace}/{ISSUER_SECRET} was deleted; \
                    signing with the last one loaded"
                );
                false
            }
            Ok(Either::Map(Event::Delete(_))) => {
                tracing::error!(
                    "the trust roots ConfigMap {namespace}/{TRUST_ROOTS_CONFIGMAP} \
                    was deleted; keeping the last ones loaded"
                );
                false
            }
            Ok(_) => false,
            Err(error) => {
                tracing::warn!(%error, "watching the identity issuer and trust roots");
                false
            }
        };
        let (true, Some(s), Some(m)) = (changed, &secret, &map) else {
            continue;
        };
        match build(&namespace, s, m, leaf_validity) {
            Ok(trust) => {
                tracing::info!(namespace, "identity issuer and trust roots loaded");
                reloads.inc();
                tx.send_replace(Some(Arc::new(trust)));
            }
            Err(error) => {
                tracing::error!(%error, "identity issuer refused; keeping the last good one")
            }
        }
    }
}

enum Either {
    Secret(Event<Secret>),
    Map(Event<ConfigMap>),
}

/// Keeps the CA slot, the controller's own leaf and its TLS server config in step with `trust`:
/// a new issuer signs a new serving leaf at once; new roots give a new server config (clients
/// verified against them). The leaf is also renewed at 70 % of its life.
pub async fn serve_with(
    mut trust: watch::Receiver<Option<Arc<Trust>>>,
    slot: watch::Sender<Option<CaSlot>>,
    own_id: SpiffeId,
    server_tls: watch::Sender<Option<Arc<rustls::ServerConfig>>>,
) {
    let store = CertStore::new();
    let mut renewal: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let current = trust.borrow_and_update().clone();
        if let Some(current) = current {
            let ca = match &*slot.borrow() {
                Some(existing) => {
                    existing.set(current.ca.clone());
                    existing.clone()
                }
                None => CaSlot::new(current.ca.clone()),
            };
            slot.send_replace(Some(ca.clone()));
            match rotate::renew_once(&store, &own_id, &ca).await {
                Ok(()) => {}
                Err(error) => {
                    tracing::error!(%error, "cannot sign the controller's own certificate")
                }
            }
            let config = tls::root_store(&current.roots).and_then(|roots| {
                tls::server_config(
                    store.clone(),
                    roots,
                    own_id.trust_domain(),
                    ClientAuth::Optional,
                )
            });
            match config {
                Ok(config) => {
                    server_tls.send_replace(Some(config));
                }
                Err(error) => tracing::error!(%error, "cannot build the controller's TLS config"),
            }
            if renewal.is_none() {
                renewal = Some(tokio::spawn(rotate::keep_renewed(
                    store.clone(),
                    own_id.clone(),
                    ca,
                    Backoff::default(),
                )));
            }
        }
        if trust.changed().await.is_err() {
            break;
        }
    }
    if let Some(task) = renewal {
        task.abort();
    }
}

/// Whether `now` is before the issuer's expiry: an expired issuer is not ready.
pub fn issuer_valid(trust: &Trust, now: SystemTime) -> bool {
    trust.ca.issuer_not_after() > now
}
