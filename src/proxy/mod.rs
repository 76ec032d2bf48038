//! The data plane (`meshctl proxy`): accept, detect, route, balance, forward, observe.
//!
//! Read it as one pipeline; each stage is a small module named for what it does.

pub mod access_log;
mod admin;
pub mod admin_access;
mod app_listeners;
mod authz;
mod classify;
mod detect;
pub mod discovery;
pub mod forward;
mod h1_watch;
mod http;
mod inbound_conn;
mod intercept;
mod io;
mod jwt;
mod metrics;
mod mirror;
mod normalize;
mod observe;
pub mod orig_dst;
pub(crate) mod peers;
mod pool;
pub mod ratelimit;
mod reload;
mod rewrite;
mod routing;
mod server;
pub(crate) mod stats;
mod table;
mod tap;
mod tcp;
pub mod tls;
mod trace;
mod tunnel;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};

pub use metrics::Direction;
pub use pool::Pool;
pub use reload::reload_file;
pub use server::{Options, Proxy, ProxyError, State, run};
pub use trace::Workload;

/// The error type carried by bodies and upstream calls.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The one body type that flows through the pipeline (requests and responses).
pub type Body = BoxBody<Bytes, BoxError>;

/// A body with no bytes.
pub fn empty_body() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}
