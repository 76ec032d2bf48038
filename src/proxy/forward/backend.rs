//! `Backend`: one weighted backend of a route; runs a request through the circuit breaker,
//! the load balancer, per-try and overall timeouts, retries (with budget and backoff) and
//! outlier detection, and always answers.

use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use tokio::sync::SemaphorePermit;
use tokio::time::Instant;

use super::balance::{Balancer, EndpointSet, EndpointState};
use super::budget::Budget;
use super::circuit::Circuit;
use super::metrics::{BackendCounters, ForwardMetrics};
use super::outlier::{Detector, Outcome};
use super::replay;
use super::respond::proxy_error;
use super::retry::{RetryPolicy, Try, is_grpc};
use super::sticky::Sticky;
use super::{ConnLimits, Upstream, UpstreamError};
use crate::model::endpoint::Endpoint;
use crate::model::policy::Policy;
use crate::proxy::Body;
use crate::proxy::stats::Window;
use crate::proxy::tls::MeshPeer;

/// How long a request waits for an endpoint to appear before it gets a 503.
pub const NO_ENDPOINT_WAIT: Duration = Duration::from_secs(1);

/// The latency recorded for a failed try, so peak-EWMA steers away from failing endpoints.
const FAILURE_PENALTY_NS: u64 = 1_000_000_000;

/// One backend (a set of endpoints behind one policy) and its state.
pub struct Backend<U: Upstream> {
    upstream: U,
    /// Times are kept as ns since this instant (atomics on the request path).
    epoch: Instant,
    balancer: Balancer,
    retry: Option<(RetryPolicy, Budget)>,
    request_timeout: Option<Duration>,
    per_try_timeout: Option<Duration>,
    circuit: Circuit,
    /// `maxRequestsPerConnection`, handed to the pool with each try.
    limits: ConnLimits,
    outlier: Option<Detector>,
    /// The affinity cookie handed to clients that lack it.
    sticky: Option<Sticky>,
    counters: BackendCounters,
    /// The backend's `/stats` row: retries, timeouts and ejections are also counted there.
    window: Arc<Window>,
}

/// What a backend answers: the response, and the mesh peer that gave it (None: a plaintext
/// endpoint, or the proxy answered itself); its metrics labels are the response's.
pub struct Answer {
    pub response: Response<Body>,
    pub peer: Option<Arc<MeshPeer>>,
}

impl Answer {
    /// A response the proxy made itself.
    pub fn proxy(response: Response<Body>) -> Self {
        Self {
            response,
            peer: None,
        }
    }
}

/// What a retry needs to rebuild the request (the body comes from [`replay::Replay`]).
struct Head {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
}

impl Head {
    fn of(parts: &http::request::Parts) -> Self {
        Self {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version: parts.version,
            headers: parts.headers.clone(),
        }
    }

    fn request(&self, body: Body) -> Request<Body> {
        let mut req = Request::new(body);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.version_mut() = self.version;
        *req.headers_mut() = self.headers.clone();
        req
    }
}

/// Counts a try or an opaque connection as outstanding on its endpoint (least-request, p2c)
/// while it lives, also when a timeout cancels it. A try borrows the endpoint; a connection
/// owns it, as the endpoint set may be replaced while it lasts.
struct Outstanding<E: Deref<Target = EndpointState>>(E);

impl<E: Deref<Target = EndpointState>> Outstanding<E> {
    fn start(endpoint: E) -> Self {
        endpoint.outstanding.fetch_add(1, Relaxed);
        Self(endpoint)
    }
}

impl<E: Deref<Target = EndpointState>> Drop for Outstanding<E> {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Relaxed);
    }
}

impl<U: Upstream> Backend<U> {
    /// A backend called `name` (the metrics label) with `policy` (assumed validated), its
    /// events also counted in the `/stats` row `window`.
    pub fn new(
        name: &str,
        policy: &Policy,
        endpoints: Vec<Endpoint>,
        upstream: U,
        metrics: &ForwardMetrics,
        window: Arc<Window>,
    ) -> Self {
        let retry = policy
            .retries
            .as_ref()
            .and_then(|r| RetryPolicy::new(r).map(|p| (p, Budget::new(&r.budget))));
        let balancer = Balancer::new(&policy.load_balancer, endpoints, 0, |e| upstream.peer(e));
        Self {
            upstream,
            epoch: Instant::now(),
            balancer,
            retry,
            request_timeout: policy.timeouts.request.map(|d| d.get()),
            per_try_timeout: policy.timeouts.per_try.map(|d| d.get()),
            circuit: Circuit::new(&policy.circuit_breaker),
            limits: ConnLimits {
                max_requests: NonZeroU32::new(policy.circuit_breaker.max_requests_per_connection),
                idle_timeout: policy.circuit_breaker.idle_timeout.map(|d| d.get()),
            },
            outlier: policy.outlier_detection.as_ref().map(Detector::new),
            sticky: Sticky::new(policy),
            counters: metrics.backend(name),
            window,
        }
    }

