//! `Endpoint`: one address a backend can send to, with the labels of the pod behind it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::identity::SpiffeId;

/// A pod's labels, shared by every endpoint of the pod: a Service's endpoints are copied into
/// each of its ports, routes and subsets, and a copied map per endpoint was most of the
/// controller's memory with 10,000 endpoints.
pub type Labels = Arc<BTreeMap<String, String>>;

/// An upstream address (pod IP and port) and its pod labels (used by subsets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Endpoint {
    pub addr: SocketAddr,
    #[serde(default, skip_serializing_if = "no_labels")]
    pub labels: Labels,
    /// The peer's mesh identity: set, the endpoint is meshed and is reached over mTLS
    /// (when this proxy has an identity) that must present exactly this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<SpiffeId>,
}

impl Endpoint {
    /// An endpoint without labels.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            labels: Labels::default(),
            identity: None,
        }
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Self {
        Self::new(addr)
    }
}

fn no_labels(labels: &Labels) -> bool {
    labels.is_empty()
}
