//! Golden signals from the proxies' `/stats` answers for `meshctl stat`: exact merging of
//! several pods' windows (counts summed, latency histograms merged) and percentiles.

pub mod fetch;
pub mod histogram;
pub mod report;

pub use fetch::{FetchError, FetchOptions, fetch_all};
pub use histogram::{Histogram, MergeError};
pub use report::{AnswerError, Merged, Row, RowKey, Signals, StatsAnswer};
