//! The proxy settings of one pod template: defaults, overridden by CLI flags, overridden by
//! `meshctl.io/` annotations on the workload, then on its pod template (Linkerd's order).

use serde_json::{Map, Value};

/// Opts a workload in or out: `enabled` or `disabled`.
pub const INJECT_ANNOTATION: &str = "meshctl.io/inject";
/// Prefix of the annotations that record what an injection did.
pub const INJECTED_PREFIX: &str = "meshctl.io/injected-";

/// One configurable setting. Its annotation is `meshctl.io/<name>` and its CLI flag `--<name>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    ProxyImage,
    ProxyLogLevel,
    ProxyLogFormat,
    ProxyCpuRequest,
    ProxyCpuLimit,
    ProxyMemoryRequest,
    ProxyMemoryLimit,
    SkipInboundPorts,
    SkipOutboundPorts,
    SkipOutboundCidrs,
    OpaquePorts,
    LocalhostPorts,
    NativeSidecar,
    IptablesMode,
    MeshNamespace,
    TrustDomain,
    AdminOperatorFrom,
    TracingEndpoint,
    TracingSampling,
}

const KEY_COUNT: usize = 19;

impl Key {
    pub const ALL: [Key; KEY_COUNT] = [
        Key::ProxyImage,
        Key::ProxyLogLevel,
        Key::ProxyLogFormat,
        Key::ProxyCpuRequest,
        Key::ProxyCpuLimit,
        Key::ProxyMemoryRequest,
        Key::ProxyMemoryLimit,
        Key::SkipInboundPorts,
        Key::SkipOutboundPorts,
        Key::SkipOutboundCidrs,
        Key::OpaquePorts,
        Key::LocalhostPorts,
        Key::NativeSidecar,
        Key::IptablesMode,
        Key::MeshNamespace,
        Key::TrustDomain,
        Key::AdminOperatorFrom,
        Key::TracingEndpoint,
        Key::TracingSampling,
    ];

    /// The CLI flag name, and the annotation name after `meshctl.io/`.
    pub fn name(self) -> &'static str {
        self.annotation().trim_start_matches("meshctl.io/")
    }

    /// The full annotation name.
    pub fn annotation(self) -> &'static str {
        match self {
            Key::ProxyImage => "meshctl.io/proxy-image",
            Key::ProxyLogLevel => "meshctl.io/proxy-log-level",
            Key::ProxyLogFormat => "meshctl.io/proxy-log-format",
            Key::ProxyCpuRequest => "meshctl.io/proxy-cpu-request",
            Key::ProxyCpuLimit => "meshctl.io/proxy-cpu-limit",
            Key::ProxyMemoryRequest => "meshctl.io/proxy-memory-request",
            Key::ProxyMemoryLimit => "meshctl.io/proxy-memory-limit",
            Key::SkipInboundPorts => "meshctl.io/skip-inbound-ports",
            Key::SkipOutboundPorts => "meshctl.io/skip-outbound-ports",
            Key::SkipOutboundCidrs => "meshctl.io/skip-outbound-cidrs",
            Key::OpaquePorts => "meshctl.io/opaque-ports",
            Key::LocalhostPorts => "meshctl.io/localhost-ports",
            Key::NativeSidecar => "meshctl.io/native-sidecar",
            Key::IptablesMode => "meshctl.io/iptables-mode",
            Key::MeshNamespace => "meshctl.io/mesh-namespace",
            Key::TrustDomain => "meshctl.io/trust-domain",
            Key::AdminOperatorFrom => "meshctl.io/admin-operator-from",
            Key::TracingEndpoint => "meshctl.io/tracing-endpoint",
            Key::TracingSampling => "meshctl.io/tracing-sampling",
        }
    }

    /// The value used when neither a flag nor an annotation sets one (`None`: not set at all).
    fn default_value(self) -> Option<&'static str> {
        match self {
            Key::ProxyImage => Some(DEFAULT_IMAGE),
            Key::ProxyLogLevel => Some("info"),
            Key::ProxyLogFormat => Some("text"),
            Key::ProxyCpuRequest => Some("100m"),
            Key::ProxyMemoryRequest => Some("64Mi"),
            Key::ProxyMemoryLimit => Some("256Mi"),
            Key::NativeSidecar => Some("true"),
            Key::IptablesMode => Some("auto"),
            Key::MeshNamespace => Some(crate::mesh_namespace::DEFAULT),
            Key::ProxyCpuLimit
            | Key::SkipInboundPorts
            | Key::SkipOutboundPorts
            | Key::SkipOutboundCidrs
            | Key::OpaquePorts
            | Key::LocalhostPorts
            | Key::TrustDomain
            | Key::AdminOperatorFrom
            | Key::TracingEndpoint
            | Key::TracingSampling => None,
        }
    }

    /// Checks a raw value and returns its normalized form, or what is wrong with it.
    pub fn normalize(self, raw: &str) -> Result<String, String> {
        let raw = raw.trim();
        match self {
            Key::ProxyImage => token(raw, "an image reference like ghcr.io/meshctl/meshctl:0.1.0"),
            Key::ProxyLogLevel => token(raw, "a log filter like info or warn,meshctl=debug"),
            Key::ProxyLogFormat => one_of(raw, &["text", "json"]),
            Key::ProxyCpuRequest | Key::ProxyCpuLimit => quantity(raw, "100m or 1"),
            Key::ProxyMemoryRequest | Key::ProxyMemoryLimit => quantity(raw, "64Mi or 1Gi"),
            // proxy-init takes ranges; the proxy's opaque list is single ports.
            Key::SkipInboundPorts | Key::SkipOutboundPorts => ports(raw, true),
            Key::OpaquePorts | Key::LocalhostPorts => ports(raw, false),
            Key::SkipOutboundCidrs => cidrs(raw),
            Key::NativeSidecar => one_of(raw, &["true", "false"]),
            Key::IptablesMode => one_of(raw, &["auto", "nft", "legacy"]),
            Key::MeshNamespace => crate::mesh_namespace::validate(raw).map(|()| raw.to_owned()),
            Key::TrustDomain => crate::identity::spiffe::validate_trust_domain(raw)
                .map(|()| raw.to_owned())
                .map_err(|e| e.to_string()),
            Key::AdminOperatorFrom => raw
                .parse::<crate::proxy::admin_access::OperatorAccess>()
                .map(|_| raw.split(',').map(str::trim).collect::<Vec<_>>().join(",")),
            Key::TracingEndpoint => crate::model::tracing::parse_endpoint(raw),
            Key::TracingSampling => {
                crate::model::tracing::parse_sampling(raw).map(|r| r.to_string())
            }
        }
    }
}

