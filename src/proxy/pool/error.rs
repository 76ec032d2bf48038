//! Upstream failures sorted into what the retry logic needs to know.

use super::UpstreamError;

/// A connection was made but its HTTP handshake failed.
pub(super) fn handshake(e: hyper::Error) -> UpstreamError {
    UpstreamError::Connect(Box::new(e))
}

/// A request sent on a connection failed before its response head arrived.
pub(super) fn classify(e: hyper::Error) -> UpstreamError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(h2) = s.downcast_ref::<h2::Error>()
            && h2.reason() == Some(h2::Reason::REFUSED_STREAM)
        {
            return UpstreamError::RefusedStream(Box::new(e));
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_canceled() || h.is_closed())
        {
            return UpstreamError::Reset(Box::new(e));
        }
        if s.downcast_ref::<std::io::Error>().is_some() {
            return UpstreamError::Reset(Box::new(e));
        }
        source = s.source();
    }
    UpstreamError::Other(Box::new(e))
}
