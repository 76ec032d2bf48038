//! Golden signals from the proxies' `/stats` answers for `meshctl stat`: exact merging of
//! several pods' windows (counts summed, latency histograms merged) and percentiles, asked
//! of proxies directly or of the pods of cluster resources through the API server.

pub mod cluster;
pub mod edges;
pub mod fetch;
pub mod histogram;
#[cfg(test)]
mod proptests;
pub mod report;
pub mod routes;
pub mod select;

pub use cluster::{
    Asked, ClusterStats, ResourceStats, Traffic, Unreachable, ask_pods, collect,
    forbidden_by_namespace,
};
pub use fetch::{FetchError, FetchOptions, ask_all, fetch_all};
pub use histogram::{Histogram, MergeError};
pub use report::{AnswerError, Merged, Row, RowKey, Signals, StatsAnswer};
pub use select::{Kind, ResourceRef, Scope, SelectError, Selected, select};
