//! The request as an upstream connection carries it: HTTP/1 in origin form (authority form
//! for CONNECT) with the authority in `host`; HTTP/2 with the authority the client sent as
//! `:authority` and no `host` beside it (RFC 9113 §8.3.1), so the app sees that authority
//! over either version. The endpoint's address is named only when the client named nothing.

use http::header::HOST;
use http::uri::{Authority, Parts, PathAndQuery, Scheme, Uri};
use http::{HeaderValue, Method, Request};

use crate::proxy::Body;
use crate::proxy::forward::UpstreamError;

fn bad_uri(e: http::Error) -> UpstreamError {
    UpstreamError::Other(Box::new(e))
}

/// HTTP/1: `host` from the URI's authority when missing (else the endpoint's); the URI in
/// origin form, or authority form for CONNECT.
pub(super) fn for_http1(
    endpoint: &Authority,
    req: &mut Request<Body>,
) -> Result<(), UpstreamError> {
    let uri = req.uri();
    if uri.authority().is_none() {
        // Origin form already (the usual HTTP/1 request): only a missing `host` to add.
        if !req.headers().contains_key(HOST) {
            let host = HeaderValue::from_str(endpoint.as_str()).map_err(|e| bad_uri(e.into()))?;
            req.headers_mut().insert(HOST, host);
        }
        return Ok(());
    }
    let connect = req.method() == Method::CONNECT;
    let parts = std::mem::take(req.uri_mut()).into_parts();
    let authority = parts.authority.expect("checked above");
    if !req.headers().contains_key(HOST) {
        let host = HeaderValue::from_str(authority.as_str()).map_err(|e| bad_uri(e.into()))?;
        req.headers_mut().insert(HOST, host);
    }
    let mut out = Parts::default();
    if connect {
        out.authority = Some(authority);
    } else {
        out.path_and_query = Some(
            parts
                .path_and_query
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        );
    }
    *req.uri_mut() = Uri::from_parts(out).map_err(|e| bad_uri(e.into()))?;
    Ok(())
}

/// HTTP/2: `:authority` is the URI's authority, else the `host` header's, else the
/// endpoint's; `host` itself is removed (it could only repeat or contradict it).
pub(super) fn for_http2(
    endpoint: &Authority,
    req: &mut Request<Body>,
) -> Result<(), UpstreamError> {
    let host = req.headers_mut().remove(HOST);
    let uri = req.uri();
    if uri.scheme().is_some() && uri.authority().is_some() {
        return Ok(());
    }
    let connect = req.method() == Method::CONNECT;
    let parts = std::mem::take(req.uri_mut()).into_parts();
    let authority = parts
        .authority
        .or_else(|| host.and_then(|h| Authority::try_from(h.as_bytes()).ok()))
        .unwrap_or_else(|| endpoint.clone());
    let mut out = Parts::default();
    out.authority = Some(authority);
    if !connect {
        out.scheme = Some(parts.scheme.unwrap_or(Scheme::HTTP));
        out.path_and_query = Some(
            parts
                .path_and_query
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        );
    }
    *req.uri_mut() = Uri::from_parts(out).map_err(|e| bad_uri(e.into()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, uri: &str, host: Option<&str>) -> Request<Body> {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(h) = host {
            b = b.header(HOST, h);
        }
        b.body(crate::proxy::empty_body()).unwrap()
    }

    const EP: Authority = Authority::from_static("10.0.0.1:8080");

    #[test]
    fn http1_goes_in_origin_form_with_the_authority_in_host() {
        let mut r = req("GET", "http://web.shop:80/a?b=c", None);
        for_http1(&EP, &mut r).unwrap();
        assert_eq!(r.uri(), "/a?b=c");
        assert_eq!(r.headers()[HOST], "web.shop:80");
        let mut r = req("GET", "/x", Some("web"));
        for_http1(&EP, &mut r).unwrap();
        assert_eq!(r.uri(), "/x");
        assert_eq!(r.headers()[HOST], "web");
        // HTTP/1.0 without `host`: the endpoint is named, as hyper requires a `host`.
        let mut r = req("GET", "/x", None);
        for_http1(&EP, &mut r).unwrap();
        assert_eq!(r.headers()[HOST], "10.0.0.1:8080");
        let mut r = req("CONNECT", "db.shop:5432", None);
        for_http1(&EP, &mut r).unwrap();
        assert_eq!(r.uri(), "db.shop:5432");
        assert_eq!(r.headers()[HOST], "db.shop:5432");
    }

    #[test]
    fn http2_carries_the_clients_authority_and_no_host() {
        let mut r = req("POST", "http://greeter.test:50051/g.G/Say", Some("other"));
        for_http2(&EP, &mut r).unwrap();
        assert_eq!(r.uri(), "http://greeter.test:50051/g.G/Say");
        assert!(r.headers().get(HOST).is_none());
        let mut r = req("GET", "/x?y", Some("web.shop"));
        for_http2(&EP, &mut r).unwrap();
        assert_eq!(r.uri(), "http://web.shop/x?y");
        assert!(r.headers().get(HOST).is_none());
        let mut r = req("GET", "/x", None);
        for_http2(&EP, &mut r).unwrap();
        assert_eq!(r.uri(), "http://10.0.0.1:8080/x");
    }
}
