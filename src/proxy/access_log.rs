//! The access log: one JSON line per request on stdout (off unless `accessLog: true`).

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::metrics::Direction;

/// One request, as logged.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry<'a> {
    pub direction: Direction,
    pub authority: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    #[serde(serialize_with = "as_ms")]
    pub duration: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<&'a str>,
    /// `true` over mesh TLS, else `no_identity`.
    pub tls: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_id: Option<&'a str>,
}

fn as_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1_000.0)
}

#[derive(Serialize)]
struct Line<'a> {
    /// Milliseconds since the Unix epoch.
    ts: u128,
    #[serde(flatten)]
    entry: &'a Entry<'a>,
}

/// Writes `entry` as one line; a closed stdout is ignored (logging must not fail requests).
pub fn write(entry: &Entry<'_>) {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    if let Ok(mut line) = serde_json::to_vec(&Line { ts, entry }) {
        line.push(b'\n');
        let _ = std::io::stdout().lock().write_all(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_the_tls_state_and_only_the_peer_ids_known() {
        let mut entry = Entry {
            direction: Direction::Inbound,
            authority: "app",
            method: "GET",
            path: "/",
            status: 200,
            duration: Duration::from_micros(1500),
            route: None,
            backend: None,
            tls: "true",
            client_id: Some("spiffe://cluster.local/ns/shop/sa/web"),
            server_id: None,
        };
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["tls"], "true");
        assert_eq!(json["clientId"], "spiffe://cluster.local/ns/shop/sa/web");
        assert_eq!(json["duration"], 1.5);
        assert!(json.get("serverId").is_none() && json.get("route").is_none());
        entry.tls = "no_identity";
        entry.client_id = None;
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["tls"], "no_identity");
        assert!(json.get("clientId").is_none());
    }
}
