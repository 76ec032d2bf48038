//! SPIFFE ids of meshed workloads: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.
//!
//! Parsing and formatting only; the id is what leaf certificates carry in their URI SAN.

use std::fmt;
use std::str::FromStr;

/// The identity of one Kubernetes service account in one trust domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpiffeId {
    trust_domain: String,
    namespace: String,
    service_account: String,
}

/// Why a string is not a meshctl SPIFFE id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpiffeError {
    #[error("`{0}` is not a SPIFFE id: it must start with `spiffe://`")]
    Scheme(String),
    #[error("`{0}` is not a meshctl SPIFFE id: expected `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`")]
    Shape(String),
    #[error(
        "trust domain `{0}` is invalid: use lowercase letters, digits, `.`, `-` and `_` \
         (for example `cluster.local`)"
    )]
    TrustDomain(String),
    #[error(
        "{what} `{value}` is invalid: use a Kubernetes name (lowercase letters, digits, `-`, `.`)"
    )]
    Name { what: &'static str, value: String },
}

impl SpiffeId {
    /// Builds an id after checking each part (trust domain per the SPIFFE spec, names per Kubernetes).
    pub fn new(
        trust_domain: &str,
        namespace: &str,
        service_account: &str,
    ) -> Result<Self, SpiffeError> {
        validate_trust_domain(trust_domain)?;
        validate_name("namespace", namespace)?;
        validate_name("service account", service_account)?;
        Ok(Self {
            trust_domain: trust_domain.to_owned(),
            namespace: namespace.to_owned(),
            service_account: service_account.to_owned(),
        })
    }

    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn service_account(&self) -> &str {
        &self.service_account
    }

    /// The DNS-shaped name sent as TLS SNI for this identity
    /// (`<sa>.<ns>.serviceaccount.identity.<trust-domain>`, as Linkerd does).
    pub fn sni_name(&self) -> String {
        format!(
            "{}.{}.serviceaccount.identity.{}",
            self.service_account, self.namespace, self.trust_domain
        )
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "spiffe://{}/ns/{}/sa/{}",
            self.trust_domain, self.namespace, self.service_account
        )
    }
}

impl FromStr for SpiffeId {
    type Err = SpiffeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s
            .strip_prefix("spiffe://")
            .ok_or_else(|| SpiffeError::Scheme(s.to_owned()))?;
        let mut parts = rest.split('/');
        match (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) {
            (Some(td), Some("ns"), Some(ns), Some("sa"), Some(sa), None) => Self::new(td, ns, sa),
            _ => Err(SpiffeError::Shape(s.to_owned())),
        }
    }
}

// In config files an id is written as its URI string.
impl serde::Serialize for SpiffeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SpiffeId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::model::from_str_de(d)
    }
}

/// Validates a trust domain name as the SPIFFE spec allows it.
pub fn validate_trust_domain(td: &str) -> Result<(), SpiffeError> {
    let ok = !td.is_empty()
        && td.len() <= 255
        && td.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(SpiffeError::TrustDomain(td.to_owned()))
    }
}

/// Kubernetes namespace / service account names are DNS subdomains (RFC 1123).
fn validate_name(what: &'static str, value: &str) -> Result<(), SpiffeError> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'))
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(SpiffeError::Name {
            what,
            value: value.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_round_trip() {
        let s = "spiffe://cluster.local/ns/shop/sa/web";
        let id: SpiffeId = s.parse().unwrap();
        assert_eq!(id.trust_domain(), "cluster.local");
        assert_eq!(id.namespace(), "shop");
        assert_eq!(id.service_account(), "web");
        assert_eq!(id.to_string(), s);
        assert_eq!(
            id.sni_name(),
            "web.shop.serviceaccount.identity.cluster.local"
        );
    }

    #[test]
    fn refuses_wrong_shapes_with_a_reason() {
        for (input, want) in [
            (
                "http://cluster.local/ns/a/sa/b",
                "must start with `spiffe://`",
            ),
            ("spiffe://cluster.local/ns/a", "expected `spiffe://"),
            (
                "spiffe://cluster.local/ns/a/sa/b/extra",
                "expected `spiffe://",
            ),
            ("spiffe://cluster.local/sa/a/ns/b", "expected `spiffe://"),
            (
                "spiffe://Cluster.Local/ns/a/sa/b",
                "trust domain `Cluster.Local`",
            ),
            ("spiffe:///ns/a/sa/b", "trust domain ``"),
            ("spiffe://td/ns/Shop/sa/b", "namespace `Shop`"),
            ("spiffe://td/ns/a/sa/-b", "service account `-b`"),
            ("spiffe://td/ns//sa/b", "namespace ``"),
        ] {
            let err = input.parse::<SpiffeId>().unwrap_err().to_string();
            assert!(err.contains(want), "{input}: {err}");
        }
    }
}

/// Why a certificate carries no usable SPIFFE id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertIdError {
    #[error("the certificate cannot be parsed: {0}")]
    NotX509(String),
    #[error("the certificate has no SPIFFE id (URI SAN `spiffe://<td>/ns/<ns>/sa/<sa>`)")]
    Missing,
    #[error("the certificate has {0} SPIFFE ids; a mesh certificate has exactly one")]
    Several(usize),
    #[error("the certificate's SPIFFE id is invalid: {0}")]
    Invalid(#[from] SpiffeError),
}

/// The one SPIFFE id in a DER certificate's URI SANs.
pub fn from_certificate(der: &[u8]) -> Result<SpiffeId, CertIdError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| CertIdError::NotX509(e.to_string()))?;
    from_parsed(&cert)
}

/// As [`from_certificate`], for an already parsed certificate.
pub fn from_parsed(
    cert: &x509_parser::certificate::X509Certificate<'_>,
) -> Result<SpiffeId, CertIdError> {
    let sans = cert
        .subject_alternative_name()
        .map_err(|e| CertIdError::NotX509(e.to_string()))?;
    let mut uris = sans
        .iter()
        .flat_map(|ext| &ext.value.general_names)
        .filter_map(|name| match name {
            x509_parser::extensions::GeneralName::URI(uri) if uri.starts_with("spiffe://") => {
                Some(*uri)
            }
            _ => None,
        });
    let first = uris.next().ok_or(CertIdError::Missing)?;
    let more = uris.count();
    if more > 0 {
        return Err(CertIdError::Several(more + 1));
    }
    Ok(first.parse()?)
}
