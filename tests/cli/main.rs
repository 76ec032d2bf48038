//! End-to-end tests of the `meshctl` binary as an operator runs it.

mod certs;
mod check;
mod completions;
mod inject;
mod inject_errors;
mod inject_support;
mod install;
mod proxy;
mod proxy_init;
mod stat;
mod support;
