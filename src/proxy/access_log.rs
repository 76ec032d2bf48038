//! The access log: one JSON line per request on stdout (off unless `accessLog: true`),
//! written by a thread of its own from a bounded queue: a slow or blocked stdout never
//! stalls the runtime thread serving requests; when the queue is full lines are dropped and
//! counted (`access_log_dropped_total`).

use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{LazyLock, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
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

/// Lines queued for the writer thread at most (a few MB at worst).
const QUEUE: usize = 8_192;

/// A queue of lines and the thread that writes them out.
pub struct Writer {
    queue: SyncSender<Message>,
    dropped: Counter,
}

enum Message {
    Line(Vec<u8>),
    /// Answered once every line queued before it is written out.
    Flush(SyncSender<()>),
}

impl Writer {
    /// Starts the thread writing queued lines to `out` (flushed whenever the queue is empty);
    /// lines dropped are counted in `dropped`.
    pub fn spawn(capacity: usize, out: impl Write + Send + 'static, dropped: Counter) -> Self {
        let (queue, lines) = sync_channel(capacity);
        std::thread::Builder::new()
            .name("access-log".to_owned())
            .spawn(move || write_lines(&lines, out))
            .expect("spawn the access log thread");
        Self { queue, dropped }
    }

    /// Queues `line` without waiting; a full queue drops it (counted).
    pub fn send(&self, line: Vec<u8>) {
        match self.queue.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.inc();
            }
        }
    }

    /// Waits (up to `timeout`) until the lines queued so far are written out: at exit.
    pub fn flush(&self, timeout: Duration) {
        let (done, wait) = sync_channel(1);
        if self.queue.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(timeout);
        }
    }

    /// Lines dropped so far (a handle that follows the count).
    pub fn dropped(&self) -> Counter {
        self.dropped.clone()
    }
}

fn write_lines(messages: &Receiver<Message>, out: impl Write) {
    let mut out = std::io::BufWriter::new(out);
    let mut flushed = Vec::new();
    while let Ok(first) = messages.recv() {
        for message in std::iter::once(first).chain(messages.try_iter()) {
            match message {
                // A closed stdout is ignored: logging must not fail requests.
                Message::Line(line) => drop(out.write_all(&line)),
                Message::Flush(done) => flushed.push(done),
            }
        }
        let _ = out.flush();
        for done in flushed.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Lines the process's access log dropped (for `/metrics`; no thread until a line is logged).
static DROPPED: LazyLock<Counter> = LazyLock::new(Counter::default);

/// The process's access log, on stdout.
static STDOUT: OnceLock<Writer> = OnceLock::new();

/// The count of lines the access log dropped.
pub fn dropped() -> Counter {
    DROPPED.clone()
}

/// Writes out what the access log has queued (waits at most `timeout`); nothing to do when
/// nothing was logged.
pub fn flush(timeout: Duration) {
    if let Some(writer) = STDOUT.get() {
        writer.flush(timeout);
    }
}

/// Queues `entry` as one line for stdout.
pub fn write(entry: &Entry<'_>) {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    if let Ok(mut line) = serde_json::to_vec(&Line { ts, entry }) {
        line.push(b'\n');
        STDOUT
            .get_or_init(|| Writer::spawn(QUEUE, std::io::stdout(), DROPPED.clone()))
            .send(line);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

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

    /// Blocks every write until the test lets it go.
    struct Stalled {
        gate: std::sync::mpsc::Receiver<()>,
        got: Arc<std::sync::Mutex<Vec<u8>>>,
    }

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.gate.recv();
            self.got.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_output_never_blocks_the_caller_lines_past_the_queue_are_dropped_and_counted() {
        let (open, gate) = std::sync::mpsc::channel();
        let got = Arc::default();
        let out = Stalled {
            gate,
            got: Arc::clone(&got),
        };
        let writer = Writer::spawn(4, out, Counter::default());
        let started = std::time::Instant::now();
        for i in 0..100 {
            writer.send(format!("{i}\n").into_bytes());
        }
        assert!(started.elapsed() < Duration::from_secs(1), "send waited");
        // The thread holds what it took before blocking, the queue 4: the rest is dropped.
        let dropped = writer.dropped().get();
        assert!(dropped > 0, "nothing dropped while the output was blocked");
        drop(writer);
        for _ in 0..200 {
            let _ = open.send(());
        }
        drop(open);
        std::thread::sleep(Duration::from_millis(200));
        let lines = String::from_utf8(got.lock().unwrap().clone()).unwrap();
        assert_eq!(lines.lines().count() as u64, 100 - dropped, "{lines}");
    }
}
