//! The protocol of a Service port: what `appProtocol` or the port name says (Istio's naming
//! convention), overridden by the `meshctl.io/opaque-ports` annotation.

use crate::model::service::Protocol;

/// What a protocol name says, when it says anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Said {
    Detect,
    Opaque,
    Unknown,
}

/// Protocols the proxy reads as HTTP (detection finds HTTP/1 and HTTP/2 prior knowledge).
const HTTP: [&str; 9] = [
    "http",
    "http2",
    "grpc",
    "grpc-web",
    "h2c",
    "kubernetes.io/h2c",
    "kubernetes.io/ws",
    "ws",
    "websocket",
];

/// Protocols that are not HTTP in clear: detection would wait for bytes a server-first
/// protocol never sends, or find TLS it cannot read anyway.
const OPAQUE: [&str; 21] = [
    "tcp",
    "tls",
    "https",
    "kubernetes.io/wss",
    "wss",
    "mysql",
    "mariadb",
    "postgres",
    "postgresql",
    "redis",
    "mongo",
    "mongodb",
    "memcached",
    "kafka",
    "amqp",
    "amqps",
    "mqtt",
    "nats",
    "smtp",
    "ldap",
    "cassandra",
];

/// What an `appProtocol` value says.
pub(crate) fn app_protocol(value: &str) -> Said {
    let v = value.to_ascii_lowercase();
    if HTTP.contains(&v.as_str()) {
        Said::Detect
    } else if OPAQUE.contains(&v.as_str()) {
        Said::Opaque
    } else {
        Said::Unknown
    }
}

/// What a port name says: `http`, `http-web`, `grpc-api`, `tcp-db`, `mysql`...
pub(crate) fn port_name(name: &str) -> Said {
    let prefix = name.split('-').next().unwrap_or("").to_ascii_lowercase();
    // `grpc-web-x` starts with `grpc`, which is already HTTP.
    if HTTP.contains(&prefix.as_str()) {
        Said::Detect
    } else if OPAQUE.contains(&prefix.as_str()) {
        Said::Opaque
    } else {
        Said::Unknown
    }
}

impl Said {
    pub fn protocol(self) -> Option<Protocol> {
        match self {
            Said::Detect => Some(Protocol::Detect),
            Said::Opaque => Some(Protocol::Opaque),
            Said::Unknown => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_protocols_and_names() {
        assert_eq!(app_protocol("kubernetes.io/h2c"), Said::Detect);
        assert_eq!(app_protocol("GRPC"), Said::Detect);
        assert_eq!(app_protocol("mysql"), Said::Opaque);
        assert_eq!(app_protocol("example.com/x"), Said::Unknown);
        assert_eq!(port_name("http-web"), Said::Detect);
        assert_eq!(port_name("grpc-web-api"), Said::Detect);
        assert_eq!(port_name("http2"), Said::Detect);
        assert_eq!(port_name("tcp-db"), Said::Opaque);
        assert_eq!(port_name("redis"), Said::Opaque);
        assert_eq!(port_name("web"), Said::Unknown);
        assert_eq!(port_name("httpx"), Said::Unknown);
    }
}
