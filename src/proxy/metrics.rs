//! Prometheus metrics with Linkerd's names and labels (`request_total`, `response_total`,
//! `response_latency_ms`, `tcp_*`), so existing dashboards work. Labels stay bounded: an
//! outbound authority is the service's configured name; one the request gave (the inbound
//! `Host`, an unknown service's) is kept for the first [`MAX_AUTHORITY_LABELS`] seen, and
//! counts under `other` after.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::Hash;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::encoding::{EncodeLabel, EncodeLabelSet, EncodeLabelValue, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use super::io::ByteCounters;

/// Upper bounds of the latency buckets, in ms (Linkerd's), shared with `/stats`.
pub const LATENCY_BUCKETS_MS: [f64; 25] = [
    1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 100.0, 200.0, 300.0, 400.0, 500.0,
    1_000.0, 2_000.0, 3_000.0, 4_000.0, 5_000.0, 10_000.0, 20_000.0, 30_000.0, 40_000.0, 50_000.0,
];

/// Upper bounds of `tcp_connection_duration_ms`' buckets: a millisecond to about three hours.
const CONNECTION_BUCKETS_MS: [f64; 8] = [
    1.0,
    10.0,
    100.0,
    1_000.0,
    10_000.0,
    100_000.0,
    1_000_000.0,
    10_000_000.0,
];

/// Which side of the pod a connection or request belongs to.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl EncodeLabelValue for Direction {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// The `tls` label, and the peer's identity when mesh TLS authenticated it: `client_id` on
/// the inbound side, `server_id` on the outbound side (absent labels are left out).
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq)]
pub struct PeerLabels {
    pub tls: bool,
    pub client_id: Option<Arc<str>>,
    pub server_id: Option<Arc<str>>,
}

impl PeerLabels {
    /// A plaintext peer.
    pub const PLAIN: PeerLabels = PeerLabels {
        tls: false,
        client_id: None,
        server_id: None,
    };

    /// A peer reached over mesh TLS that presented `id`.
    pub fn server(id: Arc<str>) -> Self {
        Self {
            tls: true,
            client_id: None,
            server_id: Some(id),
        }
    }

    /// A client that came over mesh TLS, with its identity when it presented a certificate.
    pub fn client(id: Option<Arc<str>>) -> Self {
        Self {
            tls: true,
            client_id: id,
            server_id: None,
        }
    }

    /// The `tls` label value (Linkerd's: `true`, or why not).
    pub fn tls_value(&self) -> &'static str {
        if self.tls { "true" } else { "no_identity" }
    }
}

impl EncodeLabelSet for PeerLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        ("tls", self.tls_value()).encode(encoder.encode_label())?;
        if let Some(id) = &self.client_id {
            ("client_id", &**id).encode(encoder.encode_label())?;
        }
        if let Some(id) = &self.server_id {
            ("server_id", &**id).encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    direction: Direction,
    authority: Arc<str>,
    #[prometheus(flatten)]
    peer: PeerLabels,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResponseLabels {
    direction: Direction,
    authority: Arc<str>,
    #[prometheus(flatten)]
    peer: PeerLabels,
    status_code: u16,
    classification: &'static str,
    #[prometheus(flatten)]
    grpc: GrpcLabel,
}

/// The `grpc_status` label of a gRPC response (absent on others).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct GrpcLabel(Option<u16>);

impl EncodeLabelSet for GrpcLabel {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        match self.0 {
            Some(code) => ("grpc_status", code).encode(encoder.encode_label()),
            None => Ok(()),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TcpLabels {
    direction: Direction,
    peer: &'static str,
    authority: Arc<str>,
    #[prometheus(flatten)]
    tls: PeerLabels,
}

/// Labels of a closed connection: how it ended, and the OS error if one ended it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloseLabels {
    #[prometheus(flatten)]
    tcp: TcpLabels,
    classification: &'static str,
    errno: ErrnoLabel,
}

/// `errno`: the error's name (`ECONNRESET`), empty without one.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct ErrnoLabel(Option<i32>);

impl EncodeLabelValue for ErrnoLabel {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        match self.0 {
            Some(code) => write!(encoder, "{:?}", nix::errno::Errno::from_raw(code)),
            None => Ok(()),
        }
    }
}

/// Labels of connections the proxy refused for TLS reasons.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabels {
    port: PortLabel,
    reason: &'static str,
}

