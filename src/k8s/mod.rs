//! Talking to Kubernetes: a client from the kubeconfig (`--kubeconfig`, `--context`), errors
//! that name the server and context, server-side apply with the `meshctl` field manager, and
//! requests to pods' ports through the API server.

pub mod apply;
pub mod connect;
pub mod pod_proxy;
pub mod pods;

pub use apply::{Applier, FIELD_MANAGER};
pub use connect::{Connection, K8sError, Target};
pub use pod_proxy::PodProxyError;
