//! End-user JWT verification on inbound HTTP requests (RequestAuthentication): the token
//! is read from the rule's headers or query parameters, its signature checked against the
//! issuer's JWKS (RSA and EC keys; `kid` picks the key when the token names one), then
//! `exp`, `nbf`, `iss` and `aud`. No token: the request goes on unauthenticated (an
//! authorization rule may still ask for a request principal); a token that fails: 401.

use std::collections::HashSet;

use http::HeaderMap;
use http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::authz::RequestAuth;
use crate::model::jwt::JwtRule;

/// Longer tokens are refused unread (a header of megabytes costs no parsing).
const MAX_TOKEN: usize = 16 * 1024;

/// Clock skew allowed on `exp` and `nbf`, as Envoy's default.
const LEEWAY_SECS: u64 = 60;

/// Why a presented token was refused (the 401's reason; logged, never the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the token is longer than {MAX_TOKEN} bytes")]
    TooLong,
    #[error("the token is not a JWT: {0}")]
    Malformed(String),
    #[error("no key of issuer {0:?} matches the token's kid and alg")]
    NoKey(String),
    #[error("the token's issuer is not one this workload accepts")]
    UnknownIssuer,
    #[error("the token was refused: {0}")]
    Invalid(String),
}

impl Refused {
    /// The metric label of the reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Refused::TooLong => "too_long",
            Refused::Malformed(_) => "malformed",
            Refused::NoKey(_) => "no_key",
            Refused::UnknownIssuer => "unknown_issuer",
            Refused::Invalid(_) => "invalid",
        }
    }
}

struct Key {
    kid: Option<String>,
    key: DecodingKey,
}

/// Where a rule reads its token.
enum Location {
    Header { name: HeaderName, prefix: String },
    Param(String),
}

struct Issuer {
    issuer: String,
    audiences: Vec<String>,
    keys: Vec<Key>,
    locations: Vec<Location>,
    forward: bool,
    output: Option<HeaderName>,
}

/// The compiled rules of one proxy's inbound side.
#[derive(Default)]
pub struct Jwt {
    issuers: Vec<Issuer>,
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.issuers.iter().map(|i| i.issuer.as_str()).collect();
        f.debug_struct("Jwt").field("issuers", &names).finish()
    }
}

fn keys(rule: &JwtRule) -> Vec<Key> {
    // Validated with the config; a key of a kind no verifier takes is left out.
    let set: JwkSet = serde_json::from_str(&rule.jwks).unwrap_or(JwkSet { keys: Vec::new() });
    set.keys
        .iter()
        .filter_map(|jwk| match DecodingKey::from_jwk(jwk) {
            Ok(key) if key.family() != jsonwebtoken::AlgorithmFamily::Hmac => Some(Key {
                kid: jwk.common.key_id.clone(),
                key,
            }),
            Ok(_) | Err(_) => {
                tracing::warn!(issuer = %rule.issuer, kid = ?jwk.common.key_id, "JWKS key left out: not an RSA, EC or Ed25519 public key");
                None
            }
        })
        .collect()
}

fn locations(rule: &JwtRule) -> Vec<Location> {
    let mut out: Vec<Location> = rule
        .from_headers
        .iter()
        .filter_map(|h| {
            Some(Location::Header {
                name: HeaderName::from_bytes(h.name.as_bytes()).ok()?,
                prefix: h.prefix.clone().unwrap_or_default(),
            })
        })
        .collect();
    out.extend(rule.from_params.iter().cloned().map(Location::Param));
    if out.is_empty() {
        out = vec![
            Location::Header {
                name: AUTHORIZATION,
                prefix: "Bearer ".to_owned(),
            },
            Location::Param("access_token".to_owned()),
        ];
    }
    out
}

