//! Workload identity: SPIFFE ids, the mesh CA, CSRs, PEM loading, certificate facts,
//! mTLS configurations and certificate rotation. Only `pem.rs`/`bundle.rs` touch files.

pub mod bundle;
pub mod ca;
pub mod csr;
pub mod inspect;
pub mod pem;
pub mod rotate;
pub mod spiffe;
pub mod tls;

pub use spiffe::SpiffeId;

#[cfg(test)]
mod tls_tests;
