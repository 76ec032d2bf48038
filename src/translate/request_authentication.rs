//! Istio RequestAuthentication (security.istio.io v1, v1beta1) into each pod's inbound JWT
//! rules. Keys come inline (`jwks`) or from `jwksUri`, which the controller fetches and
//! hands over in [`super::Inputs::jwks`]; a rule whose keys are not known refuses its
//! issuer's tokens (fail closed) and is reported. Root-namespace policies apply mesh-wide.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::catalog::Catalog;
use super::finding::Report;
use super::workload::{Scope, WorkloadSelector, policies, read_spec};
use crate::model::jwt::{self, JwtHeader, JwtRule, NO_KEYS};

/// The RequestAuthentication kind.
pub const KIND: &str = "RequestAuthentication";

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    selector: Option<WorkloadSelector>,
    jwt_rules: Option<Vec<RuleSpec>>,
    target_ref: Option<Value>,
    target_refs: Option<Value>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleSpec {
    issuer: Option<String>,
    audiences: Option<Vec<String>>,
    jwks_uri: Option<String>,
    jwks: Option<String>,
    from_headers: Option<Vec<HeaderSpec>>,
    from_params: Option<Vec<String>>,
    forward_original_token: Option<bool>,
    output_payload_to_header: Option<String>,
    output_claim_to_headers: Option<Value>,
    from_cookies: Option<Value>,
    space_delimited_claims: Option<Value>,
    timeout: Option<Value>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct HeaderSpec {
    name: String,
    prefix: Option<String>,
}

/// The jwksUris of every RequestAuthentication in `objects`: what the controller fetches.
pub fn jwks_uris(
    objects: &[std::sync::Arc<kube::api::DynamicObject>],
) -> std::collections::BTreeSet<String> {
    objects
        .iter()
        .filter(|o| o.types.as_ref().is_some_and(|t| t.kind == KIND))
        .flat_map(|o| {
            o.data
                .pointer("/spec/jwtRules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|r| r.get("jwksUri").and_then(Value::as_str).map(str::to_owned))
        })
        .collect()
}

/// Every RequestAuthentication of a snapshot.
#[derive(Clone, Debug, Default)]
pub(crate) struct JwtIndex {
    policies: Vec<(Scope, Vec<JwtRule>)>,
}

impl JwtIndex {
    pub fn new(catalog: &mut Catalog<'_>) -> Self {
        let mut index = JwtIndex::default();
        for p in policies(catalog, KIND) {
            let (options, fetched) = (catalog.options, &catalog.inputs.jwks);
            let mut report = catalog.report(&p.object);
            let targeted = |s: &Spec| s.target_ref.is_some() || s.target_refs.is_some();
            let Some(spec) = read_spec(p.spec, &mut report, targeted) else {
                continue;
            };
            let rules = spec
                .jwt_rules
                .iter()
                .flatten()
                .enumerate()
                .filter_map(|(i, r)| rule(r, &format!("spec.jwtRules[{i}]"), fetched, &mut report))
                .collect();
            index
                .policies
                .push((Scope::new(options, &p.namespace, &spec.selector), rules));
        }
        index
    }

    /// The JWT rules of a pod in `namespace` with `labels`.
    pub fn rules(
        &self,
        namespace: &str,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Vec<JwtRule> {
        self.policies
            .iter()
            .filter(|(scope, _)| scope.applies(namespace, labels))
            .flat_map(|(_, rules)| rules.iter().cloned())
            .collect()
    }
}

fn rule(
    r: &RuleSpec,
    at: &str,
    fetched: &std::collections::BTreeMap<String, String>,
    report: &mut Report<'_>,
) -> Option<JwtRule> {
    let Some(issuer) = r.issuer.clone().filter(|i| !i.is_empty()) else {
        report.error(
            format!("{at}.issuer"),
            "a JWT rule needs its issuer; it is not applied",
        );
        return None;
    };
    for (field, given) in [
        ("outputClaimToHeaders", r.output_claim_to_headers.is_some()),
        ("fromCookies", r.from_cookies.is_some()),
        ("spaceDelimitedClaims", r.space_delimited_claims.is_some()),
    ] {
        if given {
            report.warn(
                format!("{at}.{field}"),
                "not supported by meshctl's proxy; it is ignored",
            );
        }
    }
    if r.timeout.is_some() {
        report.warn(
            format!("{at}.timeout"),
            "ignored: the controller fetches every jwksUri with its own timeout (5 s)",
        );
    }
    let jwks = match (&r.jwks, &r.jwks_uri) {
        (Some(inline), uri) => {
            if uri.is_some() {
                report.warn(
                    format!("{at}.jwksUri"),
                    "jwks is given too: the inline keys are used",
                );
            }
            inline.clone()
        }
        (None, Some(uri)) => match fetched.get(uri) {
            Some(doc) => doc.clone(),
            None => {
                report.warn(
                    format!("{at}.jwksUri"),
                    format!(
                        "the keys at {uri} have not been fetched (the controller fetches them; \
                         offline analysis does not): until they are, tokens of {issuer} are \
                         refused (401)"
                    ),
                );
                NO_KEYS.to_owned()
            }
        },
        (None, None) => {
            report.error(
                format!("{at}.jwksUri"),
                "give jwksUri or jwks (OpenID discovery from the issuer is not supported): \
                 tokens of this issuer are refused (401) until then",
            );
            NO_KEYS.to_owned()
        }
    };
    let mut out = JwtRule {
        issuer,
        audiences: r.audiences.clone().unwrap_or_default(),
        jwks,
        from_headers: r
            .from_headers
            .iter()
            .flatten()
            .map(|h| JwtHeader {
                name: h.name.clone(),
                prefix: h.prefix.clone(),
            })
            .collect(),
        from_params: r.from_params.clone().unwrap_or_default(),
        forward_original_token: r.forward_original_token.unwrap_or(false),
        output_payload_to_header: r.output_payload_to_header.clone(),
    };
    if let Err(e) = jwt::validate(std::slice::from_ref(&out), "rule") {
        let field = e.path.strip_prefix("rule[0]").unwrap_or(&e.path);
        report.error(
            format!("{at}{field}"),
            format!(
                "{}; tokens of this issuer are refused (401) until this is fixed",
                e.message
            ),
        );
        // Fail closed: keep the issuer, with no keys and the default token location.
        out = JwtRule {
            issuer: out.issuer,
            jwks: NO_KEYS.to_owned(),
            ..JwtRule::default()
        };
    }
    Some(out)
}

#[cfg(test)]
#[path = "request_authentication_tests.rs"]
mod tests;
