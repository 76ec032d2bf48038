//! Responses the proxy makes itself (timeouts, overflow, no endpoint, …), marked with a header.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::proxy::Body;

/// Set on every response the proxy generates itself; the value says why (e.g. "request timeout").
pub const PROXY_ERROR_HEADER: &str = "meshctl-proxy-error";

/// A response made by the proxy: `status`, the reason in [`PROXY_ERROR_HEADER`], and a one-line
/// text body with the reason and `detail`.
pub fn proxy_error(status: StatusCode, reason: &'static str, detail: &str) -> Response<Body> {
    let text = if detail.is_empty() {
        format!("{reason}\n")
    } else {
        format!("{reason}: {detail}\n")
    };
    let mut resp = Response::new(
        Full::new(Bytes::from(text))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(PROXY_ERROR_HEADER, HeaderValue::from_static(reason));
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
