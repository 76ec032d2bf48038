//! Inbound authorization policy (plain data): ALLOW and DENY rules over sources (client
//! identity, namespace, address, request principal, unauthenticated), operations (port,
//! host, method, path, each with a `not` form) and conditions, plus the default for ports
//! no ALLOW rule covers. Evaluated by the proxy's `authz` module.

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
    /// Every condition must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<Condition>,
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
    /// Client SPIFFE ids that must not match (an unauthenticated client matches none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_identities: Vec<String>,
    /// Namespaces of the client identity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_namespaces: Vec<String>,
    /// Client addresses: `10.0.0.0/8` or one address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_blocks: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ip_blocks: Vec<String>,
    /// End-user principals (`<iss>/<sub>` of a verified JWT) as patterns; HTTP only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_principals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_request_principals: Vec<String>,
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ports: Vec<u16>,
    /// Request hosts (`Host`/`:authority`, case-insensitive): exact, `prefix*` or `*suffix`.
    /// Like methods and paths, HTTP only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_hosts: Vec<String>,
    /// HTTP methods (an opaque TCP connection never matches an ALLOW with HTTP-only fields,
    /// and always matches such a DENY: fail closed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_methods: Vec<String>,
    /// Paths: exact, `prefix*` or `*suffix`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_paths: Vec<String>,
}

/// A condition on one attribute of the request: it holds when the attribute matches one of
/// `values` (if given) and none of `notValues`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    /// `source.ip`, `source.namespace`, `source.principal`, `destination.port`,
    /// `request.headers[NAME]`, `request.auth.principal`, `request.auth.audiences`,
    /// `request.auth.presenter`, `request.auth.claims[NAME]` (nested: `[a][b]`).
    pub key: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_values: Vec<String>,
}

/// A condition's attribute, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    SourceIp,
    SourceNamespace,
    SourcePrincipal,
    DestinationPort,
    Header(String),
    AuthPrincipal,
    AuthAudiences,
    AuthPresenter,
    /// The claim's path: `claims[groups]` is `["groups"]`, `claims[a][b]` is `["a", "b"]`.
    Claim(Vec<String>),
}

impl Key {
    /// HTTP only: an opaque TCP connection has no such attribute.
    pub fn is_http(&self) -> bool {
        !matches!(
            self,
            Key::SourceIp | Key::SourceNamespace | Key::SourcePrincipal | Key::DestinationPort
        )
    }
}

impl std::str::FromStr for Key {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bracketed = |rest: &str| -> Option<Vec<String>> {
            let inner = rest.strip_prefix('[')?.strip_suffix(']')?;
            let parts: Vec<String> = inner.split("][").map(str::to_owned).collect();
            (!parts.iter().any(String::is_empty)).then_some(parts)
        };
        Ok(match s {
            "source.ip" => Key::SourceIp,
            "source.namespace" => Key::SourceNamespace,
            "source.principal" => Key::SourcePrincipal,
            "destination.port" => Key::DestinationPort,
            "request.auth.principal" => Key::AuthPrincipal,
            "request.auth.audiences" => Key::AuthAudiences,
            "request.auth.presenter" => Key::AuthPresenter,
            _ => {
                if let Some(rest) = s.strip_prefix("request.headers") {
                    match bracketed(rest).as_deref() {
                        Some([name]) if http::HeaderName::from_bytes(name.as_bytes()).is_ok() => {
                            Key::Header(name.to_ascii_lowercase())
                        }
                        _ => return Err(format!("{s:?}: expected request.headers[NAME]")),
                    }
                } else if let Some(rest) = s.strip_prefix("request.auth.claims") {
                    match bracketed(rest) {
                        Some(path) => Key::Claim(path),
                        None => return Err(format!("{s:?}: expected request.auth.claims[NAME]")),
                    }
                } else {
                    return Err(format!(
                        "{s:?} is not a supported key: use source.ip, source.namespace, \
                         source.principal, destination.port, request.headers[NAME], \
                         request.auth.principal, request.auth.audiences, \
                         request.auth.presenter or request.auth.claims[NAME]"
                    ));
                }
            }
        })
    }
}

/// An address block: `10.0.0.0/8`, `fd00::/8` or one address.
pub fn parse_block(s: &str) -> Result<ipnet::IpNet, String> {
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| format!("{s:?}: expected an address or a CIDR block, e.g. 10.0.0.0/8"))
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

fn check_patterns(list: &[String], at: &str, example: &str) -> Result<(), Invalid> {
    for (k, p) in list.iter().enumerate() {
        check_pattern(p, format!("{at}[{k}]"), example)?;
    }
    Ok(())
}

fn check_blocks(list: &[String], at: &str) -> Result<(), Invalid> {
    for (k, b) in list.iter().enumerate() {
        parse_block(b).map_err(|e| Invalid::at(&format!("{at}[{k}]"), e))?;
    }
    Ok(())
}

