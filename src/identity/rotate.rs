//! The proxy's certificate store and its renewal loop: the leaf is swapped atomically, so new
//! handshakes use the new certificate while established connections keep theirs. Renewal
//! happens at 70 % of the leaf's lifetime.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;

use super::bundle::{Leaf, LeafError};
use super::csr::LeafRequest;
use super::spiffe::SpiffeId;

/// The current leaf, shared by every TLS configuration of the proxy.
#[derive(Debug, Default)]
pub struct CertStore {
    current: RwLock<Option<Current>>,
}

#[derive(Debug, Clone)]
struct Current {
    leaf: Leaf,
    key: Arc<CertifiedKey>,
}

impl CertStore {
    /// A store without a leaf yet (handshakes fail, `/ready` stays false).
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A store already holding `leaf`.
    pub fn with_leaf(leaf: Leaf) -> Result<Arc<Self>, rustls::Error> {
        let store = Self::new();
        store.set(leaf)?;
        Ok(store)
    }

    /// Replaces the leaf; handshakes that start afterwards present the new one.
    pub fn set(&self, leaf: Leaf) -> Result<(), rustls::Error> {
        let key = CertifiedKey::from_der(
            leaf.chain().to_vec(),
            leaf.private_key(),
            &super::tls::provider(),
        )?;
        let next = Current {
            leaf,
            key: Arc::new(key),
        };
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(next);
        Ok(())
    }

    /// The current leaf, if any.
    pub fn leaf(&self) -> Option<Leaf> {
        self.read().map(|c| c.leaf)
    }

    /// Whether the proxy has an identity to present.
    pub fn is_ready(&self) -> bool {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    fn certified_key(&self) -> Option<Arc<CertifiedKey>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|c| c.key.clone())
    }

    fn read(&self) -> Option<Current> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl rustls::server::ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.certified_key()
    }
}

impl rustls::client::ResolvesClientCert for CertStore {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.certified_key()
    }

    fn has_certs(&self) -> bool {
        self.is_ready()
    }
}

/// Where leaves come from: the CA service over gRPC, or a CA in this process (tests).
pub trait LeafSource: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Asks for `request` to be signed; answers the chain, leaf first.
    fn issue(
        &self,
        request: &LeafRequest,
    ) -> impl Future<Output = Result<Vec<CertificateDer<'static>>, Self::Error>> + Send;
}

impl<T: LeafSource> LeafSource for Arc<T> {
    type Error = T::Error;

    fn issue(
        &self,
        request: &LeafRequest,
    ) -> impl Future<Output = Result<Vec<CertificateDer<'static>>, Self::Error>> + Send {
        T::issue(self, request)
    }
}

/// A CA in this process certifies whatever identity is asked (the CA service's own leaf).
impl LeafSource for super::ca::Ca {
    type Error = super::ca::CaError;

    async fn issue(
        &self,
        request: &LeafRequest,
    ) -> Result<Vec<CertificateDer<'static>>, Self::Error> {
        Ok(self
            .sign(request.csr_der(), request.id(), SystemTime::now())?
            .chain)
    }
}

