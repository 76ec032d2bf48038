//! The endpoint set of a backend and the load-balancing algorithms that pick from it
//! (P2C over peak-EWMA, least-request, round-robin, random, consistent hash).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::Notify;

use super::ewma::PeakEwma;
use super::hash::{Ring, request_key};
use super::outlier::Health;
use crate::model::endpoint::Endpoint;
use crate::model::policy::{Algorithm, HashOn, LoadBalancer};
use crate::proxy::tls::MeshPeer;

/// One endpoint and the state kept about it across requests and endpoint updates.
#[derive(Debug)]
pub(super) struct EndpointState {
    pub(super) endpoint: Endpoint,
    /// The endpoint's address as requests are sent to it.
    pub(super) dest: super::Dest,
    /// The mesh peer it is reached as (None: plaintext), so requests need no lookup.
    pub(super) peer: Option<Arc<MeshPeer>>,
    /// Tries in flight.
    pub(super) outstanding: AtomicU32,
    pub(super) ewma: PeakEwma,
    pub(super) health: Health,
}

/// An immutable list of endpoints (replaced whole on update) plus its shared counters.
#[derive(Debug, Default)]
pub(super) struct EndpointSet {
    pub(super) endpoints: Vec<Arc<EndpointState>>,
    ring: Ring,
    /// How many endpoints are ejected now.
    pub(super) ejected: AtomicU32,
}

#[derive(Debug)]
pub(super) struct Balancer {
    algorithm: Algorithm,
    hash_on: Option<HashOn>,
    round_robin: AtomicUsize,
    set: RwLock<Arc<EndpointSet>>,
    updated: Notify,
}

impl Balancer {
    /// A balancer over `endpoints`; `peer` says how each is reached (see [`Self::update`]).
    pub(super) fn new(
        policy: &LoadBalancer,
        endpoints: Vec<Endpoint>,
        now_ns: u64,
        peer: impl Fn(&Endpoint) -> Option<Arc<MeshPeer>>,
    ) -> Self {
        let b = Self {
            algorithm: policy.algorithm,
            hash_on: policy.hash_on.clone(),
            round_robin: AtomicUsize::new(0),
            set: RwLock::new(Arc::default()),
            updated: Notify::new(),
        };
        b.update(endpoints, now_ns, peer);
        b
    }

    /// Replaces the endpoints, keeping latency and health state of those that stay; `peer`
    /// gives the mesh peer each endpoint is reached as, asked once per endpoint here.
    pub(super) fn update(
        &self,
        endpoints: Vec<Endpoint>,
        now_ns: u64,
        peer: impl Fn(&Endpoint) -> Option<Arc<MeshPeer>>,
    ) {
        let old = self.snapshot();
        let by_addr: HashMap<SocketAddr, &Arc<EndpointState>> =
            old.endpoints.iter().map(|e| (e.endpoint.addr, e)).collect();
        let ring = match self.algorithm {
            Algorithm::ConsistentHash => Ring::new(&endpoints),
            _ => Ring::default(),
        };
        // Endpoints that join start at the mean of those already there (P2C would otherwise
        // keep choosing the fast old ones over an unknown one).
        let typical = match old.endpoints.len() {
            0 => super::ewma::DEFAULT_RTT_NS,
            n => {
                old.endpoints
                    .iter()
                    .map(|e| e.ewma.get(now_ns))
                    .sum::<f64>()
                    / n as f64
            }
        };
        let states: Vec<Arc<EndpointState>> = endpoints
            .into_iter()
            .map(|endpoint| {
                let peer = peer(&endpoint);
                let same_peer = |s: &EndpointState| {
                    s.peer.as_ref().map(|p| &p.id) == peer.as_ref().map(|p| &p.id)
                };
                match by_addr.get(&endpoint.addr) {
                    Some(state) if state.endpoint == endpoint && same_peer(state) => {
                        Arc::clone(state)
                    }
                    _ => Arc::new(EndpointState {
                        ewma: PeakEwma::starting_at(typical, now_ns),
                        outstanding: AtomicU32::new(0),
                        health: Health::default(),
                        dest: super::Dest::new(endpoint.addr),
                        endpoint,
                        peer,
                    }),
                }
            })
            .collect();
        let ejected = states.iter().filter(|s| s.health.is_ejected()).count() as u32;
        let set = Arc::new(EndpointSet {
            endpoints: states,
            ring,
            ejected: AtomicU32::new(ejected),
        });
        *self.set.write().unwrap_or_else(|e| e.into_inner()) = set;
        self.updated.notify_waiters();
    }

