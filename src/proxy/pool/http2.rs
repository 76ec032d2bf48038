//! The one HTTP/2 connection to an endpoint that its h2 requests share (one handshake at a
//! time; a closed or GOAWAY'd connection is replaced on the next request, and one that has
//! carried `maxRequestsPerConnection` streams gets no more: they finish, then it closes).

use std::sync::Mutex;

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::client::conn::http2::{Builder, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::{Conns, error, idle_ticks};
use crate::identity::tls::ALPN_H2;
use crate::proxy::forward::{ConnLimits, UpstreamError};
use crate::proxy::{Body, BoxError};

#[derive(Debug, Default)]
pub(super) struct Shared {
    conn: Mutex<Option<Conn>>,
    /// Held while a connection is being opened, so concurrent requests share it.
    connecting: tokio::sync::Mutex<()>,
    /// Connections opened so far: tells a failed connection from its replacement.
    opened: std::sync::atomic::AtomicU64,
}

#[derive(Debug)]
struct Conn {
    tx: SendRequest<Body>,
    id: u64,
    /// Streams opened on it so far.
    streams: u32,
    /// The last sweeper tick it may stay unused at (from its last request).
    expires: u32,
}

/// A handle on the shared connection for one request.
struct Taken {
    tx: SendRequest<Body>,
    id: u64,
    reused: bool,
}

impl Shared {
    /// The current connection, if open, counting one more stream on it.
    fn current(&self, limits: ConnLimits, now: u32, reused: bool) -> Option<Taken> {
        let mut slot = self.conn.lock().expect("h2 slot lock");
        let conn = slot.as_mut()?;
        if conn.tx.is_closed() {
            *slot = None;
            return None;
        }
        conn.streams += 1;
        conn.expires = now.saturating_add(idle_ticks(limits));
        let taken = Taken {
            tx: conn.tx.clone(),
            id: conn.id,
            reused,
        };
        if limits.max_requests.is_some_and(|m| conn.streams >= m.get()) {
            *slot = None;
        }
        Some(taken)
    }

    /// A stream on the current connection, else on a new one.
    async fn take(&self, conns: &Conns, limits: ConnLimits) -> Result<Taken, UpstreamError> {
        if let Some(taken) = self.current(limits, conns.now(), true) {
            return Ok(taken);
        }
        let _one = self.connecting.lock().await;
        if let Some(taken) = self.current(limits, conns.now(), true) {
            return Ok(taken);
        }
        // Boxed: connect and TLS futures are large, and most requests never await them.
        let tx = Box::pin(open(conns)).await?;
        let id = self
            .opened
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *self.conn.lock().expect("h2 slot lock") = Some(Conn {
            tx,
            id,
            streams: 0,
            expires: 0,
        });
        self.current(limits, conns.now(), false)
            .ok_or_else(|| UpstreamError::Reset("the new HTTP/2 connection closed at once".into()))
    }

    /// Drops connection `id` if it is still the current one (it took no new stream).
    fn forget(&self, id: u64) {
        let mut slot = self.conn.lock().expect("h2 slot lock");
        if slot.as_ref().is_some_and(|c| c.id == id) {
            *slot = None;
        }
    }

    /// Drops the connection if unused past its timeout at tick `now` (its open streams
    /// finish); true when none is left.
    pub(super) fn expire(&self, now: u32) -> bool {
        let mut slot = self.conn.lock().expect("h2 slot lock");
        if slot
            .as_ref()
            .is_some_and(|c| c.expires < now || c.tx.is_closed())
        {
            *slot = None;
        }
        slot.is_none()
    }
}

async fn open(conns: &Conns) -> Result<SendRequest<Body>, UpstreamError> {
    let io = conns.connect(ALPN_H2).await?;
    let (tx, conn) = Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(TokioIo::new(io))
        .await
        .map_err(error::handshake)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream HTTP/2 connection ended");
        }
    });
    Ok(tx)
}

/// Sends `req` (with its `:authority` set) as a stream of the endpoint's shared connection.
pub(super) async fn send(
    conns: &Conns,
    limits: ConnLimits,
    mut req: Request<Body>,
) -> Result<Response<Body>, UpstreamError> {
    loop {
        let mut taken = conns.http2.take(conns, limits).await?;
        match taken.tx.try_send_request(req).await {
            Ok(resp) => return Ok(resp.map(|b| b.map_err(|e| -> BoxError { Box::new(e) }).boxed())),
            Err(mut e) => {
                let unsent = e.take_message();
                if unsent.is_some() {
                    // Closed or going away: the next request opens a new connection.
                    conns.http2.forget(taken.id);
                }
                match unsent {
                    Some(unsent) if taken.reused => req = unsent,
                    _ => return Err(error::classify(e.into_error())),
                }
            }
        }
    }
}
