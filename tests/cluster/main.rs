//! Tests against a real kube-apiserver + etcd (built by `tests/cluster/build-testbin.sh`).

// `certs create` into a temporary directory, shared with the other test binary.
mod canary;
mod canary_rollout;
#[path = "../common/cert_files.rs"]
mod cert_files;
mod check;
mod check_proxy;
mod controller;
mod controller_bench;
// The pod-network tests use more of it.
#[allow(dead_code)]
#[path = "../common/controller_process.rs"]
mod controller_process;
#[path = "../common/failed.rs"]
mod failed;
mod harness;
mod harness_tests;
mod inject;
mod install;
mod pods;
mod proxy_config;
mod route_status;
mod stat;
mod webhook;
