//! The typed install values: defaults, validation, and the one place their names live.
//! Overrides (`-f`, `--set`, `--set-file`, `--ha`) are applied by `overrides.rs`.

use serde::{Deserialize, Serialize};

use crate::identity::spiffe::validate_trust_domain;

/// Everything an install can be configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Values {
    /// The mesh's own namespace.
    pub namespace: String,
    pub image: Image,
    pub controller: Controller,
    /// Several controller replicas, a PodDisruptionBudget and anti-affinity.
    pub high_availability: bool,
    pub identity: Identity,
    pub webhook: Webhook,
    /// Which namespaces the injector serves. Absent from installs made before it existed.
    #[serde(default)]
    pub injection: Injection,
    /// Where every proxy exports spans. Absent from installs made before it existed.
    #[serde(default)]
    pub tracing: Tracing,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Image {
    pub repository: String,
    pub tag: String,
    pub pull_policy: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Controller {
    pub replicas: u32,
    pub log_level: String,
    pub resources: Resources,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    pub cpu_request: String,
    pub cpu_limit: String,
    pub memory_request: String,
    pub memory_limit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Identity {
    pub trust_domain: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Webhook {
    pub failure_policy: String,
    pub timeout_seconds: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Injection {
    /// Namespaces labelled `istio-injection=enabled` or annotated `linkerd.io/inject: enabled`
    /// are injected too (migration from Istio or Linkerd).
    pub accept_foreign_labels: bool,
}

/// What the injector tells every proxy about tracing (`tracing.endpoint` empty: off).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tracing {
    /// The OTLP/gRPC collector, host:port.
    pub endpoint: String,
    /// The share of requests that start a trace, 0.0 to 1.0 (text, so `--set` keeps it).
    pub sampling: String,
}

impl Default for Tracing {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            sampling: "0".to_owned(),
        }
    }
}

/// Replicas `--ha` asks for unless the values set another number.
pub const HA_REPLICAS: u32 = 3;

const LOG_LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const FAILURE_POLICIES: &[&str] = &["Ignore", "Fail"];

impl Default for Values {
    fn default() -> Self {
        Self {
            namespace: crate::mesh_namespace::DEFAULT.to_owned(),
            image: Image {
                repository: "ghcr.io/meshctl/meshctl".to_owned(),
                tag: env!("CARGO_PKG_VERSION").to_owned(),
                pull_policy: "IfNotPresent".to_owned(),
            },
            controller: Controller {
                replicas: 1,
                log_level: "info".to_owned(),
                resources: Resources {
                    cpu_request: "100m".to_owned(),
                    cpu_limit: "1".to_owned(),
                    memory_request: "64Mi".to_owned(),
                    memory_limit: "256Mi".to_owned(),
                },
            },
            high_availability: false,
            identity: Identity {
                trust_domain: "cluster.local".to_owned(),
            },
            webhook: Webhook {
                // A meshed namespace's pod never starts without its proxy; the selectors keep
                // every other namespace from calling the webhook, so an outage stops only those.
                failure_policy: "Fail".to_owned(),
                timeout_seconds: 10,
            },
            injection: Injection::default(),
            tracing: Tracing::default(),
        }
    }
}

/// A value that is well-typed but not allowed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid value {value:?} for `{key}`: {expected}")]
pub struct InvalidValue {
    pub key: &'static str,
    pub value: String,
    pub expected: String,
}

impl Values {
    /// Checks every value the types cannot; the first problem is returned.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        let invalid = |key: &'static str, value: &dyn std::fmt::Display, expected: &str| {
            Err(InvalidValue {
                key,
                value: value.to_string(),
                expected: expected.to_owned(),
            })
        };
        if !is_dns_label(&self.namespace) {
            return invalid(
                "namespace",
                &self.namespace,
                "expected a DNS label (lower-case letters, digits and '-', at most 63)",
            );
        }
        if self.image.repository.is_empty() || self.image.repository.contains(char::is_whitespace) {
            return invalid(
                "image.repository",
                &self.image.repository,
                "expected an image name",
            );
        }
        if self.image.tag.is_empty() || self.image.tag.contains([':', '/', ' ']) {
            return invalid("image.tag", &self.image.tag, "expected an image tag");
        }
        one_of("image.pullPolicy", &self.image.pull_policy, PULL_POLICIES)?;
        if !(1..=10).contains(&self.controller.replicas) {
            return invalid(
                "controller.replicas",
                &self.controller.replicas,
                "expected 1 to 10",
            );
        }
        if self.high_availability && self.controller.replicas < 2 {
            return invalid(
                "controller.replicas",
                &self.controller.replicas,
                "highAvailability needs at least 2 replicas",
            );
        }
        one_of(
            "controller.logLevel",
            &self.controller.log_level,
            LOG_LEVELS,
        )?;
        let r = &self.controller.resources;
        for (key, value) in [
            ("controller.resources.cpuRequest", &r.cpu_request),
            ("controller.resources.cpuLimit", &r.cpu_limit),
            ("controller.resources.memoryRequest", &r.memory_request),
            ("controller.resources.memoryLimit", &r.memory_limit),
        ] {
            if !is_quantity(value) {
                return invalid(key, value, "expected a quantity like 100m, 1, 64Mi or 1Gi");
            }
        }
        if let Err(e) = validate_trust_domain(&self.identity.trust_domain) {
            return invalid(
                "identity.trustDomain",
                &self.identity.trust_domain,
                &e.to_string(),
            );
        }
        one_of(
            "webhook.failurePolicy",
            &self.webhook.failure_policy,
            FAILURE_POLICIES,
        )?;
        if !(1..=30).contains(&self.webhook.timeout_seconds) {
            return invalid(
                "webhook.timeoutSeconds",
                &self.webhook.timeout_seconds,
                "expected 1 to 30 (the API server's limit)",
            );
        }
        if !self.tracing.endpoint.is_empty()
            && let Err(e) = crate::model::tracing::check_endpoint(&self.tracing.endpoint)
        {
            return invalid("tracing.endpoint", &self.tracing.endpoint, &e);
        }
        if let Err(e) = crate::model::tracing::parse_sampling(&self.tracing.sampling) {
            return invalid("tracing.sampling", &self.tracing.sampling, &e);
        }
        Ok(())
    }
}