    pub(super) fn snapshot(&self) -> Arc<EndpointSet> {
        Arc::clone(&self.set.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The current set once it has an endpoint, waiting at most `wait` for an update.
    pub(super) async fn ready_set(&self, wait: Duration) -> Option<Arc<EndpointSet>> {
        let set = self.snapshot();
        if !set.endpoints.is_empty() {
            return Some(set);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.updated.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let set = self.snapshot();
            if !set.endpoints.is_empty() {
                return Some(set);
            }
            tokio::time::timeout_at(deadline, notified).await.ok()?;
        }
    }

    /// The request's affinity key, when the algorithm uses one.
    pub(super) fn key(&self, headers: &http::HeaderMap) -> Option<u64> {
        self.hash_on.as_ref().and_then(|h| request_key(h, headers))
    }

    /// Picks an endpoint index; with `skip_ejected`, ejected endpoints are passed over.
    pub(super) fn pick(
        &self,
        set: &EndpointSet,
        key: Option<u64>,
        skip_ejected: bool,
        now_ns: u64,
    ) -> Option<usize> {
        let eps = &set.endpoints;
        let n = eps.len();
        let usable = |i: usize| !skip_ejected || !eps[i].health.is_ejected();
        match (self.algorithm, key) {
            (Algorithm::ConsistentHash, Some(key)) => set.ring.walk(key).find(|&i| usable(i)),
            (Algorithm::RoundRobin, _) => {
                let start = self.round_robin.fetch_add(1, Relaxed);
                (0..n)
                    .map(|k| start.wrapping_add(k) % n)
                    .find(|&i| usable(i))
            }
            (Algorithm::P2cEwma, _) => p2c(n, usable, |i| {
                let e = &eps[i];
                e.ewma.get(now_ns) * f64::from(e.outstanding.load(Relaxed) + 1)
            }),
            (Algorithm::LeastRequest, _) => {
                p2c(n, usable, |i| f64::from(eps[i].outstanding.load(Relaxed)))
            }
            (Algorithm::Random | Algorithm::ConsistentHash, _) => random_usable(n, 0, n, &usable),
        }
    }
}

/// A uniformly random usable index among the `len` indexes after `from` (mod n), scanning
/// forward from the random one when it is not usable.
fn random_usable(
    n: usize,
    from: usize,
    len: usize,
    usable: &impl Fn(usize) -> bool,
) -> Option<usize> {
    if len == 0 {
        return None;
    }
    let start = fastrand::usize(..len);
    (0..len)
        .map(|k| (from + (start + k) % len) % n)
        .find(|&i| usable(i))
}

/// Power of two choices: two distinct random usable endpoints, the cheaper wins.
fn p2c(n: usize, usable: impl Fn(usize) -> bool, cost: impl Fn(usize) -> f64) -> Option<usize> {
    let a = random_usable(n, 0, n, &usable)?;
    match random_usable(n, a + 1, n - 1, &usable) {
        Some(b) if cost(b) < cost(a) => Some(b),
        _ => Some(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balancer(algorithm: Algorithm, n: u8) -> Balancer {
        let lb = LoadBalancer {
            algorithm,
            hash_on: (algorithm == Algorithm::ConsistentHash)
                .then(|| HashOn::Header("x-user".into())),
        };
        let eps = (1..=n)
            .map(|i| Endpoint::new(([127, 0, 0, i], 80).into()))
            .collect();
        Balancer::new(&lb, eps, 0, |_| None)
    }

    #[test]
    fn an_endpoint_that_joins_fast_ones_gets_its_share_at_once() {
        let b = balancer(Algorithm::P2cEwma, 2);
        // The two answer in 1 ms; a third joins with no history.
        for e in &b.snapshot().endpoints {
            for t in 0..20 {
                e.ewma.observe(1_000_000, t * 1_000_000);
            }
        }
        let now = 20_000_000;
        let mut eps: Vec<Endpoint> = b
            .snapshot()
            .endpoints
            .iter()
            .map(|e| e.endpoint.clone())
            .collect();
        eps.push(Endpoint::new(([127, 0, 0, 9], 80).into()));
        b.update(eps, now, |_| None);
        let set = b.snapshot();
        let third = (0..300)
            .filter(|_| b.pick(&set, None, false, now) == Some(2))
            .count();
        // P2C among equals: a third of the picks, give or take.
        assert!((60..=140).contains(&third), "{third} of 300 picks");
    }

    fn spread(b: &Balancer, picks: usize) -> Vec<usize> {
        let set = b.snapshot();
        let mut counts = vec![0; set.endpoints.len()];
        for _ in 0..picks {
            counts[b.pick(&set, None, false, 0).unwrap()] += 1;
        }
        counts
    }

    #[test]
    fn round_robin_is_exact_and_random_ones_are_even() {
        assert_eq!(
            spread(&balancer(Algorithm::RoundRobin, 4), 400),
            vec![100; 4]
        );
        for alg in [
            Algorithm::Random,
            Algorithm::LeastRequest,
            Algorithm::P2cEwma,
            Algorithm::ConsistentHash,
        ] {
            for c in spread(&balancer(alg, 4), 8_000) {
                assert!((1_700..=2_300).contains(&c), "{alg:?}: {c}");
            }
        }
    }

    #[test]
    fn least_request_and_p2c_avoid_busy_endpoints() {
        for alg in [Algorithm::LeastRequest, Algorithm::P2cEwma] {
            let b = balancer(alg, 2);
            let set = b.snapshot();
            set.endpoints[0].outstanding.store(5, Relaxed);
            let counts = spread(&b, 1_000);
            assert_eq!(counts, vec![0, 1_000], "{alg:?}");
        }
    }

    #[test]
    fn p2c_prefers_the_lower_latency_endpoint() {
        let b = balancer(Algorithm::P2cEwma, 3);
        let set = b.snapshot();
        set.endpoints[1].ewma.observe(200_000_000, 1);
        let counts = spread(&b, 3_000);
        assert_eq!(counts[1], 0, "{counts:?}");
    }

    #[test]
    fn ejected_endpoints_are_skipped_only_when_asked() {
        let b = balancer(Algorithm::RoundRobin, 3);
        let set = b.snapshot();
        let d = super::super::outlier::Detector::new(&crate::model::policy::OutlierDetection {
            consecutive_5xx: 1,
            max_ejection_percent: 100,
            ..Default::default()
        });
        assert!(d.record(&set, 0, super::super::outlier::Outcome::LocalFailure, 1));
        for _ in 0..30 {
            assert_ne!(b.pick(&set, None, true, 0), Some(0));
        }
        assert!((0..30).any(|_| b.pick(&set, None, false, 0) == Some(0)));
    }

    #[test]
    fn consistent_hash_is_sticky_and_update_keeps_state() {
        let b = balancer(Algorithm::ConsistentHash, 5);
        let mut h = http::HeaderMap::new();
        h.insert("x-user", "alice".parse().unwrap());
        let key = b.key(&h);
        assert!(key.is_some());
        let set = b.snapshot();
        let first = b.pick(&set, key, false, 0).unwrap();
        for _ in 0..100 {
            assert_eq!(b.pick(&set, key, false, 0), Some(first));
        }
        let addr = set.endpoints[first].endpoint.addr;
        set.endpoints[first].outstanding.store(7, Relaxed);
        // Add an endpoint: the state of the existing ones is kept.
        let mut eps: Vec<Endpoint> = set.endpoints.iter().map(|e| e.endpoint.clone()).collect();
        eps.push(Endpoint::new(([127, 0, 0, 99], 80).into()));
        b.update(eps, 0, |_| None);
        let set = b.snapshot();
        let same = set
            .endpoints
            .iter()
            .find(|e| e.endpoint.addr == addr)
            .unwrap();
        assert_eq!(same.outstanding.load(Relaxed), 7);
    }

    #[tokio::test(start_paused = true)]
    async fn ready_set_waits_a_bounded_time_for_endpoints() {
        let b = Arc::new(balancer(Algorithm::RoundRobin, 0));
        let start = tokio::time::Instant::now();
        assert!(b.ready_set(Duration::from_secs(1)).await.is_none());
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        let b2 = Arc::clone(&b);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            b2.update(vec![Endpoint::new(([127, 0, 0, 1], 80).into())], 0, |_| {
                None
            });
        });
        let start = tokio::time::Instant::now();
        assert_eq!(
            b.ready_set(Duration::from_secs(1))
                .await
                .unwrap()
                .endpoints
                .len(),
            1
        );
        assert_eq!(start.elapsed(), Duration::from_millis(300));
    }
}
