//! The proxy process: binds the listeners, accepts connections, detects their protocol,
//! serves HTTP/1, HTTP/2 and opaque TCP, swaps configs on reload and drains on shutdown.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::admin_access::OperatorAccess;
use super::app_listeners::{AppListeners, Exposure};
use super::authz::{Client, Decision, Subject};
use super::detect::{self, Protocol};
use super::discovery::{DiscoveryOptions, Status};
use super::forward::{Dest, ForwardMetrics};
use super::inbound_conn::InboundConn;
use super::intercept::{self, Dst};
use super::io::Prefixed;
use super::metrics::{Direction, Metrics, PeerLabels};
use super::pool::Pool;
use super::stats::Stats;
use super::table::{Shared, Table};
use super::tls::{self, IdentityError, Io, MeshTls, Renewal};
use super::trace::{self, Exporter, TraceError, Tracer, Workload};
use super::{admin, discovery, h1_watch, http, reload, tcp};
use crate::model::Config;
use crate::model::config::Listeners;

/// Labels every connection uses, allocated once (per-connection `Arc::from` would allocate).
static APP_LABEL: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("app"));
static NO_AUTHORITY: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(""));

/// How the proxy runs (the config file's listeners, overridden by flags, are resolved here).
#[derive(Clone, Debug)]
pub struct Options {
    pub config: Config,
    /// The file `config` came from; watched for changes when set.
    pub config_path: Option<PathBuf>,
    pub outbound_addr: SocketAddr,
    pub inbound_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// Inbound ports forwarded as TCP without detection, besides the config's.
    pub opaque_ports: Vec<u16>,
    /// Localhost-only app ports peers may reach, besides the config's.
    pub localhost_ports: Vec<u16>,
    /// The app's port for inbound connections that were not intercepted; overrides the
    /// config's `inbound.appPort` for the proxy's life (reloads keep it).
    pub app_port: Option<u16>,
    /// Where the app listens for inbound connections: 127.0.0.1 in a pod; another loopback
    /// address when several "pods" share one host (`meshctl demo`).
    pub app_ip: IpAddr,
    /// How long protocol detection waits for the client's first bytes.
    pub detect_timeout: Duration,
    /// How long in-flight requests may finish after shutdown starts.
    pub drain_timeout: Duration,
    /// How long an HTTP/1 connection may take to send a request head, counted from the
    /// previous response on a kept-alive one (so it is also the idle timeout).
    pub header_read_timeout: Duration,
    /// How long an HTTP/2 connection may have no stream open before it is closed (GOAWAY).
    pub h2_idle_timeout: Duration,
    /// Who besides loopback may read `/config`, `/identity` and `/stats`.
    pub admin_operator: OperatorAccess,
    /// How often the config file is checked for changes.
    pub watch_interval: Duration,
    /// Cluster mode: the config comes from the controller's discovery stream.
    pub discovery: Option<DiscoveryOptions>,
    /// Who the proxy's spans come from (`config.tracing` says where they go).
    pub workload: Workload,
}

