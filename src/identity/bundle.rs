//! A workload's identity material: its leaf (chain + key + SPIFFE id) and the trust roots,
//! from a CA's answer or loaded from PEM files (static mode), checked before use.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rcgen::{KeyPair, PublicKeyData};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};

use super::ca::system_time;
use super::inspect::rfc3339;
use super::pem::{self, PemError};
use super::spiffe::{self, CertIdError, SpiffeId};

/// Why a chain and key do not make a usable leaf identity.
#[derive(Debug, thiserror::Error)]
pub enum LeafError {
    #[error("the certificate chain is empty")]
    Empty,
    #[error("the leaf certificate cannot be parsed: {0}")]
    Parse(String),
    #[error("the leaf: {0}")]
    Id(#[from] CertIdError),
    #[error("the private key does not match the leaf certificate's public key")]
    KeyMismatch,
    #[error("the leaf is for `{found}`, expected `{expected}`")]
    WrongIdentity {
        expected: Box<SpiffeId>,
        found: Box<SpiffeId>,
    },
}

/// A leaf certificate with its chain, private key and identity.
#[derive(Clone)]
pub struct Leaf {
    id: SpiffeId,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivatePkcs8KeyDer<'static>>,
    not_before: SystemTime,
    not_after: SystemTime,
}

impl std::fmt::Debug for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leaf")
            .field("id", &self.id)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl Leaf {
    /// Joins a chain (leaf first) with its key, checking they match and reading the SPIFFE id.
    pub fn new(chain: Vec<CertificateDer<'static>>, key: &KeyPair) -> Result<Self, LeafError> {
        let first = chain.first().ok_or(LeafError::Empty)?;
        let (_, cert) = x509_parser::parse_x509_certificate(first)
            .map_err(|e| LeafError::Parse(e.to_string()))?;
        if cert.public_key().raw != key.subject_public_key_info() {
            return Err(LeafError::KeyMismatch);
        }
        let id = spiffe::from_parsed(&cert)?;
        let validity = cert.validity();
        let not_before = system_time(validity.not_before.timestamp());
        let not_after = system_time(validity.not_after.timestamp());
        Ok(Self {
            id,
            key: Arc::new(PrivatePkcs8KeyDer::from(key.serialize_der())),
            chain,
            not_before,
            not_after,
        })
    }

    pub fn id(&self) -> &SpiffeId {
        &self.id
    }

    /// Leaf first, then intermediates.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// When to ask for the next leaf: at 70 % of this one's lifetime.
    pub fn renew_at(&self) -> SystemTime {
        let lifetime = self
            .not_after
            .duration_since(self.not_before)
            .unwrap_or_default();
        self.not_before + lifetime.mul_f64(0.7)
    }

    /// The key in the form rustls loads.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }
}

/// What is wrong with identity files, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Pem(#[from] PemError),
    #[error("{} (with key {}): {source}", cert.display(), key.display())]
    Leaf {
        cert: PathBuf,
        key: PathBuf,
        source: Box<LeafError>,
    },
    #[error("{}: certificate `{subject}` expired on {when}; issue a new one", path.display())]
    Expired {
        path: PathBuf,
        subject: String,
        when: String,
    },
    #[error("{}: certificate `{subject}` is not valid before {when}; check the clock", path.display())]
    NotYetValid {
        path: PathBuf,
        subject: String,
        when: String,
    },
    #[error(
        "{}: the chain does not verify against the roots in {}: {reason}",
        cert.display(),
        roots.display()
    )]
    Chain {
        cert: PathBuf,
        roots: PathBuf,
        reason: String,
    },
}

/// A leaf and the trust roots its peers must chain to.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub leaf: Leaf,
    pub roots: Vec<CertificateDer<'static>>,
}

impl Bundle {
    /// Loads cert chain, key and roots PEM files and checks them at `now`: the key matches,
    /// the leaf has a SPIFFE id, nothing is expired and the chain verifies to the roots.
    pub fn load(
        cert: &Path,
        key: &Path,
        roots: &Path,
        now: SystemTime,
    ) -> Result<Self, BundleError> {
        let chain = pem::read_certs(cert)?;
        let key_pair = pem::read_key(key)?;
        let root_certs = pem::read_certs(roots)?;
        for (path, certs) in [(cert, &chain), (roots, &root_certs)] {
            check_validity(path, certs, now)?;
        }
        let leaf = Leaf::new(chain, &key_pair).map_err(|source| BundleError::Leaf {
            cert: cert.to_owned(),
            key: key.to_owned(),
            source: Box::new(source),
        })?;
        super::tls::verify_chain(
            leaf.chain(),
            &root_certs,
            UnixTime::since_unix_epoch(
                now.duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default(),
            ),
        )
        .map_err(|e| BundleError::Chain {
            cert: cert.to_owned(),
            roots: roots.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            leaf,
            roots: root_certs,
        })
    }
}

