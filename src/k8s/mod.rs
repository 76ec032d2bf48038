//! Talking to Kubernetes: a client from the kubeconfig (`--kubeconfig`, `--context`), errors
//! that name the server and context, and server-side apply with the `meshctl` field manager.

pub mod apply;
pub mod connect;

pub use apply::{Applier, FIELD_MANAGER};
pub use connect::{Connection, K8sError, Target};
