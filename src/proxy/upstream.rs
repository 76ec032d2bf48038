//! The connection pool to upstream endpoints (hyper-util's client): HTTP/1 keep-alive
//! pooling per endpoint, and one multiplexed HTTP/2 connection per endpoint for h2 requests.

use std::net::SocketAddr;
use std::time::Duration;

use http::uri::{Authority, Scheme, Uri};
use http::{Request, Response, Version};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::forward::{Upstream, UpstreamError};
use super::{Body, BoxError};

/// Idle upstream connections are closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Cheap to clone; clones share the pools.
#[derive(Clone, Debug)]
pub struct Pool {
    http1: Client<HttpConnector, Body>,
    http2: Client<HttpConnector, Body>,
}

impl Default for Pool {
    fn default() -> Self {
        Self::new()
    }
}

impl Pool {
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new());
        let http1 = builder.build(connector.clone());
        let http2 = builder.http2_only(true).build(connector);
        Self { http1, http2 }
    }
}

/// Rewrites the request to target `endpoint`, keeping the original authority in `host`.
fn retarget(endpoint: SocketAddr, req: &mut Request<Body>) -> Result<(), UpstreamError> {
    let parts = std::mem::take(req.uri_mut()).into_parts();
    if let Some(authority) = &parts.authority
        && !req.headers().contains_key(http::header::HOST)
        && let Ok(v) = http::HeaderValue::from_str(authority.as_str())
    {
        req.headers_mut().insert(http::header::HOST, v);
    }
    let mut out = http::uri::Parts::default();
    out.scheme = Some(Scheme::HTTP);
    out.authority = Some(
        Authority::try_from(endpoint.to_string()).map_err(|e| UpstreamError::Other(Box::new(e)))?,
    );
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
    async fn send(
        &self,
        endpoint: SocketAddr,
        mut req: Request<Body>,
    ) -> Result<Response<Body>, UpstreamError> {
        retarget(endpoint, &mut req)?;
        let client = if req.version() == Version::HTTP_2 {
            &self.http2
        } else {
            &self.http1
        };
        let resp = client.request(req).await.map_err(classify)?;
        Ok(resp.map(|b| b.map_err(|e| -> BoxError { Box::new(e) }).boxed()))
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
        retarget("10.0.0.1:8080".parse().unwrap(), &mut req).unwrap();
        assert_eq!(req.uri(), "http://10.0.0.1:8080/a?b=c");
        assert_eq!(req.headers()["host"], "web.shop:80");
        let mut req = Request::builder()
            .uri("/x")
            .header("host", "web")
            .body(empty())
            .unwrap();
        retarget("[::1]:80".parse().unwrap(), &mut req).unwrap();
        assert_eq!(req.uri(), "http://[::1]:80/x");
        assert_eq!(req.headers()["host"], "web");
    }
}
