//! Requests to a pod's port through the API server's pod proxy subresource
//! (`/api/v1/namespaces/NS/pods/NAME:PORT/proxy/PATH`): how the CLI reads proxies' admin
//! ports in a cluster, under the caller's RBAC (`pods/proxy`), with no port-forward.

use kube::Client;

use crate::inject::sidecar::ADMIN_PORT;

/// Why a pod-proxy request gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum PodProxyError {
    /// The API server, or the pod behind it, answered with an error status.
    #[error("HTTP {code}: {message}")]
    Status { code: u16, message: String },
    /// The API server could not be asked at all.
    #[error("{0}")]
    Request(String),
    /// The answer went on past [`MAX_ANSWER_BYTES`] (it was cut off there).
    #[error("the answer is larger than {} MiB: cut off there", MAX_ANSWER_BYTES >> 20)]
    TooLarge,
}

/// The most of an answer read: a proxy's `/stats` or `/metrics` is kilobytes; whatever
/// answers in its place must not fill the CLI's memory.
pub const MAX_ANSWER_BYTES: usize = 16 << 20;

/// The path of `path_and_query` (starting with `/`) on `namespace/pod`'s `port`.
pub fn path(namespace: &str, pod: &str, port: u16, path_and_query: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy{path_and_query}")
}

/// `GET path_and_query` on `namespace/pod`'s `port`: the body of a 2xx answer.
pub async fn get(
    client: &Client,
    namespace: &str,
    pod: &str,
    port: u16,
    path_and_query: &str,
) -> Result<String, PodProxyError> {
    use http_body_util::BodyExt;
    let request = http::Request::get(path(namespace, pod, port, path_and_query))
        .body(kube::client::Body::empty())
        .map_err(|e| PodProxyError::Request(e.to_string()))?;
    let response = client
        .send(request)
        .await
        .map_err(|e| PodProxyError::Request(super::connect::error_chain(&e)))?;
    let status = response.status();
    // Read at most the limit (kube's request_text reads everything).
    let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(
            |e| match e.downcast_ref::<http_body_util::LengthLimitError>() {
                Some(_) => PodProxyError::TooLarge,
                None => PodProxyError::Request(super::connect::error_chain(&*e)),
            },
        )?
        .to_bytes();
    if status.is_success() {
        return Ok(String::from_utf8_lossy(&body).into_owned());
    }
    Err(error_of(status, &body))
}

/// The error of a pod-proxy answer with `status` (not 2xx) and `body`.
pub fn error_of(status: http::StatusCode, body: &[u8]) -> PodProxyError {
    let text = String::from_utf8_lossy(body);
    // The API server's own refusals are a Status object; a pod's answer is its text.
    let message = serde_json::from_str::<kube::core::Status>(&text)
        .map_or_else(|_| text.trim().to_owned(), |s| s.message.trim().to_owned());
    PodProxyError::Status {
        code: status.as_u16(),
        message,
    }
}

/// Sends `request` (a pod-proxy path) and gives the response with its body streaming:
/// how `tap` reads a proxy's `/tap`. An answer that is not 2xx is an error.
pub async fn stream(
    client: &Client,
    request: http::Request<kube::client::Body>,
) -> Result<http::Response<kube::client::Body>, PodProxyError> {
    use http_body_util::BodyExt;
    let response = client
        .send(request)
        .await
        .map_err(|e| PodProxyError::Request(super::connect::error_chain(&e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Err(error_of(status, &body))
}

/// `GET path_and_query` on a pod's proxy admin port (4191): how `stat` and `check --proxy`
/// read a meshed pod's `/stats`, `/metrics` and `/identity`.
pub async fn admin_get(
    client: &Client,
    namespace: &str,
    pod: &str,
    path_and_query: &str,
) -> Result<String, PodProxyError> {
    get(client, namespace, pod, ADMIN_PORT, path_and_query).await
}

/// Why the proxies of `pods` meshed pods in `namespace` could not be read: the API server
/// refused (403) because the caller lacks `get` on `pods/proxy` there. `api_words` is the
/// API server's own message (it names the user); `command` is what needs the right.
pub fn denied_message(namespace: &str, pods: usize, api_words: &str, command: &str) -> String {
    let count = match pods {
        1 => "1 meshed pod".to_owned(),
        n => format!("{n} meshed pods"),
    };
    let why = if api_words.is_empty() {
        String::new()
    } else {
        format!(": {api_words}")
    };
    format!(
        "not allowed to read the proxies of {count} in namespace {namespace} through the API \
         server{why}. {command} needs `get` on `pods/proxy` there; check with `kubectl auth \
         can-i get pods/proxy -n {namespace}` and ask for a Role that grants it"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_path_names_pod_and_port() {
        assert_eq!(
            super::path("shop", "web-1", 4191, "/stats?window=60s"),
            "/api/v1/namespaces/shop/pods/web-1:4191/proxy/stats?window=60s"
        );
    }
}
