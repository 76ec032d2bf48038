//! HTTP/1 requests between two meshctl proxies as streams of one HTTP/2 connection (as
//! Linkerd does), so a busy client proxy does not open a connection per concurrent request.
//! Only over mesh TLS, offered as the ALPN id `meshctl.io/h2-mux` beside http/1.1: a peer
//! without it picks http/1.1 and is reached over HTTP/1 from then on. The request's version
//! travels in [`ORIG_PROTO`] and the server proxy restores it before the app sees the
//! request; upgrades and CONNECT keep a dedicated HTTP/1 connection.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use http::header::{HeaderName, HeaderValue, TRANSFER_ENCODING, UPGRADE};
use http::uri::Authority;
use http::{Method, Request, Response, Version};

use super::http2::Sent;
use super::{Conns, http1, http2, target};
use crate::identity::tls::{ALPN_HTTP1, ALPN_MESH_MUX};
use crate::proxy::Body;
use crate::proxy::forward::{ConnLimits, UpstreamError};
use crate::proxy::tls::Alpn;

/// The HTTP/1 version a multiplexed request had.
const ORIG_PROTO: HeaderName = HeaderName::from_static("meshctl-orig-proto");
const HTTP_10: &str = "HTTP/1.0";
const OFFER: Alpn = &[ALPN_MESH_MUX, ALPN_HTTP1];

/// Whether the HTTP/1 request `req` to this endpoint goes over the mux.
pub(super) fn carries(conns: &Conns, req: &Request<Body>) -> bool {
    conns.peer.is_some()
        && !conns.mux_declined.load(Relaxed)
        && req.method() != Method::CONNECT
        && !req.headers().contains_key(UPGRADE)
}

/// Sends the HTTP/1 request `req` (as the client sent it) as a stream of the mux.
pub(super) async fn send(
    conns: &Arc<Conns>,
    endpoint: &Authority,
    limits: ConnLimits,
    mut req: Request<Body>,
) -> Result<Response<Body>, UpstreamError> {
    let version = req.version();
    let proto = if version == Version::HTTP_10 {
        HTTP_10
    } else {
        "HTTP/1.1"
    };
    let headers = req.headers_mut();
    headers.insert(ORIG_PROTO, HeaderValue::from_static(proto));
    // Chunked framing is HTTP/1's own (HTTP/2 frames the body itself).
    headers.remove(TRANSFER_ENCODING);
    *req.version_mut() = Version::HTTP_2;
    target::for_http2(endpoint, &mut req)?;
    match http2::send(conns, &conns.mux, limits, OFFER, req).await? {
        Sent::Answered(mut resp) => {
            *resp.version_mut() = version;
            Ok(resp)
        }
        Sent::Declined(io, mut req) => {
            tracing::debug!(addr = %conns.addr, "the peer proxy has no mux: HTTP/1 to it from now on");
            conns.mux_declined.store(true, Relaxed);
            req.headers_mut().remove(ORIG_PROTO);
            *req.version_mut() = version;
            target::for_http1(endpoint, &mut req)?;
            Box::pin(http1::send(conns, limits, req, Some(io))).await
        }
    }
}

/// On the server proxy: a request that came over the mux becomes the HTTP/1 request it was
/// (the pool then sends it to the app over HTTP/1).
pub fn restore_http1(req: &mut Request<Body>) {
    if req.version() != Version::HTTP_2 {
        return;
    }
    if let Some(proto) = req.headers_mut().remove(ORIG_PROTO) {
        *req.version_mut() = if proto == HTTP_10 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
    }
}
