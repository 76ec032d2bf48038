//! End-to-end tests of the `meshctl` binary as an operator runs it.

mod completions;
mod support;
