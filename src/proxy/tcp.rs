//! Opaque TCP: connect to an endpoint (over mesh TLS when it is meshed) and copy bytes both
//! ways until either side closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::watch;

use super::io::Prefixed;
use super::metrics::{Direction, PeerLabels};
use super::server::State;
use super::table::ServiceRt;
use super::tls::{self, Io, MeshPeer};
use crate::identity::tls::ALPN_OPAQUE;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Endpoints tried before giving up on a connection.
const MAX_TRIES: usize = 3;

/// A TCP connection to `addr` (bounded wait, no Nagle delay).
pub(crate) async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Connects to a service endpoint: mesh TLS (opaque ALPN) to `peer` when it is meshed and
/// this proxy has an identity.
async fn connect_endpoint(
    state: &State,
    addr: SocketAddr,
    peer: Option<Arc<MeshPeer>>,
) -> std::io::Result<(Io, PeerLabels)> {
    let mesh = state.shared.tls.as_deref().zip(peer.as_deref());
    let io = tls::connect(addr, mesh, ALPN_OPAQUE).await?;
    let labels = mesh.map_or(PeerLabels::PLAIN, |(_, peer)| peer.labels.clone());
    Ok((io, labels))
}

/// Forwards a connection to the service's first backend: an endpoint picked by its balancer,
/// within its pool limit and outlier detection, the next pick on a connect failure.
pub async fn forward_service(
    io: Prefixed<Io>,
    state: &State,
    svc: &ServiceRt,
    drain: watch::Receiver<bool>,
) {
    let Some(backend) = &svc.tcp_backend else {
        tracing::warn!(service = %svc.name, "opaque connection: the service has no backend");
        return;
    };
    let connect = |addr, peer| connect_endpoint(state, addr, peer);
    let Some(((upstream, tls), _hold)) = backend.forward.connect(MAX_TRIES, connect).await else {
        tracing::warn!(service = %svc.name, "opaque connection: no endpoint reachable");
        return;
    };
    // Who answered, for `edges`.
    svc.stats.peer(&tls);
    let authority = svc.http.authority().clone();
    splice(io, upstream, state, authority, tls, drain).await;
}

/// Forwards a connection to `addr` (plaintext: the local app, or a passthrough destination).
pub async fn forward_to(
    io: Prefixed<Io>,
    state: &State,
    addr: SocketAddr,
    authority: Arc<str>,
    drain: watch::Receiver<bool>,
) {
    match connect(addr).await {
        Ok(upstream) => {
            let upstream = Io::Plain(upstream);
            splice(io, upstream, state, authority, PeerLabels::PLAIN, drain).await
        }
        Err(e) => tracing::debug!(%addr, error = %e, "opaque connect failed"),
    }
}

/// Copies until both directions are done. The drain signal is held, not acted on: a TCP
/// stream has no graceful end, so shutdown waits for it up to the drain deadline.
async fn splice(
    mut client: Prefixed<Io>,
    upstream: Io,
    state: &State,
    authority: Arc<str>,
    tls: PeerLabels,
    _drain: watch::Receiver<bool>,
) {
    let conn = state
        .shared
        .metrics
        .tcp(Direction::Outbound, "dst", authority, tls);
    let mut upstream = Prefixed::new(bytes::Bytes::new(), upstream, conn.bytes.clone());
    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(error = %e, "opaque connection ended");
    }
}
