//! The routing table: the config compiled for the request path (services by authority and
//! by address, routes with matchers, weighted backends), rebuilt on reload while keeping
//! each backend's balancer and outlier state when its policy did not change.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use super::authz::Authz;
use super::forward::{Backend as Forward, ForwardMetrics};
use super::jwt::Jwt;
use super::metrics::{Direction, HttpMetrics, Metrics, PeerLabels};
use super::pool::Pool;
use super::ratelimit::RateLimiter;
use super::rewrite::Rewrite;
use super::routing::{Filter, Matcher, Split};
use super::stats::{Stats, Window};
use super::tls::{MeshPeer, MeshTls};
use crate::model::Config;
use crate::model::policy::Policy;
use crate::model::route::Route;
use crate::model::service::{Protocol, Service};

/// One backend of the pipeline.
pub type Backend = Forward<Pool>;

/// Shared by every table: the pool, the metric families and the stats windows.
#[derive(Clone, Debug)]
pub struct Shared {
    pub pool: Pool,
    pub metrics: Metrics,
    pub forward_metrics: ForwardMetrics,
    pub stats: Arc<Stats>,
    /// The proxy's mesh TLS (None: no identity configured, plaintext everywhere).
    pub tls: Option<Arc<MeshTls>>,
    /// Live request events for `/tap`.
    pub tap: Arc<super::tap::Tap>,
    /// Trace context and spans of every HTTP request.
    pub tracer: Arc<super::trace::Tracer>,
}

/// A backend as routes use it: the forwarder and its stats window.
pub struct BackendRt {
    pub name: Arc<str>,
    pub forward: Arc<Backend>,
    pub stats: Arc<Window>,
}

/// An injected abort: answer `status` (or, for gRPC, HTTP 200 with `grpc-status`) to
/// `percent` % of the requests.
#[derive(Clone, Copy, Debug)]
pub struct Abort {
    pub status: http::StatusCode,
    pub percent: f64,
    pub grpc_status: Option<u32>,
}

/// A compiled route.
pub struct RouteRt {
    pub name: Arc<str>,
    pub matchers: Vec<Matcher>,
    pub split: Split<Arc<BackendRt>>,
    pub request_headers: Filter,
    pub response_headers: Filter,
    pub delay: Option<(Duration, f64)>,
    pub abort: Option<Abort>,
    pub mirror: Option<(Arc<BackendRt>, f64)>,
    pub rewrite: Option<Rewrite>,
    /// The route's own limiter, or the service's shared one.
    pub rate_limit: Option<Arc<RateLimiter>>,
    pub stats: Arc<Window>,
}

impl RouteRt {
    pub fn matches<B>(&self, req: &http::Request<B>) -> bool {
        self.matchers.is_empty() || self.matchers.iter().any(|m| m.matches(req))
    }
}

/// A compiled service.
pub struct ServiceRt {
    pub name: Arc<str>,
    pub protocol: Protocol,
    pub routes: Vec<RouteRt>,
    /// Where opaque TCP connections go: the first backend, balanced under the service's policy.
    pub tcp_backend: Option<Arc<BackendRt>>,
    pub http: HttpMetrics,
    pub stats: Arc<Window>,
    /// The `/stats` slot a plaintext answer was last noted in for `edges`: noted once per
    /// slot, not per request.
    pub plain_noted: AtomicU64,
}

/// Backends kept across reloads, by their metric name, with the policy they were built for.
type Cache = HashMap<Arc<str>, (Policy, Arc<BackendRt>)>;

/// The compiled config in force.
pub struct Table {
    pub config: Arc<Config>,
    by_authority: HashMap<Box<str>, Arc<ServiceRt>>,
    by_addr: HashMap<SocketAddr, Arc<ServiceRt>>,
    cache: Cache,
    /// Inbound stats (one "authority": the local app; request metrics are per connection).
    pub inbound_stats: Arc<Window>,
    /// Inbound authorization policy.
    pub authz: Authz,
    /// End-user JWTs verified on inbound requests.
    pub jwt: Jwt,
}

