//! Windowed golden signals for `/stats?window=1m`: rolling 10-second slots over 10 minutes,
//! per direction and authority (and per route and backend), with the latency histogram as
//! bucket counts so callers can merge pods and compute exact percentiles.
//!
//! The answer of `GET /stats?window=<10s..10m>` (default 1m; 400 outside the range), as JSON:
//!
//! ```json
//! { "windowSeconds": 60,
//!   "latencyBucketsMs": [1.0, 2.0, 3.0, ..., 50000.0],
//!   "rows": [
//!     { "direction": "outbound", "authority": "web.shop:80",
//!       "route": "canary",          // only on per-route rows
//!       "backend": "web/v2",        // only on per-backend rows (service/backend[/route])
//!       "requests": 120, "failures": 3, "rps": 2.0, "successRate": 0.975,
//!       "tcpConnectionsOpened": 4,
//!       "retries": 1, "timeouts": 0, "ejections": 0,   // counted on backend rows
//!       "receivedBytes": 52000, "sentBytes": 310000,   // whole-authority rows
//!       "latencyBuckets": [100, 12, ..., 0],
//!       "peers": [{"tls": true, "id": "spiffe://td/ns/shop/sa/web"}] } ],  // whole rows
//!   "identity": "spiffe://td/ns/shop/sa/client" }   // the proxy's own, with mesh TLS
//! ```
//!
//! A row without `route` and `backend` is the whole authority (inbound rows use the authority
//! `app`). `latencyBuckets[i]` counts requests at most `latencyBucketsMs[i]` ms long (not
//! cumulative); its last entry, one past the bounds, counts slower ones. `successRate` is
//! null without requests. `peers` are the mesh peers seen in the window (server identities
//! outbound, client identities inbound; `tls: false` for plaintext). Sum rows' buckets across pods to merge them. Slots are 10 s wide, so
//! a window covers the current, partly filled slot plus the whole ones before it.
//!
//! Bytes are Istio's `received`/`sent`: read from and written to the connection the proxy
//! accepted, so request bytes (client to server) and response bytes (server to client) on
//! both sides. They are counted per connection, under the key the connection is known by:
//! inbound connections under `app`, outbound ones under the service whose address they were
//! sent to. A connection to the outbound port itself routes each request by its authority,
//! so it may carry several; its bytes count in `tcp_*_bytes_total` only.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::metrics::{Direction, LATENCY_BUCKETS_MS, PeerLabels};
use super::peers::{Peer, Peers};

/// Width of one slot.
pub const SLOT: Duration = Duration::from_secs(10);
/// Longest window served.
pub const MAX_WINDOW: Duration = Duration::from_secs(600);
const SLOTS: usize = (MAX_WINDOW.as_secs() / SLOT.as_secs()) as usize + 1;
/// One count per bucket bound, plus the overflow bucket.
const BUCKETS: usize = LATENCY_BUCKETS_MS.len() + 1;

/// What a row of `/stats` is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsKey {
    pub direction: &'static str,
    pub authority: Arc<str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<Arc<str>>,
}

/// The counts of a slot, a window or a merged row, with their `/stats` names: written here,
/// read back by `stat`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub requests: u64,
    pub failures: u64,
    #[serde(rename = "tcpConnectionsOpened", default)]
    pub tcp_opened: u64,
    /// Retries sent, request and per-try timeouts, endpoints ejected (backend rows); absent
    /// from older proxies' answers.
    #[serde(default)]
    pub retries: u64,
    #[serde(default)]
    pub timeouts: u64,
    #[serde(default)]
    pub ejections: u64,
}

impl Counts {
    /// Adds `other`, saturating: merged answers come from proxies `stat` does not control.
    pub fn add(&mut self, other: &Counts) {
        self.requests = self.requests.saturating_add(other.requests);
        self.failures = self.failures.saturating_add(other.failures);
        self.tcp_opened = self.tcp_opened.saturating_add(other.tcp_opened);
        self.retries = self.retries.saturating_add(other.retries);
        self.timeouts = self.timeouts.saturating_add(other.timeouts);
        self.ejections = self.ejections.saturating_add(other.ejections);
    }

