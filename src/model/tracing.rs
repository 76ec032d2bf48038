//! `Tracing`: where the proxy exports its spans (OTLP over gRPC) and how many requests it
//! samples. The static file's `tracing` section, the proxy's flags, `meshctl inject` and the
//! install values all check their values here.

use serde::{Deserialize, Serialize};

use super::config::Invalid;

/// Distributed tracing: off unless an endpoint is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tracing {
    /// The OTLP/gRPC collector, `host:port` (e.g. `collector.observability:4317`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The share of requests that start a trace, 0.0 to 1.0; a request that arrives with a
    /// sampling decision (W3C or B3) keeps it.
    #[serde(default)]
    pub sampling: f64,
    /// The spans' `service.name` [default: the pod's service account, else `meshctl-proxy`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
}

impl Tracing {
    /// Checks every field; `at` is the section's path (`tracing`).
    pub fn validate(&self, at: &str) -> Result<(), Invalid> {
        check_sampling(self.sampling).map_err(|m| Invalid::at(&format!("{at}.sampling"), m))?;
        if let Some(endpoint) = &self.endpoint {
            check_endpoint(endpoint).map_err(|m| Invalid::at(&format!("{at}.endpoint"), m))?;
        }
        if let Some(name) = &self.service_name
            && (name.is_empty() || name.chars().any(char::is_control))
        {
            return Err(Invalid::at(
                &format!("{at}.serviceName"),
                "expected a non-empty name without control characters",
            ));
        }
        Ok(())
    }
}

/// A sampling rate: a number from 0.0 to 1.0.
pub fn check_sampling(rate: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err(format!(
            "{rate} is not a sampling rate: give 0.0 (none) to 1.0 (every request), e.g. 0.01"
        ))
    }
}

/// Parses a sampling rate written as text (flags, annotations, install values).
pub fn parse_sampling(raw: &str) -> Result<f64, String> {
    let rate: f64 = raw.trim().parse().map_err(|_| {
        format!("{raw:?} is not a number: give a sampling rate from 0.0 to 1.0, e.g. 0.01")
    })?;
    check_sampling(rate).map(|()| rate)
}

/// Checks a collector address written as text (flags, annotations) and returns it.
pub fn parse_endpoint(raw: &str) -> Result<String, String> {
    check_endpoint(raw).map(|()| raw.to_owned())
}

/// A collector address: `host:port` with a port from 1 to 65535 and no scheme or path.
pub fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let hint = "expected host:port of an OTLP/gRPC collector, e.g. collector.observability:4317";
    if endpoint.contains("://") || endpoint.contains('/') {
        return Err(format!("{endpoint:?}: no scheme or path; {hint}"));
    }
    let authority: http::uri::Authority = endpoint
        .parse()
        .map_err(|_| format!("{endpoint:?} is not an address; {hint}"))?;
    if authority.host().is_empty() || endpoint.contains('@') {
        return Err(format!("{endpoint:?} has no host; {hint}"));
    }
    match authority.port_u16() {
        Some(p) if p > 0 => Ok(()),
        _ => Err(format!("{endpoint:?} has no port; {hint}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_endpoints_are_checked_with_the_value_in_the_message() {
        assert_eq!(parse_sampling("0.25"), Ok(0.25));
        assert_eq!(parse_sampling(" 1 "), Ok(1.0));
        let err = parse_sampling("1.5").unwrap_err();
        assert!(err.starts_with("1.5 is not a sampling rate"), "{err}");
        assert!(parse_sampling("all").unwrap_err().contains("\"all\""));
        assert!(parse_sampling("NaN").is_err());
        for ok in ["collector.ns:4317", "10.0.0.1:4317", "[::1]:4317"] {
            check_endpoint(ok).unwrap();
        }
        for bad in [
            "collector",
            "http://c:4317",
            "c:4317/v1",
            "c:0",
            ":4317",
            "u@c:1",
        ] {
            let err = check_endpoint(bad).unwrap_err();
            assert!(err.contains(bad), "{bad}: {err}");
        }
        let t = Tracing {
            sampling: -0.1,
            ..Tracing::default()
        };
        assert_eq!(t.validate("tracing").unwrap_err().path, "tracing.sampling");
        let t = Tracing {
            endpoint: Some("nope".into()),
            ..Tracing::default()
        };
        assert_eq!(t.validate("tracing").unwrap_err().path, "tracing.endpoint");
    }
}
