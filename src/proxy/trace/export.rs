//! Spans leave the request path through a bounded queue (a full queue drops the span and
//! counts it), and one task sends them in batches over OTLP/gRPC. Requests never wait for
//! the collector; a collector that is down costs only the spans queued meanwhile.

use std::future::Future;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::api::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::api::opentelemetry::proto::collector::trace::v1::trace_service_client::TraceServiceClient;
use crate::api::opentelemetry::proto::common::v1::InstrumentationScope;
use crate::api::opentelemetry::proto::resource::v1::Resource;
use crate::api::opentelemetry::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// Spans a request may queue before they are dropped (a few batches).
pub const QUEUE: usize = 2048;
/// Spans per export request at most.
pub const BATCH: usize = 512;
/// How long a span may wait for its batch to fill.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// How long one export may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Export errors are logged at most this often (with the count since the last line).
const LOG_EVERY: Duration = Duration::from_secs(30);

/// What `/metrics` shows of the exporter.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    pub exported: Counter,
    pub dropped: Counter,
}

impl Counters {
    pub fn register(&self, r: &mut prometheus_client::registry::Registry) {
        r.register(
            "trace_spans_exported",
            "Spans the collector accepted",
            self.exported.clone(),
        );
        r.register(
            "trace_spans_dropped",
            "Spans lost: the export queue was full, or the collector refused or was unreachable",
            self.dropped.clone(),
        );
    }
}

/// The request side of the queue.
#[derive(Debug)]
pub struct Queue {
    tx: mpsc::Sender<Span>,
    counters: Counters,
}

impl Queue {
    /// A queue of `capacity` spans and its receiving end for [`run`].
    pub fn new(capacity: usize, counters: Counters) -> (Self, mpsc::Receiver<Span>) {
        let (tx, rx) = mpsc::channel(capacity);
        (Self { tx, counters }, rx)
    }

    /// Queues `span`, or drops and counts it if the queue is full.
    pub fn push(&self, span: Span) {
        if self.tx.try_send(span).is_err() {
            self.counters.dropped.inc();
        }
    }
}

/// Sends one export request.
pub trait Export {
    fn export(
        &mut self,
        request: ExportTraceServiceRequest,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// OTLP over gRPC to `endpoint` (`host:port`, plaintext). The channel connects on first use
/// and again after the collector went away, without help.
pub struct Otlp {
    client: TraceServiceClient<tonic::transport::Channel>,
    endpoint: String,
}

impl Otlp {
    pub fn new(endpoint: &str) -> Result<Self, tonic::transport::Error> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{endpoint}"))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(TIMEOUT)
            .connect_lazy();
        Ok(Self {
            client: TraceServiceClient::new(channel),
            endpoint: endpoint.to_owned(),
        })
    }
}

impl Export for Otlp {
    async fn export(&mut self, request: ExportTraceServiceRequest) -> Result<(), String> {
        let answer = self.client.export(request).await.map_err(|s| {
            let detail = std::error::Error::source(&s).map(|e| format!(" ({e})"));
            let endpoint = &self.endpoint;
            format!("{endpoint}: {}{}", s.message(), detail.unwrap_or_default())
        })?;
        // A partial success names the spans the collector rejected.
        match answer.into_inner().partial_success {
            Some(p) if p.rejected_spans > 0 => Err(format!(
                "the collector rejected {} spans: {}",
                p.rejected_spans, p.error_message
            )),
            _ => Ok(()),
        }
    }
}

/// The batching task: sends what `rx` brings, `BATCH` spans at a time or every `INTERVAL`,
/// until every `Queue` is gone or `stop` says so (then sends what is left).
pub async fn run(
    mut rx: mpsc::Receiver<Span>,
    resource: Resource,
    mut export: impl Export,
    counters: Counters,
    mut stop: oneshot::Receiver<()>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut errors = ErrorLog::default();
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let room = BATCH - batch.len();
        let open = tokio::select! {
            n = rx.recv_many(&mut batch, room) => {
                if n > 0 && batch.len() < BATCH {
                    continue;
                }
                n > 0
            }
            _ = tick.tick() => true,
            // Stopped, or the proxy that could stop it is gone: what is queued goes too.
            _ = &mut stop => {
                while let Ok(span) = rx.try_recv() {
                    batch.push(span);
                    if batch.len() == BATCH {
                        send(&mut batch, &resource, &mut export, &counters, &mut errors).await;
                    }
                }
                false
            }
        };
        if !batch.is_empty() {
            send(&mut batch, &resource, &mut export, &counters, &mut errors).await;
        }
        if !open {
            return;
        }
        // The next batch gets its whole interval (a full one may have left early).
        tick.reset();
    }
}

