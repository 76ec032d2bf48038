//! Who may get a certificate: TokenReview of the projected service-account token with an API
//! server, a bootstrap token without one. One type, so the CA service is the same in both.

use crate::identity::SpiffeId;
use crate::identity::auth::{AuthError, Authenticator, BootstrapToken, Credentials};

use super::token_review::TokenReviewer;

pub enum Authn {
    TokenReview(Box<TokenReviewer>),
    Bootstrap(BootstrapToken),
}

impl Authenticator for Authn {
    async fn authenticate(&self, credentials: &Credentials<'_>) -> Result<SpiffeId, AuthError> {
        match self {
            Authn::TokenReview(reviewer) => reviewer.authenticate(credentials).await,
            Authn::Bootstrap(token) => token.authenticate(credentials).await,
        }
    }
}
