//! A tap's response body: its queued lines as they come; dropping it (the reader went away)
//! ends the tap, so a proxy nobody taps any more is back to paying nothing.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use tokio::sync::mpsc;

use super::Tap;
use crate::proxy::BoxError;

/// The lines of one tap.
#[derive(Debug)]
pub struct TapStream {
    rx: mpsc::Receiver<Bytes>,
    tap: Arc<Tap>,
    id: u64,
}

impl TapStream {
    pub(super) fn new(rx: mpsc::Receiver<Bytes>, tap: Arc<Tap>, id: u64) -> Self {
        Self { rx, tap, id }
    }

    /// The next line; `None` once the tap ended and every line was read.
    pub async fn next_line(&mut self) -> Option<Bytes> {
        self.rx.recv().await
    }
}

impl http_body::Body for TapStream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx
            .poll_recv(cx)
            .map(|line| line.map(|l| Ok(Frame::data(l))))
    }
}

impl Drop for TapStream {
    fn drop(&mut self) {
        self.tap.unsubscribe(self.id);
    }
}
