//! The proxy's own connection pool to upstream endpoints. Per endpoint ([`Conns`]): an idle
//! list of HTTP/1.1 keep-alive connections, and one HTTP/2 connection all h2 requests share;
//! meshed endpoints are reached over mesh TLS offering the ALPN of the request's version.
//!
//! An endpoint's [`Dest`] keeps its `Conns`, so a request finds its connections without a
//! lookup; a sweeper task (alive while the pool knows an endpoint) closes connections idle
//! past their timeout and forgets endpoints no backend holds and with nothing open.

mod error;
mod http1;
mod http2;
mod target;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use http::{Request, Response, Version};

use super::Body;
use super::forward::{ConnLimits, Dest, Upstream, UpstreamError};
use super::tls::{self, Io, MeshPeer, MeshTls};
use crate::identity::SpiffeId;
use crate::model::endpoint::Endpoint;

/// Idle upstream connections are closed after this long, unless the backend's policy says
/// otherwise (`circuitBreaker.idleTimeout`).
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The sweeper's period; connections are stamped with its tick count, not a clock read.
const TICK: Duration = Duration::from_secs(1);
/// Idle HTTP/1 connections kept per endpoint; one coming back to a full list is closed.
const MAX_IDLE: usize = 128;

/// Cheap to clone; clones share the connections.
#[derive(Clone, Debug)]
pub struct Pool {
    inner: Arc<Inner>,
}

/// An endpoint's address and the identity it must present (None: plaintext).
type Key = (SocketAddr, Option<SpiffeId>);

#[derive(Debug)]
struct Inner {
    tls: Option<Arc<MeshTls>>,
    endpoints: Mutex<HashMap<Key, Arc<Conns>>>,
    /// Sweeper ticks so far.
    clock: Arc<AtomicU32>,
}

/// One endpoint's connections.
#[derive(Debug)]
pub struct Conns {
    addr: SocketAddr,
    peer: Option<MeshPeer>,
    tls: Option<Arc<MeshTls>>,
    clock: Arc<AtomicU32>,
    http1: http1::Idle,
    http2: http2::Shared,
}

impl Conns {
    /// A new connection to the endpoint: TCP, then mesh TLS offering `alpn` when meshed.
    async fn connect(&self, alpn: &'static [u8]) -> Result<Io, UpstreamError> {
        let mesh = match &self.peer {
            None => None,
            Some(peer) => {
                let tls = self.tls.as_deref().ok_or_else(|| {
                    UpstreamError::Connect(
                        "mesh TLS asked for, but this proxy has no identity".into(),
                    )
                })?;
                Some((tls, peer))
            }
        };
        tls::connect(self.addr, mesh, alpn)
            .await
            .map_err(|e| UpstreamError::Connect(Box::new(e)))
    }

    fn now(&self) -> u32 {
        self.clock.load(Relaxed)
    }

    /// Closes what has been idle past its timeout at tick `now`; true when nothing is open.
    fn expire(&self, now: u32) -> bool {
        let h1 = self.http1.expire(now);
        let h2 = self.http2.expire(now);
        h1 && h2
    }
}

/// Sweeper ticks a connection may sit unused under `limits`: the timeout rounded up to a
/// tick (a connection is closed between that many ticks and one more).
fn idle_ticks(limits: ConnLimits) -> u32 {
    const DEFAULT: u32 = (IDLE_TIMEOUT.as_secs() / TICK.as_secs()) as u32;
    let Some(timeout) = limits.idle_timeout else {
        return DEFAULT;
    };
    let ticks = timeout.as_millis().div_ceil(TICK.as_millis()).max(1);
    u32::try_from(ticks).unwrap_or(u32::MAX)
}

impl Default for Pool {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Pool {
    /// A pool; with `tls`, endpoints it knows as meshed are reached over mesh TLS.
    pub fn new(tls: Option<Arc<MeshTls>>) -> Self {
        let inner = Inner {
            tls,
            endpoints: Mutex::default(),
            clock: Arc::default(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Sends `req` to `endpoint`, over mesh TLS to `peer` when given (checked when a
    /// connection is opened), on a connection within `limits`.
    pub async fn send_to(
        &self,
        endpoint: &Dest,
        peer: Option<&MeshPeer>,
        limits: ConnLimits,
        mut req: Request<Body>,
    ) -> Result<Response<Body>, UpstreamError> {
        let conns = endpoint
            .conns
            .get_or_init(|| self.conns_for(endpoint.addr, peer));
        if req.version() == Version::HTTP_2 {
            target::for_http2(&endpoint.authority, &mut req)?;
            http2::send(conns, limits, req).await
        } else {
            target::for_http1(&endpoint.authority, &mut req)?;
            http1::send(conns, limits, req).await
        }
    }

    fn conns_for(&self, addr: SocketAddr, peer: Option<&MeshPeer>) -> Arc<Conns> {
        let inner = &self.inner;
        let mut endpoints = inner.endpoints.lock().expect("pool lock");
        // The sweeper runs while the map is not empty (it ends when it empties it).
        if endpoints.is_empty() {
            tokio::spawn(sweep(Arc::downgrade(inner)));
        }
        let key = (addr, peer.map(|p| p.id.clone()));
        let conns = endpoints.entry(key).or_insert_with(|| {
            Arc::new(Conns {
                addr,
                peer: peer.cloned(),
                tls: inner.tls.clone(),
                clock: Arc::clone(&inner.clock),
                http1: http1::Idle::default(),
                http2: http2::Shared::default(),
            })
        });
        Arc::clone(conns)
    }
}

/// Every tick: closes idle connections past the timeout, and forgets endpoints that only
/// the map holds and that have nothing open. Ends with the pool, or when no endpoint is left.
async fn sweep(inner: Weak<Inner>) {
    let mut interval = tokio::time::interval(TICK);
    interval.tick().await;
    loop {
        interval.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let now = inner.clock.fetch_add(1, Relaxed) + 1;
        let mut endpoints = inner.endpoints.lock().expect("pool lock");
        endpoints.retain(|_, conns| !conns.expire(now) || Arc::strong_count(conns) > 1);
        if endpoints.is_empty() {
            return;
        }
    }
}

impl Upstream for Pool {
    fn peer(&self, endpoint: &Endpoint) -> Option<Arc<MeshPeer>> {
        self.inner.tls.as_ref()?.peer(endpoint.identity.as_ref()?)
    }

    async fn send(
        &self,
        endpoint: &Dest,
        peer: Option<&MeshPeer>,
        limits: ConnLimits,
        req: Request<Body>,
    ) -> Result<Response<Body>, UpstreamError> {
        self.send_to(endpoint, peer, limits, req).await
    }
}
