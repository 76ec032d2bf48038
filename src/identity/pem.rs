//! Reading PEM files: certificates and ECDSA P-256 private keys, with errors naming the file.
//!
//! The only I/O of the identity module is here (and in `bundle.rs`, which builds on it).

use std::path::{Path, PathBuf};

use rcgen::KeyPair;
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What is wrong with a PEM file, always naming it.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: not a PEM file (no `-----BEGIN …-----` block); expected PEM certificates or a PEM key",
        path.display()
    )]
    NotPem { path: PathBuf },
    #[error(
        "{}: malformed PEM ({reason}); check the `-----BEGIN`/`-----END` lines and the base64 \
         between them",
        path.display()
    )]
    Malformed { path: PathBuf, reason: String },
    #[error("{}: no `CERTIFICATE` block found", path.display())]
    NoCertificate { path: PathBuf },
    #[error(
        "{}: certificate #{number} is not valid X.509 ({reason}); the file may be cut short or \
         edited: copy it again from its source",
        path.display()
    )]
    BadCertificate {
        path: PathBuf,
        number: usize,
        reason: String,
    },
    #[error("{}: no `PRIVATE KEY` block found", path.display())]
    NoKey { path: PathBuf },
    #[error("{}: holds {count} private keys; expected exactly one", path.display())]
    ManyKeys { path: PathBuf, count: usize },
    #[error(
        "{}: wrong key type: {found}; meshctl needs an ECDSA P-256 key in PKCS#8 (`PRIVATE KEY`)",
        path.display()
    )]
    WrongKeyType { path: PathBuf, found: String },
}

/// The certificates and private keys found in one PEM file, in file order.
#[derive(Debug)]
pub struct PemFile {
    pub path: PathBuf,
    pub certs: Vec<CertificateDer<'static>>,
    pub keys: Vec<PrivateKeyDer<'static>>,
}

impl PemFile {
    /// Reads and splits a PEM file; every certificate must parse as X.509.
    pub fn read(path: &Path) -> Result<Self, PemError> {
        let bytes = std::fs::read(path).map_err(|source| PemError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &bytes)
    }

    /// Splits PEM text that came from `path` (used for messages only).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, PemError> {
        let mut file = PemFile {
            path: path.to_owned(),
            certs: Vec::new(),
            keys: Vec::new(),
        };
        let mut sections = 0;
        for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes) {
            let (kind, der) = section.map_err(|e| PemError::Malformed {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
            sections += 1;
            match kind {
                SectionKind::Certificate => {
                    if let Err(e) = x509_parser::parse_x509_certificate(&der) {
                        return Err(PemError::BadCertificate {
                            path: path.to_owned(),
                            number: file.certs.len() + 1,
                            reason: e.to_string(),
                        });
                    }
                    file.certs.push(CertificateDer::from(der));
                }
                SectionKind::PrivateKey => file.keys.push(PrivateKeyDer::Pkcs8(der.into())),
                SectionKind::RsaPrivateKey => file.keys.push(PrivateKeyDer::Pkcs1(der.into())),
                SectionKind::EcPrivateKey => file.keys.push(PrivateKeyDer::Sec1(der.into())),
                // CSRs, CRLs, public keys: not ours to judge here.
                _ => {}
            }
        }
        if sections == 0 {
            return Err(PemError::NotPem {
                path: path.to_owned(),
            });
        }
        Ok(file)
    }

    /// The certificates, refusing a file that has none.
    pub fn into_certs(self) -> Result<Vec<CertificateDer<'static>>, PemError> {
        if self.certs.is_empty() {
            return Err(PemError::NoCertificate { path: self.path });
        }
        Ok(self.certs)
    }

    /// The one ECDSA P-256 private key of the file.
    pub fn into_key(mut self) -> Result<KeyPair, PemError> {
        match self.keys.len() {
            0 => Err(PemError::NoKey { path: self.path }),
            1 => p256_key(&self.path, &self.keys.remove(0)),
            count => Err(PemError::ManyKeys {
                path: self.path,
                count,
            }),
        }
    }
}

/// Reads the certificates of a PEM file (one or more).
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    PemFile::read(path)?.into_certs()
}

/// Reads the single ECDSA P-256 private key of a PEM file.
pub fn read_key(path: &Path) -> Result<KeyPair, PemError> {
    PemFile::read(path)?.into_key()
}

