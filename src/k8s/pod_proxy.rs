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
}

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
    let request = http::Request::get(path(namespace, pod, port, path_and_query))
        .body(Vec::new())
        .map_err(|e| PodProxyError::Request(e.to_string()))?;
    client.request_text(request).await.map_err(|e| match e {
        kube::Error::Api(status) => PodProxyError::Status {
            code: status.code,
            message: status.message.trim().to_owned(),
        },
        other => PodProxyError::Request(super::connect::error_chain(&other)),
    })
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
