//! The `/metrics` exposition shared by the proxy and the controller: the Prometheus text
//! format 0.0.4 by default (what promtool and older scrapers read), OpenMetrics only when
//! the scraper's `Accept` asks for it (as linkerd2-proxy does); the one reader of either for
//! meshctl's own consumers (`check`, the dashboard's edges); and the `process_*` metrics.

mod parse;
mod process;
mod prometheus;

pub use parse::{Sample, label_of, samples};
pub use process::Process;

use prometheus_client::registry::Registry;

/// The OpenMetrics media type a scraper names in `Accept` to get that format.
const OPENMETRICS: &str = "application/openmetrics-text";

/// The two formats `/metrics` answers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4: the default.
    Prometheus,
    /// OpenMetrics 1.0.0, when asked for.
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header value asks for (none or anything else: Prometheus).
    /// Any OpenMetrics range not refused with `q=0` asks for it, as scrapers list it first
    /// when they read it.
    pub fn from_accept(accept: Option<&[u8]>) -> Self {
        let asks = accept.is_some_and(|a| {
            a.split(|b| *b == b',').any(|range| {
                let mut parts = range.split(|b| *b == b';').map(<[u8]>::trim_ascii);
                let media = parts.next().unwrap_or_default();
                let refused = parts.any(|p| {
                    p.strip_prefix(b"q=")
                        .is_some_and(|q| q.iter().all(|b| *b == b'0' || *b == b'.'))
                });
                media.eq_ignore_ascii_case(OPENMETRICS.as_bytes()) && !refused
            })
        });
        if asks {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }

    /// The response's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The registry's metrics in `format`.
pub fn encode(registry: &Registry, format: Format) -> Result<String, std::fmt::Error> {
    let mut open = String::with_capacity(16 * 1024);
    prometheus_client::encoding::text::encode(&mut open, registry)?;
    Ok(match format {
        Format::OpenMetrics => open,
        Format::Prometheus => prometheus::from_openmetrics(&open),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_only_when_accept_names_it() {
        assert_eq!(Format::from_accept(None), Format::Prometheus);
        assert_eq!(
            Format::from_accept(Some(b"text/plain;version=0.0.4;q=0.5,*/*;q=0.1")),
            Format::Prometheus
        );
        // What Prometheus sends by default.
        let prometheus = b"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
            application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;q=0.4";
        assert_eq!(Format::from_accept(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(
            Format::from_accept(Some(b"Application/OpenMetrics-Text")),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::from_accept(Some(b"application/openmetrics-text; q=0.0, text/plain")),
            Format::Prometheus
        );
    }
}