    /// Successful requests over all; `None` without requests.
    pub fn success_rate(&self) -> Option<f64> {
        (self.requests > 0)
            .then(|| self.requests.saturating_sub(self.failures) as f64 / self.requests as f64)
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    epoch: u64,
    counts: Counts,
    latency: [u64; BUCKETS],
}

/// A byte count per slot, lock-free: connections count every read and write, far more often
/// than requests end, from every worker thread. One atomic holds the slot's epoch (low
/// [`EPOCH_BITS`]) and its count (the rest), so moving a slot to a new epoch and adding to it
/// is one compare-and-swap and no byte is lost to a race with the reset.
#[derive(Debug)]
struct ByteSlots([AtomicU64; SLOTS]);

impl Default for ByteSlots {
    fn default() -> Self {
        Self(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// 2^24 slots of 10 s are five years: a slot's epoch is never mistaken for one that old,
/// and 40 bits count a terabyte per slot.
const EPOCH_BITS: u32 = 24;
const EPOCH_MASK: u64 = (1 << EPOCH_BITS) - 1;

impl ByteSlots {
    fn add(&self, epoch: u64, n: u64) {
        let tag = epoch & EPOCH_MASK;
        let slot = &self.0[(epoch % SLOTS as u64) as usize];
        let mut current = slot.load(Ordering::Relaxed);
        loop {
            let count = if current & EPOCH_MASK == tag {
                current >> EPOCH_BITS
            } else {
                0
            };
            let next = (count.saturating_add(n).min(u64::MAX >> EPOCH_BITS) << EPOCH_BITS) | tag;
            match slot.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// The sum of the `n` slots up to and including `now`'s.
    fn sum(&self, now: u64, n: u64) -> u64 {
        let oldest = now.saturating_sub(n - 1);
        (oldest..=now)
            .map(|epoch| {
                let v = self.0[(epoch % SLOTS as u64) as usize].load(Ordering::Relaxed);
                if v & EPOCH_MASK == epoch & EPOCH_MASK {
                    v >> EPOCH_BITS
                } else {
                    0
                }
            })
            .sum()
    }
}

/// The rolling slots of one key.
#[derive(Debug)]
pub struct Window {
    start: Instant,
    slots: Mutex<Vec<Slot>>,
    /// Bytes received and sent, allocated with the first byte like `slots`.
    bytes: OnceLock<Box<[ByteSlots; 2]>>,
    /// The mesh peers of whole-authority rows (`meshctl edges`).
    peers: Peers,
}

impl Window {
    fn new(start: Instant) -> Self {
        Self {
            start,
            // Allocated on first use: most services of a big mesh see no traffic from a pod.
            slots: Mutex::new(Vec::new()),
            bytes: OnceLock::new(),
            peers: Peers::default(),
        }
    }

    /// Notes the mesh peer (or plaintext) a request went to or came from.
    pub fn peer(&self, labels: &PeerLabels) {
        self.peers.seen(labels, self.epoch(Instant::now()));
    }

    /// Notes the peer of one connection's request received `now`, once per slot (`noted`
    /// keeps the slot it was last noted in), so a busy connection takes the peers' lock
    /// once per slot.
    pub fn peer_once(&self, labels: &PeerLabels, noted: &AtomicU64, now: Instant) {
        let epoch = self.epoch(now);
        if noted.swap(epoch, Ordering::Relaxed) != epoch {
            self.peers.seen(labels, epoch);
        }
    }

    /// The peers seen in the last `window`.
    fn peers(&self, window: Duration) -> Vec<Peer> {
        let n = window.as_secs().div_ceil(SLOT.as_secs()).max(1);
        self.peers.report(self.epoch(Instant::now()), n)
    }

    fn byte_slots(&self) -> &[ByteSlots; 2] {
        self.bytes.get_or_init(Box::default)
    }

    /// Counts `n` bytes read from the accepted connection (client to server).
    pub fn received(&self, n: u64) {
        self.byte_slots()[0].add(self.epoch(Instant::now()), n);
    }

    /// Counts `n` bytes written to the accepted connection (server to client).
    pub fn sent(&self, n: u64) {
        self.byte_slots()[1].add(self.epoch(Instant::now()), n);
    }

    /// Bytes received and sent in the last `window`.
    fn bytes(&self, window: Duration) -> (u64, u64) {
        let Some(bytes) = self.bytes.get() else {
            return (0, 0);
        };
        let now = self.epoch(Instant::now());
        let n = window.as_secs().div_ceil(SLOT.as_secs()).max(1);
        (bytes[0].sum(now, n), bytes[1].sum(now, n))
    }

    fn epoch(&self, now: Instant) -> u64 {
        // Epoch 0 marks an unused slot, so count from 1.
        now.duration_since(self.start).as_secs() / SLOT.as_secs() + 1
    }

    fn with_slot(&self, now: Instant, f: impl FnOnce(&mut Slot)) {
        let epoch = self.epoch(now);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.is_empty() {
            slots.resize(SLOTS, Slot::default());
        }
        let slot = &mut slots[(epoch % SLOTS as u64) as usize];
        if slot.epoch != epoch {
            *slot = Slot {
                epoch,
                ..Slot::default()
            };
        }
        f(slot);
    }

    /// Records one request's outcome and latency.
    pub fn record(&self, success: bool, latency: Duration) {
        record_all([self], success, latency);
    }

    /// Records one opened connection.
    pub fn tcp_opened(&self) {
        self.with_slot(Instant::now(), |s| s.counts.tcp_opened += 1);
    }

    /// Records one retry sent (backend rows).
    pub fn retried(&self) {
        self.with_slot(Instant::now(), |s| s.counts.retries += 1);
    }

    /// Records one request or per-try timeout (backend rows).
    pub fn timed_out(&self) {
        self.with_slot(Instant::now(), |s| s.counts.timeouts += 1);
    }

    /// Records one endpoint ejected by outlier detection (backend rows).
    pub fn ejected(&self) {
        self.with_slot(Instant::now(), |s| s.counts.ejections += 1);
    }

    fn sum(&self, window: Duration) -> Slot {
        let now = self.epoch(Instant::now());
        let n = window.as_secs().div_ceil(SLOT.as_secs()).max(1);
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut total = Slot::default();
        for s in slots.iter().filter(|s| s.epoch != 0 && s.epoch + n > now) {
            total.counts.add(&s.counts);
            for (t, c) in total.latency.iter_mut().zip(&s.latency) {
                *t += c;
            }
        }
        total
    }
}

/// Records one request's outcome and latency in each of `windows` (a service's, its route's
/// and its backend's), reading the clock and finding the bucket once for all of them.
pub fn record_all<'a>(
    windows: impl IntoIterator<Item = &'a Window>,
    success: bool,
    latency: Duration,
) {
    let now = Instant::now();
    let ms = latency.as_secs_f64() * 1_000.0;
    let bucket = LATENCY_BUCKETS_MS.partition_point(|le| *le < ms);
    for w in windows {
        w.with_slot(now, |s| {
            s.counts.requests += 1;
            s.counts.failures += u64::from(!success);
            s.latency[bucket] += 1;
        });
    }
}

/// All windows of the proxy, by key.
#[derive(Debug)]
pub struct Stats {
    start: Instant,
    windows: Mutex<BTreeMap<StatsKey, Arc<Window>>>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            windows: Mutex::default(),
        }
    }
}

/// One row of the `/stats` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    #[serde(flatten)]
    pub key: StatsKey,
    #[serde(flatten)]
    pub counts: Counts,
    pub rps: f64,
    pub success_rate: Option<f64>,
    /// Bytes from clients and back to them (whole-authority rows of connections with a key).
    pub received_bytes: u64,
    pub sent_bytes: u64,
    /// Counts per bucket of `latencyBucketsMs`, the last one for anything slower.
    pub latency_buckets: Vec<u64>,
    /// The mesh peers seen (whole-authority rows; at most [`super::peers::MAX_PEERS`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<Peer>,
}

/// The `/stats` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub window_seconds: u64,
    /// The proxy's own mesh identity (absent in plaintext).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    pub latency_buckets_ms: &'static [f64],
    pub rows: Vec<Row>,
}

impl Stats {
    /// The window of `key`, created on first use (the same one across config reloads).
    pub fn window(
        &self,
        direction: Direction,
        authority: &Arc<str>,
        route: Option<&Arc<str>>,
        backend: Option<&Arc<str>>,
    ) -> Arc<Window> {
        let key = StatsKey {
            direction: direction.as_str(),
            authority: authority.clone(),
            route: route.cloned(),
            backend: backend.cloned(),
        };
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows
            .entry(key)
            .or_insert_with(|| Arc::new(Window::new(self.start)))
            .clone()
    }

