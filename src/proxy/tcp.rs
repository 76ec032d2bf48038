//! Opaque TCP: connect to an endpoint and copy bytes both ways until either side closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::watch;

use super::io::Prefixed;
use super::metrics::Direction;
use super::server::State;
use super::table::ServiceRt;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Endpoints tried before giving up on a connection.
const MAX_TRIES: usize = 3;

async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Forwards a connection to one of the service's endpoints (random, next on failure).
pub async fn forward_service(
    io: Prefixed<TcpStream>,
    state: &State,
    svc: &ServiceRt,
    drain: watch::Receiver<bool>,
) {
    let eps = &svc.tcp_endpoints;
    if eps.is_empty() {
        tracing::warn!(service = %svc.name, "opaque connection: the service has no endpoint");
        return;
    }
    let start = fastrand::usize(..eps.len());
    for i in 0..eps.len().min(MAX_TRIES) {
        let addr = eps[(start + i) % eps.len()];
        match connect(addr).await {
            Ok(upstream) => {
                return splice(io, upstream, state, svc.http.authority().clone(), drain).await;
            }
            Err(e) => tracing::debug!(%addr, error = %e, "opaque connect failed"),
        }
    }
    tracing::warn!(service = %svc.name, "opaque connection: no endpoint reachable");
}

/// Forwards a connection to `addr`.
pub async fn forward_to(
    io: Prefixed<TcpStream>,
    state: &State,
    addr: SocketAddr,
    authority: Arc<str>,
    drain: watch::Receiver<bool>,
) {
    match connect(addr).await {
        Ok(upstream) => splice(io, upstream, state, authority, drain).await,
        Err(e) => tracing::debug!(%addr, error = %e, "opaque connect failed"),
    }
}

/// Copies until both directions are done. The drain signal is held, not acted on: a TCP
/// stream has no graceful end, so shutdown waits for it up to the drain deadline.
async fn splice(
    mut client: Prefixed<TcpStream>,
    upstream: TcpStream,
    state: &State,
    authority: Arc<str>,
    _drain: watch::Receiver<bool>,
) {
    let conn = state
        .shared
        .metrics
        .tcp(Direction::Outbound, "dst", authority);
    let mut upstream = Prefixed::new(bytes::Bytes::new(), upstream, conn.bytes.clone());
    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(error = %e, "opaque connection ended");
    }
}
