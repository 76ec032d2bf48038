//! End-user JWTs at a real proxy's inbound side: tokens signed with the test keys of
//! `tests/fixtures/jwt`, a policy asking for a request principal or a group claim. Valid
//! tokens pass (and the app gets the payload, not the token), invalid ones are 401, a
//! missing one is 403 where a principal is required, and a rotated JWKS is picked up on
//! reload.

use serde_json::json;

use crate::jwt_keys::{ISS, an_hour_ago, forged, jwks, token};
use crate::pki::metric_reaches;
use crate::support::*;

fn config(app: std::net::SocketAddr, jwks: &str) -> String {
    json!({
        "inbound": {
            "appPort": app.port(),
            "jwt": [{
                "issuer": ISS, "audiences": ["web"], "jwks": jwks,
                "outputPayloadToHeader": "x-jwt-payload",
            }],
            "authorization": {"rules": [
                {"action": "ALLOW", "from": [{"requestPrincipals": [format!("{ISS}/*")]}],
                 "to": [{"paths": ["/secure*"]}]},
                {"action": "ALLOW", "to": [{"paths": ["/group*"]}],
                 "when": [{"key": "request.auth.claims[groups]", "values": ["group1"]}]},
                {"action": "ALLOW", "to": [{"paths": ["/open"]}]},
            ]},
        },
    })
    .to_string()
}

#[tokio::test]
async fn tokens_are_verified_and_their_principal_and_claims_authorize() {
    let app = named("app").await;
    let proxy = TestProxy::start(&config(app, &jwks(1))).await;
    let client = http1_client();
    let call = async |path: &str, token: Option<&str>| {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        send(&client, proxy.inbound, "web", path, &headers).await
    };
    let valid = token(1, json!({"groups": ["group1"]}));
    let (status, headers, _) = call("/secure/x", Some(&valid)).await;
    assert_eq!(status, 200);
    assert!(
        headers.contains_key("echo-x-jwt-payload"),
        "the app gets the payload: {headers:?}"
    );
    for (what, path, token, want) in [
        ("no token, principal required", "/secure/x", None, 403),
        ("no token, open path", "/open", None, 200),
        (
            "expired",
            "/secure/x",
            Some(token(1, json!({"exp": an_hour_ago()}))),
            401,
        ),
        (
            "expired, even on an open path",
            "/open",
            Some(token(1, json!({"exp": an_hour_ago()}))),
            401,
        ),
        (
            "wrong issuer",
            "/secure/x",
            Some(token(1, json!({"iss": "https://evil.test"}))),
            401,
        ),
        (
            "wrong audience",
            "/secure/x",
            Some(token(1, json!({"aud": "other"}))),
            401,
        ),
        ("bad signature", "/secure/x", Some(forged()), 401),
        ("group1", "/group", Some(valid.clone()), 200),
        (
            "group2",
            "/group",
            Some(token(1, json!({"groups": ["group2"]}))),
            403,
        ),
        ("no group", "/group", Some(token(1, json!({}))), 403),
    ] {
        let (status, _, body) = call(path, token.as_deref()).await;
        assert_eq!(status, want, "{what}: {body}");
    }
    let port = app.port();
    let line = format!(r#"inbound_http_jwt_refused_total{{port="{port}",reason="invalid"}}"#);
    assert_eq!(metric_reaches(&proxy, &line, 4.0).await, 4.0, "{line}");
    let line =
        format!(r#"inbound_http_jwt_refused_total{{port="{port}",reason="unknown_issuer"}}"#);
    assert_eq!(metric_reaches(&proxy, &line, 1.0).await, 1.0, "{line}");

    // The issuer rotates to key 2: once the JWKS is the new one, its tokens pass and key 1's
    // are refused, with no restart.
    let rotated = token(2, json!({}));
    assert_eq!(call("/secure/x", Some(&rotated)).await.0, 401);
    proxy.write_config(&config(app, &jwks(2)));
    poll_until("the rotated key is used", async || {
        call("/secure/x", Some(&rotated)).await.0 == 200
    })
    .await;
    assert_eq!(call("/secure/x", Some(&valid)).await.0, 401);
}