/// Why one renewal attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum RenewError {
    #[error("cannot make a CSR: {0}")]
    Csr(#[from] rcgen::Error),
    #[error("the CA refused or failed: {0}")]
    Source(Box<dyn std::error::Error + Send + Sync>),
    #[error("the CA's answer is unusable: {0}")]
    Leaf(#[from] LeafError),
    #[error("the new leaf cannot be loaded: {0}")]
    Load(#[from] rustls::Error),
}

/// How long to wait between failed attempts.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

/// One issuance: new key, CSR, CA answer checked, stored.
pub async fn renew_once<S: LeafSource>(
    store: &CertStore,
    id: &SpiffeId,
    source: &S,
) -> Result<(), RenewError> {
    let request = LeafRequest::new(id)?;
    let chain = source
        .issue(&request)
        .await
        .map_err(|e| RenewError::Source(Box::new(e)))?;
    let leaf = request.complete(chain)?;
    store.set(leaf)?;
    Ok(())
}

/// How long until the store's leaf should be renewed (zero when it has none or it is due).
pub fn renewal_delay(store: &CertStore, now: SystemTime) -> Duration {
    store.leaf().map_or(Duration::ZERO, |leaf| {
        leaf.renew_at().duration_since(now).unwrap_or_default()
    })
}

/// Keeps `store` holding a fresh leaf for `id`, forever: gets one now if there is none,
/// then renews at 70 % of each leaf's lifetime, retrying failures with capped backoff.
/// Stop it by dropping / aborting the task.
pub async fn keep_renewed<S: LeafSource>(
    store: Arc<CertStore>,
    id: SpiffeId,
    source: S,
    backoff: Backoff,
) {
    loop {
        tokio::time::sleep(renewal_delay(&store, SystemTime::now())).await;
        let mut wait = backoff.first;
        loop {
            match renew_once(&store, &id, &source).await {
                Ok(()) => {
                    tracing::info!(identity = %id, "certificate renewed");
                    break;
                }
                Err(error) => {
                    tracing::warn!(identity = %id, %error, retry_in = ?wait, "certificate renewal failed");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(backoff.max);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::identity::ca::{self, Ca};

    /// A CA in the process; fails its first `failures` calls.
    struct LocalCa {
        ca: Ca,
        failures: AtomicUsize,
        calls: Mutex<Vec<tokio::time::Instant>>,
    }

    #[derive(Debug, thiserror::Error)]
    enum TestCaError {
        #[error("CA unavailable")]
        Unavailable,
        #[error(transparent)]
        Ca(#[from] ca::CaError),
    }

    impl LeafSource for &LocalCa {
        type Error = TestCaError;

        async fn issue(
            &self,
            request: &LeafRequest,
        ) -> Result<Vec<CertificateDer<'static>>, Self::Error> {
            self.calls.lock().unwrap().push(tokio::time::Instant::now());
            if self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(TestCaError::Unavailable);
            }
            Ok(self
                .ca
                .sign(request.csr_der(), request.id(), SystemTime::now())?
                .chain)
        }
    }

    fn local_ca(leaf_validity: Duration, failures: usize) -> LocalCa {
        let g = ca::generate(
            "cluster.local",
            ca::DEFAULT_ANCHOR_VALIDITY,
            ca::DEFAULT_ISSUER_VALIDITY,
            SystemTime::now(),
        )
        .unwrap();
        LocalCa {
            ca: Ca::new(g.issuer.der().clone(), g.issuer_key, leaf_validity).unwrap(),
            failures: AtomicUsize::new(failures),
            calls: Mutex::new(Vec::new()),
        }
    }

    fn web() -> SpiffeId {
        SpiffeId::new("cluster.local", "shop", "web").unwrap()
    }

    fn serial(store: &CertStore) -> Vec<u8> {
        store.leaf().unwrap().chain()[0].to_vec()
    }

    #[test]
    fn renews_at_seventy_percent() {
        let store = CertStore::new();
        assert!(!store.is_ready());
        assert_eq!(renewal_delay(&store, SystemTime::now()), Duration::ZERO);
        let ca = local_ca(Duration::from_secs(1000), 0);
        let request = LeafRequest::new(&web()).unwrap();
        let now = SystemTime::now();
        let chain = ca.ca.sign(request.csr_der(), &web(), now).unwrap().chain;
        store.set(request.complete(chain).unwrap()).unwrap();
        assert!(store.is_ready());
        // Lifetime is 1000 s + 60 s backdating: renew 742 s after not_before, 682 s from now.
        let delay = renewal_delay(&store, now).as_secs_f64();
        assert!((681.0..=683.0).contains(&delay), "{delay}");
    }

    #[tokio::test(start_paused = true)]
    async fn keeps_the_store_renewed_in_virtual_time() {
        let ca = Box::leak(Box::new(local_ca(Duration::from_secs(200), 0)));
        let store = CertStore::new();
        let task = tokio::spawn(keep_renewed(store.clone(), web(), &*ca, Backoff::default()));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(store.is_ready(), "the first leaf is fetched at once");
        let first = serial(&store);
        // 200 s leaves backdated 20 s: renewal at 70 % of 220 s = 154 s after not_before,
        // 134 s after issuance (± 1 s: X.509 times are whole seconds).
        tokio::time::sleep(Duration::from_secs(130)).await;
        assert_eq!(serial(&store), first, "not renewed before 70 %");
        tokio::time::sleep(Duration::from_secs(7)).await;
        let second = serial(&store);
        assert_ne!(second, first, "renewed after 70 %");
        tokio::time::sleep(Duration::from_secs(140)).await;
        assert_ne!(serial(&store), second, "and again");
        task.abort();
        assert_eq!(ca.calls.lock().unwrap().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_retried_with_capped_backoff() {
        let ca = Box::leak(Box::new(local_ca(Duration::from_secs(3600), 5)));
        let store = CertStore::new();
        let backoff = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(4),
        };
        let start = tokio::time::Instant::now();
        let task = tokio::spawn(keep_renewed(store.clone(), web(), &*ca, backoff));
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(store.is_ready());
        task.abort();
        let waits: Vec<u64> = ca
            .calls
            .lock()
            .unwrap()
            .iter()
            .map(|t| (*t - start).as_secs())
            .collect();
        // Attempts at 0, then after 1, 2, 4, 4, 4 s.
        assert_eq!(waits, [0, 1, 3, 7, 11, 15]);
    }
}