fn one_of(key: &'static str, value: &str, allowed: &[&str]) -> Result<(), InvalidValue> {
    if allowed.contains(&value) {
        return Ok(());
    }
    Err(InvalidValue {
        key,
        value: value.to_owned(),
        expected: format!("expected one of {}", allowed.join(", ")),
    })
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A Kubernetes resource quantity: a decimal number with an optional suffix.
fn is_quantity(s: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E", "",
    ];
    let number = SUFFIXES
        .iter()
        .find_map(|suffix| s.strip_suffix(suffix))
        .unwrap_or(s);
    let mut parts = number.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let frac = parts.next();
    !number.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
        && !(whole.is_empty() && frac.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Values::default().validate().unwrap();
    }

    #[test]
    fn quantities() {
        for ok in ["1", "100m", "0.5", "64Mi", "1Gi", ".5"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "m", "1.", "abc", "1 Gi", "-1", "1GB"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn invalid_values_say_what_is_allowed() {
        let mut v = Values::default();
        v.controller.log_level = "loud".to_owned();
        assert_eq!(
            v.validate().unwrap_err().to_string(),
            "invalid value \"loud\" for `controller.logLevel`: expected one of trace, debug, \
             info, warn, error"
        );
        let v = Values {
            high_availability: true,
            ..Values::default()
        };
        assert!(
            v.validate()
                .unwrap_err()
                .to_string()
                .contains("at least 2 replicas")
        );
        let v = Values {
            namespace: "Mesh".to_owned(),
            ..Values::default()
        };
        assert!(v.validate().unwrap_err().to_string().contains("DNS label"));
        let mut v = Values::default();
        v.tracing.sampling = "50".to_owned();
        let err = v.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("invalid value \"50\" for `tracing.sampling`"),
            "{err}"
        );
        v.tracing.sampling = "0.5".to_owned();
        v.tracing.endpoint = "http://collector:4317".to_owned();
        let err = v.validate().unwrap_err().to_string();
        assert!(
            err.contains("`tracing.endpoint`") && err.contains("no scheme"),
            "{err}"
        );
    }
}