/// The value of query parameter `name`.
fn param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Jwt {
    pub fn new(rules: &[JwtRule]) -> Self {
        Self {
            issuers: rules
                .iter()
                .map(|r| Issuer {
                    issuer: r.issuer.clone(),
                    audiences: r.audiences.clone(),
                    keys: keys(r),
                    locations: locations(r),
                    forward: r.forward_original_token,
                    output: r
                        .output_payload_to_header
                        .as_deref()
                        .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// Reads and verifies the request's token. `Ok(None)`: none presented. On success the
    /// token is removed from its header (unless forwarded) and the payload header set.
    pub fn authenticate(
        &self,
        headers: &mut HeaderMap,
        query: Option<&str>,
    ) -> Result<Option<RequestAuth>, Refused> {
        let mut refused = None;
        for issuer in &self.issuers {
            let Some((token, header)) = issuer.find(headers, query) else {
                continue;
            };
            match issuer.verify(&token) {
                Ok(auth) => {
                    if let Some(name) = header.filter(|_| !issuer.forward) {
                        headers.remove(name);
                    }
                    if let Some(out) = &issuer.output {
                        let payload = token.split('.').nth(1).unwrap_or_default();
                        if let Ok(v) = HeaderValue::from_str(payload) {
                            headers.insert(out.clone(), v);
                        }
                    }
                    return Ok(Some(auth));
                }
                // Another issuer's token at a shared location is not this rule's failure.
                Err(Refused::UnknownIssuer) => {
                    refused.get_or_insert(Refused::UnknownIssuer);
                }
                Err(e) => refused = Some(e),
            }
        }
        refused.map_or(Ok(None), Err)
    }
}

impl Issuer {
    /// The first token at this issuer's locations, and the header it came from.
    fn find(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Option<(String, Option<&HeaderName>)> {
        self.locations.iter().find_map(|l| match l {
            Location::Header { name, prefix } => {
                let value = headers.get(name)?.to_str().ok()?;
                let token = value.strip_prefix(prefix.as_str())?.trim();
                (!token.is_empty()).then(|| (token.to_owned(), Some(name)))
            }
            Location::Param(p) => param(query, p).map(|t| (t.to_owned(), None)),
        })
    }

    fn verify(&self, token: &str) -> Result<RequestAuth, Refused> {
        if token.len() > MAX_TOKEN {
            return Err(Refused::TooLong);
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| Refused::Malformed(e.to_string()))?;
        // The issuer first (unverified): a token of another issuer is not ours to judge.
        let claims: Map<String, Value> = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|e| Refused::Malformed(e.to_string()))?;
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(Refused::UnknownIssuer);
        }
        let candidates = self
            .keys
            .iter()
            .filter(|k| header.kid.is_none() || k.kid == header.kid);
        let mut last = Refused::NoKey(self.issuer.clone());
        for k in candidates.filter(|k| k.key.family().algorithms().contains(&header.alg)) {
            match jsonwebtoken::decode::<Map<String, Value>>(
                token,
                &k.key,
                &self.validation(header.alg),
            ) {
                Ok(data) => return Ok(self.auth(data.claims)),
                Err(e) => last = Refused::Invalid(e.to_string()),
            }
        }
        Err(last)
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.leeway = LEEWAY_SECS;
        v.validate_nbf = true;
        // `exp` and `nbf` are checked when present, as Envoy does; `iss` must be there.
        v.required_spec_claims = HashSet::from(["iss".to_owned()]);
        v.set_issuer(&[&self.issuer]);
        if self.audiences.is_empty() {
            v.validate_aud = false;
        } else {
            v.set_audience(&self.audiences);
            v.required_spec_claims.insert("aud".to_owned());
        }
        v
    }

    fn auth(&self, claims: Map<String, Value>) -> RequestAuth {
        let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
        let audiences = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        RequestAuth {
            principal: format!("{}/{}", self.issuer, text("sub").unwrap_or_default()),
            audiences,
            presenter: text("azp"),
            claims,
        }
    }
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