impl Source {
    fn is_empty(&self) -> bool {
        self.identities.is_empty()
            && self.not_identities.is_empty()
            && self.namespaces.is_empty()
            && self.not_namespaces.is_empty()
            && self.ip_blocks.is_empty()
            && self.not_ip_blocks.is_empty()
            && self.request_principals.is_empty()
            && self.not_request_principals.is_empty()
    }

    fn validate(&self, at: &str) -> Result<(), Invalid> {
        if self.is_empty() && !self.unauthenticated {
            return Err(Invalid::at(
                at,
                "a source needs identities, namespaces, ipBlocks, requestPrincipals (or their \
                 not forms) or unauthenticated: true",
            ));
        }
        let has_identity = !(self.identities.is_empty() && self.namespaces.is_empty());
        if self.unauthenticated && has_identity {
            return Err(Invalid::at(
                &format!("{at}.unauthenticated"),
                "an unauthenticated client has no identity or namespace: make it a source of \
                 its own",
            ));
        }
        let id = "spiffe://cluster.local/ns/shop/*";
        check_patterns(&self.identities, &format!("{at}.identities"), id)?;
        check_patterns(&self.not_identities, &format!("{at}.notIdentities"), id)?;
        let rp = "https://issuer.example/*";
        check_patterns(
            &self.request_principals,
            &format!("{at}.requestPrincipals"),
            rp,
        )?;
        check_patterns(
            &self.not_request_principals,
            &format!("{at}.notRequestPrincipals"),
            rp,
        )?;
        check_blocks(&self.ip_blocks, &format!("{at}.ipBlocks"))?;
        check_blocks(&self.not_ip_blocks, &format!("{at}.notIpBlocks"))
    }
}

impl Operation {
    fn validate(&self, at: &str) -> Result<(), Invalid> {
        let lists = [
            self.hosts.len(),
            self.not_hosts.len(),
            self.methods.len(),
            self.not_methods.len(),
            self.paths.len(),
            self.not_paths.len(),
            self.ports.len(),
            self.not_ports.len(),
        ];
        if lists.iter().all(|n| *n == 0) {
            return Err(Invalid::at(
                at,
                "an operation needs ports, hosts, methods or paths (or their not forms)",
            ));
        }
        for (name, ports) in [("ports", &self.ports), ("notPorts", &self.not_ports)] {
            if let Some(k) = ports.iter().position(|p| *p == 0) {
                return Err(Invalid::at(
                    &format!("{at}.{name}[{k}]"),
                    "ports are 1-65535",
                ));
            }
        }
        for (name, methods) in [
            ("methods", &self.methods),
            ("notMethods", &self.not_methods),
        ] {
            for (k, m) in methods.iter().enumerate() {
                if m.parse::<http::Method>().is_err() {
                    return Err(Invalid::at(
                        &format!("{at}.{name}[{k}]"),
                        "expected an HTTP method, e.g. GET",
                    ));
                }
            }
        }
        check_patterns(&self.hosts, &format!("{at}.hosts"), "*.example.com")?;
        check_patterns(&self.not_hosts, &format!("{at}.notHosts"), "*.example.com")?;
        for (name, paths) in [("paths", &self.paths), ("notPaths", &self.not_paths)] {
            for (k, p) in paths.iter().enumerate() {
                let path = format!("{at}.{name}[{k}]");
                check_pattern(p, path.clone(), "/api/*")?;
                if !(p.starts_with('/') || p.starts_with('*')) {
                    return Err(Invalid::at(&path, "a path starts with / (or *)"));
                }
            }
        }
        Ok(())
    }
}

impl Condition {
    fn validate(&self, at: &str) -> Result<(), Invalid> {
        let key: Key = self
            .key
            .parse()
            .map_err(|e: String| Invalid::at(&format!("{at}.key"), e))?;
        if self.values.is_empty() && self.not_values.is_empty() {
            return Err(Invalid::at(at, "a condition needs values or notValues"));
        }
        for (name, list) in [("values", &self.values), ("notValues", &self.not_values)] {
            let at = format!("{at}.{name}");
            match key {
                Key::SourceIp => check_blocks(list, &at)?,
                Key::DestinationPort => {
                    if let Some(k) = list.iter().position(|v| v.parse::<u16>().is_err()) {
                        return Err(Invalid::at(&format!("{at}[{k}]"), "expected a port number"));
                    }
                }
                _ => check_patterns(list, &at, "group*")?,
            }
        }
        Ok(())
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
                src.validate(&format!("{at}.from[{j}]"))?;
            }
            for (j, op) in rule.to.iter().enumerate() {
                op.validate(&format!("{at}.to[{j}]"))?;
            }
            for (j, c) in rule.when.iter().enumerate() {
                c.validate(&format!("{at}.when[{j}]"))?;
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
