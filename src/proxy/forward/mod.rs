//! Forwarding to one backend: load balancing, timeouts, retries with a budget, circuit
//! breaking and outlier detection, around an [`Upstream`] that sends one try to one address.
//!
//! Entry point: [`Backend::call`], which always answers (errors become 5xx responses with a
//! [`PROXY_ERROR_HEADER`] saying why).

mod backend;
#[cfg(test)]
mod backend_tests;
mod balance;
mod budget;
mod circuit;
mod ewma;
mod hash;
mod metrics;
mod outlier;
mod replay;
mod respond;
mod retry;
mod sticky;

use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};

use http::uri::Authority;

pub use backend::{Answer, Backend, ConnHold, NO_ENDPOINT_WAIT};
pub use metrics::{BackendCounters, ForwardMetrics};
pub use respond::{PROXY_ERROR_HEADER, proxy_error};

use super::tls::MeshPeer;
use super::{Body, BoxError};
use crate::model::endpoint::Endpoint;

/// Sends one try of a request to one endpoint (the proxy's connection pool implements it).
pub trait Upstream: Clone + Send + Sync + 'static {
    /// The mesh peer `endpoint` is reached as (None: plaintext); asked when an endpoint
    /// joins a backend, so requests carry it without a lookup.
    fn peer(&self, endpoint: &Endpoint) -> Option<Arc<MeshPeer>>;

    /// Sends `req` to `endpoint` (over mesh TLS to `peer` when given), on a connection
    /// within `limits`, and returns the response head (the body streams).
    fn send(
        &self,
        endpoint: &Dest,
        peer: Option<&MeshPeer>,
        limits: ConnLimits,
        req: http::Request<Body>,
    ) -> impl Future<Output = Result<http::Response<Body>, UpstreamError>> + Send;
}

/// What a backend's policy asks of the upstream connections its tries use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnLimits {
    /// Requests one connection carries before it is retired (None: unlimited).
    pub max_requests: Option<NonZeroU32>,
    /// How long a connection may sit unused before it is closed (None: the pool's default).
    pub idle_timeout: Option<std::time::Duration>,
}

/// Where a try goes: an endpoint's address and the authority a request URI names it by,
/// made once per endpoint (formatting it per request cost three allocations).
#[derive(Clone, Debug)]
pub struct Dest {
    pub addr: SocketAddr,
    pub authority: Authority,
    /// The pool's connections to this endpoint, looked up on the first try only.
    pub conns: OnceLock<Arc<crate::proxy::pool::Conns>>,
}

impl Dest {
    pub fn new(addr: SocketAddr) -> Self {
        let authority = Authority::try_from(addr.to_string())
            .expect("a socket address is a valid URI authority");
        Self {
            addr,
            authority,
            conns: OnceLock::new(),
        }
    }
}

/// Why an [`Upstream`] try failed; the variant decides whether it can be retried.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be made (refused, unreachable, TLS handshake failed).
    #[error("connect failure: {0}")]
    Connect(BoxError),
    /// The connection broke before a response head arrived.
    #[error("connection reset: {0}")]
    Reset(BoxError),
    /// HTTP/2 REFUSED_STREAM: the server did not process the request.
    #[error("refused stream: {0}")]
    RefusedStream(BoxError),
    /// Anything else (never retried).
    #[error("upstream error: {0}")]
    Other(BoxError),
}