async fn send(
    batch: &mut Vec<Span>,
    resource: &Resource,
    export: &mut impl Export,
    counters: &Counters,
    errors: &mut ErrorLog,
) {
    let spans = std::mem::replace(batch, Vec::with_capacity(BATCH));
    let n = spans.len() as u64;
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "meshctl-proxy".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..InstrumentationScope::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    let failure = match tokio::time::timeout(TIMEOUT, export.export(request)).await {
        Ok(Ok(())) => {
            counters.exported.inc_by(n);
            return;
        }
        Ok(Err(e)) => e,
        Err(_) => "no answer in time".to_owned(),
    };
    counters.dropped.inc_by(n);
    errors.failed(&failure);
}

/// Logs export failures at most once per `LOG_EVERY`.
#[derive(Default)]
struct ErrorLog {
    last: Option<Instant>,
    since: u64,
}

impl ErrorLog {
    fn failed(&mut self, error: &str) {
        self.since += 1;
        if self.last.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            return;
        }
        tracing::warn!(
            error,
            failures = self.since,
            "trace export failed; spans dropped (trace_spans_dropped_total)"
        );
        self.last = Some(Instant::now());
        self.since = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Records what it was asked to send; fails while `down` is set.
    #[derive(Clone, Default)]
    struct Recorder {
        sent: Arc<Mutex<Vec<(Instant, usize)>>>,
        down: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Export for Recorder {
        async fn export(&mut self, request: ExportTraceServiceRequest) -> Result<(), String> {
            let n = request.resource_spans[0].scope_spans[0].spans.len();
            self.sent.lock().unwrap().push((Instant::now(), n));
            if self.down.load(std::sync::atomic::Ordering::Relaxed) {
                return Err("collector down".into());
            }
            Ok(())
        }
    }

    fn span() -> Span {
        Span::default()
    }

    #[tokio::test(start_paused = true)]
    async fn spans_go_out_in_full_batches_or_after_the_interval() {
        let counters = Counters::default();
        let (queue, rx) = Queue::new(QUEUE, counters.clone());
        let rec = Recorder::default();
        let (_stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(
            rx,
            Resource::default(),
            rec.clone(),
            counters.clone(),
            stopped,
        ));
        let t0 = Instant::now();
        for _ in 0..BATCH + 3 {
            queue.push(span());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        // The full batch left at once; the 3 others wait for the interval.
        assert_eq!(*rec.sent.lock().unwrap(), vec![(t0, BATCH)]);
        tokio::time::sleep(INTERVAL).await;
        let sent = rec.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1].1, 3);
        assert!(sent[1].0 - t0 <= INTERVAL + Duration::from_millis(1));
        // Nothing queued, nothing sent.
        tokio::time::sleep(INTERVAL * 5).await;
        assert_eq!(rec.sent.lock().unwrap().len(), 2);
        assert_eq!(counters.exported.get(), BATCH as u64 + 3);
        // The last spans are sent when the proxy drops its queue.
        queue.push(span());
        drop(queue);
        task.await.unwrap();
        assert_eq!(rec.sent.lock().unwrap().last().unwrap().1, 1);
        assert_eq!(counters.dropped.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_drops_and_a_failed_export_counts_its_spans_as_dropped() {
        let counters = Counters::default();
        let (queue, rx) = Queue::new(4, counters.clone());
        // Nobody receives yet: the fifth and sixth span find the queue full.
        for _ in 0..6 {
            queue.push(span());
        }
        assert_eq!(counters.dropped.get(), 2);
        let rec = Recorder::default();
        rec.down.store(true, std::sync::atomic::Ordering::Relaxed);
        let (_stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(
            rx,
            Resource::default(),
            rec.clone(),
            counters.clone(),
            stopped,
        ));
        tokio::time::sleep(INTERVAL * 2).await;
        assert_eq!(counters.dropped.get(), 6);
        assert_eq!(counters.exported.get(), 0);
        // Back up: the next spans are exported.
        rec.down.store(false, std::sync::atomic::Ordering::Relaxed);
        queue.push(span());
        tokio::time::sleep(INTERVAL * 2).await;
        assert_eq!(counters.exported.get(), 1);
        drop(queue);
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_sends_what_is_queued_at_once() {
        let counters = Counters::default();
        let (queue, rx) = Queue::new(QUEUE, counters.clone());
        let rec = Recorder::default();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(
            rx,
            Resource::default(),
            rec.clone(),
            counters.clone(),
            stopped,
        ));
        tokio::time::sleep(Duration::from_millis(10)).await;
        for _ in 0..BATCH + 5 {
            queue.push(span());
        }
        let t0 = Instant::now();
        stop.send(()).unwrap();
        task.await.unwrap();
        // Everything left at once, in batches of at most BATCH, though the queue is alive.
        let sent = rec.sent.lock().unwrap().clone();
        let sizes: Vec<usize> = sent.iter().map(|(_, n)| *n).collect();
        assert_eq!(sizes.iter().sum::<usize>(), BATCH + 5, "{sizes:?}");
        assert!(sizes.iter().all(|n| *n <= BATCH), "{sizes:?}");
        assert!(sent.iter().all(|(t, _)| *t == t0));
        assert_eq!(counters.exported.get(), BATCH as u64 + 5);
        drop(queue);
    }
}
