//! Tests against a real kube-apiserver + etcd (built by `tests/cluster/build-testbin.sh`).

mod check;
mod check_proxy;
mod harness;
mod harness_tests;
mod inject;
mod install;
mod pods;
mod stat;
