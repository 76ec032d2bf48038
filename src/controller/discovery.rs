//! The discovery stream, server side: a proxy proves who it is with its mesh certificate and
//! names its pod; it gets a full snapshot of what its pod needs, then deltas after each
//! publication, and its acks and nacks are recorded (a nack makes the next snapshot full).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::{Request, Response, Status, Streaming};

use super::metrics::Metrics;
use super::proxies::{Proxies, ProxyRecord, Registration};
use super::publish::{Published, hash_bytes, version_of};
use super::source::Stores;
use crate::api::discovery::discovery_server::Discovery;
use crate::api::discovery::proxy_message::Message;
use crate::api::discovery::{ProxyMessage, Resource, Snapshot, Subscribe};
use crate::identity::{SpiffeId, spiffe};

/// How long a subscriber may take to name its pod, and how long the controller waits for a
/// pod it has not seen yet (a pod just created may reach the proxy before the reflector).
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(10);
const POD_WAIT: Duration = Duration::from_secs(10);

pub struct DiscoveryService {
    pub stores: Stores,
    pub published: watch::Receiver<Option<Arc<Published>>>,
    pub proxies: Arc<Proxies>,
    pub metrics: Arc<Metrics>,
}

#[tonic::async_trait]
impl Discovery for DiscoveryService {
    type StreamStream = ReceiverStream<Result<Snapshot, Status>>;

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
            stores: self.stores.clone(),
            published: self.published.clone(),
            metrics: self.metrics.clone(),
            namespace: subscribe.pod_namespace,
            pod: subscribe.pod_name,
            registration,
        };
        tokio::spawn(session.run(messages, tx));
        Ok(Response::new(ReceiverStream::new(rx)))
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
    stores: Stores,
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
    services: HashMap<String, u64>,
    inbound: Option<u64>,
    /// Set at start and after a nack: the next snapshot replaces everything.
    full: bool,
    /// The publication the last snapshot came from (for the push latency of its ack).
    since: Option<Instant>,
    /// The version the proxy refused: not sent again (it would refuse it again).
    refused: Option<String>,
}

impl Session {
    async fn run(
        mut self,
        mut messages: Streaming<ProxyMessage>,
        tx: mpsc::Sender<Result<Snapshot, Status>>,
    ) {
        self.metrics.subscribed.inc();
        let mut sent = Sent {
            full: true,
            ..Sent::default()
        };
        loop {
            let current = self.published.borrow_and_update().clone();
            if let Some(published) = current
                && let Some(snapshot) = self.next_snapshot(&published, &mut sent)
            {
                let version = snapshot.version.clone();
                if tx.send(Ok(snapshot)).await.is_err() {
                    break;
                }
                self.metrics.pushes.inc();
                self.registration.sent(&version);
            }
            tokio::select! {
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
                if sent.version.as_deref() == Some(ack.version.as_str())
                    && let Some(since) = sent.since.take()
                {
                    self.metrics
                        .push_latency
                        .observe(since.elapsed().as_secs_f64());
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
                sent.refused = Some(nack.version);
            }
            Message::Subscribe(_) => {}
        }
    }

    /// The snapshot that takes the proxy from `sent` to `published`, if anything changed.
    fn next_snapshot(&self, published: &Published, sent: &mut Sent) -> Option<Snapshot> {
        let view = published.view(&self.namespace);
        let inbound = match self.stores.pod(&self.namespace, &self.pod) {
            Some(pod) => published.mesh.inbound(&pod),
            // The pod is gone (being deleted): its inbound side stays as it was.
            None => return None,
        };
        let inbound_json = serde_json::to_vec(&inbound).unwrap_or_default();
        let inbound_hash = hash_bytes(&inbound_json);
        let version = version_of(inbound_hash, &view);
        if sent.refused.as_deref() == Some(version.as_str())
            || (sent.version.as_deref() == Some(version.as_str()) && !sent.full)
        {
            return None;
        }
        let full = sent.full;
        let mut snapshot = Snapshot {
            version: version.clone(),
            full,
            ..Snapshot::default()
        };
        for (name, encoded) in &view.services {
            if full || sent.services.get(name) != Some(&encoded.hash) {
                snapshot.services.push(Resource {
                    name: name.clone(),
                    json: encoded.json.to_vec(),
                });
            }
        }
        if !full {
            snapshot.removed_services = sent
                .services
                .keys()
                .filter(|name| !view.services.contains_key(*name))
                .cloned()
                .collect();
            snapshot.removed_services.sort();
        }
        if full || sent.inbound != Some(inbound_hash) {
            snapshot.inbound_json = inbound_json;
        }
        sent.services = view
            .services
            .iter()
            .map(|(name, e)| (name.clone(), e.hash))
            .collect();
        sent.inbound = Some(inbound_hash);
        sent.version = Some(version);
        sent.full = false;
        sent.since = Some(published.since);
        Some(snapshot)
    }
}
