//! A body wrapper that shows each frame, and how the body ended, to an [`Observer`] (gRPC
//! classification from trailers, teeing bodies to mirrors).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::{Body, BoxError};

/// Sees a body go by.
pub trait Observer: Send + Sync + Unpin + 'static {
    /// Each frame, before it is passed on.
    fn frame(&mut self, frame: &Frame<Bytes>);
    /// Once: `true` at the end of the stream, `false` on an error or when the body is
    /// dropped before its end.
    fn end(&mut self, clean: bool);
}

/// `inner`, watched by `observer`.
pub struct Observed<O: Observer> {
    inner: Body,
    observer: O,
    ended: bool,
}

impl<O: Observer> Observed<O> {
    pub fn new(inner: Body, observer: O) -> Self {
        Self {
            inner,
            observer,
            ended: false,
        }
    }

    fn end(&mut self, clean: bool) {
        if !self.ended {
            self.ended = true;
            self.observer.end(clean);
        }
    }
}

impl<O: Observer> http_body::Body for Observed<O> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => this.observer.frame(frame),
            Poll::Ready(Some(Err(_))) => this.end(false),
            Poll::Ready(None) => this.end(true),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<O: Observer> Drop for Observed<O> {
    fn drop(&mut self) {
        self.end(false);
    }
}
