//! End-to-end tests of the `meshctl` binary as an operator runs it.

// `certs create` into a temporary directory, shared with the other test binary.
mod analyze;
mod canary;
#[path = "../common/cert_files.rs"]
mod cert_files;
mod certs;
mod check;
mod completions;
mod demo;
mod demo_dashboard;
mod demo_support;
#[path = "../common/failed.rs"]
mod failed;
mod inject;
mod inject_errors;
mod inject_support;
mod install;
mod observe;
mod proxy;
mod proxy_config;
mod proxy_init;
mod stat;
mod support;
