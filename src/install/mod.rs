//! Putting the control plane on a cluster and taking it off: what an install already has
//! (values, certificates), server-side apply in order with waits, pruning and deletion.

pub mod apply;
pub mod remove;
pub mod state;

pub use apply::{ApplyOptions, CrdMode, Event, Summary, apply};
pub use remove::{meshed_pods, owned_objects, prune, remove};
pub use state::{InstalledState, read_state};

use crate::k8s::K8sError;

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    K8s(#[from] K8sError),
    #[error(
        "the CustomResourceDefinition {name} exists and belongs to {owner}, not meshctl; \
         meshctl never overwrites it: use --crds auto (keep it) or --crds none"
    )]
    ForeignCrd { name: String, owner: String },
    #[error(
        "the {object} in namespace {namespace} on {server} cannot be read back: {reason}; fix \
         or delete it, or reinstall with `meshctl uninstall --apply` first"
    )]
    BadState {
        object: String,
        namespace: String,
        server: String,
        reason: String,
    },
    #[error(
        "meshctl is not installed on {server} (context `{context}`): no ConfigMap \
         {namespace}/meshctl-values; run `meshctl install --apply` first"
    )]
    NotInstalled {
        server: String,
        context: String,
        namespace: String,
    },
}