/// Labels of authorization denials.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DenyLabels {
    port: PortLabel,
    rule: Arc<str>,
}

/// Distinct `port` label values kept; later ports count under `other`, so a port scan of a
/// STRICT pod cannot grow `/metrics` by a series per port.
pub const MAX_PORT_LABELS: usize = 100;

/// A `port` label: the port, or `other` once [`MAX_PORT_LABELS`] ports have one.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum PortLabel {
    Port(u16),
    Other,
}

impl EncodeLabelValue for PortLabel {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        match self {
            PortLabel::Port(p) => EncodeLabelValue::encode(p, encoder),
            PortLabel::Other => EncodeLabelValue::encode(&"other", encoder),
        }
    }
}

/// Distinct authorities that requests gave (not configured names) with a label of their
/// own in the request families; later ones count under `other`, so a scan of random `Host`
/// headers cannot grow `/metrics` or the registry.
pub const MAX_AUTHORITY_LABELS: usize = 100;

/// The longest authority given a label of its own: a DNS name's 253 bytes and a port. A
/// longer one names no service, and would make each kept label costly.
const MAX_AUTHORITY_LEN: usize = 253 + 6;

/// The label for authorities past [`MAX_AUTHORITY_LABELS`] (or too long).
static OTHER: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("other"));

/// The values of one label that have a label of their own: the first `limit` seen.
#[derive(Debug)]
struct Bounded<T> {
    seen: Mutex<HashSet<T>>,
    limit: usize,
}

impl<T: Hash + Eq + Clone> Bounded<T> {
    fn new(limit: usize) -> Self {
        Self {
            seen: Mutex::default(),
            limit,
        }
    }

    /// `value`'s own label (`make` turns it into one the first time), or None: `other`.
    fn get<Q>(&self, value: &Q, make: impl FnOnce(&Q) -> T) -> Option<T>
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(kept) = seen.get(value) {
            return Some(kept.clone());
        }
        if seen.len() >= self.limit {
            return None;
        }
        let kept = make(value);
        seen.insert(kept.clone());
        Some(kept)
    }
}

/// Every family the pipeline writes; clones share them.
#[derive(Clone, Debug)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    responses: Family<ResponseLabels, Counter>,
    latency: Family<ResponseLabels, Histogram>,
    tcp_open: Family<TcpLabels, Counter>,
    tcp_open_connections: Family<TcpLabels, Gauge>,
    tcp_read: Family<TcpLabels, Counter>,
    tcp_write: Family<TcpLabels, Counter>,
    tls_refused: Family<RefusedLabels, Counter>,
    inbound_refused: Family<RefusedLabels, Counter>,
    http_authz_deny: Family<DenyLabels, Counter>,
    tcp_authz_deny: Family<DenyLabels, Counter>,
    jwt_refused: Family<RefusedLabels, Counter>,
    tcp_closed: Family<CloseLabels, Counter>,
    tcp_duration: Family<CloseLabels, Histogram>,
    ports: Arc<Bounded<u16>>,
    authorities: Arc<Bounded<Arc<str>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            responses: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS_MS)),
            tcp_open: Family::default(),
            tcp_open_connections: Family::default(),
            tcp_read: Family::default(),
            tcp_write: Family::default(),
            tls_refused: Family::default(),
            inbound_refused: Family::default(),
            http_authz_deny: Family::default(),
            tcp_authz_deny: Family::default(),
            jwt_refused: Family::default(),
            tcp_closed: Family::default(),
            tcp_duration: Family::new_with_constructor(|| Histogram::new(CONNECTION_BUCKETS_MS)),
            ports: Arc::new(Bounded::new(MAX_PORT_LABELS)),
            authorities: Arc::new(Bounded::new(MAX_AUTHORITY_LABELS)),
        }
    }
}