impl Options {
    /// Options for `config` with its listeners and the default timings.
    pub fn new(config: Config) -> Self {
        Self {
            outbound_addr: config.listeners.outbound,
            inbound_addr: config.listeners.inbound,
            admin_addr: config.listeners.admin,
            config,
            config_path: None,
            opaque_ports: Vec::new(),
            localhost_ports: Vec::new(),
            app_port: None,
            app_ip: IpAddr::from([127, 0, 0, 1]),
            detect_timeout: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(30),
            // Above the 30 s our own pools keep idle connections, so a peer proxy closes first.
            header_read_timeout: Duration::from_secs(60),
            h2_idle_timeout: Duration::from_secs(60),
            admin_operator: OperatorAccess::default(),
            watch_interval: Duration::from_secs(1),
            discovery: None,
            workload: Workload::default(),
        }
    }
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(
        "cannot listen on {addr} ({which} listener): {cause}; pick a free address with --{which}-addr"
    )]
    Bind {
        which: &'static str,
        addr: SocketAddr,
        cause: std::io::Error,
    },
    #[error("{0}")]
    Identity(#[from] IdentityError),
    #[error("{0}")]
    Tracing(#[from] TraceError),
}

/// What every connection task shares.
pub struct State {
    table: RwLock<Arc<Table>>,
    /// Bumped when a reload changes the inbound authorization: open TCP connections check
    /// again and close if no longer allowed.
    policy_changes: watch::Sender<u64>,
    pub shared: Shared,
    pub registry: prometheus_client::registry::Registry,
    pub ready: AtomicBool,
    /// Inbound opaque ports from the command line (the config's are read per connection).
    pub opaque_ports: Vec<u16>,
    /// Localhost-only app ports peers may reach, from the command line.
    pub localhost_ports: Vec<u16>,
    /// What the pod's apps listen on: localhost-only ports are not exposed to peers.
    pub app_listeners: AppListeners,
    /// The app's port from the command line; overrides the config's `inbound.appPort`.
    pub app_port: Option<u16>,
    pub app_ip: IpAddr,
    pub detect_timeout: Duration,
    pub header_read_timeout: Duration,
    /// Cluster mode's stream state (None in static mode).
    discovery: Option<Status>,
    pub h2_idle_timeout: Duration,
    pub admin_operator: OperatorAccess,
    /// Where the listeners really are (the file's, overridden by flags, ports bound): what
    /// `/config` reports, and the ports inbound traffic must never be forwarded to.
    pub listeners: Listeners,
}

impl State {
    /// The table in force (a cheap clone; a reload swaps it for later requests).
    pub fn table(&self) -> Arc<Table> {
        self.table.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Serving, holding a leaf when mesh identity is configured, and running a config from
    /// the controller in cluster mode (`/ready`).
    pub fn is_ready(&self) -> bool {
        self.not_ready().is_none()
    }

    /// What `/ready` still waits for, if anything.
    pub fn not_ready(&self) -> Option<&'static str> {
        if !self.ready.load(Ordering::Acquire) {
            Some("not ready")
        } else if !self.shared.tls.as_ref().is_none_or(|t| t.is_ready()) {
            Some("not ready: waiting for the mesh identity certificate")
        } else if self
            .discovery
            .as_ref()
            .is_some_and(|d| d.version().is_none())
        {
            Some("not ready: waiting for the first config from the controller")
        } else {
            None
        }
    }

    /// Cluster mode's stream state: the config version in force.
    pub fn discovery(&self) -> Option<&Status> {
        self.discovery.as_ref()
    }

    /// Whether `target` is one of the proxy's own listeners: never an inbound destination (a
    /// peer would reach the outbound side as if it were this pod, or the admin port as a
    /// local caller). A listener on the unspecified address takes every address of its port;
    /// an app on another address (`--inbound-app-ip`) may share a listener's port.
    pub fn is_own_listener(&self, target: SocketAddr) -> bool {
        let l = &self.listeners;
        [l.outbound, l.inbound, l.admin].iter().any(|a| {
            a.port() == target.port() && (a.ip().is_unspecified() || a.ip() == target.ip())
        })
    }

    /// The proxy's mesh TLS, when it has an identity.
    pub fn tls(&self) -> Option<&Arc<MeshTls>> {
        self.shared.tls.as_ref()
    }

    /// Puts a new (validated) config in force.
    pub fn apply(&self, config: Config) {
        let mut slot = self.table.write().unwrap_or_else(|e| e.into_inner());
        let table = Table::build(Arc::new(config), &self.shared, Some(&slot));
        let old = std::mem::replace(&mut *slot, Arc::new(table));
        drop(slot);
        if old.config.inbound.authorization != self.table().config.inbound.authorization {
            self.policy_changes.send_modify(|n| *n += 1);
        }
        drop(old);
        // Rows of services, routes and backends no table uses any more.
        self.shared.stats.prune();
    }
}

/// A bound proxy, not yet serving.
pub struct Proxy {
    state: Arc<State>,
    outbound: TcpListener,
    inbound: TcpListener,
    /// IPv6 twins of the outbound, inbound and admin listeners (proxy-init redirects both
    /// families; probes of an IPv6-only pod come over IPv6).
    ipv6_twins: [Option<TcpListener>; 3],
    admin: TcpListener,
    options: Options,
    /// Keeps the leaf fresh while the proxy runs (CA renewal or identity files reloaded).
    renewal: Option<Renewal>,
    /// Sends the spans (tracing on).
    trace_export: Option<Exporter>,
}

async fn bind(which: &'static str, addr: SocketAddr) -> Result<TcpListener, ProxyError> {
    TcpListener::bind(addr)
        .await
        .map_err(|cause| ProxyError::Bind { which, addr, cause })
}

impl Proxy {
    /// Binds the three listeners and compiles the config.
    pub async fn bind(options: Options) -> Result<Self, ProxyError> {
        let outbound = bind("outbound", options.outbound_addr).await?;
        let inbound = bind("inbound", options.inbound_addr).await?;
        let admin = bind("admin", options.admin_addr).await?;
        let bound = |l: &TcpListener, asked: SocketAddr| l.local_addr().unwrap_or(asked);
        let listeners = Listeners {
            outbound: bound(&outbound, options.outbound_addr),
            inbound: bound(&inbound, options.inbound_addr),
            admin: bound(&admin, options.admin_addr),
        };
        let ipv6_twins = [
            options.outbound_addr,
            options.inbound_addr,
            options.admin_addr,
        ]
        .map(intercept::bind_ipv6_twin);
        let (tls, renewal) = match &options.config.identity {
            Some(identity) => {
                let (tls, renewal) = MeshTls::load(identity, options.watch_interval)?;
                (Some(tls), renewal)
            }
            None => (None, None),
        };
        // Read at start only: the exporter's endpoint and rate do not change on reload.
        let trace_counters = trace::Counters::default();
        let workload = Workload {
            identity: tls.as_ref().map(|t| t.id().to_string()),
            ..options.workload.clone()
        };
        let (tracer, trace_export) =
            Tracer::new(&options.config.tracing, &workload, trace_counters.clone())?;
        let shared = Shared {
            pool: Pool::new(tls.clone()),
            metrics: Metrics::default(),
            forward_metrics: ForwardMetrics::default(),
            stats: Arc::new(Stats::default()),
            tls,
            tap: Arc::default(),
            tracer: Arc::new(tracer),
        };
        let mut registry = prometheus_client::registry::Registry::default();
        shared.metrics.register(&mut registry);
        shared.forward_metrics.register(&mut registry);
        registry.register_collector(Box::new(crate::exposition::Process));
        trace_counters.register(&mut registry);
        // What `check --proxy` reports as exposed.
        registry.register(
            "proxy_admin_operator",
            "Who may read /config, /identity and /stats on the admin port",
            prometheus_client::metrics::info::Info::new(vec![(
                "from",
                options.admin_operator.to_string(),
            )]),
        );
        let table = Table::build(Arc::new(options.config.clone()), &shared, None);
        let opaque_ports = options.opaque_ports.clone();
        let state = Arc::new(State {
            table: RwLock::new(Arc::new(table)),
            policy_changes: watch::Sender::new(0),
            shared,
            registry,
            ready: AtomicBool::new(false),
            opaque_ports,
            localhost_ports: options.localhost_ports.clone(),
            app_listeners: AppListeners::default(),
            app_port: options.app_port,
            app_ip: options.app_ip,
            detect_timeout: options.detect_timeout,
            header_read_timeout: options.header_read_timeout,
            discovery: options.discovery.as_ref().map(|_| Status::default()),
            h2_idle_timeout: options.h2_idle_timeout,
            admin_operator: options.admin_operator.clone(),
            listeners,
        });
        Ok(Self {
            state,
            outbound,
            inbound,
            ipv6_twins,
            admin,
            options,
            renewal,
            trace_export,
        })
    }

    pub fn outbound_addr(&self) -> SocketAddr {
        self.outbound
            .local_addr()
            .unwrap_or(self.options.outbound_addr)
    }

    pub fn inbound_addr(&self) -> SocketAddr {
        self.inbound
            .local_addr()
            .unwrap_or(self.options.inbound_addr)
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.local_addr().unwrap_or(self.options.admin_addr)
    }

    /// The shared state (to apply a config directly, e.g. from the controller stream).
    pub fn state(&self) -> Arc<State> {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then stops accepting and drains in-flight work for
    /// up to the drain timeout.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (drain_tx, drain_rx) = watch::channel(false);
        let state = self.state.clone();
        let (outbound, inbound, admin) =
            (self.outbound_addr(), self.inbound_addr(), self.admin_addr());
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(accept_loop(
            self.outbound,
            state.clone(),
            drain_rx.clone(),
            Side::Outbound,
        ));
        tasks.spawn(accept_loop(
            self.inbound,
            state.clone(),
            drain_rx.clone(),
            Side::Inbound,
        ));
        let [outbound6, inbound6, admin6] = self.ipv6_twins;
        for (twin, side) in [(outbound6, Side::Outbound), (inbound6, Side::Inbound)] {
            if let Some(listener) = twin {
                tasks.spawn(accept_loop(listener, state.clone(), drain_rx.clone(), side));
            }
        }
        tasks.spawn(admin::serve(self.admin, state.clone(), drain_rx.clone()));
        if let Some(listener) = admin6 {
            tasks.spawn(admin::serve(listener, state.clone(), drain_rx.clone()));
        }
        if let Some(path) = self.options.config_path.clone() {
            tasks.spawn(reload::watch_file(
                path,
                state.clone(),
                self.options.watch_interval,
            ));
        }
        if let Some(renewal) = self.renewal {
            tasks.spawn(renewal);
        }
        // Not one of `tasks`: it outlives the listeners to send the drained requests' spans.
        let exporter = self.trace_export.map(|e| (tokio::spawn(e.task), e.stop));
        if let Some(discovery) = self.options.discovery.clone() {
            let base = self.options.config.clone();
            tasks.spawn(discovery::run(state.clone(), discovery, base));
        }
        drop(drain_rx);
        state.ready.store(true, Ordering::Release);
        tracing::info!(%outbound, %inbound, %admin, "proxy ready");
        shutdown.await;
        tracing::info!("shutting down: draining connections");
        state.ready.store(false, Ordering::Release);
        tasks.abort_all();
        let _ = drain_tx.send(true);
        if tokio::time::timeout(self.options.drain_timeout, drain_tx.closed())
            .await
            .is_err()
        {
            tracing::warn!("drain deadline passed with connections still open");
        }
        if let Some((task, stop)) = exporter {
            let _ = stop.send(());
            // Bounded: a collector that does not answer must not hold the shutdown.
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                tracing::warn!("the last spans were not exported in time; dropped");
            }
        }
    }
}