/// Loads a key, refusing every type but ECDSA P-256 (the only one the mesh issues and accepts).
pub fn p256_key(path: &Path, key: &PrivateKeyDer<'_>) -> Result<KeyPair, PemError> {
    let wrong = |found: &str| PemError::WrongKeyType {
        path: path.to_owned(),
        found: found.to_owned(),
    };
    match key {
        PrivateKeyDer::Pkcs1(_) => Err(wrong("RSA (PKCS#1 `RSA PRIVATE KEY`)")),
        PrivateKeyDer::Sec1(_) => Err(wrong(
            "EC key in SEC1 form (`EC PRIVATE KEY`); convert it with `openssl pkcs8 -topk8 -nocrypt`",
        )),
        _ => {
            let pair = KeyPair::try_from(key).map_err(|_| wrong("unrecognised PKCS#8 key"))?;
            if pair.algorithm() == &rcgen::PKCS_ECDSA_P256_SHA256 {
                Ok(pair)
            } else {
                Err(wrong(algorithm_name(pair.algorithm())))
            }
        }
    }
}

/// PEM text of certificates (LF line endings), e.g. a chain to write to a file.
pub fn encode_certs(certs: &[CertificateDer<'_>]) -> String {
    let blocks: Vec<::pem::Pem> = certs
        .iter()
        .map(|der| ::pem::Pem::new("CERTIFICATE", der.as_ref()))
        .collect();
    ::pem::encode_many_config(
        &blocks,
        ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF),
    )
}

/// A short human name for a key's algorithm.
pub fn algorithm_name(alg: &rcgen::SignatureAlgorithm) -> &'static str {
    if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        "ECDSA P-256"
    } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        "ECDSA P-384"
    } else if alg == &rcgen::PKCS_ED25519 {
        "Ed25519"
    } else if alg == &rcgen::PKCS_RSA_SHA256
        || alg == &rcgen::PKCS_RSA_SHA384
        || alg == &rcgen::PKCS_RSA_SHA512
    {
        "RSA"
    } else {
        "unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PemFile, PemError> {
        PemFile::parse(Path::new("x.pem"), text.as_bytes())
    }

    #[test]
    fn not_pem_and_garbage_name_the_file() {
        let err = parse("hello, world\n").unwrap_err().to_string();
        assert!(err.starts_with("x.pem: not a PEM file"), "{err}");
        let bad = "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n";
        let err = parse(bad).unwrap_err().to_string();
        assert!(
            err.starts_with("x.pem: certificate #1 is not valid X.509"),
            "{err}"
        );
        let cut = "-----BEGIN CERTIFICATE-----\naGVsbG8=\n";
        let err = parse(cut).unwrap_err().to_string();
        assert!(err.starts_with("x.pem: malformed PEM"), "{err}");
    }

    #[test]
    fn only_p256_keys_are_accepted() {
        let good = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let key = parse(&good.serialize_pem()).unwrap().into_key().unwrap();
        assert_eq!(key.public_key_raw(), good.public_key_raw());

        for (alg, name) in [
            (&rcgen::PKCS_ED25519, "Ed25519"),
            (&rcgen::PKCS_ECDSA_P384_SHA384, "ECDSA P-384"),
        ] {
            let other = KeyPair::generate_for(alg).unwrap();
            let err = parse(&other.serialize_pem())
                .unwrap()
                .into_key()
                .unwrap_err();
            assert!(
                err.to_string()
                    .contains(&format!("wrong key type: {name}; meshctl needs")),
                "{err}"
            );
        }
        let rsa = "-----BEGIN RSA PRIVATE KEY-----\naGVsbG8=\n-----END RSA PRIVATE KEY-----\n";
        let err = parse(rsa).unwrap().into_key().unwrap_err().to_string();
        assert!(err.contains("wrong key type: RSA"), "{err}");
    }

    #[test]
    fn missing_or_extra_parts_are_reported() {
        let key = KeyPair::generate().unwrap().serialize_pem();
        let err = parse(&key).unwrap().into_certs().unwrap_err().to_string();
        assert_eq!(err, "x.pem: no `CERTIFICATE` block found");
        let two = format!("{key}{key}");
        let err = parse(&two).unwrap().into_key().unwrap_err().to_string();
        assert!(err.contains("holds 2 private keys"), "{err}");
    }
}
