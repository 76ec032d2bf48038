//! HTTP/1.1 keep-alive connections to one endpoint: an idle list, newest reused first; a
//! connection goes back on it once its response body has been read to the end, unless it
//! was upgraded or has carried `maxRequestsPerConnection` requests.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use super::{Conns, MAX_IDLE, error, idle_ticks};
use crate::identity::tls::ALPN_HTTP1;
use crate::proxy::forward::{ConnLimits, UpstreamError};
use crate::proxy::{Body, BoxError};

/// The idle connections of one endpoint.
#[derive(Debug, Default)]
pub(super) struct Idle {
    list: Mutex<VecDeque<Conn>>,
}

#[derive(Debug)]
struct Conn {
    tx: SendRequest<Body>,
    /// Requests sent on it so far.
    served: u32,
    /// Ticks it may sit idle (the last request's backend decides).
    idle_ticks: u32,
    /// The last sweeper tick it may stay idle at.
    expires: u32,
}

impl Idle {
    /// The newest idle connection ready for a request; closed ones are dropped, ones still
    /// finishing their last exchange stay for a later request.
    fn checkout(&self) -> Option<Conn> {
        let mut list = self.list.lock().expect("idle list lock");
        for _ in 0..list.len() {
            let conn = list.pop_back()?;
            if conn.tx.is_ready() {
                return Some(conn);
            }
            if !conn.tx.is_closed() {
                list.push_front(conn);
            }
        }
        None
    }

    fn checkin(&self, conn: Conn) {
        let mut list = self.list.lock().expect("idle list lock");
        if list.len() < MAX_IDLE {
            list.push_back(conn);
        }
    }

    /// Closes the connections idle past their timeout at tick `now`; true when none is left.
    pub(super) fn expire(&self, now: u32) -> bool {
        let mut list = self.list.lock().expect("idle list lock");
        list.retain(|c| c.expires >= now && !c.tx.is_closed());
        list.is_empty()
    }
}

/// Sends `req` (origin or authority form, with `host`) on an idle connection, else a new one.
pub(super) async fn send(
    conns: &Arc<Conns>,
    limits: ConnLimits,
    mut req: Request<Body>,
) -> Result<Response<Body>, UpstreamError> {
    let connect = req.method() == Method::CONNECT;
    loop {
        let (mut conn, reused) = match conns.http1.checkout() {
            Some(conn) => (conn, true),
            // Boxed: connect and TLS futures are large, and most requests never await them.
            None => (Box::pin(open(conns)).await?, false),
        };
        conn.served += 1;
        conn.idle_ticks = idle_ticks(limits);
        match conn.tx.try_send_request(req).await {
            Ok(resp) => return Ok(returning(conns, conn, limits, connect, resp)),
            Err(mut e) => match e.take_message() {
                // The server closed the idle connection as it was taken: the request was
                // not sent, and goes on the next connection.
                Some(unsent) if reused => req = unsent,
                _ => return Err(error::classify(e.into_error())),
            },
        }
    }
}

async fn open(conns: &Conns) -> Result<Conn, UpstreamError> {
    let io = conns.connect(ALPN_HTTP1).await?;
    let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(error::handshake)?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "upstream HTTP/1 connection ended");
        }
    });
    Ok(Conn {
        tx,
        served: 0,
        idle_ticks: 0,
        expires: 0,
    })
}

/// The response, its body taking the connection back to the idle list when read to the end.
fn returning(
    conns: &Arc<Conns>,
    conn: Conn,
    limits: ConnLimits,
    connect: bool,
    resp: Response<Incoming>,
) -> Response<Body> {
    let status = resp.status();
    // An upgraded connection belongs to its tunnel now.
    let upgraded = status == StatusCode::SWITCHING_PROTOCOLS || (connect && status.is_success());
    let spent = limits.max_requests.is_some_and(|m| conn.served >= m.get());
    let back = (!upgraded && !spent).then(|| (Arc::clone(conns), conn));
    resp.map(|body| {
        Returning {
            body,
            back,
            ended: false,
        }
        .boxed()
    })
}

/// A response body that gives its connection back once it has ended.
struct Returning {
    body: Incoming,
    back: Option<(Arc<Conns>, Conn)>,
    ended: bool,
}

impl Returning {
    fn give_back(&mut self) {
        if let Some((conns, mut conn)) = self.back.take() {
            conn.expires = conns.now().saturating_add(conn.idle_ticks);
            conns.http1.checkin(conn);
        }
    }
}

impl http_body::Body for Returning {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.body).poll_frame(cx));
        match &frame {
            None => this.ended = true,
            Some(Ok(_)) => this.ended = this.body.is_end_stream(),
            // A broken body leaves the connection unusable.
            Some(Err(_)) => this.back = None,
        }
        if this.ended {
            this.give_back();
        }
        Poll::Ready(frame.map(|f| f.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        // A body never polled because it was empty (204, content-length 0) still ended;
        // one dropped half-read did not, and its connection closes with it.
        if self.ended || http_body::Body::is_end_stream(&self.body) {
            self.give_back();
        }
    }
}
