//! End-user authentication (plain data): the JWT issuers the inbound side accepts, where
//! their tokens are read from, and what the proxy tells the app about a verified one.
//! Verified by the proxy's `jwt` module.

use serde::{Deserialize, Serialize};

use super::config::Invalid;

/// One accepted issuer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtRule {
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// Accepted `aud` values; empty: any audience.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// The issuer's public keys: a JWKS document (JSON text); with no keys, every token of
    /// this issuer is refused.
    pub jwks: String,
    /// Headers the token is read from [default: `Authorization: Bearer <token>`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_headers: Vec<JwtHeader>,
    /// Query parameters the token is read from [default: `access_token`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_params: Vec<String>,
    /// Keep the token in the request to the app (it is removed by default).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forward_original_token: bool,
    /// A header that carries the verified payload (base64url JSON) to the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_payload_to_header: Option<String>,
}

/// A header a token is read from, after `prefix` (e.g. `Bearer `).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtHeader {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// The JWKS of a rule whose keys are not known (yet): it refuses every token.
pub const NO_KEYS: &str = r#"{"keys":[]}"#;

fn header_name(name: &str, at: String) -> Result<(), Invalid> {
    http::HeaderName::from_bytes(name.as_bytes())
        .map(drop)
        .map_err(|_| Invalid::at(&at, format!("{name:?} is not a valid header name")))
}

/// Checks the rules of `inbound.jwt`.
pub fn validate(rules: &[JwtRule], at: &str) -> Result<(), Invalid> {
    for (i, r) in rules.iter().enumerate() {
        let at = format!("{at}[{i}]");
        if r.issuer.is_empty() {
            return Err(Invalid::at(
                &format!("{at}.issuer"),
                "give the issuer (iss) of the tokens",
            ));
        }
        if let Err(e) = serde_json::from_str::<jsonwebtoken::jwk::JwkSet>(&r.jwks) {
            return Err(Invalid::at(
                &format!("{at}.jwks"),
                format!("not a JWKS document ({{\"keys\": [...]}}): {e}"),
            ));
        }
        for (j, h) in r.from_headers.iter().enumerate() {
            header_name(&h.name, format!("{at}.fromHeaders[{j}].name"))?;
        }
        if let Some(h) = &r.output_payload_to_header {
            header_name(h, format!("{at}.outputPayloadToHeader"))?;
        }
    }
    Ok(())
}