/// The authority label of a service: its first authority, else its name.
fn label_of(svc: &Service) -> Arc<str> {
    Arc::from(svc.authorities.first().unwrap_or(&svc.name).as_str())
}

impl Table {
    /// Compiles `config` (already validated), reusing `previous`'s backends where possible.
    pub fn build(config: Arc<Config>, shared: &Shared, previous: Option<&Table>) -> Table {
        let mut cache = Cache::new();
        let old = previous.map(|t| &t.cache);
        let mut by_authority = HashMap::new();
        let mut by_addr = HashMap::new();
        // First: backends take each endpoint's peer from here.
        if let Some(tls) = &shared.tls {
            tls.set_peers(meshed_endpoints(&config));
        }
        for svc in &config.services {
            let rt = Arc::new(build_service(svc, shared, old, &mut cache));
            for a in &svc.authorities {
                by_authority.insert(a.to_ascii_lowercase().into_boxed_str(), rt.clone());
            }
            for addr in &svc.addresses {
                by_addr.insert(*addr, rt.clone());
            }
        }
        let app: Arc<str> = Arc::from("app");
        Table {
            authz: Authz::new(&config.inbound.authorization),
            jwt: Jwt::new(&config.inbound.jwt),
            inbound_stats: shared.stats.window(Direction::Inbound, &app, None, None),
            config,
            by_authority,
            by_addr,
            cache,
        }
    }

    /// The service a request's authority names: `host:port` first, then `host` alone.
    pub fn by_authority(&self, authority: &str) -> Option<&Arc<ServiceRt>> {
        let lower;
        let authority = if authority.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = authority.to_ascii_lowercase();
            lower.as_str()
        } else {
            authority
        };
        self.by_authority.get(authority).or_else(|| {
            let host = authority.rsplit_once(':').map(|(h, _)| h)?;
            self.by_authority.get(host)
        })
    }

    pub fn by_addr(&self, addr: &SocketAddr) -> Option<&Arc<ServiceRt>> {
        self.by_addr.get(addr)
    }
}

/// Every endpoint of the config that names the identity it must present.
fn meshed_endpoints(config: &Config) -> HashMap<crate::identity::SpiffeId, Arc<MeshPeer>> {
    let endpoints = config
        .services
        .iter()
        .flat_map(|s| &s.backends)
        .flat_map(|b| &b.endpoints);
    endpoints
        .filter_map(|ep| ep.identity.clone())
        .map(|id| (id.clone(), Arc::new(MeshPeer::new(id))))
        .collect()
}

/// The labels of a service's requests: mesh TLS when this proxy has an identity and every
/// endpoint is meshed (each response is labelled by the peer that actually answered).
fn service_peer(svc: &Service, shared: &Shared) -> PeerLabels {
    let mut ids = svc
        .backends
        .iter()
        .flat_map(|b| &b.endpoints)
        .map(|ep| ep.identity.as_ref());
    let Some(Some(first)) = ids.next() else {
        return PeerLabels::PLAIN;
    };
    let mut same = true;
    for id in ids {
        match id {
            None => return PeerLabels::PLAIN,
            Some(id) => same &= id == first,
        }
    }
    if shared.tls.is_none() {
        return PeerLabels::PLAIN;
    }
    PeerLabels {
        tls: true,
        client_id: None,
        server_id: same.then(|| Arc::from(first.to_string())),
    }
}

