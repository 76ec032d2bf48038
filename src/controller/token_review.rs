//! Cluster mode's CA authentication: the proxy's projected service-account token, checked by
//! the API server (TokenReview) for the mesh's audience; the identity it may have is the one of
//! the service account the token was issued to, nothing else.

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::Api;
use kube::api::PostParams;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::identity::SpiffeId;
use crate::identity::auth::{AuthError, Authenticator, Credentials};
use crate::inject::sidecar::TOKEN_AUDIENCE;

/// Labels of `identity_token_review_failures_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// `rejected` (the API server said no), `mismatch` (a token for another identity),
    /// `unavailable` (the review could not be made).
    pub reason: &'static str,
}

/// Checks tokens with TokenReview.
pub struct TokenReviewer {
    api: Api<TokenReview>,
    trust_domain: String,
    audience: String,
    failures: Family<FailureLabels, Counter>,
}

impl TokenReviewer {
    pub fn new(
        client: kube::Client,
        trust_domain: &str,
        failures: Family<FailureLabels, Counter>,
    ) -> Self {
        Self {
            api: Api::all(client),
            trust_domain: trust_domain.to_owned(),
            audience: TOKEN_AUDIENCE.to_owned(),
            failures,
        }
    }

    fn fail(&self, reason: &'static str, error: AuthError) -> AuthError {
        self.failures.get_or_create(&FailureLabels { reason }).inc();
        error
    }
}

/// `system:serviceaccount:<ns>:<sa>` → (ns, sa).
fn service_account_of(username: &str) -> Option<(&str, &str)> {
    let rest = username.strip_prefix("system:serviceaccount:")?;
    let (ns, sa) = rest.split_once(':')?;
    (!ns.is_empty() && !sa.is_empty() && !sa.contains(':')).then_some((ns, sa))
}

impl Authenticator for TokenReviewer {
    async fn authenticate(&self, credentials: &Credentials<'_>) -> Result<SpiffeId, AuthError> {
        let asked = credentials.asked;
        if asked.trust_domain() != self.trust_domain {
            return Err(self.fail(
                "mismatch",
                AuthError::OtherTrustDomain {
                    asked: asked.clone(),
                    trust_domain: self.trust_domain.clone(),
                },
            ));
        }
        // Renewals too need a token: a certificate outlives the pod it was issued to.
        let token = credentials.token.trim();
        if token.is_empty() {
            return Err(self.fail(
                "rejected",
                AuthError::Rejected("no service-account token was sent; mount the projected token (meshctl inject does) and point --identity-token-file at it".into()),
            ));
        }
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                audiences: Some(vec![self.audience.clone()]),
            },
            ..TokenReview::default()
        };
        let answer = self
            .api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| {
                self.fail(
                    "unavailable",
                    AuthError::Unavailable(format!("TokenReview failed: {e}")),
                )
            })?;
        let status = answer.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            let why = status
                .error
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "the API server did not authenticate it".into());
            return Err(self.fail(
                "rejected",
                AuthError::Rejected(format!("the service-account token was refused: {why}")),
            ));
        }
        if !status
            .audiences
            .as_deref()
            .unwrap_or_default()
            .contains(&self.audience)
        {
            return Err(self.fail(
                "rejected",
                AuthError::Rejected(format!(
                    "the token is not for audience `{}`; the projected token volume must ask for it",
                    self.audience
                )),
            ));
        }
        let username = status.user.and_then(|u| u.username).unwrap_or_default();
        let Some((ns, sa)) = service_account_of(&username) else {
            return Err(self.fail(
                "rejected",
                AuthError::Rejected(format!(
                    "the token belongs to `{username}`, not to a service account"
                )),
            ));
        };
        let allowed = SpiffeId::new(&self.trust_domain, ns, sa)
            .map_err(|e| self.fail("rejected", AuthError::Rejected(e.to_string())))?;
        if &allowed != asked {
            return Err(self.fail(
                "mismatch",
                AuthError::NotAllowed {
                    asked: asked.clone(),
                    allowed,
                },
            ));
        }
        Ok(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::service_account_of;

    #[test]
    fn only_service_account_users_have_an_identity() {
        assert_eq!(
            service_account_of("system:serviceaccount:shop:web"),
            Some(("shop", "web"))
        );
        for other in [
            "admin",
            "system:serviceaccount:shop",
            "system:serviceaccount::web",
            "system:serviceaccount:shop:",
            "system:serviceaccount:shop:web:x",
        ] {
            assert_eq!(service_account_of(other), None, "{other}");
        }
    }
}
