//! `Endpoint`: one address a backend can send to, with the labels of the pod behind it.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// An upstream address (pod IP and port) and its pod labels (used by subsets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Endpoint {
    pub addr: SocketAddr,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Endpoint {
    /// An endpoint without labels.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            labels: BTreeMap::new(),
        }
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Self {
        Self::new(addr)
    }
}
