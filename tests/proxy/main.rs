//! Loopback tests of `meshctl proxy`: a real proxy in this process, real HTTP/1, HTTP/2,
//! gRPC-style and TCP servers on 127.0.0.1, asserting what clients see.

mod authz;
mod basic;
mod faults;
mod h2;
mod jwt;
#[path = "../common/jwt_keys.rs"]
mod jwt_keys;
mod lifecycle;
#[path = "../common/mesh_pki.rs"]
mod mesh_pki;
mod metrics;
mod mtls;
mod pki;
mod pool;
mod resilience;
mod routing;
mod stat;
mod sticky;
mod streams;
mod tap;
mod tcp;
// Helpers shared by every module here (and by other engineers' proxy tests); not every
// binary configuration uses all of them.
#[allow(dead_code)]
mod support;
