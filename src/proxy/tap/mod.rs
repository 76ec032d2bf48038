//! Live request events for `meshctl tap` and `top`: `GET /tap?…` on the admin port (an
//! operator path, like `/config`) streams one JSON line per request that passes the tap's
//! filters (method, authority, path, status, latency, identities, route, backend and the
//! allowed headers it asked for; never bodies, never the query), at most `max_rps` a second
//! and `limit` in all, then a last line saying how it ended. While nobody taps, a request
//! costs one atomic load here.

mod filter;
mod stream;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use filter::{TAPPABLE_HEADERS, TapQuery, parse};
pub use stream::TapStream;

use super::metrics::{Direction, PeerLabels};

/// Taps served at once; one more is refused (503).
pub const MAX_TAPS: usize = 8;
/// Lines queued for a tap's reader; a reader that falls further behind misses events
/// (counted as skipped) rather than holding memory or requests up.
const QUEUE: usize = 256;

/// The taps of one proxy.
#[derive(Debug, Default)]
pub struct Tap {
    /// `taps.len()`, read without the lock on every request.
    active: AtomicUsize,
    taps: Mutex<Vec<Tapper>>,
    next_id: AtomicU64,
}

#[derive(Debug)]
struct Tapper {
    id: u64,
    query: TapQuery,
    /// Token bucket of `query.max_rps`.
    tokens: f64,
    refilled: Instant,
    sent: u64,
    skipped: u64,
    tx: mpsc::Sender<Bytes>,
}

/// A request as taps see it, taken as it starts (only while someone taps).
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    pub authority: String,
    pub path: String,
    /// The tappable headers it carried.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Request {
    pub fn of<B>(req: &http::Request<B>, authority: &str) -> Self {
        Request {
            method: req.method().clone(),
            authority: authority.to_ascii_lowercase(),
            path: req.uri().path().to_owned(),
            headers: tappable(req.headers()),
        }
    }
}

fn tappable(headers: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    (TAPPABLE_HEADERS.iter())
        .filter_map(|name| {
            let value = headers.get(*name)?;
            Some((HeaderName::from_static(name), value.clone()))
        })
        .collect()
}

/// How a tapped request ended.
#[derive(Debug)]
pub struct Outcome<'a> {
    pub direction: Direction,
    pub status: u16,
    pub latency: Duration,
    pub peer: &'a PeerLabels,
    pub route: Option<&'a str>,
    pub backend: Option<&'a str>,
}

impl<'a> Outcome<'a> {
    /// An inbound request's (no route or backend on this side).
    pub fn inbound(status: u16, latency: Duration, peer: &'a PeerLabels) -> Self {
        Outcome {
            direction: Direction::Inbound,
            status,
            latency,
            peer,
            route: None,
            backend: None,
        }
    }
}

/// One line of the stream.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    /// Milliseconds since the Unix epoch.
    ts: u128,
    direction: Direction,
    method: &'a str,
    authority: &'a str,
    path: &'a str,
    status: u16,
    latency_ms: f64,
    tls: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<&'a str>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    headers: serde_json::Map<String, serde_json::Value>,
}

/// The last line: why the stream ended, what it sent and what it skipped (over the rate,
/// or while the reader fell behind).
#[derive(Serialize)]
struct End {
    end: &'static str,
    events: u64,
    skipped: u64,
}

fn line(value: &impl Serialize) -> Bytes {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

/// Too many taps already.
#[derive(Debug, thiserror::Error)]
#[error("{MAX_TAPS} taps are running on this proxy already: stop one and try again")]
pub struct Busy;

impl Tap {
    /// Whether anyone taps: the only cost a request pays otherwise.
    #[inline]
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed) > 0
    }

    /// Whether some tap wants a request of `direction` with this method, authority and path
    /// (asked before anything of the request is copied).
    pub fn wants(
        &self,
        direction: Direction,
        method: &Method,
        authority: &str,
        path: &str,
    ) -> bool {
        let taps = self.taps.lock().unwrap_or_else(|e| e.into_inner());
        (taps.iter()).any(|t| t.query.filter.matches(direction, method, authority, path))
    }

    /// Starts a tap; its events arrive on the stream, which ends it when dropped.
    pub fn subscribe(self: &std::sync::Arc<Self>, query: TapQuery) -> Result<TapStream, Busy> {
        let mut taps = self.taps.lock().unwrap_or_else(|e| e.into_inner());
        if taps.len() >= MAX_TAPS {
            return Err(Busy);
        }
        let (tx, rx) = mpsc::channel(QUEUE + 1);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        taps.push(Tapper {
            id,
            tokens: f64::from(query.max_rps),
            refilled: Instant::now(),
            query,
            sent: 0,
            skipped: 0,
            tx,
        });
        self.active.store(taps.len(), Ordering::Relaxed);
        Ok(TapStream::new(rx, self.clone(), id))
    }

    /// Ends tap `id` (its reader went away).
    fn unsubscribe(&self, id: u64) {
        let mut taps = self.taps.lock().unwrap_or_else(|e| e.into_inner());
        taps.retain(|t| t.id != id);
        self.active.store(taps.len(), Ordering::Relaxed);
    }

    /// Sends the event of `req` to every tap whose filters it passes, within its rate; a
    /// tap that reached its limit gets its last line and ends.
    pub fn publish(&self, req: &Request, outcome: &Outcome<'_>) {
        let now = Instant::now();
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let mut taps = self.taps.lock().unwrap_or_else(|e| e.into_inner());
        taps.retain_mut(|t| {
            let f = &t.query.filter;
            if !f.matches(outcome.direction, &req.method, &req.authority, &req.path) {
                return true;
            }
            if t.tx.is_closed() {
                return false;
            }
            // Over the rate, or the reader is behind (the last place in the queue is kept
            // for the last line).
            if !t.take_token(now) || t.tx.capacity() <= 1 {
                t.skipped += 1;
                return true;
            }
            let event = Event {
                ts,
                direction: outcome.direction,
                method: req.method.as_str(),
                authority: &req.authority,
                path: &req.path,
                status: outcome.status,
                latency_ms: outcome.latency.as_secs_f64() * 1_000.0,
                tls: outcome.peer.tls,
                client_id: outcome.peer.client_id.as_deref(),
                server_id: outcome.peer.server_id.as_deref(),
                route: outcome.route,
                backend: outcome.backend,
                headers: (req.headers.iter())
                    .filter(|(name, _)| t.query.headers.contains(name))
                    .map(|(name, value)| {
                        let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
                        (name.as_str().to_owned(), text.into())
                    })
                    .collect(),
            };
            if t.tx.try_send(line(&event)).is_err() {
                return false;
            }
            t.sent += 1;
            if t.sent < t.query.limit {
                return true;
            }
            let end = End {
                end: "limit",
                events: t.sent,
                skipped: t.skipped,
            };
            let _ = t.tx.try_send(line(&end));
            false
        });
        self.active.store(taps.len(), Ordering::Relaxed);
    }
}

impl Tapper {
    fn take_token(&mut self, now: Instant) -> bool {
        let rps = f64::from(self.query.max_rps);
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rps).min(rps);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests;
