//! Request bodies that can be sent again: the first try streams the body while up to
//! 64 KiB of it is kept; a retry replays what was kept and reads on from the original.
//! A body that outgrows the limit streams on unbuffered and is not retried.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;

use crate::proxy::{Body, BoxError};

/// Bodies up to this size are kept for retries.
pub(super) const MAX_REPLAY_BYTES: usize = 64 * 1024;

/// A handle to make the body of the next try.
pub(super) enum Replay {
    /// The request has no body: every try sends an empty one.
    Empty,
    Shared(Arc<Mutex<Shared>>),
}

pub(super) struct Shared {
    inner: Body,
    chunks: Vec<Bytes>,
    len: usize,
    trailers: Option<HeaderMap>,
    done: bool,
    /// Over the limit or failed: no further try may be made.
    unreplayable: bool,
    /// Only the body of the newest try reads; older ones are cut off.
    generation: u32,
}

struct ReplayBody {
    shared: Arc<Mutex<Shared>>,
    generation: u32,
    /// Next buffered chunk to send.
    pos: usize,
    /// Bytes sent so far.
    sent: usize,
    trailers_sent: bool,
    /// This try outgrew the buffer and reads the original body directly.
    passthrough: bool,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Prepares `body` for retries: the body of the first try and, unless the body is known
/// to be too large, a handle for the next tries.
pub(super) fn prepare(body: Body) -> (Option<Replay>, Body) {
    if body.is_end_stream() {
        return (Some(Replay::Empty), body);
    }
    if body.size_hint().lower() > MAX_REPLAY_BYTES as u64 {
        return (None, body);
    }
    let shared = Arc::new(Mutex::new(Shared {
        inner: body,
        chunks: Vec::new(),
        len: 0,
        trailers: None,
        done: false,
        unreplayable: false,
        generation: 0,
    }));
    let first = ReplayBody::new(Arc::clone(&shared), 0).boxed();
    (Some(Replay::Shared(shared)), first)
}

impl Replay {
    /// Whether another try can still get the whole body.
    pub(super) fn replayable(&self) -> bool {
        match self {
            Replay::Empty => true,
            Replay::Shared(shared) => !lock(shared).unreplayable,
        }
    }

    /// The body of the next try (cuts off the previous try's body).
    pub(super) fn next(&self) -> Option<Body> {
        match self {
            Replay::Empty => Some(Body::default()),
            Replay::Shared(shared) => {
                let mut s = lock(shared);
                if s.unreplayable {
                    return None;
                }
                s.generation += 1;
                let generation = s.generation;
                drop(s);
                Some(ReplayBody::new(Arc::clone(shared), generation).boxed())
            }
        }
    }
}

impl ReplayBody {
    fn new(shared: Arc<Mutex<Shared>>, generation: u32) -> Self {
        Self {
            shared,
            generation,
            pos: 0,
            sent: 0,
            trailers_sent: false,
            passthrough: false,
        }
    }
}

impl http_body::Body for ReplayBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let mut guard = lock(&this.shared);
        let s = &mut *guard;
        if s.generation != this.generation {
            return Poll::Ready(Some(Err(
                "the request body was taken over by a retry".into()
            )));
        }
        if !this.passthrough && this.pos < s.chunks.len() {
            let chunk = s.chunks[this.pos].clone();
            this.pos += 1;
            this.sent += chunk.len();
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if s.done {
            if !this.trailers_sent
                && let Some(t) = &s.trailers
            {
                this.trailers_sent = true;
                return Poll::Ready(Some(Ok(Frame::trailers(t.clone()))));
            }
            return Poll::Ready(None);
        }
        let frame = match ready!(Pin::new(&mut s.inner).poll_frame(cx)) {
            None => {
                s.done = true;
                return Poll::Ready(None);
            }
            Some(Err(e)) => {
                s.unreplayable = true;
                return Poll::Ready(Some(Err(e)));
            }
            Some(Ok(frame)) => frame,
        };
        if let Some(data) = frame.data_ref() {
            this.sent += data.len();
            s.len += data.len();
            if !this.passthrough && s.len > MAX_REPLAY_BYTES {
                // Too large to retry: free the buffer and stream the rest straight through.
                s.unreplayable = true;
                s.chunks = Vec::new();
                this.passthrough = true;
            } else if !this.passthrough {
                s.chunks.push(data.clone());
                this.pos += 1;
            }
        } else if let Some(t) = frame.trailers_ref() {
            s.trailers = Some(t.clone());
            this.trailers_sent = true;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        let s = lock(&self.shared);
        s.generation == self.generation
            && s.done
            && (self.passthrough || self.pos == s.chunks.len())
            && (self.trailers_sent || s.trailers.is_none())
    }

    fn size_hint(&self) -> SizeHint {
        let s = lock(&self.shared);
        let buffered = if self.passthrough {
            0
        } else {
            (s.len - self.sent) as u64
        };
        if s.done {
            return SizeHint::with_exact(buffered);
        }
        let inner = s.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + buffered);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + buffered);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use http_body_util::{BodyStream, Full, StreamBody};

