//! The discovery stream, server side: a proxy proves who it is with its mesh certificate and
//! names its pod; it gets a full snapshot of what its pod needs, then deltas after each
//! publication, and its acks and nacks are recorded (a nack makes the next snapshot full).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::{Request, Response, Status, Streaming};

use super::metrics::Metrics;
use super::proxies::{Proxies, ProxyRecord, Registration};
use super::publish::{Encoded, Expected, Published, View, expected};
use super::source::Source;
use crate::api::discovery::discovery_server::Discovery;
use crate::api::discovery::proxy_message::Message;
use crate::api::discovery::{ProxyMessage, Resource, Snapshot, Subscribe};
use crate::identity::{SpiffeId, spiffe};

/// A proxy's snapshots as tonic sends them. Boxed in the channel: tokio's channel allocates
/// its slots 32 at a time, and at the size of a `Result<Snapshot, Status>` that was 7 KB
/// per subscribed proxy.
pub type SnapshotStream = futures::stream::Map<
    ReceiverStream<Box<Snapshot>>,
    fn(Box<Snapshot>) -> Result<Snapshot, Status>,
>;

/// How long a subscriber may take to name its pod, and how long the controller waits for a
/// pod it has not seen yet (a pod just created may reach the proxy before the reflector).
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(10);
const POD_WAIT: Duration = Duration::from_secs(10);

pub struct DiscoveryService {
    pub stores: Arc<dyn Source>,
    pub published: watch::Receiver<Option<Arc<Published>>>,
    pub proxies: Arc<Proxies>,
    pub metrics: Arc<Metrics>,
    /// Full snapshots sent and not yet answered, at most this many at once.
    pub full_snapshots: Arc<Semaphore>,
}

/// Full snapshots in flight at once (each is every service of a namespace), and how long
/// one may stay unanswered before its slot goes to the next proxy.
pub const FULL_SNAPSHOTS_IN_FLIGHT: usize = 32;
const PERMIT_TIMEOUT: Duration = Duration::from_secs(10);

#[tonic::async_trait]
impl Discovery for DiscoveryService {
    type StreamStream = SnapshotStream;

    async fn stream(
        &self,
        request: Request<Streaming<ProxyMessage>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let peer = request
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(TlsConnectInfo::peer_certs)
            .and_then(|certs| spiffe::from_certificate(certs.first()?).ok())
            .ok_or_else(|| {
                Status::unauthenticated(
                    "discovery needs the proxy's mesh certificate: get one from the CA first",
                )
            })?;
        let mut messages = request.into_inner();
        let subscribe = match tokio::time::timeout(SUBSCRIBE_TIMEOUT, messages.next()).await {
            Ok(Some(Ok(ProxyMessage {
                message: Some(Message::Subscribe(s)),
            }))) => s,
            Ok(Some(Err(status))) => return Err(status),
            Ok(_) => {
                return Err(Status::invalid_argument(
                    "the first message of a discovery stream must be a Subscribe",
                ));
            }
            Err(_) => return Err(Status::deadline_exceeded("no Subscribe within 10s")),
        };
        let pod = self.pod(&subscribe).await?;
        check_identity(&peer, &pod, &subscribe)?;
        let (tx, rx) = mpsc::channel(2);
        let registration = self.proxies.register(ProxyRecord {
            namespace: subscribe.pod_namespace.clone(),
            pod: subscribe.pod_name.clone(),
            identity: peer.to_string(),
            proxy_version: subscribe.proxy_version.clone(),
            connected_at: crate::identity::inspect::rfc3339(SystemTime::now()),
            sent_version: None,
            acked_version: None,
            nacked: None,
        });
        tracing::info!(pod = %subscribe.pod_name, namespace = %subscribe.pod_namespace,
            identity = %peer, "proxy subscribed");
        let session = Session {
            full_snapshots: self.full_snapshots.clone(),
            stores: self.stores.clone(),
            published: self.published.clone(),
            metrics: self.metrics.clone(),
            namespace: subscribe.pod_namespace,
            pod: subscribe.pod_name,
            registration,
        };
        tokio::spawn(session.run(messages, tx));
        Ok(Response::new(ReceiverStream::new(rx).map(|s| Ok(*s))))
    }
}