    /// Replaces the endpoints; latency and ejection state of the endpoints that stay is kept.
    pub fn update_endpoints(&self, endpoints: Vec<Endpoint>) {
        self.balancer
            .update(endpoints, self.now_ns(), |e| self.upstream.peer(e));
    }

    /// This backend's counters.
    pub fn counters(&self) -> &BackendCounters {
        &self.counters
    }

    /// Forwards `req`; failures are answered with 5xx responses made by the proxy.
    pub async fn call(&self, mut req: Request<Body>) -> Answer {
        let set_cookie = self
            .sticky
            .as_ref()
            .and_then(|s| s.assign(req.headers_mut()));
        let mut answer = self.call_timed(req).await;
        if let Some(cookie) = set_cookie {
            answer
                .response
                .headers_mut()
                .append(http::header::SET_COOKIE, cookie);
        }
        answer
    }

    async fn call_timed(&self, req: Request<Body>) -> Answer {
        let Some(timeout) = self.request_timeout else {
            return self.call_with_retries(req, None).await;
        };
        let deadline = Instant::now() + timeout;
        match tokio::time::timeout_at(deadline, self.call_with_retries(req, Some(deadline))).await {
            Ok(resp) => resp,
            Err(_) => {
                self.counters.request_timeouts.inc();
                self.window.timed_out();
                Answer::proxy(proxy_error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "request timeout",
                    "",
                ))
            }
        }
    }

    fn now_ns(&self) -> u64 {
        self.ns_at(Instant::now())
    }

    /// `at` as ns since the epoch (a try reads the clock once at each end).
    fn ns_at(&self, at: Instant) -> u64 {
        u64::try_from(at.duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    async fn call_with_retries(&self, req: Request<Body>, deadline: Option<Instant>) -> Answer {
        let key = self.balancer.key(req.headers());
        let Some((policy, budget)) = &self.retry else {
            return respond(self.try_once(req, key).await);
        };
        budget.deposit(self.now_ns());
        let (parts, body) = req.into_parts();
        let (replay, body) = replay::prepare(body);
        let Some(replay) = replay else {
            return respond(self.try_once(Request::from_parts(parts, body), key).await);
        };
        let grpc = is_grpc(&parts.headers);
        let head = Head::of(&parts);
        let mut req = Request::from_parts(parts, body);
        let mut retries = 0;
        loop {
            let outcome = self.try_once(req, key).await;
            if retries >= policy.attempts
                || !policy.retriable(&outcome, grpc)
                || !replay.replayable()
            {
                return respond(outcome);
            }
            retries += 1;
            let wait = policy.backoff(retries);
            if deadline.is_some_and(|d| Instant::now() + wait >= d) {
                return respond(outcome);
            }
            if !budget.withdraw(self.now_ns()) {
                self.counters.budget_exhausted.inc();
                return respond(outcome);
            }
            let Some(body) = replay.next() else {
                return respond(outcome);
            };
            self.counters.retries.inc();
            self.window.retried();
            drop(outcome);
            tokio::time::sleep(wait).await;
            req = head.request(body);
        }
    }

    /// One try: a pool slot, an endpoint, the upstream call under the per-try timeout.
    async fn try_once(&self, req: Request<Body>, key: Option<u64>) -> Try {
        let Some(_slot) = self.circuit.acquire().await else {
            self.counters.overflows.inc();
            return Try::Proxy(proxy_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "pool overflow",
                "maxConnections and maxPendingRequests of the circuit breaker are reached",
            ));
        };
        let Some(set) = self.balancer.ready_set(NO_ENDPOINT_WAIT).await else {
            return self.no_endpoint("the backend has no endpoints");
        };
        let start = Instant::now();
        let now = self.ns_at(start);
        let skip_ejected = self.outlier.as_ref().is_some_and(|d| {
            d.maybe_sweep(&set, now);
            d.skip_ejected(&set)
        });
        let Some(i) = self.balancer.pick(&set, key, skip_ejected, now) else {
            return self.no_endpoint("every endpoint is ejected by outlier detection");
        };
        let ep = &set.endpoints[i];
        let in_flight = Outstanding::start(&**ep);
        let send = self
            .upstream
            .send(&ep.dest, ep.peer.as_deref(), self.limits, req);
        let result = match self.per_try_timeout {
            Some(t) => tokio::time::timeout(t, send).await.ok(),
            None => Some(send.await),
        };
        drop(in_flight);
        let end = Instant::now();
        let elapsed = u64::try_from((end - start).as_nanos()).unwrap_or(u64::MAX);
        let (outcome, health) = match result {
            Some(Ok(resp)) => {
                let health = Outcome::of_status(resp.status());
                (Try::Response(resp, ep.peer.clone()), health)
            }
            Some(Err(e)) => (Try::Failed(e), Outcome::LocalFailure),
            None => {
                self.counters.per_try_timeouts.inc();
                self.window.timed_out();
                (Try::TimedOut, Outcome::LocalFailure)
            }
        };
        self.observe(&set, i, health, elapsed, self.ns_at(end));
        outcome
    }

    /// Feeds a try's outcome, `elapsed_ns` long and ended at `now` (ns), to peak-EWMA and
    /// outlier detection.
    fn observe(&self, set: &EndpointSet, i: usize, health: Outcome, elapsed_ns: u64, now: u64) {
        let rtt = match health {
            Outcome::LocalFailure => elapsed_ns.max(FAILURE_PENALTY_NS),
            _ => elapsed_ns,
        };
        set.endpoints[i].ewma.observe(rtt, now);
        if let Some(d) = &self.outlier
            && d.record(set, i, health, now)
        {
            self.counters.ejections.inc();
            self.window.ejected();
        }
    }

    fn no_endpoint(&self, detail: &str) -> Try {
        self.counters.no_endpoint.inc();
        Try::Proxy(proxy_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no endpoints",
            detail,
        ))
    }
}