fn check_validity(
    path: &Path,
    certs: &[CertificateDer<'_>],
    now: SystemTime,
) -> Result<(), BundleError> {
    for der in certs {
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            continue; // pem.rs already refused unparsable certificates
        };
        let validity = cert.validity();
        let not_after = system_time(validity.not_after.timestamp());
        let not_before = system_time(validity.not_before.timestamp());
        if now > not_after {
            return Err(BundleError::Expired {
                path: path.to_owned(),
                subject: cert.subject().to_string(),
                when: rfc3339(not_after),
            });
        }
        if now < not_before {
            return Err(BundleError::NotYetValid {
                path: path.to_owned(),
                subject: cert.subject().to_string(),
                when: rfc3339(not_before),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::identity::ca::{self, Ca};
    use crate::identity::csr::LeafRequest;

    const DAY: Duration = Duration::from_secs(86_400);

    struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    /// Writes leaf.crt (leaf + issuer), leaf.key and roots.crt for a CA made at `made`,
    /// with a leaf issued at `issued`.
    fn write_bundle(
        files: &Files,
        made: SystemTime,
        issued: SystemTime,
    ) -> (PathBuf, PathBuf, PathBuf) {
        let g = ca::generate("cluster.local", DAY * 30, DAY * 20, made).unwrap();
        let ca = Ca::new(g.issuer.der().clone(), g.issuer_key, DAY).unwrap();
        let id = SpiffeId::new("cluster.local", "shop", "web").unwrap();
        let request = LeafRequest::new(&id).unwrap();
        let issued = ca.sign(request.csr_der(), &id, issued).unwrap();
        let key = request.into_key().serialize_pem();
        (
            files.write("leaf.crt", &pem::encode_certs(&issued.chain)),
            files.write("leaf.key", &key),
            files.write("roots.crt", &g.anchor.pem()),
        )
    }

    fn files() -> Files {
        Files {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    #[test]
    fn a_good_bundle_loads_with_its_identity() {
        let now = SystemTime::now();
        let f = files();
        let (cert, key, roots) = write_bundle(&f, now, now);
        let bundle = Bundle::load(&cert, &key, &roots, now).unwrap();
        assert_eq!(
            bundle.leaf.id().to_string(),
            "spiffe://cluster.local/ns/shop/sa/web"
        );
        assert_eq!(bundle.leaf.chain().len(), 2);
        assert_eq!(bundle.roots.len(), 1);
    }

    #[test]
    fn errors_name_the_file_and_the_fault() {
        let now = SystemTime::now();
        let f = files();
        let (cert, key, roots) = write_bundle(&f, now, now);

        // Roots of another CA: the chain does not verify.
        let other = ca::generate("cluster.local", DAY * 30, DAY * 20, now).unwrap();
        let foreign = f.write("foreign.crt", &other.anchor.pem());
        let err = Bundle::load(&cert, &key, &foreign, now)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("leaf.crt: the chain does not verify against the roots in"),
            "{err}"
        );
        assert!(err.contains("foreign.crt"), "{err}");

        // Someone else's key.
        let stray = f.write(
            "stray.key",
            &rcgen::KeyPair::generate().unwrap().serialize_pem(),
        );
        let err = Bundle::load(&cert, &stray, &roots, now)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not match the leaf certificate"), "{err}");

        // A key of the wrong type.
        let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let ed = f.write("ed.key", &ed.serialize_pem());
        let err = Bundle::load(&cert, &ed, &roots, now)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ed.key: wrong key type: Ed25519"), "{err}");

        // Not PEM at all.
        let junk = f.write("junk.crt", "not a certificate\n");
        let err = Bundle::load(&junk, &key, &roots, now)
            .unwrap_err()
            .to_string();
        assert!(err.contains("junk.crt: not a PEM file"), "{err}");
    }

    #[test]
    fn an_expired_leaf_is_refused_with_its_date() {
        let now = SystemTime::now();
        let f = files();
        let (cert, key, roots) = write_bundle(&f, now - DAY * 5, now - DAY * 3);
        let err = Bundle::load(&cert, &key, &roots, now)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("leaf.crt: certificate `CN=web.shop.serviceaccount"),
            "{err}"
        );
        assert!(err.contains("expired on"), "{err}");
    }
}
