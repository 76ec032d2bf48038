//! The one HTTP/2 connection to an endpoint that its h2 requests (or, for the mux, its
//! HTTP/1 requests) share (one handshake at a
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
use crate::proxy::tls::{Alpn, Io};
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

    /// A stream on the current connection, else on a new one opened offering `alpn`; a
    /// peer that chose another id than the first (only the mux offers two) gives back its
    /// connection instead.
    async fn take(
        &self,
        conns: &Conns,
        limits: ConnLimits,
        alpn: Alpn,
    ) -> Result<Result<Taken, Io>, UpstreamError> {
        if let Some(taken) = self.current(limits, conns.now(), true) {
            return Ok(Ok(taken));
        }
        let _one = self.connecting.lock().await;
        if let Some(taken) = self.current(limits, conns.now(), true) {
            return Ok(Ok(taken));
        }
        // Boxed: connect and TLS futures are large, and most requests never await them.
        let tx = match Box::pin(open(conns, alpn)).await? {
            Ok(tx) => tx,
            Err(io) => return Ok(Err(io)),
        };
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
            .map(Ok)
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

/// A new HTTP/2 connection offering `alpn`, or the connection when the peer chose another.
async fn open(conns: &Conns, alpn: Alpn) -> Result<Result<SendRequest<Body>, Io>, UpstreamError> {
    let io = conns.connect(alpn).await?;
    if alpn.len() > 1 && io.alpn() != Some(alpn[0]) {
        return Ok(Err(io));
    }
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
    Ok(Ok(tx))
}

/// What sending as a stream gave: the answer, or the connection and the request back when
/// the peer declined HTTP/2 (see [`Shared::take`]).
pub(super) enum Sent {
    Answered(Response<Body>),
    Declined(Io, Request<Body>),
}

/// Sends `req` (with its `:authority` set) as a stream of `shared`'s connection.
pub(super) async fn send(
    conns: &Conns,
    shared: &Shared,
    limits: ConnLimits,
    alpn: Alpn,
    mut req: Request<Body>,
) -> Result<Sent, UpstreamError> {
    loop {
        let mut taken = match shared.take(conns, limits, alpn).await? {
            Ok(taken) => taken,
            Err(io) => return Ok(Sent::Declined(io, req)),
        };
        match taken.tx.try_send_request(req).await {
            Ok(resp) => {
                let resp = resp.map(|b| b.map_err(|e| -> BoxError { Box::new(e) }).boxed());
                return Ok(Sent::Answered(resp));
            }
            Err(mut e) => {
                let unsent = e.take_message();
                if unsent.is_some() {
                    // Closed or going away: the next request opens a new connection.
                    shared.forget(taken.id);
                }
                match unsent {
                    Some(unsent) if taken.reused => req = unsent,
                    _ => return Err(error::classify(e.into_error())),
                }
            }
        }
    }
}

/// Sends an HTTP/2 request on the endpoint's h2 connection.
pub(super) async fn send_h2(
    conns: &Conns,
    limits: ConnLimits,
    req: Request<Body>,
) -> Result<Response<Body>, UpstreamError> {
    match send(conns, &conns.http2, limits, &[ALPN_H2], req).await? {
        Sent::Answered(resp) => Ok(resp),
        // Offering one id, a connection is never given back.
        Sent::Declined(..) => Err(UpstreamError::Connect("the endpoint declined h2".into())),
    }
}