impl DiscoveryService {
    async fn pod(&self, s: &Subscribe) -> Result<Arc<Pod>, Status> {
        let deadline = Instant::now() + POD_WAIT;
        loop {
            if let Some(pod) = self.stores.pod(&s.pod_namespace, &s.pod_name) {
                return Ok(pod);
            }
            if Instant::now() >= deadline {
                return Err(Status::not_found(format!(
                    "no pod {}/{} in the cluster; the proxy's MESHCTL_POD_NAME and \
                     MESHCTL_POD_NAMESPACE must name its own pod",
                    s.pod_namespace, s.pod_name
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A proxy may only ask for the config of a pod that runs as the identity it proved.
fn check_identity(peer: &SpiffeId, pod: &Pod, s: &Subscribe) -> Result<(), Status> {
    let sa = pod
        .spec
        .as_ref()
        .and_then(|spec| spec.service_account_name.as_deref())
        .unwrap_or("default");
    if peer.namespace() != s.pod_namespace || peer.service_account() != sa {
        return Err(Status::permission_denied(format!(
            "pod {}/{} runs as service account `{sa}`, but the caller is `{peer}`",
            s.pod_namespace, s.pod_name
        )));
    }
    Ok(())
}

/// One proxy's stream.
struct Session {
    full_snapshots: Arc<Semaphore>,
    stores: Arc<dyn Source>,
    published: watch::Receiver<Option<Arc<Published>>>,
    metrics: Arc<Metrics>,
    namespace: String,
    pod: String,
    registration: Registration,
}

/// What the proxy has (as far as the controller knows).
#[derive(Default)]
struct Sent {
    version: Option<String>,
    /// The view the last snapshot brought the proxy to (shared with every other proxy of
    /// its namespace: no per-proxy copy of a thousand names).
    view: Option<Arc<View>>,
    inbound: Option<u64>,
    /// Set at start and after a nack: the next snapshot replaces everything.
    full: bool,
    /// The publication the last snapshot came from (for the push latency of its ack).
    since: Option<Instant>,
    /// The version the proxy refused: not sent again (it would refuse it again).
    refused: Option<String>,
    /// Held from sending a full snapshot until the proxy answers it (or 10 s pass): full
    /// snapshots in flight are bounded, so 1,000 proxies resubscribing at once do not
    /// buffer 1,000 encodings of every service.
    permit: Option<OwnedSemaphorePermit>,
}

impl Session {
    async fn run(mut self, mut messages: Streaming<ProxyMessage>, tx: mpsc::Sender<Box<Snapshot>>) {
        self.metrics.subscribed.inc();
        let mut sent = Sent {
            full: true,
            ..Sent::default()
        };
        loop {
            let current = self.published.borrow_and_update().clone();
            if let Some(published) = current {
                if sent.full && sent.permit.is_none() {
                    match self.full_snapshots.clone().acquire_owned().await {
                        Ok(permit) => sent.permit = Some(permit),
                        Err(_) => break,
                    }
                }
                if let Some(snapshot) = self.next_snapshot(&published, &mut sent) {
                    let version = snapshot.version.clone();
                    let mut closed = false;
                    for part in in_parts(snapshot) {
                        if tx.send(Box::new(part)).await.is_err() {
                            closed = true;
                            break;
                        }
                    }
                    if closed {
                        break;
                    }
                    self.metrics.pushes.inc();
                    self.registration.sent(&version);
                } else {
                    sent.permit = None;
                }
            }
            // A proxy that never answers its full snapshot gives the slot back after a while.
            let held = sent.permit.is_some();
            tokio::select! {
                () = tokio::time::sleep(PERMIT_TIMEOUT), if held => sent.permit = None,
                changed = self.published.changed() => if changed.is_err() { break },
                message = messages.next() => match message {
                    Some(Ok(ProxyMessage { message: Some(m) })) => self.answer(m, &mut sent),
                    Some(Ok(_)) => {}
                    Some(Err(status)) => {
                        tracing::debug!(pod = %self.pod, %status, "discovery stream broke");
                        break;
                    }
                    None => break,
                },
            }
        }
        self.metrics.subscribed.dec();
        tracing::info!(pod = %self.pod, namespace = %self.namespace, "proxy unsubscribed");
    }

    fn answer(&self, message: Message, sent: &mut Sent) {
        match message {
            Message::Ack(ack) => {
                self.metrics.acks.inc();
                if sent.version.as_deref() == Some(ack.version.as_str()) {
                    sent.permit = None;
                    if let Some(since) = sent.since.take() {
                        self.metrics
                            .push_latency
                            .observe(since.elapsed().as_secs_f64());
                    }
                }
                self.registration.acked(&ack.version);
            }
            Message::Nack(nack) => {
                self.metrics.nacks.inc();
                tracing::warn!(pod = %self.pod, namespace = %self.namespace,
                    version = %nack.version, reason = %nack.reason,
                    "proxy refused its config; it keeps the last good one");
                self.registration.nacked(&nack.version, &nack.reason);
                // Its state is no longer what we sent: the next change goes as a full snapshot.
                sent.full = true;
                sent.permit = None;
                sent.refused = Some(nack.version);
            }
            Message::Subscribe(_) => {}
        }
    }

    /// The snapshot that takes the proxy from `sent` to `published`, if anything changed.
    fn next_snapshot(&self, published: &Published, sent: &mut Sent) -> Option<Snapshot> {
        // The pod is gone (being deleted): its inbound side stays as it was.
        let pod = self.stores.pod(&self.namespace, &self.pod)?;
        let Expected {
            view,
            inbound_json,
            inbound_hash,
            version,
        } = expected(published, &self.namespace, &pod);
        if sent.refused.as_deref() == Some(version.as_str())
            || (sent.version.as_deref() == Some(version.as_str()) && !sent.full)
        {
            return None;
        }
        let mut snapshot = Snapshot {
            version: version.clone(),
            full: sent.full,
            ..Snapshot::default()
        };
        let resource = |(name, e): (&String, &Encoded)| Resource {
            name: name.clone(),
            json: e.json.clone(),
        };
        match sent.view.as_ref().filter(|_| !sent.full) {
            None => snapshot.services = view.services.iter().map(resource).collect(),
            Some(old) if Arc::ptr_eq(old, &view) => {}
            Some(old) => {
                let (changed, removed) = diff(old, &view);
                snapshot.services = changed.into_iter().map(resource).collect();
                snapshot.removed_services = removed;
            }
        }
        if snapshot.full || sent.inbound != Some(inbound_hash) {
            snapshot.inbound_json = inbound_json.into();
        }
        sent.view = Some(view);
        sent.inbound = Some(inbound_hash);
        sent.version = Some(version);
        sent.full = false;
        sent.since = Some(published.since);
        Some(snapshot)
    }
}

/// About how many bytes of service JSON one message carries: a part with its framing fits
/// a stream's encoding buffer ([`crate::api::codec::BUFFER`]), so the buffer never grows
/// (at 8 KiB parts in tonic's 8 KiB buffers, 1,000 streams held 13 MB of buffers; at 32 KiB,
/// ~30 MB more).
const PART_BYTES: usize = crate::api::codec::BUFFER - 512;

/// `snapshot` cut into messages of about [`PART_BYTES`] (tonic keeps a stream's encoding
/// buffer at the size of its largest message: 1,000 streams of whole 1.5 MB snapshots held
/// 1.5 GB). The first part has everything but the services past its share.
fn in_parts(mut snapshot: Snapshot) -> Vec<Snapshot> {
    let mut services = std::mem::take(&mut snapshot.services)
        .into_iter()
        .peekable();
    let mut parts = Vec::new();
    let mut part = snapshot;
    loop {
        let mut size = 0;
        while let Some(next) = services.next_if(|r| size == 0 || size + r.json.len() <= PART_BYTES)
        {
            size += next.json.len();
            part.services.push(next);
        }
        let more = services.peek().is_some();
        part.more = more;
        let next = Snapshot {
            version: part.version.clone(),
            full: part.full,
            ..Snapshot::default()
        };
        parts.push(std::mem::replace(&mut part, next));
        if !more {
            return parts;
        }
    }
}

/// Services new or changed from `old` to `new`, and the names gone: one walk of both
/// sorted maps.
fn diff<'a>(old: &View, new: &'a View) -> (Vec<(&'a String, &'a Encoded)>, Vec<String>) {
    let (mut changed, mut removed) = (Vec::new(), Vec::new());
    let mut old_iter = old.services.iter().peekable();
    for (name, encoded) in &new.services {
        while let Some((gone, _)) = old_iter.next_if(|(o, _)| *o < name) {
            removed.push(gone.clone());
        }
        match old_iter.next_if(|(o, _)| *o == name) {
            Some((_, before)) if before.hash == encoded.hash => {}
            _ => changed.push((name, encoded)),
        }
    }
    removed.extend(old_iter.map(|(name, _)| name.clone()));
    (changed, removed)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::diff;
    use crate::controller::publish::{Encoded, View};

    fn view(entries: &[(&str, u64)]) -> View {
        View::new(
            entries
                .iter()
                .map(|(name, hash)| {
                    let encoded = Encoded {
                        service: Arc::default(),
                        json: bytes::Bytes::new(),
                        hash: *hash,
                    };
                    ((*name).to_owned(), encoded)
                })
                .collect(),
        )
    }

    #[test]
    fn a_large_snapshot_goes_in_parts_that_add_up() {
        use crate::api::discovery::{Resource, Snapshot};
        let resource = |i: usize| Resource {
            name: format!("s{i}"),
            json: vec![b'x'; super::PART_BYTES / 3 - 10].into(),
        };
        let snapshot = Snapshot {
            version: "v".into(),
            full: true,
            inbound_json: b"{}".to_vec().into(),
            services: (0..10).map(resource).collect(),
            removed_services: vec!["gone".into()],
            more: false,
        };
        let parts = super::in_parts(snapshot);
        let sizes: Vec<usize> = parts.iter().map(|p| p.services.len()).collect();
        assert_eq!(sizes, [3, 3, 3, 1]);
        assert_eq!(parts.iter().filter(|p| p.more).count(), 3);
        assert!(!parts.last().unwrap().more);
        assert!(parts.iter().all(|p| p.version == "v" && p.full));
        assert_eq!(parts[0].inbound_json.as_ref(), b"{}");
        assert_eq!(parts[0].removed_services, ["gone"]);
        let names: Vec<String> = parts
            .iter()
            .flat_map(|p| &p.services)
            .map(|r| r.name.clone())
            .collect();
        assert_eq!(names, (0..10).map(|i| format!("s{i}")).collect::<Vec<_>>());
        // Small snapshots stay one message.
        let one = super::in_parts(Snapshot {
            version: "w".into(),
            ..Snapshot::default()
        });
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn a_delta_holds_what_changed_and_names_what_went() {
        let old = view(&[("a", 1), ("b", 2), ("c", 3), ("e", 5)]);
        let new = view(&[("b", 2), ("c", 30), ("d", 4), ("f", 6)]);
        let (changed, removed) = diff(&old, &new);
        let changed: Vec<&str> = changed.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(changed, ["c", "d", "f"]);
        assert_eq!(removed, ["a", "e"]);
        let (changed, removed) = diff(&new, &new);
        assert!(changed.is_empty() && removed.is_empty());
    }
}