/// Binds and serves until `shutdown` resolves.
pub async fn run(options: Options, shutdown: impl Future<Output = ()>) -> Result<(), ProxyError> {
    Proxy::bind(options).await?.run(shutdown).await;
    Ok(())
}

#[derive(Clone, Copy, Debug)]
enum Side {
    Outbound,
    Inbound,
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    drain: watch::Receiver<bool>,
    side: Side,
) {
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let drain = drain.clone();
        tokio::spawn(async move {
            match side {
                Side::Outbound => outbound_conn(stream, state, drain).await,
                Side::Inbound => inbound_conn(stream, state, drain).await,
            }
        });
    }
}

async fn outbound_conn(stream: TcpStream, state: Arc<State>, drain: watch::Receiver<bool>) {
    let Dst {
        addr: dst,
        intercepted,
    } = intercept::destination(&stream);
    let table = state.table();
    let by_addr = table.by_addr(&dst).cloned();
    let conn = state.shared.metrics.tcp(
        Direction::Outbound,
        "src",
        NO_AUTHORITY.clone(),
        PeerLabels::PLAIN,
    );
    if intercepted && by_addr.is_none() {
        drop(table);
        return intercept::pass_through(stream, &state, dst, conn.bytes.clone(), drain).await;
    }
    let mut counters = conn.bytes.clone();
    if let Some(svc) = &by_addr {
        // /stats counts every connection of the service and its bytes, whatever it carries.
        svc.stats.tcp_opened();
        counters = counters.with_window(svc.stats.clone());
    }
    if let Some(svc) = &by_addr
        && svc.protocol == crate::model::service::Protocol::Opaque
    {
        let io = Prefixed::new(bytes::Bytes::new(), Io::Plain(stream), counters);
        tcp::forward_service(io, &state, svc, drain).await;
        return;
    }
    drop(table);
    let mut stream = Io::Plain(stream);
    let Some((prefix, protocol)) = detect_logged(&mut stream, state.detect_timeout).await else {
        return;
    };
    let io = Prefixed::new(prefix, stream, counters);
    match protocol {
        Protocol::Http1 | Protocol::Http2 => {
            serve_requests(io, protocol, state, dst, drain, http::outbound).await
        }
        Protocol::Opaque => match by_addr {
            Some(svc) => tcp::forward_service(io, &state, &svc, drain).await,
            None => tracing::debug!(%dst, "opaque connection for no known service: closed"),
        },
    }
}

