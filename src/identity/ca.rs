//! The mesh CA: trust anchor and issuer generation (ECDSA P-256), and signing leaf certificates
//! from CSRs, only for the one SPIFFE id the requester is allowed to have.

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, CertificateSigningRequestDer};

use super::spiffe::{SpiffeId, validate_trust_domain};

/// Default lifetimes (the `meshctl certs create` flags and the proxy's leaves).
pub const DEFAULT_ANCHOR_VALIDITY: Duration = Duration::from_secs(87_600 * 3600);
pub const DEFAULT_ISSUER_VALIDITY: Duration = Duration::from_secs(8_760 * 3600);
pub const DEFAULT_LEAF_VALIDITY: Duration = Duration::from_secs(24 * 3600);

/// Clock skew tolerated between CA and peers: certificates start this much in the past.
const BACKDATE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error(transparent)]
    TrustDomain(#[from] super::spiffe::SpiffeError),
    #[error("a validity of {0:?} is too short")]
    TooShort(Duration),
    #[error(
        "the issuer validity ({issuer:?}) is longer than the anchor's ({anchor:?}): \
         shorten --issuer-validity or lengthen --anchor-validity"
    )]
    IssuerOutlivesAnchor { anchor: Duration, issuer: Duration },
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the issuer certificate cannot be parsed: {0}")]
    BadIssuer(String),
    #[error("the issuer certificate is not a CA (no `CA:TRUE` basic constraint)")]
    IssuerNotCa,
    #[error("the issuer key does not match the issuer certificate's public key")]
    KeyMismatch,
    #[error("the issuer certificate has expired; create a new one with `meshctl certs create`")]
    IssuerExpired,
    #[error("the CSR cannot be used: {0}")]
    BadCsr(rcgen::Error),
    #[error("the CSR's key is {0}; the mesh only signs ECDSA P-256 keys")]
    CsrKeyType(&'static str),
    #[error("the CSR asks for {asked}, but this requester may only have `{allowed}`")]
    IdentityNotAllowed { asked: String, allowed: SpiffeId },
    #[error(
        "`{asked}` is outside trust domain `{trust_domain}` of this CA's issuer: ask for an \
         identity spiffe://{trust_domain}/ns/<ns>/sa/<sa>, or use that trust domain's issuer"
    )]
    OtherTrustDomain {
        asked: Box<SpiffeId>,
        trust_domain: String,
    },
    #[error(
        "the issuer certificate names no trust domain: give it a URI SAN spiffe://<trust-domain> \
         or the subject CN identity.<trust-domain> (as `meshctl certs create` does)"
    )]
    NoTrustDomain,
}

/// A freshly generated trust anchor and issuer, with their keys.
pub struct GeneratedCa {
    pub anchor: rcgen::Certificate,
    pub anchor_key: KeyPair,
    pub issuer: rcgen::Certificate,
    pub issuer_key: KeyPair,
}

/// Generates a self-signed trust anchor and an issuer (intermediate) it signs, for `trust_domain`.
pub fn generate(
    trust_domain: &str,
    anchor_validity: Duration,
    issuer_validity: Duration,
    now: SystemTime,
) -> Result<GeneratedCa, CaError> {
    validate_trust_domain(trust_domain)?;
    for v in [anchor_validity, issuer_validity] {
        if v < Duration::from_secs(60) {
            return Err(CaError::TooShort(v));
        }
    }
    if issuer_validity > anchor_validity {
        return Err(CaError::IssuerOutlivesAnchor {
            anchor: anchor_validity,
            issuer: issuer_validity,
        });
    }
    let anchor_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let anchor_params = ca_params(
        &format!("root.{trust_domain}"),
        BasicConstraints::Unconstrained,
        now,
        anchor_validity,
    );
    let anchor = anchor_params.self_signed(&anchor_key)?;
    let anchor_issuer = Issuer::from_params(&anchor_params, &anchor_key);

    let issuer_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    // Path length 0: the issuer signs leaves only.
    let issuer_params = ca_params(
        &format!("identity.{trust_domain}"),
        BasicConstraints::Constrained(0),
        now,
        issuer_validity,
    );
    let issuer = issuer_params.signed_by(&issuer_key, &anchor_issuer)?;
    Ok(GeneratedCa {
        anchor,
        anchor_key,
        issuer,
        issuer_key,
    })
}

fn ca_params(
    common_name: &str,
    constraints: BasicConstraints,
    now: SystemTime,
    validity: Duration,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(constraints);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.use_authority_key_identifier_extension = true;
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + validity).into();
    params
}

