//! A test PKI shared by the loopback and pod-network tests: a mesh CA (anchor + issuer)
//! and leaves for any identity, written as PEM files for a proxy's `identity:` section.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use meshctl::identity::bundle::Leaf;
use meshctl::identity::ca::{self, Ca};
use meshctl::identity::csr::LeafRequest;
use meshctl::identity::rotate::CertStore;
use meshctl::identity::tls;
use meshctl::identity::{SpiffeId, pem};
use rustls::pki_types::CertificateDer;

pub const DAY: Duration = Duration::from_secs(86_400);
pub const TD: &str = "cluster.local";
pub const TOKEN: &str = "test-bootstrap-token";

pub fn id(ns: &str, sa: &str) -> SpiffeId {
    SpiffeId::new(TD, ns, sa).unwrap()
}

/// A mesh CA and a directory for the files it writes.
pub struct Pki {
    pub ca: Arc<Ca>,
    pub anchor: CertificateDer<'static>,
    pub dir: tempfile::TempDir,
}

/// Identity files of one workload.
pub struct Files {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub roots: PathBuf,
}

impl Files {
    /// The `identity:` section of a proxy config.
    pub fn yaml(&self) -> String {
        format!(
            "identity: {{ roots: \"{}\", cert: \"{}\", key: \"{}\" }}\n",
            self.roots.display(),
            self.cert.display(),
            self.key.display()
        )
    }
}

impl Pki {
    pub fn new(leaf_validity: Duration) -> Pki {
        let g = ca::generate(TD, DAY * 30, DAY * 20, SystemTime::now()).unwrap();
        let anchor = g.anchor.der().clone();
        let ca = Arc::new(Ca::new(g.issuer.der().clone(), g.issuer_key, leaf_validity).unwrap());
        let dir = tempfile::tempdir().unwrap();
        // Proxies in pod-network tests run as their own uid and must read the files.
        let open = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(dir.path(), open).unwrap();
        std::fs::write(
            dir.path().join("roots.pem"),
            pem::encode_certs(std::slice::from_ref(&anchor)),
        )
        .unwrap();
        Pki { ca, anchor, dir }
    }

    pub fn roots_path(&self) -> PathBuf {
        self.dir.path().join("roots.pem")
    }

    pub fn root_store(&self) -> Arc<rustls::RootCertStore> {
        tls::root_store(std::slice::from_ref(&self.anchor)).unwrap()
    }

    /// A leaf for `who` issued at `when`, with its key as PEM.
    pub fn leaf_at(&self, who: &SpiffeId, when: SystemTime) -> (Leaf, String) {
        let request = LeafRequest::new(who).unwrap();
        let chain = self.ca.sign(request.csr_der(), who, when).unwrap().chain;
        let key = request.into_key();
        (Leaf::new(chain, &key).unwrap(), key.serialize_pem())
    }

    /// Writes a current leaf for `who` and returns the files.
    pub fn files(&self, who: &SpiffeId) -> Files {
        let (leaf, key) = self.leaf_at(who, SystemTime::now());
        let name = format!("{}-{}", who.namespace(), who.service_account());
        let write = |ext: &str, text: &str| -> PathBuf {
            let path = self.dir.path().join(format!("{name}.{ext}"));
            std::fs::write(&path, text).unwrap();
            path
        };
        Files {
            cert: write("crt", &pem::encode_certs(leaf.chain())),
            key: write("key", &key),
            roots: self.roots_path(),
        }
    }

    /// A store holding a leaf for `who` issued at `when` (expired ones included).
    pub fn store_at(&self, who: &SpiffeId, when: SystemTime) -> Arc<CertStore> {
        CertStore::with_leaf(self.leaf_at(who, when).0).unwrap()
    }
}