async fn inbound_conn(stream: TcpStream, state: Arc<State>, drain: watch::Receiver<bool>) {
    let peer_ip = stream.peer_addr().ok().map(|a| a.ip().to_canonical());
    let Dst {
        addr: dst,
        intercepted,
    } = intercept::destination(&stream);
    let table = state.table();
    let config = table.config.clone();
    let port = if intercepted {
        Some(dst.port())
    } else {
        state.app_port.or(config.inbound.app_port)
    };
    let Some(port) = port else {
        tracing::warn!(
            "inbound connection without original destination and no inbound.appPort \
             (or --inbound-app-port): closed"
        );
        return;
    };
    let target = SocketAddr::new(state.app_ip, port);
    if state.is_own_listener(target) {
        tracing::warn!(
            port,
            %dst,
            "inbound connection for one of the proxy's own ports: closed (peers must not reach \
             the proxy's listeners through the inbound side)"
        );
        state.shared.metrics.inbound_refused(port, "proxy_port");
        return;
    }
    // Forwarding to 127.0.0.1 would reach what the app opened on localhost only: unless the
    // port is declared for it, such a port stays the pod's own, as it is without a proxy.
    if intercepted
        && !state.localhost_ports.contains(&port)
        && !config.inbound.localhost_ports.contains(&port)
        && state.app_listeners.exposure(port) == Exposure::LocalhostOnly
    {
        tracing::warn!(
            port,
            %dst,
            "inbound connection for a port the app listens on at localhost only: closed (to \
             let peers reach it, list it in meshctl.io/localhost-ports or \
             --inbound-ports-localhost)"
        );
        state.shared.metrics.inbound_refused(port, "localhost_only");
        return;
    }
    table.inbound_stats.tcp_opened();
    let window = table.inbound_stats.clone();
    drop(table);
    // Flags give opaque ports for the pod's life; the config's may change on reload.
    let opaque = state.opaque_ports.contains(&port) || config.inbound.opaque_ports.contains(&port);
    let mode = config.inbound.tls.mode_for(port);
    drop(config);
    let accepted = match tls::negotiate(
        state.tls().map(|t| &**t),
        mode,
        stream,
        state.detect_timeout,
    )
    .await
    {
        Ok(a) => a,
        Err(refused) => {
            tracing::info!(port, reason = refused.reason, detail = %refused.detail, "inbound connection refused by mTLS");
            state.shared.metrics.tls_refused(port, refused.reason);
            return;
        }
    };
    let conn = state.shared.metrics.tcp(
        Direction::Inbound,
        "src",
        NO_AUTHORITY.clone(),
        accepted.labels.clone(),
    );
    let mut stream = accepted.io;
    let detected = if opaque || accepted.opaque {
        Some((bytes::Bytes::new(), Protocol::Opaque))
    } else {
        detect_logged(&mut stream, state.detect_timeout).await
    };
    let Some((prefix, protocol)) = detected else {
        return;
    };
    let io = Prefixed::new(prefix, stream, conn.bytes.clone().with_window(window));
    match protocol {
        Protocol::Http1 | Protocol::Http2 => {
            let ctx = Arc::new(InboundConn::new(
                Dest::new(target),
                accepted.client,
                peer_ip,
                accepted.labels,
            ));
            serve_requests(io, protocol, state, ctx, drain, http::inbound).await
        }
        Protocol::Opaque => {
            let table = state.table();
            let text = accepted.labels.client_id.as_deref();
            let client = accepted.client.as_ref().zip(text);
            let subject = Subject {
                port,
                client: client.map(|(id, text)| Client { id, text }),
                source_ip: peer_ip,
                ..Subject::default()
            };
            if let Decision::Deny(rule) = table.authz.check(&subject) {
                tracing::info!(port, client = text, %rule, "connection denied by authorization policy");
                state.shared.metrics.authz_denied(false, port, rule);
                return;
            }
            // Who connected, for `edges` (HTTP requests note theirs one by one).
            table.inbound_stats.peer(&accepted.labels);
            drop(table);
            let forward = tcp::forward_to(io, &state, target, APP_LABEL.clone(), drain);
            tokio::select! {
                () = forward => {}
                rule = revoked(&state, &subject) => {
                    tracing::info!(port, client = text, %rule, "open connection closed: the new authorization policy denies it");
                    state.shared.metrics.authz_denied(false, port, rule);
                }
            }
        }
    }
}

