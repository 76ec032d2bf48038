//! Response classification for metrics and stats: a status of 500 or more fails, and a gRPC
//! call fails on a non-zero `grpc-status` (the `grpc_status` label). Streaming gRPC calls
//! send it in trailers, so their outcome is recorded when the body ends (or fails, or is
//! dropped).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Response, header};
use http_body::Frame;
use http_body_util::BodyExt;

use super::Body;
use super::metrics::{HttpMetrics, PeerLabels};
use super::observe::{Observed, Observer};
use super::stats::{Window, record_all};

/// Code 2, UNKNOWN: what gRPC clients read a `grpc-status` they cannot parse as.
const GRPC_UNKNOWN: u16 = 2;

/// The `grpc-status` of a head or trailers, if it has one.
fn grpc_status(headers: &HeaderMap) -> Option<u16> {
    let v = headers.get("grpc-status")?;
    let code = std::str::from_utf8(v.as_bytes())
        .ok()
        .and_then(|v| v.parse().ok());
    Some(code.unwrap_or(GRPC_UNKNOWN))
}

fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// Records `resp` in `http` and `windows` (`latency` is the time to the response head): now,
/// or, for a gRPC response without `grpc-status` in its head, when its trailers arrive.
/// `peer` labels a response from a mesh TLS peer (None: the labels `http` was made with).
pub fn record(
    resp: &mut Response<Body>,
    http: &HttpMetrics,
    peer: Option<&PeerLabels>,
    windows: [Option<&Arc<Window>>; 3],
    latency: Duration,
) {
    let status = resp.status().as_u16();
    let grpc = is_grpc(resp.headers());
    // A trailers-only gRPC answer has its status in the head.
    let code = grpc.then(|| grpc_status(resp.headers())).flatten();
    let now = if status >= 500 {
        Some(false)
    } else if grpc {
        code.map(|c| c == 0)
    } else {
        Some(true)
    };
    if let Some(success) = now {
        http.response(peer, status, code, success, latency);
        record_all(
            windows.into_iter().flatten().map(|w| &**w),
            success,
            latency,
        );
        return;
    }
    let outcome = Outcome {
        http: http.clone(),
        peer: peer.cloned(),
        windows: windows.map(|w| w.cloned()),
        status,
        latency,
        recorded: false,
    };
    let inner = std::mem::replace(resp.body_mut(), super::empty_body());
    *resp.body_mut() = Observed::new(inner, outcome).boxed();
}

/// What a gRPC response records once its outcome is known.
struct Outcome {
    http: HttpMetrics,
    peer: Option<PeerLabels>,
    windows: [Option<Arc<Window>>; 3],
    status: u16,
    latency: Duration,
    recorded: bool,
}

impl Observer for Outcome {
    fn frame(&mut self, frame: &Frame<Bytes>) {
        if let Some(trailers) = frame.trailers_ref() {
            let code = grpc_status(trailers);
            self.record(code, code == Some(0));
        }
    }

    /// Ending without trailers, breaking, or the client going away: the call failed.
    fn end(&mut self, _clean: bool) {
        self.record(None, false);
    }
}

impl Outcome {
    /// Records once; later calls do nothing.
    fn record(&mut self, code: Option<u16>, success: bool) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let peer = self.peer.as_ref();
        (self.http).response(peer, self.status, code, success, self.latency);
        record_all(
            self.windows.iter().flatten().map(|w| &**w),
            success,
            self.latency,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::BoxError;
    use crate::proxy::metrics::{Direction, Metrics};
    use crate::proxy::stats::Stats;
    use http_body_util::StreamBody;

    fn grpc_response(trailer: Option<&'static str>) -> Response<Body> {
        let mut frames = vec![Ok::<_, BoxError>(Frame::data(Bytes::from_static(b"msg")))];
        if let Some(code) = trailer {
            let mut t = HeaderMap::new();
            t.insert("grpc-status", code.parse().unwrap());
            frames.push(Ok(Frame::trailers(t)));
        }
        Response::builder()
            .header("content-type", "application/grpc+proto")
            .body(StreamBody::new(futures::stream::iter(frames)).boxed())
            .unwrap()
    }

    #[tokio::test]
    async fn grpc_outcomes_come_from_trailers_when_the_body_ends() {
        let metrics = Metrics::default();
        let http = metrics.http(Direction::Outbound, Arc::from("g"), PeerLabels::PLAIN);
        let stats = Stats::default();
        let w = stats.window(Direction::Outbound, &Arc::from("g"), None, None);
        let windows = || [Some(&w), None, None];
        let recorded = || {
            stats.report(Duration::from_secs(60)).rows[0]
                .counts
                .requests
        };
        for (done, trailer) in [Some("0"), Some("14"), None].into_iter().enumerate() {
            let mut resp = grpc_response(trailer);
            record(&mut resp, &http, None, windows(), Duration::from_millis(1));
            assert_eq!(recorded(), done as u64, "not before the body ends");
            drop(resp.into_body().collect().await.unwrap());
            assert_eq!(recorded(), done as u64 + 1);
        }
        let mut plain = Response::new(crate::proxy::empty_body());
        *plain.status_mut() = http::StatusCode::BAD_GATEWAY;
        record(&mut plain, &http, None, windows(), Duration::from_millis(1));
        // Dropped before the end: a failure.
        let mut dropped = grpc_response(Some("0"));
        record(
            &mut dropped,
            &http,
            None,
            windows(),
            Duration::from_millis(1),
        );
        drop(dropped);
        let row = &stats.report(Duration::from_secs(60)).rows[0];
        assert_eq!((row.counts.requests, row.counts.failures), (5, 4));
    }
}
