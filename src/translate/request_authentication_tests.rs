//! RequestAuthentication YAML in, each pod's JWT rules out.

use super::super::tests::{SECURITY_PODS, findings, inputs, security_inbound};
use super::*;
use crate::translate::{Mesh, Options, translate};

const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM","kid":"e1"}]}"#;

fn with(yaml: &str, fetched: &[(&str, &str)]) -> Mesh {
    let mut inputs = inputs(&format!("{SECURITY_PODS}---\n{yaml}"));
    for (uri, doc) in fetched {
        inputs.jwks.insert((*uri).to_owned(), (*doc).to_owned());
    }
    translate(&inputs, &Options::default())
}

const POLICY: &str = r#"apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: web, namespace: shop }
spec:
  selector: { matchLabels: { app: web } }
  jwtRules:
  - issuer: https://issuer.test
    audiences: [web]
    jwksUri: https://issuer.test/jwks
    fromHeaders: [{ name: x-token, prefix: "Token " }]
    fromParams: [t]
    forwardOriginalToken: true
    outputPayloadToHeader: x-payload
    outputClaimToHeaders: [{ header: x-sub, claim: sub }]
"#;

#[test]
fn a_fetched_jwks_uri_becomes_the_rule_s_keys() {
    let m = with(POLICY, &[("https://issuer.test/jwks", JWKS)]);
    let rules = security_inbound(&m, "shop", "web").jwt;
    assert_eq!(rules.len(), 1);
    let r = &rules[0];
    assert_eq!(
        (r.issuer.as_str(), r.jwks.as_str()),
        ("https://issuer.test", JWKS)
    );
    assert_eq!(r.audiences, ["web"]);
    assert_eq!(r.from_headers[0].prefix.as_deref(), Some("Token "));
    assert_eq!(r.from_params, ["t"]);
    assert!(r.forward_original_token);
    assert_eq!(r.output_payload_to_header.as_deref(), Some("x-payload"));
    assert!(
        security_inbound(&m, "shop", "db").jwt.is_empty(),
        "db is not selected"
    );
    let f = findings(&m);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].2, "spec.jwtRules[0].outputClaimToHeaders");
    assert_eq!(
        jwks_uris(&inputs(POLICY).objects)
            .into_iter()
            .collect::<Vec<_>>(),
        ["https://issuer.test/jwks"]
    );
}

#[test]
fn keys_not_known_refuse_the_issuer_s_tokens_and_are_reported() {
    let yaml = r#"apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: mesh, namespace: meshctl-system }
spec:
  jwtRules:
  - { issuer: a, jwksUri: "https://a/jwks" }
  - { issuer: b }
  - { issuer: c, jwks: "not json" }
  - { jwks: "{}" }
"#;
    let m = with(yaml, &[]);
    // Mesh-wide: every pod gets the three rules with an issuer, none with keys.
    let rules = security_inbound(&m, "batch", "job").jwt;
    let issuers: Vec<&str> = rules.iter().map(|r| r.issuer.as_str()).collect();
    assert_eq!(issuers, ["a", "b", "c"]);
    assert!(rules.iter().all(|r| r.jwks == NO_KEYS), "{rules:#?}");
    let f = findings(&m);
    for (field, needle) in [
        ("spec.jwtRules[0].jwksUri", "not been fetched"),
        ("spec.jwtRules[1].jwksUri", "give jwksUri or jwks"),
        ("spec.jwtRules[2].jwks", "not a JWKS document"),
        ("spec.jwtRules[3].issuer", "needs its issuer"),
    ] {
        assert!(
            f.iter().any(|x| x.2 == field && x.3.contains(needle)),
            "{field}: {f:#?}"
        );
    }
}