impl Metrics {
    pub fn register(&self, r: &mut Registry) {
        // `proxy_build_info{version="…"} 1`: what `meshctl check --proxy` compares.
        r.register(
            "proxy_build",
            "The proxy's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        r.register("request", "Requests received", self.requests.clone());
        r.register(
            "response",
            "Responses sent, by status and classification",
            self.responses.clone(),
        );
        r.register(
            "response_latency_ms",
            "Time from request to response headers, in milliseconds",
            self.latency.clone(),
        );
        r.register("tcp_open", "Connections opened", self.tcp_open.clone());
        r.register(
            "tcp_close",
            "Connections closed, by classification and errno",
            self.tcp_closed.clone(),
        );
        r.register(
            "tcp_connection_duration_ms",
            "Time connections were open, in milliseconds",
            self.tcp_duration.clone(),
        );
        r.register(
            "tcp_open_connections",
            "Connections open now",
            self.tcp_open_connections.clone(),
        );
        r.register(
            "tcp_read_bytes",
            "Bytes read from peers",
            self.tcp_read.clone(),
        );
        r.register(
            "tcp_write_bytes",
            "Bytes written to peers",
            self.tcp_write.clone(),
        );
        r.register(
            "inbound_tls_refused",
            "Inbound connections refused by mTLS: plaintext on a STRICT port, or a failed handshake",
            self.tls_refused.clone(),
        );
        r.register(
            "access_log_dropped",
            "Access log lines dropped because stdout did not keep up",
            super::access_log::dropped(),
        );
        r.register(
            "inbound_connection_refused",
            "Inbound connections refused before TLS: for one of the proxy's own ports",
            self.inbound_refused.clone(),
        );
        r.register(
            "inbound_http_authz_deny",
            "Inbound HTTP requests denied by authorization policy",
            self.http_authz_deny.clone(),
        );
        r.register(
            "inbound_tcp_authz_deny",
            "Inbound opaque TCP connections denied by authorization policy",
            self.tcp_authz_deny.clone(),
        );
        r.register(
            "inbound_http_jwt_refused",
            "Inbound HTTP requests refused (401) for their JWT, by reason",
            self.jwt_refused.clone(),
        );
    }

    fn port(&self, port: u16) -> PortLabel {
        let kept = self.ports.get(&port, |p| *p);
        kept.map_or(PortLabel::Other, PortLabel::Port)
    }

    /// The `authority` label of an authority a request gave: itself, or `other` once
    /// [`MAX_AUTHORITY_LABELS`] have one (or when longer than any host and port).
    pub fn request_authority(&self, authority: &str) -> Arc<str> {
        if authority.len() > MAX_AUTHORITY_LEN {
            return OTHER.clone();
        }
        let kept = self.authorities.get(authority, |a: &str| Arc::from(a));
        kept.unwrap_or_else(|| OTHER.clone())
    }

    /// Counts an inbound request refused for its JWT (`reason`: expired, invalid...).
    pub fn jwt_refused(&self, port: u16, reason: &'static str) {
        let port = self.port(port);
        self.jwt_refused
            .get_or_create(&RefusedLabels { port, reason })
            .inc();
    }

    /// Counts an inbound connection refused for `reason` (`plaintext`, `handshake`).
    pub fn tls_refused(&self, port: u16, reason: &'static str) {
        let port = self.port(port);
        self.tls_refused
            .get_or_create(&RefusedLabels { port, reason })
            .inc();
    }

    /// Counts an inbound connection refused for `reason` (`proxy_port`) before any TLS.
    pub fn inbound_refused(&self, port: u16, reason: &'static str) {
        let port = self.port(port);
        self.inbound_refused
            .get_or_create(&RefusedLabels { port, reason })
            .inc();
    }

    /// Counts an authorization denial by `rule` of an HTTP request or (`http` false) a
    /// TCP connection.
    pub fn authz_denied(&self, http: bool, port: u16, rule: Arc<str>) {
        let family = if http {
            &self.http_authz_deny
        } else {
            &self.tcp_authz_deny
        };
        let port = self.port(port);
        family.get_or_create(&DenyLabels { port, rule }).inc();
    }

    /// The request-level handles of one (direction, authority), looked up once per config.
    /// `peer` labels the requests, and the responses that carry no [`PeerLabels`] of their
    /// own (an outbound response says which peer answered it in its extensions).
    pub fn http(&self, direction: Direction, authority: Arc<str>, peer: PeerLabels) -> HttpMetrics {
        let requests = self.requests.get_or_create_owned(&RequestLabels {
            direction,
            authority: authority.clone(),
            peer: peer.clone(),
        });
        HttpMetrics {
            metrics: self.clone(),
            direction,
            authority,
            peer,
            requests,
            seen: Arc::default(),
        }
    }

    /// Counts a connection open until the returned guard drops; `peer` is `src` (accepted)
    /// or `dst` (opened to an upstream).
    pub fn tcp(
        &self,
        direction: Direction,
        peer: &'static str,
        authority: Arc<str>,
        tls: PeerLabels,
    ) -> TcpConn {
        let labels = TcpLabels {
            direction,
            peer,
            authority,
            tls,
        };
        self.tcp_open.get_or_create(&labels).inc();
        let open = self.tcp_open_connections.get_or_create_owned(&labels);
        open.inc();
        TcpConn {
            bytes: ByteCounters {
                read: self.tcp_read.get_or_create_owned(&labels),
                write: self.tcp_write.get_or_create_owned(&labels),
                window: None,
                error: Arc::default(),
            },
            open,
            opened: Instant::now(),
            labels,
            closed: self.tcp_closed.clone(),
            duration: self.tcp_duration.clone(),
        }
    }
}

/// An open connection's gauge and byte counters; its close is counted, by how it ended,
/// when it drops.
#[derive(Debug)]
pub struct TcpConn {
    pub bytes: ByteCounters,
    open: Gauge,
    opened: Instant,
    labels: TcpLabels,
    closed: Family<CloseLabels, Counter>,
    duration: Family<CloseLabels, Histogram>,
}

impl Drop for TcpConn {
    fn drop(&mut self) {
        self.open.dec();
        let error = self.bytes.error.get();
        let labels = CloseLabels {
            tcp: self.labels.clone(),
            classification: if error.is_some() {
                "failure"
            } else {
                "success"
            },
            errno: ErrnoLabel(error.flatten()),
        };
        self.closed.get_or_create(&labels).inc();
        let ms = self.opened.elapsed().as_secs_f64() * 1_000.0;
        self.duration.get_or_create(&labels).observe(ms);
    }
}

/// Request metrics of one (direction, authority).
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    metrics: Metrics,
    direction: Direction,
    authority: Arc<str>,
    peer: PeerLabels,
    requests: Counter,
    /// The response handles used so far, so a response finds them without hashing its
    /// labels into two families (that cost more than the rest of a response's metrics).
    seen: Arc<Mutex<Vec<ResponseHandles>>>,
}

