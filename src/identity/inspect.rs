//! Facts about certificates for `meshctl certs inspect`: subject, SANs, validity, issuer,
//! key type, chain status among the certificates given, and expiry warnings. No I/O.

use std::time::{Duration, SystemTime};

use rustls::pki_types::CertificateDer;
use serde::Serialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use super::ca::system_time;

/// A certificate expiring sooner than this gets a warning.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(60 * 86_400);

/// One certificate to look at, with where it came from.
pub struct Input<'a> {
    pub file: &'a str,
    /// 1-based position in its file.
    pub number: usize,
    pub der: &'a CertificateDer<'a>,
}

/// What one certificate says about itself and how it chains.
#[derive(Debug, Clone, Serialize)]
pub struct CertFacts {
    pub file: String,
    pub number: usize,
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub is_ca: bool,
    pub key: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    /// Days left to the nearest whole day, so a one-year certificate read a few seconds
    /// after it was made still says 365 (negative once long expired).
    pub expires_in_days: i64,
    pub chain: ChainStatus,
    /// Soon-to-expire notes: the certificate still works.
    pub warnings: Vec<String>,
    /// What makes the certificate unusable in the mesh.
    pub problems: Vec<String>,
}

/// How a certificate relates to the others given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum ChainStatus {
    /// A root: self-issued and its own signature verifies.
    SelfSigned,
    /// Signed by one of the given certificates.
    Verified { by: String },
    /// The issuer is not among the given certificates, so the signature was not checked.
    IssuerNotGiven { issuer: String },
    /// A certificate with the issuer's name is given, but the signature does not verify.
    DoesNotVerify { issuer: String },
}

impl std::fmt::Display for ChainStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SelfSigned => f.write_str("self-signed root"),
            Self::Verified { by } => write!(f, "verified by {by}"),
            Self::IssuerNotGiven { issuer } => {
                write!(f, "not checked: issuer `{issuer}` not given")
            }
            Self::DoesNotVerify { issuer } => {
                write!(f, "DOES NOT VERIFY: signature is not from `{issuer}`")
            }
        }
    }
}