/// Resolves (with the denying rule) once a changed policy denies `subject`; never while
/// it stays allowed.
async fn revoked(state: &State, subject: &Subject<'_>) -> Arc<str> {
    let mut changes = state.policy_changes.subscribe();
    while changes.changed().await.is_ok() {
        if let Decision::Deny(rule) = state.table().authz.check(subject) {
            return rule;
        }
    }
    std::future::pending().await
}

/// Detects the protocol; `None` (logged) when the connection failed meanwhile.
async fn detect_logged(stream: &mut Io, timeout: Duration) -> Option<(bytes::Bytes, Protocol)> {
    match detect::detect(stream, timeout).await {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::debug!(error = %e, "connection failed during detection");
            None
        }
    }
}

/// Serves HTTP on `io`; each request is answered by `handler(state, ctx, request)`, `ctx`
/// being what the connection knows (its destination, its peer).
async fn serve_requests<C, F, Fut>(
    io: Prefixed<Io>,
    protocol: Protocol,
    state: Arc<State>,
    ctx: C,
    drain: watch::Receiver<bool>,
    handler: F,
) where
    C: Clone + Send + Sync + 'static,
    F: Fn(Arc<State>, C, hyper::Request<hyper::body::Incoming>) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = hyper::Response<super::Body>> + Send + 'static,
{
    let header_timeout = state.header_read_timeout;
    if protocol == Protocol::Http2 {
        let idle_timeout = state.h2_idle_timeout;
        let streams = Arc::new(Streams::default());
        let open = streams.clone();
        let svc = service_fn(move |req| {
            let stream = open.opened();
            let fut = handler(state.clone(), ctx.clone(), req);
            async move {
                let resp = fut.await;
                // The stream stays open until its response body is done or dropped.
                Ok::<_, std::convert::Infallible>(resp.map(|body| stream.hold(body)))
            }
        });
        let io = TokioIo::new(io);
        let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .serve_connection(io, svc);
        drive_h2(conn, drain, &streams, idle_timeout, |c| {
            c.graceful_shutdown()
        })
        .await;
        return;
    }
    let activity = Arc::new(h1_watch::Activity::default());
    let begin = activity.clone();
    let svc = service_fn(move |req| {
        let in_flight = begin.begin();
        let fut = handler(state.clone(), ctx.clone(), req);
        async move { Ok::<_, std::convert::Infallible>(fut.await.map(|body| in_flight.hold(body))) }
    });
    serve_http1(io, svc, &activity, header_timeout, drain).await;
}

