//! Prometheus metrics with Linkerd's names and labels (`request_total`, `response_total`,
//! `response_latency_ms`, `tcp_*`), so existing dashboards work. Labels stay bounded: the
//! authority label is the service's configured name, never the raw request authority.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    direction: Direction,
    authority: Arc<str>,
    tls: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResponseLabels {
    direction: Direction,
    authority: Arc<str>,
    tls: &'static str,
    status_code: u16,
    classification: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TcpLabels {
    direction: Direction,
    peer: &'static str,
    authority: Arc<str>,
    tls: &'static str,
}

/// TLS label value until mTLS exists.
const NO_TLS: &str = "no_identity";

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
        }
    }
}

impl Metrics {
    pub fn register(&self, r: &mut Registry) {
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
    }

    /// The request-level handles of one (direction, authority), looked up once per config.
    pub fn http(&self, direction: Direction, authority: Arc<str>) -> HttpMetrics {
        let requests = self.requests.get_or_create_owned(&RequestLabels {
            direction,
            authority: authority.clone(),
            tls: NO_TLS,
        });
        HttpMetrics {
            metrics: self.clone(),
            direction,
            authority,
            requests,
        }
    }

    /// Counts a connection open until the returned guard drops; `peer` is `src` (accepted)
    /// or `dst` (opened to an upstream).
    pub fn tcp(&self, direction: Direction, peer: &'static str, authority: Arc<str>) -> TcpConn {
        let labels = TcpLabels {
            direction,
            peer,
            authority,
            tls: NO_TLS,
        };
        self.tcp_open.get_or_create(&labels).inc();
        let open = self.tcp_open_connections.get_or_create_owned(&labels);
        open.inc();
        TcpConn {
            bytes: ByteCounters {
                read: self.tcp_read.get_or_create_owned(&labels),
                write: self.tcp_write.get_or_create_owned(&labels),
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
    requests: Counter,
}

impl HttpMetrics {
    pub fn request(&self) {
        self.requests.inc();
    }

    pub fn authority(&self) -> &Arc<str> {
        &self.authority
    }

    /// Records a response's status, classification and latency.
    pub fn response(&self, status: u16, success: bool, latency: Duration) {
        let labels = ResponseLabels {
            direction: self.direction,
            authority: self.authority.clone(),
            tls: NO_TLS,
            status_code: status,
            classification: if success { "success" } else { "failure" },
        };
        self.metrics.responses.get_or_create(&labels).inc();
        self.metrics
            .latency
            .get_or_create(&labels)
            .observe(latency.as_secs_f64() * 1_000.0);
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
        let h = m.http(Direction::Outbound, Arc::from("web.shop:80"));
        h.request();
        h.response(200, true, Duration::from_millis(3));
        drop(m.tcp(Direction::Inbound, "src", Arc::from("app")));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        for want in [
            r#"request_total{direction="outbound",authority="web.shop:80",tls="no_identity"} 1"#,
            r#"response_total{direction="outbound",authority="web.shop:80",tls="no_identity",status_code="200",classification="success"} 1"#,
            r#"response_latency_ms_bucket{le="3.0",direction="outbound""#,
            r#"tcp_open_total{direction="inbound",peer="src",authority="app",tls="no_identity"} 1"#,
            r#"tcp_open_connections{direction="inbound",peer="src",authority="app",tls="no_identity"} 0"#,
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
    }
}