    /// Forgets the windows nothing else holds (their service, route or backend left the
    /// config and no request in flight still records into them).
    pub fn prune(&self) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.retain(|_, w| Arc::strong_count(w) > 1);
    }

    /// Sums the last `window` (10 s to 10 min) of every key.
    pub fn report(&self, window: Duration) -> Report {
        let window = window.clamp(SLOT, MAX_WINDOW);
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let rows = windows
            .iter()
            .map(|(key, w)| {
                let s = w.sum(window);
                let (received_bytes, sent_bytes) = w.bytes(window);
                Row {
                    key: key.clone(),
                    counts: s.counts,
                    rps: s.counts.requests as f64 / window.as_secs_f64(),
                    success_rate: s.counts.success_rate(),
                    received_bytes,
                    sent_bytes,
                    latency_buckets: s.latency.to_vec(),
                    peers: w.peers(window),
                }
            })
            .collect();
        Report {
            window_seconds: window.as_secs(),
            identity: None,
            latency_buckets_ms: &LATENCY_BUCKETS_MS,
            rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_notes_its_peer_once_per_slot() {
        let start = Instant::now();
        let w = Window::new(start);
        let noted = AtomicU64::new(0);
        let id =
            |sa: &str| PeerLabels::client(Some(Arc::from(format!("spiffe://td/ns/a/sa/{sa}"))));
        let ids = |w: &Window| -> Vec<Option<String>> {
            w.peers(Duration::from_secs(60))
                .into_iter()
                .map(|p| p.id)
                .collect()
        };
        w.peer_once(&id("a"), &noted, start);
        // The same slot: not noted again (so a `b` here, which a real connection would not
        // change to, is not seen).
        w.peer_once(&id("b"), &noted, start + SLOT / 2);
        assert_eq!(ids(&w), [Some("spiffe://td/ns/a/sa/a".to_owned())]);
        // The next slot notes it again.
        w.peer_once(&id("b"), &noted, start + SLOT);
        assert_eq!(ids(&w).len(), 2);
    }

    #[test]
    fn counts_requests_failures_and_buckets_in_the_window() {
        let stats = Stats::default();
        let a: Arc<str> = Arc::from("web");
        let w = stats.window(Direction::Outbound, &a, None, None);
        w.record(true, Duration::from_micros(500));
        w.record(false, Duration::from_millis(7));
        w.record(true, Duration::from_secs(100));
        w.tcp_opened();
        w.retried();
        w.timed_out();
        w.timed_out();
        w.ejected();
        // The same key gives the same window.
        assert!(Arc::ptr_eq(
            &w,
            &stats.window(Direction::Outbound, &a, None, None)
        ));
        let r = stats.report(Duration::from_secs(60));
        assert_eq!(r.window_seconds, 60);
        let row = &r.rows[0];
        assert_eq!(
            row.counts,
            Counts {
                requests: 3,
                failures: 1,
                tcp_opened: 1,
                retries: 1,
                timeouts: 2,
                ejections: 1,
            }
        );
        assert_eq!(row.latency_buckets.len(), LATENCY_BUCKETS_MS.len() + 1);
        assert_eq!(row.latency_buckets[0], 1); // <= 1 ms
        assert_eq!(row.latency_buckets[5], 1); // <= 10 ms
        assert_eq!(row.latency_buckets[25], 1); // overflow
        assert!((row.rps - 0.05).abs() < 1e-9);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["rows"][0]["authority"], "web");
        assert_eq!(json["rows"][0]["direction"], "outbound");
        assert_eq!(json["rows"][0]["requests"], 3);
        assert_eq!(json["rows"][0]["tcpConnectionsOpened"], 1);
    }

    #[test]
    fn prune_forgets_windows_nobody_holds() {
        let stats = Stats::default();
        let kept = stats.window(Direction::Outbound, &Arc::from("kept"), None, None);
        drop(stats.window(Direction::Outbound, &Arc::from("gone"), None, None));
        assert_eq!(
            kept.slots.lock().unwrap().capacity(),
            0,
            "no slots before traffic"
        );
        stats.prune();
        let rows = stats.report(Duration::from_secs(60)).rows;
        assert_eq!(rows.len(), 1);
        assert_eq!(&*rows[0].key.authority, "kept");
        drop(kept);
    }

    #[test]
    fn counts_bytes_both_ways_in_the_window() {
        let stats = Stats::default();
        let w = stats.window(Direction::Inbound, &Arc::from("app"), None, None);
        assert!(w.bytes.get().is_none(), "no byte slots before traffic");
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        w.received(3);
                        w.sent(5);
                    }
                });
            }
        });
        let row = &stats.report(Duration::from_secs(60)).rows[0];
        assert_eq!((row.received_bytes, row.sent_bytes), (120_000, 200_000));
        let json = serde_json::to_value(stats.report(Duration::from_secs(60))).unwrap();
        assert_eq!(json["rows"][0]["receivedBytes"], 120_000);
        assert_eq!(json["rows"][0]["sentBytes"], 200_000);
    }

    #[test]
    fn a_byte_slot_starts_again_at_its_next_epoch() {
        let b = ByteSlots::default();
        b.add(1, 7);
        b.add(2, 1);
        assert_eq!(b.sum(2, 2), 8);
        assert_eq!(b.sum(2, 1), 1);
        // The same slot, one lap later: the old count is gone, not added to.
        let lap = 1 + SLOTS as u64;
        b.add(lap, 4);
        assert_eq!(b.sum(lap, 1), 4);
        b.add(lap + 1, 2);
        assert_eq!(b.sum(lap + 1, 2), 6, "epoch 2's byte is gone from its slot");
        assert_eq!(b.sum(lap + 6, 5), 0, "nothing in the five slots after");
        // Epoch tags wrap; the count stays exact across the wrap.
        let wrap = EPOCH_MASK + 1;
        b.add(wrap, 9);
        assert_eq!(b.sum(wrap, 1), 9);
    }

    #[test]
    fn old_slots_fall_out_of_the_window() {
        let w = Window::new(Instant::now() - Duration::from_secs(60));
        {
            let mut slots = w.slots.lock().unwrap();
            slots.resize(SLOTS, Slot::default());
            slots[1] = Slot {
                epoch: 1,
                counts: Counts {
                    requests: 5,
                    ..Counts::default()
                },
                ..Slot::default()
            };
        }
        w.record(true, Duration::ZERO);
        assert_eq!(w.sum(Duration::from_secs(10)).counts.requests, 1);
        assert_eq!(w.sum(Duration::from_secs(120)).counts.requests, 6);
    }
}
