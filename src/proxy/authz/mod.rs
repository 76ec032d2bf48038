//! Inbound authorization: the config's rules compiled once per table and checked per HTTP
//! request or opaque TCP connection. DENY rules first; then, if any ALLOW rule covers the
//! port, only what an ALLOW rule matches passes; else the default policy decides.

mod matchers;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::Arc;

use matchers::{CompiledCondition, CompiledOperation, CompiledSource};

use crate::identity::SpiffeId;
use crate::model::authz::{Action, Authorization, DefaultPolicy, Rule};

/// An authenticated client: its id and that id as text, which the connection already made
/// for its metrics labels (identity patterns match the text; no string per request).
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub id: &'a SpiffeId,
    pub text: &'a str,
}

/// The end user a verified JWT names (Istio's `request.auth.*` attributes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestAuth {
    /// `<iss>/<sub>`.
    pub principal: String,
    pub audiences: Vec<String>,
    /// The `azp` claim.
    pub presenter: Option<String>,
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// What is being authorized.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    /// The app port.
    pub port: u16,
    /// The client's mesh identity (None: unauthenticated).
    pub client: Option<Client<'a>>,
    /// Method and path of an HTTP request; None for an opaque TCP connection.
    pub http: Option<(&'a str, &'a str)>,
    /// The client's address.
    pub source_ip: Option<IpAddr>,
    /// The request's authority (HTTP).
    pub host: Option<&'a str>,
    pub headers: Option<&'a http::HeaderMap>,
    /// The verified JWT's principal and claims (HTTP, when one was presented).
    pub auth: Option<&'a RequestAuth>,
}

/// The verdict, naming the rule (or default) that denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(Arc<str>),
}

#[derive(Debug)]
struct CompiledRule {
    name: Arc<str>,
    action: Action,
    from: Vec<CompiledSource>,
    to: Vec<CompiledOperation>,
    when: Vec<CompiledCondition>,
}

impl CompiledRule {
    fn new(r: &Rule, index: usize) -> Self {
        Self {
            name: Arc::from(r.label(index)),
            action: r.action,
            from: r.from.iter().map(CompiledSource::new).collect(),
            to: r.to.iter().map(CompiledOperation::new).collect(),
            // Validated with the config: every key parses.
            when: r.when.iter().filter_map(CompiledCondition::new).collect(),
        }
    }

    fn matches(&self, s: &Subject<'_>) -> bool {
        let deny = self.action == Action::Deny;
        (self.from.is_empty() || self.from.iter().any(|f| f.matches(s, deny)))
            && (self.to.is_empty() || self.to.iter().any(|o| o.matches(s, deny)))
            && self.when.iter().all(|c| c.matches(s, deny))
    }

    fn covers(&self, port: u16) -> bool {
        self.to.is_empty() || self.to.iter().any(|o| o.covers(port))
    }
}

/// A compiled policy.
#[derive(Debug)]
pub struct Authz {
    default: DefaultPolicy,
    rules: Vec<CompiledRule>,
    default_label: Arc<str>,
    unmatched_label: Arc<str>,
}

impl Authz {
    pub fn new(config: &Authorization) -> Self {
        let default_label = match config.default {
            DefaultPolicy::AllAllowed => "default:all-allowed",
            DefaultPolicy::AllAuthenticated => "default:all-authenticated",
            DefaultPolicy::Deny => "default:deny",
        };
        Self {
            default: config.default,
            rules: config
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| CompiledRule::new(r, i))
                .collect(),
            default_label: Arc::from(default_label),
            unmatched_label: Arc::from("no-allow-rule"),
        }
    }

    /// Whether everything passes (no rules, all-allowed): the request path skips the check.
    pub fn allows_all(&self) -> bool {
        self.rules.is_empty() && self.default == DefaultPolicy::AllAllowed
    }

    pub fn check(&self, s: &Subject<'_>) -> Decision {
        let deny = |r: &CompiledRule| r.action == Action::Deny;
        if let Some(rule) = self.rules.iter().find(|r| deny(r) && r.matches(s)) {
            return Decision::Deny(rule.name.clone());
        }
        let allows = || self.rules.iter().filter(|r| !deny(r));
        if allows().any(|r| r.matches(s)) {
            return Decision::Allow;
        }
        if allows().any(|r| r.covers(s.port)) {
            return Decision::Deny(self.unmatched_label.clone());
        }
        let allowed = match self.default {
            DefaultPolicy::AllAllowed => true,
            DefaultPolicy::AllAuthenticated => s.client.is_some(),
            DefaultPolicy::Deny => false,
        };
        if allowed {
            Decision::Allow
        } else {
            Decision::Deny(self.default_label.clone())
        }
    }
}