/// A leaf certificate signed for a CSR, with the chain up to (not including) the anchor.
#[derive(Debug, Clone)]
pub struct IssuedLeaf {
    /// Leaf first, then the issuer.
    pub chain: Vec<CertificateDer<'static>>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

/// Signs leaf certificates with the issuer's key.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    issuer_cert: CertificateDer<'static>,
    issuer_not_after: SystemTime,
    leaf_validity: Duration,
    /// The only trust domain this CA signs identities of (read from its issuer).
    trust_domain: String,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("trust_domain", &self.trust_domain)
            .field("issuer_not_after", &self.issuer_not_after)
            .field("leaf_validity", &self.leaf_validity)
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// A CA from an issuer certificate and its key (checked to be a CA and to match).
    pub fn new(
        issuer_cert: CertificateDer<'static>,
        issuer_key: KeyPair,
        leaf_validity: Duration,
    ) -> Result<Self, CaError> {
        // Short leaves are for rotation tests; a day is the default.
        if leaf_validity < Duration::from_secs(1) {
            return Err(CaError::TooShort(leaf_validity));
        }
        let (_, parsed) = x509_parser::parse_x509_certificate(&issuer_cert)
            .map_err(|e| CaError::BadIssuer(e.to_string()))?;
        if !parsed.is_ca() {
            return Err(CaError::IssuerNotCa);
        }
        if parsed.public_key().raw != rcgen::PublicKeyData::subject_public_key_info(&issuer_key) {
            return Err(CaError::KeyMismatch);
        }
        let issuer_not_after = system_time(parsed.validity().not_after.timestamp());
        let trust_domain = trust_domain_of(&parsed).ok_or(CaError::NoTrustDomain)?;
        let issuer = Issuer::from_ca_cert_der(&issuer_cert, issuer_key)?;
        Ok(Self {
            issuer,
            issuer_cert,
            issuer_not_after,
            leaf_validity,
            trust_domain,
        })
    }

    /// When the issuer expires (no leaf is signed after).
    pub fn issuer_not_after(&self) -> SystemTime {
        self.issuer_not_after
    }

    /// The trust domain this CA signs for.
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// Signs `csr` if it asks for exactly `allowed` (one URI SAN, nothing else) with a P-256 key.
    /// The leaf's other fields come from the CA, never from the CSR.
    pub fn sign(
        &self,
        csr: &[u8],
        allowed: &SpiffeId,
        now: SystemTime,
    ) -> Result<IssuedLeaf, CaError> {
        if now >= self.issuer_not_after {
            return Err(CaError::IssuerExpired);
        }
        // Whatever authenticated the caller, a CA never vouches for another trust domain.
        if allowed.trust_domain() != self.trust_domain {
            return Err(CaError::OtherTrustDomain {
                asked: Box::new(allowed.clone()),
                trust_domain: self.trust_domain.clone(),
            });
        }
        let request =
            CertificateSigningRequestParams::from_der(&CertificateSigningRequestDer::from(csr))
                .map_err(CaError::BadCsr)?;
        let key_alg = request.public_key.algorithm();
        if key_alg != &rcgen::PKCS_ECDSA_P256_SHA256 {
            return Err(CaError::CsrKeyType(super::pem::algorithm_name(key_alg)));
        }
        let uri = allowed.to_string();
        match request.params.subject_alt_names.as_slice() {
            [SanType::URI(asked)] if asked.as_str() == uri => {}
            other => {
                return Err(CaError::IdentityNotAllowed {
                    asked: describe_sans(other),
                    allowed: allowed.clone(),
                });
            }
        }
        // Backdating stays small against short lifetimes, so 70 % still means 70 %.
        let not_before = now - BACKDATE.min(self.leaf_validity / 10);
        // A leaf never outlives its issuer.
        let not_after = (now + self.leaf_validity).min(self.issuer_not_after);
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, allowed.sni_name());
        params.subject_alt_names = vec![SanType::URI(uri.try_into()?)];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        let leaf = params.signed_by(&request.public_key, &self.issuer)?;
        Ok(IssuedLeaf {
            chain: vec![leaf.der().clone(), self.issuer_cert.clone()],
            not_before: truncate_to_secs(not_before),
            not_after: truncate_to_secs(not_after),
        })
    }
}

