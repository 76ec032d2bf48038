//! The proxy's side of issuance: a fresh ECDSA P-256 key and a CSR for its SPIFFE id.
//!
//! The private key stays in this process; only the CSR (public key + id) is sent to the CA.

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};
use rustls::pki_types::CertificateDer;

use super::bundle::{Leaf, LeafError};
use super::spiffe::SpiffeId;

/// A key pair and the CSR asking the CA to certify it for one identity.
pub struct LeafRequest {
    id: SpiffeId,
    key: KeyPair,
    csr: Vec<u8>,
}

impl std::fmt::Debug for LeafRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("LeafRequest")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl LeafRequest {
    /// Generates a new key and a CSR whose only SAN is `id` (the CA refuses anything else).
    pub fn new(id: &SpiffeId) -> Result<Self, rcgen::Error> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, id.sni_name());
        params.subject_alt_names = vec![SanType::URI(id.to_string().try_into()?)];
        let csr = params.serialize_request(&key)?.der().to_vec();
        Ok(Self {
            id: id.clone(),
            key,
            csr,
        })
    }

    pub fn id(&self) -> &SpiffeId {
        &self.id
    }

    /// The DER CSR to send to the CA.
    pub fn csr_der(&self) -> &[u8] {
        &self.csr
    }

    /// Gives up the request and keeps its key (tests and key reuse).
    pub fn into_key(self) -> KeyPair {
        self.key
    }

    /// Joins the CA's answer with the key, checking it certifies this key for this identity.
    pub fn complete(self, chain: Vec<CertificateDer<'static>>) -> Result<Leaf, LeafError> {
        let leaf = Leaf::new(chain, &self.key)?;
        if leaf.id() != &self.id {
            return Err(LeafError::WrongIdentity {
                expected: Box::new(self.id),
                found: Box::new(leaf.id().clone()),
            });
        }
        Ok(leaf)
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::identity::ca;

    #[test]
    fn the_ca_answer_must_match_key_and_identity() {
        let now = SystemTime::now();
        let g = ca::generate(
            "cluster.local",
            ca::DEFAULT_ANCHOR_VALIDITY,
            ca::DEFAULT_ISSUER_VALIDITY,
            now,
        )
        .unwrap();
        let ca = ca::Ca::new(
            g.issuer.der().clone(),
            g.issuer_key,
            ca::DEFAULT_LEAF_VALIDITY,
        )
        .unwrap();
        let web = SpiffeId::new("cluster.local", "shop", "web").unwrap();
        let db = SpiffeId::new("cluster.local", "shop", "db").unwrap();

        let req = LeafRequest::new(&web).unwrap();
        let issued = ca.sign(req.csr_der(), &web, now).unwrap();
        let leaf = req.complete(issued.chain).unwrap();
        assert_eq!(leaf.id(), &web);

        // An answer for another key (someone else's CSR) is refused.
        let other = LeafRequest::new(&web).unwrap();
        let foreign = ca.sign(other.csr_der(), &web, now).unwrap();
        let req = LeafRequest::new(&web).unwrap();
        let err = req.complete(foreign.chain).unwrap_err();
        assert!(matches!(err, LeafError::KeyMismatch), "{err}");

        // An answer for another identity is refused.
        let req = LeafRequest::new(&web).unwrap();
        let key = KeyPair::try_from(req.key.serialize_der()).unwrap();
        let db_req = LeafRequest {
            id: db.clone(),
            key,
            csr: Vec::new(),
        };
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![SanType::URI(db.to_string().try_into().unwrap())];
        let db_csr = params.serialize_request(&db_req.key).unwrap();
        let issued = ca.sign(db_csr.der(), &db, now).unwrap();
        let err = req.complete(issued.chain).unwrap_err().to_string();
        assert!(
            err.contains("expected `spiffe://cluster.local/ns/shop/sa/web`"),
            "{err}"
        );
    }
}
