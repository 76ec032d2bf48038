//! The data plane (`meshctl proxy`): accept, detect, route, balance, forward, observe.
//!
//! Read it as one pipeline; each stage is a small module named for what it does.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;

/// The error type carried by bodies and upstream calls.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The one body type that flows through the pipeline (requests and responses).
pub type Body = BoxBody<Bytes, BoxError>;

pub mod forward;
pub mod orig_dst;
pub mod ratelimit;
