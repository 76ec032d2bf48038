//! The proxy's own identity (where its leaf certificate comes from) and the inbound mTLS
//! modes per port (plain data; the proxy's `tls` module turns it into rustls configs).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::config::Invalid;
use crate::identity::SpiffeId;
use crate::secret::Secret;

/// Where the proxy gets its leaf: PEM files, or a CA service it sends CSRs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Identity {
    /// PEM trust anchors every peer (and the CA) must chain to.
    pub roots: PathBuf,
    /// PEM leaf certificate chain (leaf first); with `key`, instead of `ca`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// PEM PKCS#8 P-256 private key of `cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<CaSource>,
}

/// A CA service that signs this proxy's CSRs (renewed at 70 % of each leaf's lifetime).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaSource {
    /// `host:port` of the CA service.
    pub addr: String,
    /// The identity to ask for (`spiffe://<trust-domain>/ns/<ns>/sa/<sa>`).
    pub identity: SpiffeId,
    /// Bootstrap token sent with each request (shown as `<redacted>` on `/config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// A file holding the token, read at each request (projected service-account tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// The identity the CA presents [default: the controller's in `meshctl-system`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<SpiffeId>,
}

/// Whether inbound connections must, may or must not use mesh TLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TlsMode {
    /// Mesh TLS with a client certificate only; plaintext is refused.
    #[serde(alias = "strict")]
    Strict,
    /// Mesh TLS and plaintext are both accepted (and labelled apart).
    #[default]
    #[serde(alias = "permissive")]
    Permissive,
    /// No TLS termination: bytes go to the app as they come.
    #[serde(alias = "disable")]
    Disable,
}

/// Inbound mTLS: a mode for the whole pod and overrides per app port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InboundTls {
    #[serde(default)]
    pub mode: TlsMode,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<u16, TlsMode>,
}

impl InboundTls {
    /// Fails when a port is STRICT: for a proxy without an identity (it could not terminate
    /// mesh TLS, so STRICT would mean plaintext or nothing).
    pub fn require_no_strict(&self) -> Result<(), Invalid> {
        let strict = std::iter::once(("inbound.tls.mode".to_owned(), self.mode)).chain(
            self.ports
                .iter()
                .map(|(port, mode)| (format!("inbound.tls.ports.{port}"), *mode)),
        );
        match strict
            .into_iter()
            .find(|(_, mode)| *mode == TlsMode::Strict)
        {
            Some((at, _)) => Err(Invalid::at(
                &at,
                "STRICT needs the proxy's own mesh identity: add an identity section \
                 (cert + key, or ca), or use PERMISSIVE or DISABLE",
            )),
            None => Ok(()),
        }
    }

    /// The mode of connections for app port `port`.
    pub fn mode_for(&self, port: u16) -> TlsMode {
        self.ports.get(&port).copied().unwrap_or(self.mode)
    }
}

impl Identity {
    /// Exactly one source of the leaf; a CA source with at most one token kind.
    pub fn validate(&self) -> Result<(), Invalid> {
        let files = self.cert.is_some() || self.key.is_some();
        match (&self.ca, files) {
            (Some(_), true) => Err(Invalid::at(
                "identity.ca",
                "give either cert + key files or a ca, not both",
            )),
            (None, false) => Err(Invalid::at(
                "identity",
                "give cert + key files, or a ca: { addr, identity, token }",
            )),
            (None, true) if self.cert.is_none() || self.key.is_none() => Err(Invalid::at(
                if self.cert.is_none() {
                    "identity.cert"
                } else {
                    "identity.key"
                },
                "cert and key go together: give both PEM files",
            )),
            (Some(ca), false) if ca.token.is_some() && ca.token_file.is_some() => Err(Invalid::at(
                "identity.ca.tokenFile",
                "give token or tokenFile, not both",
            )),
            (Some(ca), false) if ca.addr.rsplit_once(':').is_none() => Err(Invalid::at(
                "identity.ca.addr",
                "expected host:port, e.g. 127.0.0.1:8443",
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_override_wins_over_the_pod_mode() {
        let tls: InboundTls =
            serde_json::from_str(r#"{"mode":"STRICT","ports":{"8080":"permissive"}}"#).unwrap();
        assert_eq!(tls.mode_for(8080), TlsMode::Permissive);
        assert_eq!(tls.mode_for(9090), TlsMode::Strict);
        assert_eq!(InboundTls::default().mode_for(1), TlsMode::Permissive);
    }

    #[test]
    fn the_leaf_source_must_be_one_of_files_or_ca() {
        let files = |cert: Option<&str>, key: Option<&str>| Identity {
            roots: "r.pem".into(),
            cert: cert.map(PathBuf::from),
            key: key.map(PathBuf::from),
            ca: None,
        };
        assert!(files(Some("c"), Some("k")).validate().is_ok());
        assert_eq!(
            files(Some("c"), None).validate().unwrap_err().path,
            "identity.key"
        );
        assert_eq!(files(None, None).validate().unwrap_err().path, "identity");
        let mut both = files(Some("c"), Some("k"));
        both.ca = Some(CaSource {
            addr: "ca:8443".into(),
            identity: "spiffe://td/ns/a/sa/b".parse().unwrap(),
            token: None,
            token_file: None,
            server: None,
        });
        assert_eq!(both.validate().unwrap_err().path, "identity.ca");
    }
}