fn build_service(
    svc: &Service,
    shared: &Shared,
    old: Option<&Cache>,
    cache: &mut Cache,
) -> ServiceRt {
    let label = label_of(svc);
    let mut backend = |route: Option<&Route>, name: &str| -> Arc<BackendRt> {
        let own = route.filter(|r| r.policy.is_some());
        let policy = own.and_then(|r| r.policy.as_ref()).unwrap_or(&svc.policy);
        let key: Arc<str> = match own {
            Some(r) => Arc::from(format!("{}/{}/{name}", svc.name, r.name)),
            None => Arc::from(format!("{}/{name}", svc.name)),
        };
        if let Some((_, b)) = cache.get(&key) {
            return b.clone();
        }
        let endpoints = svc
            .backends
            .iter()
            .find(|b| b.name == name)
            .map(|b| b.endpoints.clone())
            .unwrap_or_default();
        let b = match old.and_then(|c| c.get(&key)).filter(|(p, _)| p == policy) {
            Some((_, b)) => {
                b.forward.update_endpoints(endpoints);
                b.clone()
            }
            None => {
                let stats = shared
                    .stats
                    .window(Direction::Outbound, &label, None, Some(&key));
                let forward = Arc::new(Forward::new(
                    &key,
                    policy,
                    endpoints,
                    shared.pool.clone(),
                    &shared.forward_metrics,
                    stats.clone(),
                ));
                Arc::new(BackendRt {
                    forward,
                    stats,
                    name: key.clone(),
                })
            }
        };
        cache.insert(key, (policy.clone(), b.clone()));
        b
    };
    let limiter = |name: &str, policy: &Policy| {
        policy.rate_limit.as_ref().map(|rl| {
            Arc::new(RateLimiter::new(
                rl,
                shared.forward_metrics.rate_limited(name),
            ))
        })
    };
    let service_limiter = limiter(&svc.name, &svc.policy);
    let default_route;
    let routes: &[Route] = if svc.routes.is_empty() {
        default_route = [Route {
            name: "default".into(),
            backends: svc
                .backends
                .iter()
                .map(|b| crate::model::route::BackendRef {
                    name: b.name.clone(),
                    weight: 1,
                })
                .collect(),
            ..Route::default()
        }];
        &default_route
    } else {
        &svc.routes
    };
    let tcp_backend = svc.backends.first().map(|b| backend(None, &b.name));
    let routes = routes
        .iter()
        .map(|r| {
            let name: Arc<str> = Arc::from(r.name.as_str());
            let fault = r.fault.as_ref();
            RouteRt {
                matchers: r
                    .matches
                    .iter()
                    .filter_map(|m| Matcher::compile(m).ok())
                    .collect(),
                split: Split::new(
                    r.backends
                        .iter()
                        .map(|b| (b.weight, backend(Some(r), &b.name))),
                ),
                request_headers: Filter::compile(&r.request_headers),
                response_headers: Filter::compile(&r.response_headers),
                delay: fault
                    .and_then(|f| f.delay.as_ref())
                    .map(|d| (d.fixed.get(), d.percent)),
                abort: fault.and_then(|f| f.abort.as_ref()).and_then(|a| {
                    Some(Abort {
                        status: http::StatusCode::from_u16(a.status).ok()?,
                        percent: a.percent,
                        grpc_status: a.grpc_status,
                    })
                }),
                rewrite: Rewrite::compile(r),
                mirror: r
                    .mirror
                    .as_ref()
                    .map(|m| (backend(Some(r), &m.backend), m.percent)),
                // A route that keeps the service's limit shares its bucket.
                rate_limit: match &r.policy {
                    Some(p) if p.rate_limit != svc.policy.rate_limit => {
                        limiter(&format!("{}/{}", svc.name, r.name), p)
                    }
                    _ => service_limiter.clone(),
                },
                stats: shared
                    .stats
                    .window(Direction::Outbound, &label, Some(&name), None),
                name,
            }
        })
        .collect();
    ServiceRt {
        name: Arc::from(svc.name.as_str()),
        protocol: svc.protocol,
        routes,
        tcp_backend,
        http: shared.metrics.http(
            Direction::Outbound,
            label.clone(),
            service_peer(svc, shared),
        ),
        stats: shared.stats.window(Direction::Outbound, &label, None, None),
        plain_noted: AtomicU64::new(0),
    }
}