/// The handles of one response label set of an [`HttpMetrics`].
#[derive(Debug)]
struct ResponseHandles {
    status: u16,
    grpc: Option<u16>,
    success: bool,
    /// The peer labels given instead of the handle's own (None: its own).
    peer: Option<PeerLabels>,
    responses: Counter,
    latency: Histogram,
}

/// How many label sets an [`HttpMetrics`] keeps handles of; statuses past these are
/// looked up in the families each time (rare: handles are per service or connection).
const MAX_SEEN: usize = 16;

impl HttpMetrics {
    pub fn request(&self) {
        self.requests.inc();
    }

    pub fn authority(&self) -> &Arc<str> {
        &self.authority
    }

    /// The peer labels this handle was made with.
    pub fn peer(&self) -> &PeerLabels {
        &self.peer
    }

    /// Records a response's status (and gRPC status), classification and latency; `peer`
    /// overrides the labels this handle was made with.
    pub fn response(
        &self,
        peer: Option<&PeerLabels>,
        status: u16,
        grpc: Option<u16>,
        success: bool,
        latency: Duration,
    ) {
        let ms = latency.as_secs_f64() * 1_000.0;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let same = |h: &&ResponseHandles| {
            h.status == status && h.grpc == grpc && h.success == success && h.peer.as_ref() == peer
        };
        if let Some(h) = seen.iter().find(same) {
            h.responses.inc();
            h.latency.observe(ms);
            return;
        }
        let labels = ResponseLabels {
            direction: self.direction,
            authority: self.authority.clone(),
            peer: peer.unwrap_or(&self.peer).clone(),
            status_code: status,
            classification: if success { "success" } else { "failure" },
            grpc: GrpcLabel(grpc),
        };
        let h = ResponseHandles {
            status,
            grpc,
            success,
            peer: peer.cloned(),
            responses: self.metrics.responses.get_or_create_owned(&labels),
            latency: self.metrics.latency.get_or_create_owned(&labels),
        };
        h.responses.inc();
        h.latency.observe(ms);
        if seen.len() < MAX_SEEN {
            seen.push(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_are_linkerd_compatible() {
        let m = Metrics::default();
        let mut r = Registry::default();
        m.register(&mut r);
        let h = m.http(
            Direction::Outbound,
            Arc::from("web.shop:80"),
            PeerLabels::PLAIN,
        );
        h.request();
        let server = PeerLabels::server(Arc::from("spiffe://td/ns/a/sa/b"));
        // Twice each: the second time from the handles the first one kept.
        for _ in 0..2 {
            h.response(None, 200, None, true, Duration::from_millis(3));
            h.response(Some(&server), 200, None, true, Duration::from_millis(3));
        }
        h.response(None, 503, None, false, Duration::from_millis(3));
        h.response(None, 200, Some(14), false, Duration::from_millis(3));
        drop(m.tcp(
            Direction::Inbound,
            "src",
            Arc::from("app"),
            PeerLabels::PLAIN,
        ));
        let client = PeerLabels::client(Some(Arc::from("spiffe://td/ns/c/sa/d")));
        drop(m.tcp(Direction::Inbound, "src", Arc::from("app"), client));
        let reset = m.tcp(
            Direction::Outbound,
            "dst",
            Arc::from("db"),
            PeerLabels::PLAIN,
        );
        let mut io = crate::proxy::io::Prefixed::new(
            bytes::Bytes::new(),
            Failing(std::io::ErrorKind::ConnectionReset),
            reset.bytes.clone(),
        );
        let mut buf = [0u8; 4];
        let read = tokio::io::AsyncReadExt::read(&mut io, &mut buf);
        assert!(futures::executor::block_on(read).is_err());
        drop(reset);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        for want in [
            r#"request_total{direction="outbound",authority="web.shop:80",tls="no_identity"} 1"#,
            r#"response_total{direction="outbound",authority="web.shop:80",tls="no_identity",status_code="200",classification="success"} 2"#,
            r#"response_total{direction="outbound",authority="web.shop:80",tls="no_identity",status_code="503",classification="failure"} 1"#,
            r#"response_latency_ms_bucket{le="3.0",direction="outbound""#,
            r#"tcp_open_total{direction="inbound",peer="src",authority="app",tls="no_identity"} 1"#,
            r#"tcp_open_connections{direction="inbound",peer="src",authority="app",tls="no_identity"} 0"#,
            r#"response_total{direction="outbound",authority="web.shop:80",tls="true",server_id="spiffe://td/ns/a/sa/b",status_code="200",classification="success"} 2"#,
            r#"tcp_open_total{direction="inbound",peer="src",authority="app",tls="true",client_id="spiffe://td/ns/c/sa/d"} 1"#,
            r#"response_total{direction="outbound",authority="web.shop:80",tls="no_identity",status_code="200",classification="failure",grpc_status="14"} 1"#,
            r#"tcp_close_total{direction="inbound",peer="src",authority="app",tls="no_identity",classification="success",errno=""} 1"#,
            r#"tcp_close_total{direction="outbound",peer="dst",authority="db",tls="no_identity",classification="failure",errno="ECONNRESET"} 1"#,
            r#"tcp_connection_duration_ms_count{direction="outbound",peer="dst",authority="db",tls="no_identity",classification="failure",errno="ECONNRESET"} 1"#,
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
    }

    /// An I/O object whose reads fail with an OS error of `kind`.
    struct Failing(std::io::ErrorKind);

    impl tokio::io::AsyncRead for Failing {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            let code = match self.0 {
                std::io::ErrorKind::ConnectionReset => nix::errno::Errno::ECONNRESET as i32,
                _ => nix::errno::Errno::EIO as i32,
            };
            std::task::Poll::Ready(Err(std::io::Error::from_raw_os_error(code)))
        }
    }

    #[test]
    fn request_authorities_beyond_the_limit_fold_into_other() {
        let m = Metrics::default();
        let mut r = Registry::default();
        m.register(&mut r);
        let scrape = || {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
            text
        };
        let send = |n: usize| {
            let authority = m.request_authority(&format!("h{n}.test"));
            let h = m.http(Direction::Inbound, authority, PeerLabels::PLAIN);
            h.request();
            h.response(None, 200, None, true, Duration::from_millis(1));
        };
        // Too long to be a host and port: `other`, and no label kept for it.
        assert_eq!(&*m.request_authority(&"a".repeat(300)), "other");
        (0..MAX_AUTHORITY_LABELS + 10).for_each(send);
        let before = scrape();
        (MAX_AUTHORITY_LABELS + 10..1_000).for_each(send);
        // A host seen early keeps its label.
        send(0);
        let after = scrape();
        let requests = |t: &str| {
            t.lines()
                .filter(|l| l.starts_with("request_total{"))
                .count()
        };
        assert_eq!(requests(&after), MAX_AUTHORITY_LABELS + 1);
        assert_eq!(
            after.lines().count(),
            before.lines().count(),
            "no series grew"
        );
        let other = 1_000 - MAX_AUTHORITY_LABELS;
        for want in [
            format!(
                r#"request_total{{direction="inbound",authority="other",tls="no_identity"}} {other}"#
            ),
            r#"request_total{direction="inbound",authority="h0.test",tls="no_identity"} 2"#
                .to_owned(),
        ] {
            assert!(after.contains(&want), "missing {want}");
        }
    }

    #[test]
    fn a_port_scan_folds_ports_beyond_the_limit_into_other() {
        let m = Metrics::default();
        let mut r = Registry::default();
        m.register(&mut r);
        for port in 1..=20_000u16 {
            m.tls_refused(port, "plaintext");
            m.authz_denied(true, port, Arc::from("r"));
        }
        // A port seen before the limit keeps its own series.
        m.tls_refused(1, "plaintext");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        let series = |name: &str| text.lines().filter(|l| l.starts_with(name)).count();
        assert_eq!(series("inbound_tls_refused_total{"), MAX_PORT_LABELS + 1);
        assert_eq!(
            series("inbound_http_authz_deny_total{"),
            MAX_PORT_LABELS + 1
        );
        let other = 20_000 - MAX_PORT_LABELS;
        for want in [
            format!(r#"inbound_tls_refused_total{{port="other",reason="plaintext"}} {other}"#),
            r#"inbound_tls_refused_total{port="1",reason="plaintext"} 2"#.to_owned(),
            format!(r#"inbound_http_authz_deny_total{{port="other",rule="r"}} {other}"#),
        ] {
            assert!(text.contains(&want), "missing {want}");
        }
    }
}