/// The image of this build, used for the proxy and the init step.
pub const DEFAULT_IMAGE: &str = concat!("ghcr.io/meshctl/meshctl:", env!("CARGO_PKG_VERSION"));

fn token(raw: &str, example: &str) -> Result<String, String> {
    if raw.is_empty() || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("expected {example}, without spaces"));
    }
    Ok(raw.to_owned())
}

fn one_of(raw: &str, allowed: &[&str]) -> Result<String, String> {
    match allowed.iter().find(|a| **a == raw) {
        Some(found) => Ok((*found).to_owned()),
        None => Err(format!("expected one of {}", allowed.join(", "))),
    }
}

/// A Kubernetes resource quantity: a decimal number and an optional suffix or exponent.
fn quantity(raw: &str, example: &str) -> Result<String, String> {
    const SUFFIXES: [&str; 16] = [
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E",
    ];
    let number_end = raw
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(raw.len());
    let (number, suffix) = raw.split_at(number_end);
    let number_ok = number.bytes().any(|b| b.is_ascii_digit()) && number.matches('.').count() <= 1;
    let exponent_ok = suffix.strip_prefix(['e', 'E']).is_some_and(|exp| {
        let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    });
    if number_ok && (SUFFIXES.contains(&suffix) || exponent_ok) {
        Ok(raw.to_owned())
    } else {
        Err(format!("expected a Kubernetes quantity like {example}"))
    }
}

/// A comma-separated list of TCP ports (and `low-high` ranges if allowed), normalized to
/// `a,b,c` without spaces.
fn ports(raw: &str, ranges: bool) -> Result<String, String> {
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0);
    list(raw, |item| {
        let valid = match item.split_once('-') {
            Some((low, high)) if ranges => port(low).zip(port(high)).is_some_and(|(l, h)| l <= h),
            Some(_) => false,
            None => port(item).is_some(),
        };
        if valid {
            Ok(())
        } else if ranges {
            Err(format!(
                "{item:?} is not a port (1-65535) or range; expected a list like 22,8000-8100"
            ))
        } else {
            Err(format!(
                "{item:?} is not a port (1-65535); expected a list like 3306,5432"
            ))
        }
    })
}