/// An opaque connection's hold on its pool slot and endpoint; released when dropped.
pub struct ConnHold<'a> {
    _slot: SemaphorePermit<'a>,
    _outstanding: Outstanding<Arc<EndpointState>>,
}

impl<U: Upstream> Backend<U> {
    /// Opens an opaque TCP connection with the machinery requests use: a pool slot
    /// (`maxConnections`), the balancer with ejected endpoints skipped, up to `tries` picks;
    /// each attempt feeds latency and outlier detection. None when the pool is full or no
    /// endpoint could be reached. `connect` gets the endpoint's address and mesh peer.
    pub async fn connect<T, F, Fut>(&self, tries: usize, connect: F) -> Option<(T, ConnHold<'_>)>
    where
        F: Fn(SocketAddr, Option<Arc<MeshPeer>>) -> Fut,
        Fut: Future<Output = std::io::Result<T>>,
    {
        let Some(slot) = self.circuit.acquire().await else {
            self.counters.overflows.inc();
            return None;
        };
        let Some(set) = self.balancer.ready_set(NO_ENDPOINT_WAIT).await else {
            self.counters.no_endpoint.inc();
            return None;
        };
        for _ in 0..tries.min(set.endpoints.len()) {
            let now = self.now_ns();
            let skip_ejected = self.outlier.as_ref().is_some_and(|d| {
                d.maybe_sweep(&set, now);
                d.skip_ejected(&set)
            });
            let Some(i) = self.balancer.pick(&set, None, skip_ejected, now) else {
                self.counters.no_endpoint.inc();
                return None;
            };
            let outstanding = Outstanding::start(Arc::clone(&set.endpoints[i]));
            let addr = set.endpoints[i].endpoint.addr;
            let start = Instant::now();
            let result = connect(addr, set.endpoints[i].peer.clone()).await;
            let elapsed = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
            match result {
                Ok(io) => {
                    self.observe(&set, i, Outcome::Success, elapsed, self.now_ns());
                    let hold = ConnHold {
                        _slot: slot,
                        _outstanding: outstanding,
                    };
                    return Some((io, hold));
                }
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "opaque connect failed");
                    self.observe(&set, i, Outcome::LocalFailure, elapsed, self.now_ns());
                }
            }
        }
        None
    }
}

/// The answer for a try that will not be retried.
fn respond(outcome: Try) -> Answer {
    let (status, reason, err) = match outcome {
        Try::Response(response, peer) => return Answer { response, peer },
        Try::Proxy(resp) => return Answer::proxy(resp),
        Try::TimedOut => {
            let resp = proxy_error(StatusCode::GATEWAY_TIMEOUT, "per-try timeout", "");
            return Answer::proxy(resp);
        }
        Try::Failed(e @ UpstreamError::Connect(_)) => {
            (StatusCode::SERVICE_UNAVAILABLE, "connect failure", e)
        }
        Try::Failed(e @ UpstreamError::RefusedStream(_)) => {
            (StatusCode::SERVICE_UNAVAILABLE, "refused stream", e)
        }
        Try::Failed(e @ UpstreamError::Reset(_)) => {
            (StatusCode::BAD_GATEWAY, "connection reset", e)
        }
        Try::Failed(e @ UpstreamError::Other(_)) => (StatusCode::BAD_GATEWAY, "upstream error", e),
    };
    Answer::proxy(proxy_error(status, reason, &err.to_string()))
}