/// An issuer's trust domain: its URI SAN `spiffe://<td>` (SPIFFE's signing certificates), else
/// its subject CN `identity.<td>` (what [`generate`] writes, as Linkerd's issuers do).
fn trust_domain_of(cert: &x509_parser::certificate::X509Certificate<'_>) -> Option<String> {
    use x509_parser::extensions::GeneralName;
    let from_san = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .and_then(|san| {
            san.value.general_names.iter().find_map(|name| match name {
                GeneralName::URI(uri) => uri
                    .strip_prefix("spiffe://")
                    .map(|td| td.trim_end_matches('/').to_owned()),
                _ => None,
            })
        });
    let from_cn = || {
        cert.subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .and_then(|cn| cn.strip_prefix("identity."))
            .map(str::to_owned)
    };
    from_san
        .or_else(from_cn)
        .filter(|td| validate_trust_domain(td).is_ok())
}

fn describe_sans(sans: &[SanType]) -> String {
    if sans.is_empty() {
        return "no identity (no subject alternative name)".to_owned();
    }
    let names: Vec<String> = sans
        .iter()
        .map(|san| match san {
            SanType::URI(u) => format!("`{}`", u.as_str()),
            SanType::DnsName(d) => format!("DNS `{}`", d.as_str()),
            SanType::IpAddress(ip) => format!("IP `{ip}`"),
            SanType::Rfc822Name(m) => format!("email `{}`", m.as_str()),
            _ => "another name".to_owned(),
        })
        .collect();
    names.join(", ")
}

