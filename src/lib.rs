//! meshctl: a Kubernetes service mesh in one binary.
//!
//! The library holds every concern (one module each); `src/main.rs` and
//! `src/cli/` only parse arguments, call in here and print.
// `deny`, not `forbid`: the one exception is `controller::memory`'s two allocator calls.
#![deny(unsafe_code)]
pub mod api;
pub mod canary;
pub mod check;
pub mod controller;
pub mod dashboard;
pub mod demo;
pub mod exposition;
pub mod identity;
pub mod inject;
pub mod install;
pub mod k8s;
pub mod manifests;
pub mod mesh_namespace;
pub mod model;
pub mod netinit;
pub mod proxy;
pub mod readiness;
pub mod secret;
pub mod stats;
pub mod tap;
pub mod translate;
