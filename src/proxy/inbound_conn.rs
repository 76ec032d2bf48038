//! What the inbound side knows about one connection: the app's address, the client's
//! identity, and the request metrics of the authorities its requests give.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use super::authz::Client;
use super::forward::Dest;
use super::metrics::{Direction, HttpMetrics, Metrics, PeerLabels};
use super::stats::Window;

pub struct InboundConn {
    /// The app's address (127.0.0.1 and the original port).
    pub target: Dest,
    /// The client's mesh identity, if it authenticated with one.
    pub client: Option<crate::identity::SpiffeId>,
    /// The client's address (`source.ip` of authorization rules).
    pub peer_ip: Option<std::net::IpAddr>,
    /// This connection's TLS state and client id: the peer labels of its requests.
    pub peer: PeerLabels,
    /// The metrics of the authority the last request gave, by that authority: most
    /// connections carry one, so their requests look no labels up.
    last: Mutex<Option<(Box<str>, Arc<HttpMetrics>)>>,
    /// The `/stats` slot this connection's peer was last noted in, for `edges`.
    noted: AtomicU64,
}

impl InboundConn {
    pub fn new(
        target: Dest,
        client: Option<crate::identity::SpiffeId>,
        peer_ip: Option<std::net::IpAddr>,
        peer: PeerLabels,
    ) -> Self {
        Self {
            target,
            client,
            peer_ip,
            peer,
            last: Mutex::new(None),
            noted: AtomicU64::new(0),
        }
    }

    /// The client for authorization: its id and the id's text from the metrics labels.
    pub fn authz_client(&self) -> Option<Client<'_>> {
        let text = self.peer.client_id.as_deref()?;
        self.client.as_ref().map(|id| Client { id, text })
    }

    /// The request metrics of `authority` (the request's `Host` or `:authority`, bounded
    /// by [`Metrics::request_authority`]) on this connection.
    pub fn metrics(&self, metrics: &Metrics, authority: &str) -> Arc<HttpMetrics> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, http)) = &*last
            && **seen == *authority
        {
            return http.clone();
        }
        let label = metrics.request_authority(authority);
        let http = Arc::new(metrics.http(Direction::Inbound, label, self.peer.clone()));
        *last = Some((authority.into(), http.clone()));
        http
    }

    /// Notes this connection's peer in `window` for `edges` (a request came `now`): once
    /// per slot, not per request.
    pub fn note_peer(&self, window: &Window, now: std::time::Instant) {
        window.peer_once(&self.peer, &self.noted, now);
    }
}
