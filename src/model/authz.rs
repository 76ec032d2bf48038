//! Inbound authorization policy (plain data): ALLOW and DENY rules over sources (client
//! identity, namespace, unauthenticated) and operations (port, method, path), plus the
//! default for ports no ALLOW rule covers. Evaluated by the proxy's `authz` module.

use serde::{Deserialize, Serialize};

use super::config::Invalid;

/// The rules and the default of one proxy's inbound side.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Authorization {
    /// For ports no ALLOW rule covers.
    #[serde(default)]
    pub default: DefaultPolicy,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
}

/// What happens to traffic for a port no ALLOW rule covers (after DENY rules).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DefaultPolicy {
    #[default]
    AllAllowed,
    /// Only clients with a mesh identity (mTLS).
    AllAuthenticated,
    Deny,
}

/// One rule: it applies when a source and an operation both match (an empty list matches
/// anything).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// Names the rule in metrics and logs (default `rules[<index>]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<Source>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<Operation>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    #[serde(alias = "allow")]
    Allow,
    #[serde(alias = "deny")]
    Deny,
}

/// Who: every field given must match (within a list, any entry).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    /// Client SPIFFE ids: exact, `prefix*`, `*suffix` or `*` (any authenticated client).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<String>,
    /// Namespaces of the client identity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// `true`: clients without a mesh identity (plaintext, or TLS without a certificate).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unauthenticated: bool,
}

/// What: every field given must match (within a list, any entry).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Operation {
    /// App ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
    /// HTTP methods (an opaque TCP connection never matches an ALLOW with methods or paths,
    /// and always matches such a DENY: fail closed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Paths: exact, `prefix*` or `*suffix`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
}

impl Rule {
    /// The rule's name in metrics and logs.
    pub fn label(&self, index: usize) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("rules[{index}]"))
    }
}

/// A pattern is literal text with at most one `*`, at its start or its end.
fn check_pattern(p: &str, path: String, example: &str) -> Result<(), Invalid> {
    let stars = p.matches('*').count();
    let ok =
        !p.is_empty() && (stars == 0 || (stars == 1 && (p.starts_with('*') || p.ends_with('*'))));
    if ok {
        Ok(())
    } else {
        Err(Invalid::at(
            &path,
            format!("{p:?}: use exact text, `prefix*`, `*suffix` or `*`, e.g. {example}"),
        ))
    }
}

impl Authorization {
    pub fn validate(&self, at: &str) -> Result<(), Invalid> {
        let mut names = std::collections::HashSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let at = format!("{at}.rules[{i}]");
            if !names.insert(rule.label(i)) {
                return Err(Invalid::at(
                    &format!("{at}.name"),
                    "rule names must be unique",
                ));
            }
            for (j, src) in rule.from.iter().enumerate() {
                let at = format!("{at}.from[{j}]");
                if src.identities.is_empty() && src.namespaces.is_empty() && !src.unauthenticated {
                    return Err(Invalid::at(
                        &at,
                        "a source needs identities, namespaces or unauthenticated: true",
                    ));
                }
                if src.unauthenticated && !(src.identities.is_empty() && src.namespaces.is_empty())
                {
                    return Err(Invalid::at(
                        &format!("{at}.unauthenticated"),
                        "an unauthenticated client has no identity or namespace: make it a \
                         source of its own",
                    ));
                }
                for (k, id) in src.identities.iter().enumerate() {
                    check_pattern(
                        id,
                        format!("{at}.identities[{k}]"),
                        "spiffe://cluster.local/ns/shop/*",
                    )?;
                }
            }
            for (j, op) in rule.to.iter().enumerate() {
                let at = format!("{at}.to[{j}]");
                if op.ports.is_empty() && op.methods.is_empty() && op.paths.is_empty() {
                    return Err(Invalid::at(
                        &at,
                        "an operation needs ports, methods or paths",
                    ));
                }
                if let Some(k) = op.ports.iter().position(|p| *p == 0) {
                    return Err(Invalid::at(
                        &format!("{at}.ports[{k}]"),
                        "ports are 1-65535",
                    ));
                }
                for (k, m) in op.methods.iter().enumerate() {
                    if m.parse::<http::Method>().is_err() {
                        return Err(Invalid::at(
                            &format!("{at}.methods[{k}]"),
                            "expected an HTTP method, e.g. GET",
                        ));
                    }
                }
                for (k, p) in op.paths.iter().enumerate() {
                    let path = format!("{at}.paths[{k}]");
                    check_pattern(p, path.clone(), "/api/*")?;
                    if !(p.starts_with('/') || p.starts_with('*')) {
                        return Err(Invalid::at(&path, "a path starts with / (or *)"));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Authorization {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn bad_patterns_and_empty_parts_name_the_field() {
        for (json, field) in [
            (
                r#"{"rules":[{"action":"ALLOW","from":[{"identities":["a*b"]}]}]}"#,
                "authorization.rules[0].from[0].identities[0]",
            ),
            (
                r#"{"rules":[{"action":"DENY","from":[{}]}]}"#,
                "authorization.rules[0].from[0]",
            ),
            (
                r#"{"rules":[{"action":"ALLOW","to":[{"paths":["api"]}]}]}"#,
                "authorization.rules[0].to[0].paths[0]",
            ),
            (
                r#"{"rules":[{"action":"ALLOW","to":[{"methods":["G T"]}]}]}"#,
                "authorization.rules[0].to[0].methods[0]",
            ),
            (
                r#"{"rules":[{"name":"x","action":"ALLOW"},{"name":"x","action":"DENY"}]}"#,
                "authorization.rules[1].name",
            ),
        ] {
            let e = parse(json).validate("authorization").unwrap_err();
            assert_eq!(e.path, field, "{json}: {e}");
        }
        let ok = r#"{"default":"all-authenticated","rules":[{"action":"allow",
            "from":[{"identities":["*"]},{"unauthenticated":true}],
            "to":[{"ports":[80],"methods":["GET"],"paths":["/api/*","*.css","/"]}]}]}"#;
        parse(ok).validate("authorization").unwrap();
    }
}
