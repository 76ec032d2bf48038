//! The test cluster's certificates: one CA that signs the API server's serving cert and
//! every client cert (admin in `system:masters`, or any user/groups an RBAC test needs).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

pub struct Pki {
    issuer: Issuer<'static, KeyPair>,
    pub ca_file: PathBuf,
}

/// A certificate and key written as PEM files.
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    /// A new CA, its certificate written to `dir/ca.crt`.
    pub fn create(dir: &Path) -> Result<Self, String> {
        let key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "meshctl-test-ca");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(err)?;
        let ca_file = dir.join("ca.crt");
        write(&ca_file, &cert.pem())?;
        Ok(Self {
            issuer: Issuer::new(params, key),
            ca_file,
        })
    }

    /// The API server's serving certificate, for 127.0.0.1 and localhost.
    pub fn serving(&self, dir: &Path) -> Result<CertFiles, String> {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        params.subject_alt_names = vec![
            SanType::IpAddress([127, 0, 0, 1].into()),
            SanType::DnsName("localhost".try_into().map_err(err)?),
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params, dir, "apiserver")
    }

    /// A client certificate written to `dir/<stem>.crt|key`: the API server reads the user
    /// from CN and the groups from O.
    pub fn client(
        &self,
        dir: &Path,
        stem: &str,
        user: &str,
        groups: &[&str],
    ) -> Result<CertFiles, String> {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, user);
        for group in groups {
            params
                .distinguished_name
                .push(DnType::OrganizationName, *group);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, dir, stem)
    }

    fn sign(&self, params: CertificateParams, dir: &Path, stem: &str) -> Result<CertFiles, String> {
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(err)?;
        let files = CertFiles {
            cert: dir.join(format!("{stem}.crt")),
            key: dir.join(format!("{stem}.key")),
        };
        write(&files.cert, &cert.pem())?;
        write(&files.key, &key.serialize_pem())?;
        Ok(files)
    }
}

/// The key pair the API server signs service-account tokens with (`.0`, PKCS#8) and checks
/// them with (`.1`, the public key: the API server cannot read a PKCS#8 EC key there).
pub fn service_account_key(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let key = KeyPair::generate().map_err(err)?;
    let private = dir.join("sa.key");
    let public = dir.join("sa.pub");
    write(&private, &key.serialize_pem())?;
    write(&public, &key.public_key_pem())?;
    Ok((private, public))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn err(e: impl std::fmt::Display) -> String {
    format!("cannot generate a test certificate: {e}")
}
