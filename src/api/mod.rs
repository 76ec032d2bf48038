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

/// OTLP trace export (`proto/opentelemetry/`), in the nesting its packages refer to each
/// other by.
pub mod opentelemetry {
    pub mod proto {
        #![allow(clippy::all, clippy::pedantic, missing_docs)]
        pub mod collector {
            pub mod trace {
                pub mod v1 {
                    tonic::include_proto!("opentelemetry.proto.collector.trace.v1");
                }
            }
        }
        pub mod trace {
            pub mod v1 {
                tonic::include_proto!("opentelemetry.proto.trace.v1");
            }
        }
        pub mod common {
            pub mod v1 {
                tonic::include_proto!("opentelemetry.proto.common.v1");
            }
        }
        pub mod resource {
            pub mod v1 {
                tonic::include_proto!("opentelemetry.proto.resource.v1");
            }
        }
    }
}
