//! Connection wrappers: [`Prefixed`] replays the bytes protocol detection already read,
//! and counts the bytes read and written for the `tcp_*_bytes_total` metrics and, when the
//! connection's stats key is known, for `/stats`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use bytes::{Buf, Bytes};
use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::stats::Window;

/// Byte counters of one connection's direction and authority.
#[derive(Clone, Debug, Default)]
pub struct ByteCounters {
    pub read: Counter,
    pub write: Counter,
    /// The `/stats` window of the connection's key, when it has one.
    pub window: Option<Arc<Window>>,
    /// The connection's first I/O error, for `tcp_close_total`'s `errno`.
    pub error: Arc<IoError>,
}

/// The first I/O error a connection saw: 0 none, -1 one without an OS error number, else
/// the errno.
#[derive(Debug, Default)]
pub struct IoError(AtomicI32);

impl IoError {
    fn note(&self, e: &io::Error) {
        let code = e.raw_os_error().filter(|c| *c > 0).unwrap_or(-1);
        let _ = (self.0).compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// None while the connection saw no error; else its errno, if it had one.
    pub fn get(&self) -> Option<Option<i32>> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            -1 => Some(None),
            code => Some(Some(code)),
        }
    }
}

impl ByteCounters {
    /// The same counters, also counting into `window`.
    pub fn with_window(mut self, window: Arc<Window>) -> Self {
        self.window = Some(window);
        self
    }

    fn count_read(&self, n: usize) {
        self.read.inc_by(n as u64);
        if let Some(w) = &self.window {
            w.received(n as u64);
        }
    }

    fn count_written(&self, n: usize) {
        self.write.inc_by(n as u64);
        if let Some(w) = &self.window {
            w.sent(n as u64);
        }
    }
}

/// An I/O object that first yields `prefix`, then reads from `inner`; counts bytes both ways.
#[derive(Debug)]
pub struct Prefixed<T> {
    prefix: Bytes,
    inner: T,
    counters: ByteCounters,
}

impl<T> Prefixed<T> {
    pub fn new(prefix: Bytes, inner: T, counters: ByteCounters) -> Self {
        Self {
            prefix,
            inner,
            counters,
        }
    }

    fn written(&self, res: &Poll<io::Result<usize>>) {
        match res {
            Poll::Ready(Ok(n)) => self.counters.count_written(*n),
            Poll::Ready(Err(e)) => self.counters.error.note(e),
            Poll::Pending => {}
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            this.counters.count_read(n);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            this.counters.count_read(n);
        }
        if let Poll::Ready(Err(e)) = &res {
            this.counters.error.note(e);
        }
        res
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Prefixed<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.written(&res);
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.written(&res);
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn replays_the_prefix_then_reads_and_counts_both_ways() {
        let (a, mut b) = tokio::io::duplex(64);
        let counters = ByteCounters::default();
        let mut io = Prefixed::new(Bytes::from_static(b"GET "), a, counters.clone());
        b.write_all(b"/ HTTP/1.1").await.unwrap();
        drop(b.shutdown().await);
        io.write_all(b"xyz").await.unwrap();
        let mut got = String::new();
        io.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "GET / HTTP/1.1");
        assert_eq!(counters.read.get(), 14);
        assert_eq!(counters.write.get(), 3);
    }
}