/// The streams open on one HTTP/2 connection, and since when none is.
#[derive(Debug)]
struct Streams {
    open: std::sync::atomic::AtomicUsize,
    idle_since: std::sync::Mutex<tokio::time::Instant>,
}

impl Default for Streams {
    fn default() -> Self {
        Self {
            open: std::sync::atomic::AtomicUsize::new(0),
            idle_since: std::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }
}

impl Streams {
    fn opened(self: &Arc<Self>) -> OpenStream {
        self.open.fetch_add(1, Ordering::AcqRel);
        OpenStream(self.clone())
    }

    /// When the connection has had no stream open since (None: one is open).
    fn idle_since(&self) -> Option<tokio::time::Instant> {
        let since = *self.idle_since.lock().unwrap_or_else(|e| e.into_inner());
        (self.open.load(Ordering::Acquire) == 0).then_some(since)
    }
}

/// One open stream; dropping it (with its response body) closes it.
struct OpenStream(Arc<Streams>);

impl OpenStream {
    fn hold(self, body: super::Body) -> h1_watch::Held<Self> {
        h1_watch::Held::new(body, self)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        *self.0.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = tokio::time::Instant::now();
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs an HTTP/2 connection to its end; on drain, or once it has had no stream open for
/// `idle`, it is asked to finish (GOAWAY: open streams complete, no new ones).
async fn drive_h2<C, E>(
    conn: C,
    mut drain: watch::Receiver<bool>,
    streams: &Streams,
    idle: Duration,
    graceful: fn(Pin<&mut C>),
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut conn = std::pin::pin!(conn);
    let res = loop {
        let deadline = streams.idle_since().map(|since| since + idle);
        let idle_out = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                // A stream is open: look again a while later.
                None => tokio::time::sleep(idle).await,
            }
        };
        tokio::select! {
            res = conn.as_mut() => break res,
            _ = drain.changed() => {
                graceful(conn.as_mut());
                break conn.await;
            }
            () = idle_out => {
                if streams
                    .idle_since()
                    .is_some_and(|since| since.elapsed() >= idle)
                {
                    tracing::debug!(?idle, "HTTP/2 connection idle: closed");
                    graceful(conn.as_mut());
                    break conn.await;
                }
            }
        }
    };
    if let Err(e) = res {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Serves one HTTP/1 connection; it is closed when it has had no request in flight for
/// one to two `header_timeout`s (slow clients, and idle kept-alive connections, cannot
/// hold it forever). `activity` is what `svc` records of its requests.
async fn serve_http1<S>(
    io: Prefixed<Io>,
    svc: S,
    activity: &h1_watch::Activity,
    header_timeout: Duration,
    drain: watch::Receiver<bool>,
) where
    S: hyper::service::HttpService<hyper::body::Incoming> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<super::BoxError>,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<super::BoxError>,
{
    let conn = hyper::server::conn::http1::Builder::new()
        // The watch below keeps the timeout, without a timer armed per request.
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades();
    h1_watch::drive(conn, drain, activity, header_timeout, |c| {
        c.graceful_shutdown()
    })
    .await;
}