/// A comma-separated list of IPv4/IPv6 CIDRs, normalized to `a,b` without spaces.
fn cidrs(raw: &str) -> Result<String, String> {
    list(raw, |item| {
        let valid = item.split_once('/').is_some_and(|(ip, len)| {
            match (ip.parse::<std::net::IpAddr>(), len.parse::<u8>()) {
                (Ok(std::net::IpAddr::V4(_)), Ok(len)) => len <= 32,
                (Ok(std::net::IpAddr::V6(_)), Ok(len)) => len <= 128,
                _ => false,
            }
        });
        if valid {
            Ok(())
        } else {
            Err(format!(
                "{item:?} is not a CIDR; expected a list like 10.0.0.0/8,fd00::/8"
            ))
        }
    })
}

fn list(raw: &str, check: impl Fn(&str) -> Result<(), String>) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    for item in raw.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        check(item)?;
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(item);
    }
    Ok(out)
}

/// Values given on the command line; they override the defaults, annotations override them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    values: Box<[Option<String>; KEY_COUNT]>,
}

impl Overrides {
    /// Sets `key` from a flag value; the error says what was expected.
    pub fn set(&mut self, key: Key, raw: &str) -> Result<(), String> {
        self.values[key as usize] = Some(key.normalize(raw)?);
        Ok(())
    }

    /// The value set for `key`, if any.
    pub fn get(&self, key: Key) -> Option<&str> {
        self.values[key as usize].as_deref()
    }
}

/// A setting in an annotation that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("annotation {annotation}: {value:?} is invalid: {reason}")]
pub struct BadAnnotation {
    pub annotation: &'static str,
    pub value: String,
    pub reason: String,
}

/// The effective settings of one pod template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    values: [Option<String>; KEY_COUNT],
}

impl Settings {
    /// Resolves every key: pod template annotation, else workload annotation, else flag, else
    /// default. `layers` are annotation maps from the least to the most specific.
    pub fn resolve(
        overrides: &Overrides,
        layers: &[Option<&Map<String, Value>>],
    ) -> Result<Self, BadAnnotation> {
        let mut values: [Option<String>; KEY_COUNT] = Default::default();
        for key in Key::ALL {
            let from_annotation = layers
                .iter()
                .rev()
                .flatten()
                .find_map(|annotations| annotations.get(key.annotation()));
            values[key as usize] = match from_annotation {
                Some(value) => {
                    let raw = value.as_str().ok_or_else(|| BadAnnotation {
                        annotation: key.annotation(),
                        value: value.to_string(),
                        reason: "annotation values must be strings; quote it".to_owned(),
                    })?;
                    let normalized = key.normalize(raw).map_err(|reason| BadAnnotation {
                        annotation: key.annotation(),
                        value: raw.to_owned(),
                        reason,
                    })?;
                    Some(normalized)
                }
                None => overrides
                    .get(key)
                    .map(str::to_owned)
                    .or_else(|| key.default_value().map(str::to_owned)),
            };
        }
        // An empty list is the same as no list.
        for value in &mut values {
            if value.as_deref() == Some("") {
                *value = None;
            }
        }
        Ok(Settings { values })
    }

    /// The effective value of `key` (`None` when unset and without default).
    pub fn get(&self, key: Key) -> Option<&str> {
        self.values[key as usize].as_deref()
    }

    /// Whether the proxy runs as a native sidecar (an init container with `restartPolicy: Always`).
    pub fn native_sidecar(&self) -> bool {
        self.get(Key::NativeSidecar) != Some("false")
    }

    /// The settings that have a value, in a fixed order, for the `meshctl.io/injected-*` record.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &str)> {
        Key::ALL
            .into_iter()
            .filter_map(|key| Some((key, self.get(key)?)))
    }
}

/// What `meshctl.io/inject` says about a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectMode {
    /// No annotation: the CLI injects (it was asked to).
    Unset,
    Enabled,
    Disabled,
}

