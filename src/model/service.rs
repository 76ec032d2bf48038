//! `Service`: what the outbound side knows about one destination: the names and addresses
//! it answers to, its backends (groups of endpoints) and its routes.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::endpoint::Endpoint;
use super::policy::Policy;
use super::route::Route;

/// One destination, found by authority (`web.shop.svc.cluster.local:80`) or by the original
/// destination address of a connection (its cluster IP and port).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    pub name: String,
    /// Host names, with or without a port (`web`, `web.shop:80`); matched case-insensitively.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorities: Vec<String>,
    /// Original destinations (cluster IP:port) that select this service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<SocketAddr>,
    /// `opaque` forwards connections as TCP without protocol detection.
    #[serde(default)]
    pub protocol: Protocol,
    #[serde(default)]
    pub policy: Policy,
    pub backends: Vec<Backend>,
    /// First match wins; without routes every request goes to the backends in equal parts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

/// How connections to a service are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Peek at the first bytes: HTTP/1, HTTP/2 prior knowledge, else opaque TCP.
    #[default]
    Detect,
    /// TCP, no detection (server-speaks-first protocols, databases).
    Opaque,
}

/// A named group of endpoints (a Kubernetes Service, or a subset of its pods).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Backend {
    pub name: String,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}