/// Inspects every input; chains are checked against all inputs (give the issuer and anchor too).
pub fn inspect(inputs: &[Input<'_>], now: SystemTime) -> Vec<CertFacts> {
    // pem.rs only hands over certificates that parse; skip defensively otherwise.
    let parsed: Vec<(&Input<'_>, X509Certificate<'_>)> = inputs
        .iter()
        .filter_map(|input| {
            x509_parser::parse_x509_certificate(input.der)
                .ok()
                .map(|(_, cert)| (input, cert))
        })
        .collect();
    parsed
        .iter()
        .map(|(input, cert)| facts(input, cert, &parsed, now))
        .collect()
}

fn facts(
    input: &Input<'_>,
    cert: &X509Certificate<'_>,
    all: &[(&Input<'_>, X509Certificate<'_>)],
    now: SystemTime,
) -> CertFacts {
    let validity = cert.validity();
    let not_before = system_time(validity.not_before.timestamp());
    let not_after = system_time(validity.not_after.timestamp());
    let left = validity.not_after.timestamp()
        - i64::try_from(
            now.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
        )
        .unwrap_or(i64::MAX);
    let expires_in_days = (left + 43_200).div_euclid(86_400);
    let subject = cert.subject().to_string();
    let key = key_type(cert);
    let chain = chain_status(cert, all);

    let mut warnings = Vec::new();
    let mut problems = Vec::new();
    if now > not_after {
        problems.push(format!("expired on {}", rfc3339(not_after)));
    } else if now < not_before {
        problems.push(format!("not valid before {}", rfc3339(not_before)));
    } else if not_after.duration_since(now).unwrap_or_default() < EXPIRY_WARNING {
        warnings.push(format!(
            "expires in {expires_in_days} days ({}); renew it soon",
            rfc3339(not_after)
        ));
    }
    if key != "ECDSA P-256" {
        problems.push(format!("key is {key}; the mesh uses ECDSA P-256"));
    }
    if let ChainStatus::DoesNotVerify { issuer } = &chain {
        problems.push(format!(
            "signature does not verify against the given `{issuer}`"
        ));
    }
    CertFacts {
        file: input.file.to_owned(),
        number: input.number,
        subject,
        issuer: cert.issuer().to_string(),
        sans: sans(cert),
        is_ca: cert.is_ca(),
        key: key.to_owned(),
        serial: cert.raw_serial_as_string(),
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        expires_in_days,
        chain,
        warnings,
        problems,
    }
}

fn chain_status(
    cert: &X509Certificate<'_>,
    all: &[(&Input<'_>, X509Certificate<'_>)],
) -> ChainStatus {
    let issuer = cert.issuer().to_string();
    if cert.subject() == cert.issuer() {
        return match cert.verify_signature(None) {
            Ok(()) => ChainStatus::SelfSigned,
            Err(_) => ChainStatus::DoesNotVerify { issuer },
        };
    }
    let mut candidates = all
        .iter()
        .filter(|(_, other)| other.subject() == cert.issuer())
        .peekable();
    if candidates.peek().is_none() {
        return ChainStatus::IssuerNotGiven { issuer };
    }
    for (input, other) in candidates {
        if cert.verify_signature(Some(other.public_key())).is_ok() {
            return ChainStatus::Verified {
                by: format!("{issuer} ({} #{})", input.file, input.number),
            };
        }
    }
    ChainStatus::DoesNotVerify { issuer }
}

fn sans(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .map(|name| match name {
            GeneralName::URI(u) => format!("URI:{u}"),
            GeneralName::DNSName(d) => format!("DNS:{d}"),
            GeneralName::RFC822Name(m) => format!("email:{m}"),
            GeneralName::IPAddress(ip) => match ip.len() {
                4 => format!(
                    "IP:{}",
                    std::net::Ipv4Addr::from([ip[0], ip[1], ip[2], ip[3]])
                ),
                16 => {
                    let mut b = [0u8; 16];
                    b.copy_from_slice(ip);
                    format!("IP:{}", std::net::Ipv6Addr::from(b))
                }
                _ => "IP:?".to_owned(),
            },
            other => other.to_string(),
        })
        .collect()
}

/// The certificate's public key algorithm in words.
fn key_type(cert: &X509Certificate<'_>) -> &'static str {
    let spki = cert.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|oid| oid.to_id_string());
    match (alg.as_str(), curve.as_deref()) {
        ("1.2.840.10045.2.1", Some("1.2.840.10045.3.1.7")) => "ECDSA P-256",
        ("1.2.840.10045.2.1", Some("1.3.132.0.34")) => "ECDSA P-384",
        ("1.2.840.10045.2.1", _) => "ECDSA (other curve)",
        ("1.2.840.113549.1.1.1", _) => "RSA",
        ("1.3.101.112", _) => "Ed25519",
        _ => "unknown",
    }
}

/// RFC 3339 in UTC, whole seconds (`2026-11-22T08:00:00Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| format!("{t}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::ca;

    const DAY: Duration = Duration::from_secs(86_400);

    fn input<'a>(file: &'a str, der: &'a CertificateDer<'a>) -> Input<'a> {
        Input {
            file,
            number: 1,
            der,
        }
    }

    #[test]
    fn a_generated_chain_verifies_and_is_described() {
        let now = SystemTime::now();
        let g = ca::generate("cluster.local", DAY * 3650, DAY * 365, now).unwrap();
        let facts = inspect(
            &[
                input("issuer.crt", g.issuer.der()),
                input("ca.crt", g.anchor.der()),
            ],
            now,
        );
        assert_eq!(facts.len(), 2);
        let (issuer, anchor) = (&facts[0], &facts[1]);
        assert_eq!(issuer.subject, "CN=identity.cluster.local");
        assert_eq!(
            issuer.chain,
            ChainStatus::Verified {
                by: "CN=root.cluster.local (ca.crt #1)".to_owned()
            }
        );
        assert_eq!(anchor.chain, ChainStatus::SelfSigned);
        assert!(issuer.is_ca && issuer.problems.is_empty() && issuer.warnings.is_empty());
        assert_eq!(issuer.key, "ECDSA P-256");
        assert_eq!(issuer.expires_in_days, 365);
        assert_eq!(issuer.not_after, rfc3339(now + DAY * 365));
    }

    #[test]
    fn issuer_alone_is_not_checked_and_a_foreign_anchor_does_not_verify() {
        let now = SystemTime::now();
        let a = ca::generate("cluster.local", DAY * 20, DAY * 10, now).unwrap();
        let b = ca::generate("cluster.local", DAY * 20, DAY * 10, now).unwrap();
        let alone = inspect(&[input("issuer.crt", a.issuer.der())], now);
        assert!(matches!(alone[0].chain, ChainStatus::IssuerNotGiven { .. }));
        assert!(alone[0].problems.is_empty());
        assert_eq!(alone[0].warnings.len(), 1, "{:?}", alone[0].warnings);
        assert!(alone[0].warnings[0].starts_with("expires in 10 days"));

        let mixed = inspect(
            &[
                input("issuer.crt", a.issuer.der()),
                input("other.crt", b.anchor.der()),
            ],
            now,
        );
        assert_eq!(
            mixed[0].chain,
            ChainStatus::DoesNotVerify {
                issuer: "CN=root.cluster.local".to_owned()
            }
        );
        assert_eq!(mixed[0].problems.len(), 1);
    }

    #[test]
    fn expired_and_foreign_keys_are_problems() {
        let now = SystemTime::now();
        let g = ca::generate("cluster.local", DAY * 2, DAY, now - DAY * 3).unwrap();
        let facts = inspect(&[input("old.crt", g.anchor.der())], now);
        assert!(
            facts[0].problems[0].starts_with("expired on "),
            "{:?}",
            facts[0]
        );
        assert!(facts[0].expires_in_days < 0);

        let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["x".to_owned()])
            .unwrap()
            .self_signed(&ed)
            .unwrap();
        let facts = inspect(&[input("ed.crt", cert.der())], now);
        assert_eq!(facts[0].key, "Ed25519");
        assert_eq!(facts[0].sans, ["DNS:x"]);
        assert!(
            facts[0].problems[0].contains("key is Ed25519"),
            "{:?}",
            facts[0]
        );
    }
}
