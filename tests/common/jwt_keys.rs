//! JWTs signed with the test keys of `tests/fixtures/jwt` (shared by the proxy and
//! pod-network test binaries): tokens of issuer [`ISS`] for audience `web`, and the JWKS
//! documents that verify them.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header, get_current_timestamp};
use serde_json::{Value, json};

pub const ISS: &str = "https://issuer.test";

fn key(n: u8) -> EncodingKey {
    let pem = match n {
        1 => include_str!("../fixtures/jwt/rsa1.pem"),
        _ => include_str!("../fixtures/jwt/rsa2.pem"),
    };
    EncodingKey::from_rsa_pem(pem.as_bytes()).expect("rsa key")
}

/// The JWKS holding key `n` (kid `k<n>`).
pub fn jwks(n: u8) -> String {
    let mut jwk = Jwk::from_encoding_key(&key(n), Algorithm::RS256).expect("jwk");
    jwk.common.key_id = Some(format!("k{n}"));
    json!({ "keys": [jwk] }).to_string()
}

/// A token signed by key `n` (kid `k<n>`): sub alice, aud web, valid for 10 minutes, the
/// claims overridden by `extra`.
pub fn token(n: u8, extra: Value) -> String {
    sign(n, &format!("k{n}"), extra)
}

/// Signed by key 2 but naming key 1: the signature does not verify.
pub fn forged() -> String {
    sign(2, "k1", json!({}))
}

fn sign(n: u8, kid: &str, extra: Value) -> String {
    let mut claims =
        json!({"iss": ISS, "sub": "alice", "aud": "web", "exp": get_current_timestamp() + 600});
    for (k, v) in extra.as_object().expect("object") {
        claims[k] = v.clone();
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims, &key(n)).expect("sign")
}

/// An hour ago: an `exp` that has passed.
pub fn an_hour_ago() -> u64 {
    get_current_timestamp() - 3600
}
