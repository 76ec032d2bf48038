//! Wire types: the gRPC protocols compiled from `proto/` at build time.

pub mod codec;

/// The mesh CA protocol (`proto/identity.proto`).
pub mod identity {
    #![allow(clippy::all, clippy::pedantic, missing_docs)]
    tonic::include_proto!("meshctl.identity.v1");
}

/// The discovery protocol (`proto/discovery.proto`): config for each proxy, acks and nacks.
pub mod discovery {
    #![allow(clippy::all, clippy::pedantic, missing_docs)]
    tonic::include_proto!("meshctl.discovery.v1");
}
