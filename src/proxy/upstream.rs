//! The connection pool to upstream endpoints (hyper-util's client): HTTP/1 keep-alive
//! pooling per endpoint, and one multiplexed HTTP/2 connection per endpoint for h2 requests;
//! meshed endpoints are reached over mesh TLS (their own pool entries, `https` URIs).

use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme, Uri};
use http::{Request, Response, Version};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::forward::{Dest, Upstream, UpstreamError};
use super::tls::{Connector, MeshPeer, MeshTls};
use super::{Body, BoxError};
use crate::identity::tls::{ALPN_H2, ALPN_HTTP1};
use crate::model::endpoint::Endpoint;

/// Idle upstream connections are closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Cheap to clone; clones share the pools.
#[derive(Clone, Debug)]
pub struct Pool {
    http1: Client<Connector, Body>,
    http2: Client<Connector, Body>,
    tls: Option<Arc<MeshTls>>,
}

impl Default for Pool {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Pool {
    /// A pool; with `tls`, endpoints it knows as meshed are reached over mesh TLS.
    pub fn new(tls: Option<Arc<MeshTls>>) -> Self {
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new());
        let http1 = builder.build(Connector::new(tls.clone(), ALPN_HTTP1));
        let http2 = builder
            .http2_only(true)
            .build(Connector::new(tls.clone(), ALPN_H2));
        Self { http1, http2, tls }
    }

    /// Sends `req` to `endpoint`, over mesh TLS to `peer` when given (the connector checks
    /// the identity when it opens a connection).
    pub async fn send_to(
        &self,
        endpoint: &Dest,
        peer: Option<&MeshPeer>,
        mut req: Request<Body>,
    ) -> Result<Response<Body>, UpstreamError> {
        let scheme = if peer.is_some() {
            Scheme::HTTPS
        } else {
            Scheme::HTTP
        };
        retarget(endpoint.authority.clone(), scheme, &mut req)?;
        let client = if req.version() == Version::HTTP_2 {
            &self.http2
        } else {
            &self.http1
        };
        let resp = client.request(req).await.map_err(classify)?;
        Ok(resp.map(|b| b.map_err(|e| -> BoxError { Box::new(e) }).boxed()))
    }
}

/// Rewrites the request to target `endpoint`, keeping the original authority in `host`.
fn retarget(
    endpoint: Authority,
    scheme: Scheme,
    req: &mut Request<Body>,
) -> Result<(), UpstreamError> {
    let parts = std::mem::take(req.uri_mut()).into_parts();
    if let Some(authority) = &parts.authority
        && !req.headers().contains_key(http::header::HOST)
        && let Ok(v) = http::HeaderValue::from_str(authority.as_str())
    {
        req.headers_mut().insert(http::header::HOST, v);
    }
    let mut out = http::uri::Parts::default();
    out.scheme = Some(scheme);
    out.authority = Some(endpoint);
    out.path_and_query = parts
        .path_and_query
        .or_else(|| Some(http::uri::PathAndQuery::from_static("/")));
    *req.uri_mut() = Uri::from_parts(out).map_err(|e| UpstreamError::Other(Box::new(e)))?;
    Ok(())
}

/// Sorts a client error into what the retry logic needs to know.
fn classify(e: hyper_util::client::legacy::Error) -> UpstreamError {
    if e.is_connect() {
        return UpstreamError::Connect(Box::new(e));
    }
    let mut source = std::error::Error::source(&e);
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

impl Upstream for Pool {
    fn peer(&self, endpoint: &Endpoint) -> Option<Arc<MeshPeer>> {
        self.tls.as_ref()?.peer(&endpoint.addr)
    }

    async fn send(
        &self,
        endpoint: &Dest,
        peer: Option<&MeshPeer>,
        req: Request<Body>,
    ) -> Result<Response<Body>, UpstreamError> {
        self.send_to(endpoint, peer, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Empty;

    fn empty() -> Body {
        Empty::new().map_err(|never| match never {}).boxed()
    }

    #[test]
    fn retargets_to_the_endpoint_and_keeps_the_authority_as_host() {
        let mut req = Request::builder()
            .uri("http://web.shop:80/a?b=c")
            .body(empty())
            .unwrap();
        retarget(
            Authority::from_static("10.0.0.1:8080"),
            Scheme::HTTP,
            &mut req,
        )
        .unwrap();
        assert_eq!(req.uri(), "http://10.0.0.1:8080/a?b=c");
        assert_eq!(req.headers()["host"], "web.shop:80");
        let mut req = Request::builder()
            .uri("/x")
            .header("host", "web")
            .body(empty())
            .unwrap();
        retarget(Authority::from_static("[::1]:80"), Scheme::HTTPS, &mut req).unwrap();
        assert_eq!(req.uri(), "https://[::1]:80/x");
        assert_eq!(req.headers()["host"], "web");
    }
}
