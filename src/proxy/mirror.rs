//! Request mirroring: a copy of the request goes to another backend and its answer is
//! dropped. A body is teed frame by frame through a small queue; a mirror that falls behind
//! is cut off (its request fails) instead of slowing down or buffering the real request.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use http_body::{Body as _, Frame};
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use super::observe::{Observed, Observer};
use super::table::BackendRt;
use super::{Body, BoxError, empty_body};

/// Frames a mirror may lag behind the real request before it is cut off.
const QUEUE: usize = 16;

/// Starts sending a copy of `req` to `backend` in the background; `req`'s body is teed.
pub fn mirror(backend: &Arc<BackendRt>, req: &mut Request<Body>) {
    // An upgraded connection is one stream of bytes between two peers: not copied.
    if req.headers().contains_key(http::header::UPGRADE) {
        return;
    }
    let mut copy = Request::new(empty_body());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    if !req.body().is_end_stream() {
        let (tx, rx) = mpsc::channel(QUEUE);
        let cut = Arc::new(AtomicBool::new(false));
        let inner = std::mem::replace(req.body_mut(), empty_body());
        let tee = Tee {
            tx: Some(tx),
            cut: cut.clone(),
        };
        *req.body_mut() = Observed::new(inner, tee).boxed();
        *copy.body_mut() = Copy { rx, cut }.boxed();
    }
    let backend = backend.clone();
    tokio::spawn(async move {
        let mut body = backend.forward.call(copy).await.response.into_body();
        // Read the answer to its end so the upstream connection goes back to the pool.
        while let Some(Ok(_)) = body.frame().await {}
    });
}

/// Watches the real request's body and passes each frame on to the mirror.
struct Tee {
    /// `None` once the body ended or the mirror was cut off.
    tx: Option<mpsc::Sender<Frame<Bytes>>>,
    cut: Arc<AtomicBool>,
}

impl Observer for Tee {
    fn frame(&mut self, frame: &Frame<Bytes>) {
        let Some(tx) = &self.tx else { return };
        let copy = match (frame.data_ref(), frame.trailers_ref()) {
            (Some(data), _) => Frame::data(data.clone()),
            (None, Some(trailers)) => Frame::trailers(trailers.clone()),
            (None, None) => return,
        };
        if tx.try_send(copy).is_err() {
            self.end(false);
        }
    }

    /// A clean end closes the queue; otherwise (a full queue, an error, the request dropped
    /// early) the copy reads the closed queue as a failure, not as the end of its body.
    fn end(&mut self, clean: bool) {
        if self.tx.take().is_some() && !clean {
            self.cut.store(true, Ordering::Release);
        }
    }
}

/// The mirror's body: frames from the [`Tee`].
struct Copy {
    rx: mpsc::Receiver<Frame<Bytes>>,
    cut: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the mirror fell behind the request and was cut off")]
struct CutOff;

impl http_body::Body for Copy {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(frame)) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(None) if self.cut.load(Ordering::Acquire) => {
                Poll::Ready(Some(Err(Box::new(CutOff))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