/// X.509 times have whole seconds; keep ours comparable with what a parser reads back.
fn truncate_to_secs(t: SystemTime) -> SystemTime {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// Seconds since the epoch (as x509-parser gives them) to a `SystemTime`.
pub(crate) fn system_time(timestamp: i64) -> SystemTime {
    match u64::try_from(timestamp) {
        Ok(secs) => SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        Err(_) => SystemTime::UNIX_EPOCH - Duration::from_secs(timestamp.unsigned_abs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::csr::LeafRequest;

    fn id(sa: &str) -> SpiffeId {
        SpiffeId::new("cluster.local", "shop", sa).unwrap()
    }

    fn generated(now: SystemTime) -> GeneratedCa {
        generate(
            "cluster.local",
            DEFAULT_ANCHOR_VALIDITY,
            DEFAULT_ISSUER_VALIDITY,
            now,
        )
        .unwrap()
    }

    fn ca(now: SystemTime) -> Ca {
        let g = generated(now);
        Ca::new(g.issuer.der().clone(), g.issuer_key, DEFAULT_LEAF_VALIDITY).unwrap()
    }

    #[test]
    fn generated_chain_has_the_right_shape() {
        let now = SystemTime::now();
        let g = generate(
            "cluster.local",
            Duration::from_secs(3600 * 48),
            Duration::from_secs(3600 * 24),
            now,
        )
        .unwrap();
        let (_, anchor) = x509_parser::parse_x509_certificate(g.anchor.der()).unwrap();
        let (_, issuer) = x509_parser::parse_x509_certificate(g.issuer.der()).unwrap();
        assert!(anchor.is_ca() && issuer.is_ca());
        assert_eq!(anchor.subject().to_string(), "CN=root.cluster.local");
        assert_eq!(issuer.issuer().to_string(), "CN=root.cluster.local");
        assert!(issuer.verify_signature(Some(anchor.public_key())).is_ok());
        let lifetime =
            issuer.validity().not_after.timestamp() - issuer.validity().not_before.timestamp();
        assert_eq!(lifetime, 24 * 3600 + 60);
    }

    #[test]
    fn generate_refuses_bad_input() {
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let err = generate("Bad Domain", day, day, now).err().unwrap();
        assert!(err.to_string().contains("trust domain `Bad Domain`"));
        let err = generate("td", day, day * 2, now).err().unwrap();
        assert!(
            err.to_string().contains("longer than the anchor's"),
            "{err}"
        );
        let err = generate("td", Duration::from_secs(5), Duration::from_secs(5), now)
            .err()
            .unwrap();
        assert!(err.to_string().contains("too short"), "{err}");
    }

    #[test]
    fn signs_a_csr_for_the_allowed_identity_only() {
        let now = SystemTime::now();
        let ca = ca(now);
        let req = LeafRequest::new(&id("web")).unwrap();
        let leaf = ca.sign(req.csr_der(), &id("web"), now).unwrap();
        assert_eq!(leaf.chain.len(), 2);
        let (_, cert) = x509_parser::parse_x509_certificate(&leaf.chain[0]).unwrap();
        let sans = cert.subject_alternative_name().unwrap().unwrap();
        assert_eq!(
            format!("{:?}", sans.value.general_names),
            r#"[URI("spiffe://cluster.local/ns/shop/sa/web")]"#
        );
        assert!(!cert.is_ca());
        assert_eq!(
            system_time(cert.validity().not_after.timestamp()),
            leaf.not_after
        );

        let err = ca.sign(req.csr_der(), &id("db"), now).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the CSR asks for `spiffe://cluster.local/ns/shop/sa/web`, but this requester may only \
             have `spiffe://cluster.local/ns/shop/sa/db`"
        );
    }

    #[test]
    fn refuses_csrs_with_extra_names_other_keys_or_garbage() {
        let now = SystemTime::now();
        let ca = ca(now);
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["web.shop.svc".to_owned()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::URI(id("web").to_string().try_into().unwrap()));
        let csr = params.serialize_request(&key).unwrap();
        let err = ca.sign(csr.der(), &id("web"), now).unwrap_err().to_string();
        assert!(err.contains("DNS `web.shop.svc`"), "{err}");

        let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![SanType::URI(id("web").to_string().try_into().unwrap())];
        let csr = params.serialize_request(&ed).unwrap();
        let err = ca.sign(csr.der(), &id("web"), now).unwrap_err().to_string();
        assert!(err.contains("the CSR's key is Ed25519"), "{err}");

        let err = ca.sign(b"junk", &id("web"), now).unwrap_err().to_string();
        assert!(err.starts_with("the CSR cannot be used"), "{err}");
    }

    #[test]
    fn identities_of_another_trust_domain_are_never_signed() {
        let now = SystemTime::now();
        let ca = ca(now);
        assert_eq!(ca.trust_domain(), "cluster.local");
        let other = SpiffeId::new("evil.example", "shop", "web").unwrap();
        let req = LeafRequest::new(&other).unwrap();
        // Even when the authenticator allowed exactly that identity.
        let err = ca.sign(req.csr_der(), &other, now).unwrap_err();
        assert!(matches!(err, CaError::OtherTrustDomain { .. }), "{err}");
        assert!(
            err.to_string().starts_with(
                "`spiffe://evil.example/ns/shop/sa/web` is outside trust domain `cluster.local`"
            ),
            "{err}"
        );
    }

    #[test]
    fn an_issuer_without_a_trust_domain_is_refused() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params = ca_params(
            "some issuer",
            BasicConstraints::Constrained(0),
            SystemTime::now(),
            DEFAULT_LEAF_VALIDITY,
        );
        let cert = params.self_signed(&key).unwrap();
        let err = Ca::new(cert.der().clone(), key, DEFAULT_LEAF_VALIDITY).unwrap_err();
        assert!(matches!(err, CaError::NoTrustDomain), "{err}");
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = ca_params(
            "x",
            BasicConstraints::Constrained(0),
            SystemTime::now(),
            DEFAULT_LEAF_VALIDITY,
        );
        params.subject_alt_names = vec![SanType::URI("spiffe://mesh.example".try_into().unwrap())];
        let cert = params.self_signed(&key).unwrap();
        let ca = Ca::new(cert.der().clone(), key, DEFAULT_LEAF_VALIDITY).unwrap();
        assert_eq!(ca.trust_domain(), "mesh.example");
    }

    #[test]
    fn leaves_never_outlive_the_issuer_and_an_expired_issuer_signs_nothing() {
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        let g = generate("cluster.local", hour * 4, hour * 2, now).unwrap();
        let ca = Ca::new(g.issuer.der().clone(), g.issuer_key, hour * 24).unwrap();
        let req = LeafRequest::new(&id("web")).unwrap();
        let leaf = ca.sign(req.csr_der(), &id("web"), now).unwrap();
        assert!(leaf.not_after <= now + hour * 2);
        let err = ca
            .sign(req.csr_der(), &id("web"), now + hour * 3)
            .unwrap_err();
        assert!(matches!(err, CaError::IssuerExpired));
    }

    #[test]
    fn issuer_key_must_match_and_be_a_ca() {
        let now = SystemTime::now();
        let g = generated(now);
        let err = Ca::new(g.issuer.der().clone(), g.anchor_key, DEFAULT_LEAF_VALIDITY).unwrap_err();
        assert!(matches!(err, CaError::KeyMismatch));
        let ca = Ca::new(g.issuer.der().clone(), g.issuer_key, DEFAULT_LEAF_VALIDITY).unwrap();
        let req = LeafRequest::new(&id("web")).unwrap();
        let leaf = ca.sign(req.csr_der(), &id("web"), now).unwrap();
        let err =
            Ca::new(leaf.chain[0].clone(), req.into_key(), DEFAULT_LEAF_VALIDITY).unwrap_err();
        assert!(matches!(err, CaError::IssuerNotCa));
    }
}
