//! Tokens signed here with the test keys of `tests/fixtures/jwt`: what passes, what is a
//! 401 and why; and malformed tokens by the thousand, refused without a panic.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{EncodingKey, Header, get_current_timestamp};
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::model::jwt::JwtHeader;

const ISS: &str = "https://issuer.test";

fn rsa(n: u8) -> EncodingKey {
    let pem = match n {
        1 => include_str!("../../tests/fixtures/jwt/rsa1.pem"),
        _ => include_str!("../../tests/fixtures/jwt/rsa2.pem"),
    };
    EncodingKey::from_rsa_pem(pem.as_bytes()).expect("rsa key")
}

fn ec() -> EncodingKey {
    EncodingKey::from_ec_pem(include_bytes!("../../tests/fixtures/jwt/ec1.pem")).expect("ec key")
}

fn jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(key, alg).expect("jwk");
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

fn sign(key: &EncodingKey, alg: Algorithm, kid: Option<&str>, claims: Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims, key).expect("sign")
}

fn claims(extra: Value) -> Value {
    let mut c =
        json!({"iss": ISS, "sub": "alice", "aud": "web", "exp": get_current_timestamp() + 600});
    for (k, v) in extra.as_object().expect("object") {
        c[k] = v.clone();
    }
    c
}

fn rule() -> JwtRule {
    let set =
        json!({"keys": [jwk(&rsa(1), Algorithm::RS256, "r1"), jwk(&ec(), Algorithm::ES256, "e1")]});
    JwtRule {
        issuer: ISS.to_owned(),
        audiences: vec!["web".to_owned()],
        jwks: set.to_string(),
        output_payload_to_header: Some("x-jwt-payload".to_owned()),
        ..JwtRule::default()
    }
}

fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        AUTHORIZATION,
        format!("Bearer {token}").parse().expect("value"),
    );
    h
}

#[test]
fn a_valid_token_names_its_principal_and_leaves_the_request_without_it() {
    let jwt = Jwt::new(&[rule()]);
    for token in [
        sign(
            &rsa(1),
            Algorithm::RS256,
            Some("r1"),
            claims(json!({"groups": ["g1"]})),
        ),
        sign(
            &ec(),
            Algorithm::ES256,
            Some("e1"),
            claims(json!({"groups": ["g1"]})),
        ),
        // No kid: every key of the right kind is tried.
        sign(
            &rsa(1),
            Algorithm::RS256,
            None,
            claims(json!({"groups": ["g1"]})),
        ),
    ] {
        let mut headers = bearer(&token);
        let auth = jwt
            .authenticate(&mut headers, None)
            .expect("valid")
            .expect("some");
        assert_eq!(auth.principal, "https://issuer.test/alice");
        assert_eq!(auth.audiences, ["web"]);
        assert_eq!(auth.claims["groups"], json!(["g1"]));
        assert!(
            headers.get(AUTHORIZATION).is_none(),
            "the token is not forwarded"
        );
        let payload = headers.get("x-jwt-payload").expect("payload header");
        let decoded: Value =
            serde_json::from_slice(&B64.decode(payload.as_bytes()).expect("b64")).expect("json");
        assert_eq!(decoded["sub"], "alice");
    }
}

#[test]
fn invalid_tokens_are_refused_with_their_reason() {
    let jwt = Jwt::new(&[rule()]);
    let now = get_current_timestamp();
    let cases = [
        (
            "expired",
            sign(
                &rsa(1),
                Algorithm::RS256,
                Some("r1"),
                claims(json!({"exp": now - 3600})),
            ),
            "ExpiredSignature",
        ),
        (
            "not yet",
            sign(
                &rsa(1),
                Algorithm::RS256,
                Some("r1"),
                claims(json!({"nbf": now + 3600})),
            ),
            "ImmatureSignature",
        ),
        (
            "audience",
            sign(
                &rsa(1),
                Algorithm::RS256,
                Some("r1"),
                claims(json!({"aud": "other"})),
            ),
            "InvalidAudience",
        ),
        (
            "signature",
            sign(&rsa(2), Algorithm::RS256, Some("r1"), claims(json!({}))),
            "InvalidSignature",
        ),
        (
            "kid",
            sign(&rsa(1), Algorithm::RS256, Some("nope"), claims(json!({}))),
            "no key",
        ),
        (
            "issuer",
            sign(
                &rsa(1),
                Algorithm::RS256,
                Some("r1"),
                claims(json!({"iss": "https://evil"})),
            ),
            "issuer",
        ),
    ];
    for (what, token, needle) in cases {
        let err = jwt.authenticate(&mut bearer(&token), None).expect_err(what);
        assert!(format!("{err:?} {err}").contains(needle), "{what}: {err:?}");
    }
    assert_eq!(
        jwt.authenticate(&mut HeaderMap::new(), None),
        Ok(None),
        "no token"
    );
}

#[test]
fn tokens_from_configured_headers_and_params_and_kept_when_forwarded() {
    let token = sign(&rsa(1), Algorithm::RS256, Some("r1"), claims(json!({})));
    let jwt = Jwt::new(&[JwtRule {
        from_headers: vec![JwtHeader {
            name: "x-token".to_owned(),
            prefix: None,
        }],
        from_params: vec!["t".to_owned()],
        forward_original_token: true,
        ..rule()
    }]);
    let mut headers = HeaderMap::new();
    headers.insert("x-token", token.parse().expect("value"));
    assert!(jwt.authenticate(&mut headers, None).expect("ok").is_some());
    assert!(headers.get("x-token").is_some(), "forwarded");
    let query = format!("a=1&t={token}");
    assert!(
        jwt.authenticate(&mut HeaderMap::new(), Some(&query))
            .expect("ok")
            .is_some()
    );
    // The default location is not read when others are configured.
    assert_eq!(jwt.authenticate(&mut bearer(&token), None), Ok(None));
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_-]{0,40}",
        any::<Vec<u8>>().prop_map(|b| B64.encode(b)),
        "\\PC{0,30}",
        Just(B64.encode(br#"{"alg":"none","typ":"JWT"}"#)),
        Just(B64.encode(br#"{"alg":"RS256","kid":"unknown"}"#)),
        Just(B64.encode(br#"{"alg":"HS256","kid":"r1"}"#)),
        Just(B64.encode(br#"{"iss":"https://issuer.test","sub":"x","aud":"web"}"#)),
    ]
}

proptest! {
    #[test]
    fn malformed_tokens_are_refused_never_a_panic(
        parts in prop::collection::vec(segment(), 0..5),
        huge in any::<bool>(),
    ) {
        let jwt = Jwt::new(&[rule()]);
        let mut token = parts.join(".");
        if huge {
            token = format!("{token}{}", "A".repeat(MAX_TOKEN));
        }
        if let Ok(value) = format!("Bearer {token}").parse() {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, value);
            let got = jwt.authenticate(&mut headers, None);
            prop_assert!(!matches!(got, Ok(Some(_))), "accepted {token:?}: {got:?}");
        }
    }
}
