//! End-to-end tests of the `meshctl` binary as an operator runs it.

mod certs;
mod completions;
mod support;
