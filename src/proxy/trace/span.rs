//! One sampled request as an OTLP span, with the attributes of OpenTelemetry's HTTP
//! semantic conventions and meshctl's own (`meshctl.*`).

use std::time::{Duration, SystemTime};

use crate::api::opentelemetry::proto::common::v1::{AnyValue, KeyValue, any_value};
use crate::api::opentelemetry::proto::trace::v1::{Span, Status, span::SpanKind, status};

use super::context::Hop;

/// Which side of the proxy saw the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Inbound: a request for the app in this pod (`SERVER`).
    Server,
    /// Outbound: the app's request to a service (`CLIENT`).
    Client,
}

/// What is known of a sampled request when it arrives; taken only for sampled requests.
pub struct Pending {
    pub hop: Hop,
    pub kind: Kind,
    pub start: SystemTime,
    pub method: http::Method,
    pub path: String,
    pub authority: String,
    pub version: http::Version,
}

/// What is known when the response head is there.
#[derive(Clone, Copy, Debug, Default)]
pub struct End<'a> {
    pub status: u16,
    pub route: Option<&'a str>,
    pub backend: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub server_id: Option<&'a str>,
}

/// The span's flags field: W3C sampled, and whether the parent came from another process
/// (it always does: a proxy's parent is its caller).
const SAMPLED: u32 = 0x1;
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

/// A string attribute (of a span or a resource).
pub fn string(key: &str, value: &str) -> KeyValue {
    attribute(key, any_value::Value::StringValue(value.to_owned()))
}

fn int(key: &str, value: i64) -> KeyValue {
    attribute(key, any_value::Value::IntValue(value))
}

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn protocol_version(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

impl Pending {
    /// The finished span: it lasted `took`, and ended as `end` says.
    pub fn finish(self, took: Duration, end: &End<'_>) -> Span {
        let hop = self.hop;
        let (kind, direction) = match self.kind {
            Kind::Server => (SpanKind::Server, "inbound"),
            Kind::Client => (SpanKind::Client, "outbound"),
        };
        let mut attributes = vec![
            string("http.request.method", self.method.as_str()),
            string("url.path", &self.path),
            string("server.address", &self.authority),
            int("http.response.status_code", end.status.into()),
            string("network.protocol.version", protocol_version(self.version)),
            string("meshctl.direction", direction),
        ];
        for (key, value) in [
            ("meshctl.route", end.route),
            ("meshctl.backend", end.backend),
            ("meshctl.client.id", end.client_id),
            ("meshctl.server.id", end.server_id),
        ] {
            if let Some(value) = value {
                attributes.push(string(key, value));
            }
        }
        // HTTP semantic conventions: a 5xx is an error on both sides; a 4xx only on the
        // client's (for the server it is the client's mistake, not its own).
        let error = end.status >= 500 || (self.kind == Kind::Client && end.status >= 400);
        let status = error.then(|| Status {
            message: String::new(),
            code: status::StatusCode::Error.into(),
        });
        if error {
            attributes.push(string("error.type", &end.status.to_string()));
        }
        let remote = if hop.parent.is_some() { IS_REMOTE } else { 0 };
        Span {
            trace_id: hop.trace.to_be_bytes().to_vec(),
            span_id: hop.span.to_be_bytes().to_vec(),
            parent_span_id: hop
                .parent
                .map(|p| p.to_be_bytes().to_vec())
                .unwrap_or_default(),
            flags: SAMPLED | HAS_IS_REMOTE | remote,
            name: self.method.as_str().to_owned(),
            kind: kind.into(),
            start_time_unix_nano: nanos(self.start),
            end_time_unix_nano: nanos(self.start + took),
            attributes,
            status,
            ..Span::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(kind: Kind) -> Pending {
        Pending {
            hop: Hop {
                trace: 0x0102,
                span: 0x0304,
                parent: Some(0x0506),
                sampled: true,
            },
            kind,
            start: SystemTime::UNIX_EPOCH + Duration::from_secs(10),
            method: http::Method::POST,
            path: "/orders".into(),
            authority: "web.shop:80".into(),
            version: http::Version::HTTP_2,
        }
    }

    fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a any_value::Value> {
        let kv = span.attributes.iter().find(|kv| kv.key == key)?;
        kv.value.as_ref()?.value.as_ref()
    }

    #[test]
    fn a_span_carries_the_hop_and_the_semantic_attributes() {
        let end = End {
            status: 503,
            route: Some("default"),
            backend: Some("web-v1"),
            client_id: Some("spiffe://cluster.local/ns/shop/sa/a"),
            server_id: None,
        };
        let span = pending(Kind::Client).finish(Duration::from_millis(5), &end);
        assert_eq!(span.trace_id.len(), 16);
        assert_eq!(span.trace_id[14..], [1, 2]);
        assert_eq!(span.span_id, 0x0304u64.to_be_bytes());
        assert_eq!(span.parent_span_id, 0x0506u64.to_be_bytes());
        assert_eq!(span.kind, i32::from(SpanKind::Client));
        assert_eq!(
            span.end_time_unix_nano - span.start_time_unix_nano,
            5_000_000
        );
        let s = |v: &str| Some(any_value::Value::StringValue(v.into()));
        assert_eq!(attr(&span, "http.request.method").cloned(), s("POST"));
        assert_eq!(attr(&span, "url.path").cloned(), s("/orders"));
        assert_eq!(attr(&span, "server.address").cloned(), s("web.shop:80"));
        assert_eq!(attr(&span, "network.protocol.version").cloned(), s("2"));
        assert_eq!(attr(&span, "meshctl.direction").cloned(), s("outbound"));
        assert_eq!(attr(&span, "meshctl.backend").cloned(), s("web-v1"));
        assert_eq!(attr(&span, "meshctl.server.id"), None);
        assert_eq!(
            attr(&span, "http.response.status_code").cloned(),
            Some(any_value::Value::IntValue(503))
        );
        let code = span.status.as_ref().map(|s| s.code);
        assert_eq!(code, Some(status::StatusCode::Error.into()));
        // A client's 404 is an error; a server's is not.
        let end = End {
            status: 404,
            ..End::default()
        };
        let client = pending(Kind::Client).finish(Duration::ZERO, &end);
        assert!(client.status.is_some());
        let server = pending(Kind::Server).finish(Duration::ZERO, &end);
        assert!(server.status.is_none());
        assert_eq!(server.kind, i32::from(SpanKind::Server));
    }
}
