//! The compiled parts of a rule: patterns, sources, operations and conditions, each checked
//! against a [`Subject`]. `deny` says whether the rule denies: an attribute only HTTP has,
//! asked of an opaque TCP connection, matches a DENY and never an ALLOW (fail closed).

use ipnet::IpNet;

use super::Subject;
use crate::model::authz::{Condition, Key, Operation, Source, parse_block};

/// Text with at most one `*` at an end.
#[derive(Debug, Clone)]
pub(super) enum Pattern {
    Any,
    Exact(String),
    Prefix(String),
    Suffix(String),
}

impl Pattern {
    pub fn new(p: &str) -> Self {
        if p == "*" {
            Pattern::Any
        } else if let Some(prefix) = p.strip_suffix('*') {
            Pattern::Prefix(prefix.to_owned())
        } else if let Some(suffix) = p.strip_prefix('*') {
            Pattern::Suffix(suffix.to_owned())
        } else {
            Pattern::Exact(p.to_owned())
        }
    }

    fn lowercase(p: &str) -> Self {
        Self::new(&p.to_ascii_lowercase())
    }

    pub fn matches(&self, s: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(e) => s == e,
            Pattern::Prefix(p) => s.starts_with(p.as_str()),
            Pattern::Suffix(p) => s.ends_with(p.as_str()),
        }
    }
}

fn patterns(list: &[String]) -> Vec<Pattern> {
    list.iter().map(|p| Pattern::new(p)).collect()
}

fn blocks(list: &[String]) -> Vec<IpNet> {
    // Validated with the config: a block that does not parse cannot get here.
    list.iter().filter_map(|b| parse_block(b).ok()).collect()
}

fn any(list: &[Pattern], value: Option<&str>) -> bool {
    value.is_some_and(|v| list.iter().any(|p| p.matches(v)))
}

/// `list` given: one entry must match; `not` given: none may.
fn pass(list: &[Pattern], not: &[Pattern], value: Option<&str>) -> bool {
    (list.is_empty() || any(list, value)) && (not.is_empty() || !any(not, value))
}

#[derive(Debug)]
pub(super) struct CompiledSource {
    identities: Vec<Pattern>,
    not_identities: Vec<Pattern>,
    namespaces: Vec<Pattern>,
    not_namespaces: Vec<Pattern>,
    ip_blocks: Vec<IpNet>,
    not_ip_blocks: Vec<IpNet>,
    request_principals: Vec<Pattern>,
    not_request_principals: Vec<Pattern>,
    unauthenticated: bool,
}

impl CompiledSource {
    pub fn new(s: &Source) -> Self {
        Self {
            identities: patterns(&s.identities),
            not_identities: patterns(&s.not_identities),
            namespaces: patterns(&s.namespaces),
            not_namespaces: patterns(&s.not_namespaces),
            ip_blocks: blocks(&s.ip_blocks),
            not_ip_blocks: blocks(&s.not_ip_blocks),
            request_principals: patterns(&s.request_principals),
            not_request_principals: patterns(&s.not_request_principals),
            unauthenticated: s.unauthenticated,
        }
    }

    pub fn matches(&self, s: &Subject<'_>, deny: bool) -> bool {
        if self.unauthenticated && s.client.is_some() {
            return false;
        }
        let text = s.client.map(|c| c.text);
        let ns = s.client.map(|c| c.id.namespace());
        let in_blocks = |list: &[IpNet]| {
            s.source_ip
                .is_some_and(|ip| list.iter().any(|b| b.contains(&ip)))
        };
        let peer = pass(&self.identities, &self.not_identities, text)
            && pass(&self.namespaces, &self.not_namespaces, ns)
            && (self.ip_blocks.is_empty() || in_blocks(&self.ip_blocks))
            && (self.not_ip_blocks.is_empty() || !in_blocks(&self.not_ip_blocks));
        if !peer {
            return false;
        }
        if self.request_principals.is_empty() && self.not_request_principals.is_empty() {
            return true;
        }
        if s.http.is_none() {
            return deny;
        }
        let principal = s.auth.map(|a| a.principal.as_str());
        pass(
            &self.request_principals,
            &self.not_request_principals,
            principal,
        )
    }
}

#[derive(Debug)]
pub(super) struct CompiledOperation {
    ports: Vec<u16>,
    not_ports: Vec<u16>,
    hosts: Vec<Pattern>,
    not_hosts: Vec<Pattern>,
    methods: Vec<String>,
    not_methods: Vec<String>,
    paths: Vec<Pattern>,
    not_paths: Vec<Pattern>,
}

fn upper(list: &[String]) -> Vec<String> {
    list.iter().map(|m| m.to_ascii_uppercase()).collect()
}