    fn chunked(chunks: Vec<&'static [u8]>, trailers: bool) -> Body {
        let mut frames: Vec<Result<Frame<Bytes>, BoxError>> = chunks
            .into_iter()
            .map(|c| Ok(Frame::data(Bytes::from_static(c))))
            .collect();
        if trailers {
            let mut t = HeaderMap::new();
            t.insert("grpc-status", "0".parse().unwrap());
            frames.push(Ok(Frame::trailers(t)));
        }
        BodyExt::boxed(StreamBody::new(futures::stream::iter(frames)))
    }

    async fn read_all(body: Body) -> (Vec<u8>, bool, bool) {
        let mut out = Vec::new();
        let mut trailers = false;
        let mut stream = BodyStream::new(body);
        while let Some(frame) = stream.next().await {
            match frame {
                Ok(f) if f.is_data() => out.extend_from_slice(&f.into_data().unwrap_or_default()),
                Ok(_) => trailers = true,
                Err(_) => return (out, trailers, true),
            }
        }
        (out, trailers, false)
    }

    #[tokio::test]
    async fn retries_replay_the_same_bytes_and_trailers() {
        let (replay, first) = prepare(chunked(vec![b"hello ", b"world"], true));
        let replay = replay.unwrap();
        assert_eq!(
            read_all(first).await,
            (b"hello world".to_vec(), true, false)
        );
        for _ in 0..2 {
            let next = replay.next().unwrap();
            assert_eq!(next.size_hint().exact(), Some(11));
            assert_eq!(read_all(next).await, (b"hello world".to_vec(), true, false));
        }
    }

    #[tokio::test]
    async fn a_retry_of_a_partly_sent_body_reads_on_from_the_original() {
        let (replay, mut first) = prepare(chunked(vec![b"a", b"b", b"c"], false));
        let replay = replay.unwrap();
        let _ = first.frame().await; // the first try sent only "a"
        let second = replay.next().unwrap();
        assert_eq!(read_all(second).await, (b"abc".to_vec(), false, false));
        // The first try's body is cut off.
        assert!(read_all(first).await.2);
    }

    #[tokio::test]
    async fn bodies_over_64_kib_stream_through_and_are_not_replayable() {
        static BIG: [u8; 40 * 1024] = [7; 40 * 1024];
        let (replay, first) = prepare(chunked(vec![&BIG, &BIG], false));
        let replay = replay.unwrap();
        assert!(replay.replayable());
        let (bytes, _, failed) = read_all(first).await;
        assert_eq!(bytes.len(), 80 * 1024);
        assert!(!failed);
        assert!(!replay.replayable());
        assert!(replay.next().is_none());
        // Known too large up front: not wrapped at all.
        let full = Full::new(Bytes::from(vec![0u8; 65 * 1024]))
            .map_err(|n| match n {})
            .boxed();
        assert!(prepare(full).0.is_none());
        // Exactly 64 KiB is still replayable.
        let full = Full::new(Bytes::from(vec![0u8; MAX_REPLAY_BYTES]))
            .map_err(|n| match n {})
            .boxed();
        let (replay, first) = prepare(full);
        assert_eq!(read_all(first).await.0.len(), MAX_REPLAY_BYTES);
        assert!(replay.unwrap().next().is_some());
    }

    #[tokio::test]
    async fn empty_bodies_need_no_buffer() {
        let (replay, first) = prepare(Body::default());
        assert!(matches!(replay, Some(Replay::Empty)));
        assert!(first.is_end_stream());
    }
}
