//! Workload identity: SPIFFE ids, the mesh CA, CSRs, PEM loading, certificate facts,
//! mTLS configurations, certificate rotation, and the CA service with its client.
//! Only `pem.rs`/`bundle.rs` touch files; `service.rs`/`client.rs` the network.

pub mod auth;
pub mod bundle;
pub mod ca;
pub mod client;
pub mod csr;
pub mod inspect;
pub mod pem;
#[cfg(test)]
mod proptests;
pub mod rotate;
pub mod service;
pub mod spiffe;
pub mod tls;

pub use spiffe::SpiffeId;

/// The trust domain of an install that does not set `identity.trustDomain`, as Kubernetes'
/// own cluster domain.
pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";

#[cfg(test)]
mod service_tests;
#[cfg(test)]
mod tls_tests;