impl CompiledOperation {
    pub fn new(o: &Operation) -> Self {
        Self {
            ports: o.ports.clone(),
            not_ports: o.not_ports.clone(),
            hosts: o.hosts.iter().map(|h| Pattern::lowercase(h)).collect(),
            not_hosts: o.not_hosts.iter().map(|h| Pattern::lowercase(h)).collect(),
            methods: upper(&o.methods),
            not_methods: upper(&o.not_methods),
            paths: patterns(&o.paths),
            not_paths: patterns(&o.not_paths),
        }
    }

    pub fn covers(&self, port: u16) -> bool {
        (self.ports.is_empty() || self.ports.contains(&port)) && !self.not_ports.contains(&port)
    }

    fn http_only(&self) -> bool {
        !(self.hosts.is_empty()
            && self.not_hosts.is_empty()
            && self.methods.is_empty()
            && self.not_methods.is_empty()
            && self.paths.is_empty()
            && self.not_paths.is_empty())
    }

    pub fn matches(&self, s: &Subject<'_>, deny: bool) -> bool {
        if !self.covers(s.port) {
            return false;
        }
        let Some((method, path)) = s.http else {
            return deny || !self.http_only();
        };
        let host = s.host.map(str::to_ascii_lowercase);
        // A host pattern matches the authority with or without its port.
        let bare = host
            .as_deref()
            .map(|h| h.rsplit_once(':').map_or(h, |(b, _)| b));
        let host_in = |list: &[Pattern]| any(list, host.as_deref()) || any(list, bare);
        let method_in = |list: &[String]| list.iter().any(|m| m == method);
        (self.hosts.is_empty() || host_in(&self.hosts))
            && (self.not_hosts.is_empty() || !host_in(&self.not_hosts))
            && (self.methods.is_empty() || method_in(&self.methods))
            && !method_in(&self.not_methods)
            && pass(&self.paths, &self.not_paths, Some(path))
    }
}

#[derive(Debug)]
pub(super) struct CompiledCondition {
    key: Key,
    values: Values,
    not_values: Values,
}

#[derive(Debug)]
enum Values {
    Text(Vec<Pattern>),
    Blocks(Vec<IpNet>),
}

impl Values {
    fn new(key: &Key, list: &[String]) -> Self {
        match key {
            Key::SourceIp => Values::Blocks(blocks(list)),
            _ => Values::Text(patterns(list)),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Values::Text(l) => l.is_empty(),
            Values::Blocks(l) => l.is_empty(),
        }
    }

    /// Whether any of the attribute's values matches any entry.
    fn any(&self, s: &Subject<'_>, key: &Key) -> bool {
        match self {
            Values::Blocks(list) => s
                .source_ip
                .is_some_and(|ip| list.iter().any(|b| b.contains(&ip))),
            Values::Text(list) => attribute(s, key)
                .iter()
                .any(|v| list.iter().any(|p| p.matches(v))),
        }
    }
}

/// The attribute's values as text (a claim may hold a list; a header may repeat).
fn attribute(s: &Subject<'_>, key: &Key) -> Vec<String> {
    let auth = s.auth;
    match key {
        Key::SourceIp => s.source_ip.map(|ip| ip.to_string()).into_iter().collect(),
        Key::SourceNamespace => s
            .client
            .map(|c| c.id.namespace().to_owned())
            .into_iter()
            .collect(),
        Key::SourcePrincipal => s.client.map(|c| c.text.to_owned()).into_iter().collect(),
        Key::DestinationPort => vec![s.port.to_string()],
        Key::Header(name) => s
            .headers
            .map(|h| {
                h.get_all(name.as_str())
                    .iter()
                    .filter_map(|v| v.to_str().ok().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        Key::AuthPrincipal => auth.map(|a| a.principal.clone()).into_iter().collect(),
        Key::AuthAudiences => auth.map(|a| a.audiences.clone()).unwrap_or_default(),
        Key::AuthPresenter => auth.and_then(|a| a.presenter.clone()).into_iter().collect(),
        Key::Claim(path) => auth
            .and_then(|a| {
                let first = a.claims.get(path.first()?)?;
                path[1..].iter().try_fold(first, |v, k| v.get(k))
            })
            .map(claim_values)
            .unwrap_or_default(),
    }
}

/// A claim as text: a string, each string of a list, or a scalar's JSON form.
fn claim_values(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(items) => items.iter().flat_map(claim_values).collect(),
        serde_json::Value::Object(_) | serde_json::Value::Null => Vec::new(),
        other => vec![other.to_string()],
    }
}

impl CompiledCondition {
    pub fn new(c: &Condition) -> Option<Self> {
        let key: Key = c.key.parse().ok()?;
        Some(Self {
            values: Values::new(&key, &c.values),
            not_values: Values::new(&key, &c.not_values),
            key,
        })
    }

    pub fn matches(&self, s: &Subject<'_>, deny: bool) -> bool {
        if self.key.is_http() && s.http.is_none() {
            return deny;
        }
        (self.values.is_empty() || self.values.any(s, &self.key))
            && (self.not_values.is_empty() || !self.not_values.any(s, &self.key))
    }
}
