//! `meshctl certs create` into a fresh directory, for tests that hand a trust anchor and an
//! issuer to `install` or `upgrade` as files.

use std::process::Command;

/// What `certs create` wrote: `ca.crt`, `ca.key`, `issuer.crt` and `issuer.key`.
pub struct CertFiles {
    dir: tempfile::TempDir,
}

impl CertFiles {
    /// Runs `meshctl certs create --trust-domain cluster.local` and `extra` into a new
    /// temporary directory; a failure panics with meshctl's stderr.
    pub fn create(extra: &[&str]) -> CertFiles {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new(env!("CARGO_BIN_EXE_meshctl"))
            .args([
                "certs",
                "create",
                "--trust-domain",
                "cluster.local",
                "--out",
            ])
            .arg(dir.path())
            .args(extra)
            .output()
            .expect("run meshctl certs create");
        assert!(
            out.status.success(),
            "certs create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        CertFiles { dir }
    }

    /// The path of one of the files.
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// The `--identity-*-file` flags for this anchor and issuer.
    pub fn identity_flags(&self) -> Vec<String> {
        let file = |name| self.path(name);
        identity_flags(&file("ca.crt"), &file("issuer.crt"), &file("issuer.key"))
    }
}

/// `install`'s and `upgrade`'s flags naming the trust anchors and the issuer's certificate
/// and key files.
pub fn identity_flags(anchors: &str, cert: &str, key: &str) -> Vec<String> {
    [
        ("--identity-trust-anchors-file", anchors),
        ("--identity-issuer-certificate-file", cert),
        ("--identity-issuer-key-file", key),
    ]
    .into_iter()
    .flat_map(|(flag, file)| [flag.to_owned(), file.to_owned()])
    .collect()
}