/// Reads `meshctl.io/inject` from the most specific layer that has it.
pub fn inject_mode(layers: &[Option<&Map<String, Value>>]) -> Result<InjectMode, BadAnnotation> {
    let found = layers
        .iter()
        .rev()
        .flatten()
        .find_map(|annotations| annotations.get(INJECT_ANNOTATION));
    match found {
        None => Ok(InjectMode::Unset),
        Some(Value::String(s)) if s == "enabled" => Ok(InjectMode::Enabled),
        Some(Value::String(s)) if s == "disabled" => Ok(InjectMode::Disabled),
        Some(other) => Err(BadAnnotation {
            annotation: INJECT_ANNOTATION,
            value: other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned),
            reason: "expected \"enabled\" or \"disabled\"".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities() {
        for ok in ["100m", "1", "0.5", "64Mi", "1Gi", "2e3", "1.5G", "10k"] {
            assert_eq!(
                Key::ProxyCpuRequest.normalize(ok),
                Ok(ok.to_owned()),
                "{ok}"
            );
        }
        for bad in ["", "m", "1.2.3", "100mb", "-1", "1 Gi", "1e", "e3", "0x10"] {
            assert!(Key::ProxyMemoryLimit.normalize(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn port_and_cidr_lists_are_normalized() {
        assert_eq!(
            Key::SkipInboundPorts.normalize(" 22, 8080 ,"),
            Ok("22,8080".into())
        );
        assert!(Key::OpaquePorts.normalize("0").is_err());
        assert!(Key::OpaquePorts.normalize("70000").is_err());
        assert!(Key::OpaquePorts.normalize("80-90").is_err());
        assert_eq!(
            Key::SkipOutboundPorts.normalize("25, 8000-8100"),
            Ok("25,8000-8100".into())
        );
        assert!(Key::SkipInboundPorts.normalize("90-80").is_err());
        assert!(Key::SkipInboundPorts.normalize("1-2-3").is_err());
        assert_eq!(
            Key::SkipOutboundCidrs.normalize("10.0.0.0/8, fd00::/8"),
            Ok("10.0.0.0/8,fd00::/8".into())
        );
        assert!(Key::SkipOutboundCidrs.normalize("10.0.0.0/33").is_err());
        assert!(Key::SkipOutboundCidrs.normalize("10.0.0.0").is_err());
    }

    #[test]
    fn pod_annotation_beats_workload_annotation_beats_flag_beats_default() {
        let mut flags = Overrides::default();
        flags.set(Key::ProxyCpuRequest, "200m").unwrap();
        flags.set(Key::ProxyLogLevel, "debug").unwrap();
        flags.set(Key::ProxyMemoryRequest, "1Gi").unwrap();
        let workload =
            json!({"meshctl.io/proxy-cpu-request": "300m", "meshctl.io/proxy-log-level": "warn"});
        let pod = json!({"meshctl.io/proxy-cpu-request": "400m"});
        let layers = [workload.as_object(), pod.as_object()];
        let s = Settings::resolve(&flags, &layers).unwrap();
        assert_eq!(s.get(Key::ProxyCpuRequest), Some("400m"));
        assert_eq!(s.get(Key::ProxyLogLevel), Some("warn"));
        assert_eq!(s.get(Key::ProxyMemoryRequest), Some("1Gi"));
        assert_eq!(s.get(Key::ProxyMemoryLimit), Some("256Mi"));
        assert_eq!(s.get(Key::ProxyCpuLimit), None);
        assert!(s.native_sidecar());
    }

    #[test]
    fn bad_annotations_name_the_annotation() {
        let pod = json!({"meshctl.io/opaque-ports": "http"});
        let err = Settings::resolve(&Overrides::default(), &[pod.as_object()]).unwrap_err();
        assert_eq!(err.annotation, "meshctl.io/opaque-ports");
        assert!(err.to_string().contains("\"http\" is not a port"), "{err}");
        let pod = json!({"meshctl.io/skip-inbound-ports": 22});
        let err = Settings::resolve(&Overrides::default(), &[pod.as_object()]).unwrap_err();
        assert!(err.to_string().contains("must be strings"), "{err}");
        let pod = json!({"meshctl.io/inject": "yes"});
        assert!(inject_mode(&[pod.as_object()]).is_err());
    }

    #[test]
    fn inject_mode_reads_the_most_specific_layer() {
        let workload = json!({"meshctl.io/inject": "disabled"});
        let pod = json!({"meshctl.io/inject": "enabled"});
        assert_eq!(
            inject_mode(&[workload.as_object(), pod.as_object()]),
            Ok(InjectMode::Enabled)
        );
        assert_eq!(
            inject_mode(&[workload.as_object(), None]),
            Ok(InjectMode::Disabled)
        );
        assert_eq!(inject_mode(&[None, None]), Ok(InjectMode::Unset));
    }
}
