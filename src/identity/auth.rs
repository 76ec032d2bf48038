//! Who may get which identity from the CA service. Static mode: a bootstrap token, or a valid
//! mesh client certificate for the same identity (renewals). The controller's TokenReview
//! check plugs in as another [`Authenticator`].

use std::future::Future;

use super::spiffe::SpiffeId;
use crate::secret::Secret;

/// What a caller presented to the CA (Debug never shows the token).
pub struct Credentials<'a> {
    /// The identity asked for.
    pub asked: &'a SpiffeId,
    /// The token from the request (may be empty).
    pub token: &'a str,
    /// The identity of the caller's verified client certificate, if it sent one.
    pub peer: Option<&'a SpiffeId>,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("asked", self.asked)
            .field("token", &crate::secret::REDACTED)
            .field("peer", &self.peer)
            .finish()
    }
}

/// Why the CA refuses to certify a caller.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no valid credentials: send the bootstrap token or a current mesh certificate")]
    Unauthenticated,
    #[error("`{asked}` is outside trust domain `{trust_domain}`")]
    OtherTrustDomain {
        asked: SpiffeId,
        trust_domain: String,
    },
    #[error("the credentials are for `{allowed}`, not `{asked}`")]
    NotAllowed { asked: SpiffeId, allowed: SpiffeId },
    #[error("cannot check the token: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Rejected(String),
}

/// Decides which identity a caller may have; the CA then signs only that one.
pub trait Authenticator: Send + Sync + 'static {
    fn authenticate(
        &self,
        credentials: &Credentials<'_>,
    ) -> impl Future<Output = Result<SpiffeId, AuthError>> + Send;
}

/// Static mode: whoever knows the bootstrap token may have any identity of the trust domain;
/// a caller with a mesh certificate may renew that same identity without the token.
#[derive(Debug)]
pub struct BootstrapToken {
    token: Secret,
    trust_domain: String,
}

impl BootstrapToken {
    /// `token` is trimmed (token files usually end with a newline); an empty token accepts
    /// only certificate renewals.
    pub fn new(token: &str, trust_domain: &str) -> Self {
        Self {
            token: Secret::new(token.trim()),
            trust_domain: trust_domain.to_owned(),
        }
    }
}

impl Authenticator for BootstrapToken {
    async fn authenticate(&self, credentials: &Credentials<'_>) -> Result<SpiffeId, AuthError> {
        let asked = credentials.asked;
        if asked.trust_domain() != self.trust_domain {
            return Err(AuthError::OtherTrustDomain {
                asked: asked.clone(),
                trust_domain: self.trust_domain.clone(),
            });
        }
        if let Some(peer) = credentials.peer
            && peer == asked
        {
            return Ok(peer.clone());
        }
        if !self.token.is_empty() && constant_time_eq(credentials.token.trim(), self.token.expose())
        {
            return Ok(asked.clone());
        }
        match credentials.peer {
            Some(peer) => Err(AuthError::NotAllowed {
                asked: asked.clone(),
                allowed: peer.clone(),
            }),
            None => Err(AuthError::Unauthenticated),
        }
    }
}

/// Compares secrets without stopping at the first differing byte.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(td: &str, sa: &str) -> SpiffeId {
        SpiffeId::new(td, "shop", sa).unwrap()
    }

    #[tokio::test]
    async fn token_or_same_identity_certificate() {
        let auth = BootstrapToken::new("s3cret\n", "cluster.local");
        let web = id("cluster.local", "web");
        let db = id("cluster.local", "db");
        let creds = |token, peer| Credentials {
            asked: &web,
            token,
            peer,
        };
        assert_eq!(
            auth.authenticate(&creds("s3cret", None)).await.unwrap(),
            web
        );
        assert_eq!(
            auth.authenticate(&creds("", Some(&web))).await.unwrap(),
            web
        );
        assert!(matches!(
            auth.authenticate(&creds("wrong", None)).await,
            Err(AuthError::Unauthenticated)
        ));
        assert!(matches!(
            auth.authenticate(&creds("s3cre", None)).await,
            Err(AuthError::Unauthenticated)
        ));
        let err = auth.authenticate(&creds("", Some(&db))).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "the credentials are for `spiffe://cluster.local/ns/shop/sa/db`, not \
             `spiffe://cluster.local/ns/shop/sa/web`"
        );
        let other = id("other.domain", "web");
        let err = auth
            .authenticate(&Credentials {
                asked: &other,
                token: "s3cret",
                peer: None,
            })
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::OtherTrustDomain { .. }));
    }

    #[tokio::test]
    async fn an_empty_token_never_matches() {
        let auth = BootstrapToken::new("  \n", "cluster.local");
        let web = id("cluster.local", "web");
        let creds = Credentials {
            asked: &web,
            token: "",
            peer: None,
        };
        assert!(auth.authenticate(&creds).await.is_err());
    }
}
