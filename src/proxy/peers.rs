//! The mesh peers a `/stats` row's requests went to or came from (the server identities an
//! outbound service answered as, the client identities that called inbound), for
//! `meshctl edges`. Bounded: a row keeps the [`MAX_PEERS`] most recently seen.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::metrics::PeerLabels;

/// Peers kept per row; a new one beyond them replaces the least recently seen.
pub const MAX_PEERS: usize = 16;

/// One peer of a row, as `/stats` reports it and `meshctl edges` reads it back.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Peer {
    /// Over mesh TLS.
    pub tls: bool,
    /// The identity it proved (the client's inbound, the server's outbound); none in
    /// plaintext, or for a TLS client without a certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[derive(Debug)]
struct Seen {
    labels: PeerLabels,
    /// The slot epoch it was last seen in.
    epoch: u64,
}

/// The peers of one row.
#[derive(Debug, Default)]
pub struct Peers(Mutex<Vec<Seen>>);

impl Peers {
    /// Notes `labels` as seen in slot `epoch`.
    pub fn seen(&self, labels: &PeerLabels, epoch: u64) {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = seen.iter_mut().find(|s| s.labels == *labels) {
            s.epoch = epoch;
            return;
        }
        let entry = Seen {
            labels: labels.clone(),
            epoch,
        };
        if seen.len() < MAX_PEERS {
            seen.push(entry);
        } else if let Some(oldest) = seen.iter_mut().min_by_key(|s| s.epoch) {
            *oldest = entry;
        }
    }

    /// The peers seen in the `n` slots up to and including `now`'s, in order.
    pub fn report(&self, now: u64, n: u64) -> Vec<Peer> {
        let seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut peers: Vec<Peer> = (seen.iter())
            .filter(|s| s.epoch + n > now)
            .map(|s| {
                let id = s.labels.client_id.as_ref().or(s.labels.server_id.as_ref());
                Peer {
                    tls: s.labels.tls,
                    id: id.map(|id| id.to_string()),
                }
            })
            .collect();
        peers.sort();
        peers.dedup();
        peers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn peers_in_the_window_are_reported_and_bounded() {
        let peers = Peers::default();
        let server = |n: usize| PeerLabels::server(Arc::from(format!("spiffe://td/ns/a/sa/{n}")));
        peers.seen(&PeerLabels::PLAIN, 1);
        peers.seen(&server(0), 2);
        peers.seen(&server(0), 5);
        assert_eq!(
            peers.report(5, 1),
            [Peer {
                tls: true,
                id: Some("spiffe://td/ns/a/sa/0".to_owned())
            }],
            "only what the last slot saw"
        );
        assert_eq!(peers.report(5, 6).len(), 2);
        assert_eq!(
            peers.report(5, 6)[0],
            Peer {
                tls: false,
                id: None
            }
        );
        // Full: a new peer replaces the least recently seen (the plaintext one, epoch 1).
        for n in 1..MAX_PEERS {
            peers.seen(&server(n), 6);
        }
        peers.seen(&server(99), 7);
        let all = peers.report(7, 10);
        assert_eq!(all.len(), MAX_PEERS);
        assert!(all.iter().all(|p| p.tls), "{all:?}");
        assert!(
            all.iter()
                .any(|p| p.id.as_deref() == Some("spiffe://td/ns/a/sa/99"))
        );
    }
}
