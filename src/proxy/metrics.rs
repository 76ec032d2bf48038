//! Prometheus metrics with Linkerd's names and labels (`request_total`, `response_total`,
//! `response_latency_ms`, `tcp_*`), so existing dashboards work. Labels stay bounded: the
//! authority label is the service's configured name, never the raw request authority.

use std::sync::{Arc, Mutex};
use std::time::Duration;

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
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TcpLabels {
    direction: Direction,
    peer: &'static str,
    authority: Arc<str>,
    #[prometheus(flatten)]
    tls: PeerLabels,
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

/// The ports that have a label of their own (the first [`MAX_PORT_LABELS`] seen).
#[derive(Debug, Default)]
struct PortLabels(Mutex<std::collections::HashSet<u16>>);

impl PortLabels {
    fn label(&self, port: u16) -> PortLabel {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(&port) || (seen.len() < MAX_PORT_LABELS && seen.insert(port)) {
            PortLabel::Port(port)
        } else {
            PortLabel::Other
        }
    }
}

/// Every family the pipeline writes; clones share them.
#[derive(Clone, Debug)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    responses: Family<ResponseLabels, Counter>,
    latency: Family<ResponseLabels, Histogram>,
    tcp_open: Family<TcpLabels, Counter>,
    tcp_close: Family<TcpLabels, Counter>,
    tcp_open_connections: Family<TcpLabels, Gauge>,
    tcp_read: Family<TcpLabels, Counter>,
    tcp_write: Family<TcpLabels, Counter>,
    tls_refused: Family<RefusedLabels, Counter>,
    inbound_refused: Family<RefusedLabels, Counter>,
    http_authz_deny: Family<DenyLabels, Counter>,
    tcp_authz_deny: Family<DenyLabels, Counter>,
    jwt_refused: Family<RefusedLabels, Counter>,
    ports: Arc<PortLabels>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            responses: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS_MS)),
            tcp_open: Family::default(),
            tcp_close: Family::default(),
            tcp_open_connections: Family::default(),
            tcp_read: Family::default(),
            tcp_write: Family::default(),
            tls_refused: Family::default(),
            inbound_refused: Family::default(),
            http_authz_deny: Family::default(),
            tcp_authz_deny: Family::default(),
            jwt_refused: Family::default(),
            ports: Arc::default(),
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
        r.register("tcp_close", "Connections closed", self.tcp_close.clone());
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

    /// Counts an inbound request refused for its JWT (`reason`: expired, invalid...).
    pub fn jwt_refused(&self, port: u16, reason: &'static str) {
        let port = self.ports.label(port);
        self.jwt_refused
            .get_or_create(&RefusedLabels { port, reason })
            .inc();
    }

    /// Counts an inbound connection refused for `reason` (`plaintext`, `handshake`).
    pub fn tls_refused(&self, port: u16, reason: &'static str) {
        let port = self.ports.label(port);
        self.tls_refused
            .get_or_create(&RefusedLabels { port, reason })
            .inc();
    }

    /// Counts an inbound connection refused for `reason` (`proxy_port`) before any TLS.
    pub fn inbound_refused(&self, port: u16, reason: &'static str) {
        let port = self.ports.label(port);
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
        let port = self.ports.label(port);
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
            },
            close: self.tcp_close.get_or_create_owned(&labels),
            open,
        }
    }
}

/// An open connection's gauge and byte counters.
#[derive(Debug)]
pub struct TcpConn {
    pub bytes: ByteCounters,
    close: Counter,
    open: Gauge,
}

impl Drop for TcpConn {
    fn drop(&mut self) {
        self.open.dec();
        self.close.inc();
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

    /// Records a response's status, classification and latency; `peer` overrides the
    /// labels this handle was made with.
    pub fn response(
        &self,
        peer: Option<&PeerLabels>,
        status: u16,
        success: bool,
        latency: Duration,
    ) {
        let ms = latency.as_secs_f64() * 1_000.0;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let same = |h: &&ResponseHandles| {
            h.status == status && h.success == success && h.peer.as_ref() == peer
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
        };
        let h = ResponseHandles {
            status,
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
            h.response(None, 200, true, Duration::from_millis(3));
            h.response(Some(&server), 200, true, Duration::from_millis(3));
        }
        h.response(None, 503, false, Duration::from_millis(3));
        drop(m.tcp(
            Direction::Inbound,
            "src",
            Arc::from("app"),
            PeerLabels::PLAIN,
        ));
        let client = PeerLabels::client(Some(Arc::from("spiffe://td/ns/c/sa/d")));
        drop(m.tcp(Direction::Inbound, "src", Arc::from("app"), client));
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
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
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
