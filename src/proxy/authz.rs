//! Inbound authorization: the config's rules compiled once per table and checked per HTTP
//! request or opaque TCP connection. DENY rules first; then, if any ALLOW rule covers the
//! port, only what an ALLOW rule matches passes; else the default policy decides.

use std::sync::Arc;

use crate::identity::SpiffeId;
use crate::model::authz::{Action, Authorization, DefaultPolicy, Operation, Rule, Source};

/// Text with at most one `*` at an end.
#[derive(Debug, Clone)]
enum Pattern {
    Any,
    Exact(String),
    Prefix(String),
    Suffix(String),
}

impl Pattern {
    fn new(p: &str) -> Self {
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

    fn matches(&self, s: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(e) => s == e,
            Pattern::Prefix(p) => s.starts_with(p.as_str()),
            Pattern::Suffix(p) => s.ends_with(p.as_str()),
        }
    }
}

/// An authenticated client: its id and that id as text, which the connection already made
/// for its metrics labels (identity patterns match the text; no string per request).
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub id: &'a SpiffeId,
    pub text: &'a str,
}

/// What is being authorized.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The app port.
    pub port: u16,
    /// The client's mesh identity (None: unauthenticated).
    pub client: Option<Client<'a>>,
    /// Method and path of an HTTP request; None for an opaque TCP connection.
    pub http: Option<(&'a str, &'a str)>,
}

/// The verdict, naming the rule (or default) that denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(Arc<str>),
}

#[derive(Debug)]
struct CompiledSource {
    identities: Vec<Pattern>,
    namespaces: Vec<String>,
    unauthenticated: bool,
}

impl CompiledSource {
    fn new(s: &Source) -> Self {
        Self {
            identities: s.identities.iter().map(|p| Pattern::new(p)).collect(),
            namespaces: s.namespaces.clone(),
            unauthenticated: s.unauthenticated,
        }
    }

    fn matches(&self, client: Option<Client<'_>>) -> bool {
        let Some(client) = client else {
            return self.unauthenticated;
        };
        !self.unauthenticated
            && (self.namespaces.is_empty()
                || self.namespaces.iter().any(|n| n == client.id.namespace()))
            && (self.identities.is_empty()
                || self.identities.iter().any(|p| p.matches(client.text)))
    }
}

#[derive(Debug)]
struct CompiledOperation {
    ports: Vec<u16>,
    methods: Vec<String>,
    paths: Vec<Pattern>,
}

impl CompiledOperation {
    fn new(o: &Operation) -> Self {
        Self {
            ports: o.ports.clone(),
            methods: o.methods.iter().map(|m| m.to_ascii_uppercase()).collect(),
            paths: o.paths.iter().map(|p| Pattern::new(p)).collect(),
        }
    }

    fn covers(&self, port: u16) -> bool {
        self.ports.is_empty() || self.ports.contains(&port)
    }

    /// `deny`: an opaque connection matches HTTP-only conditions of a DENY rule (fail closed).
    fn matches(&self, s: &Subject<'_>, deny: bool) -> bool {
        if !self.covers(s.port) {
            return false;
        }
        match s.http {
            Some((method, path)) => {
                (self.methods.is_empty() || self.methods.iter().any(|m| m == method))
                    && (self.paths.is_empty() || self.paths.iter().any(|p| p.matches(path)))
            }
            None => deny || (self.methods.is_empty() && self.paths.is_empty()),
        }
    }
}

#[derive(Debug)]
struct CompiledRule {
    name: Arc<str>,
    action: Action,
    from: Vec<CompiledSource>,
    to: Vec<CompiledOperation>,
}

impl CompiledRule {
    fn new(r: &Rule, index: usize) -> Self {
        Self {
            name: Arc::from(r.label(index)),
            action: r.action,
            from: r.from.iter().map(CompiledSource::new).collect(),
            to: r.to.iter().map(CompiledOperation::new).collect(),
        }
    }

    fn matches(&self, s: &Subject<'_>) -> bool {
        let deny = self.action == Action::Deny;
        (self.from.is_empty() || self.from.iter().any(|f| f.matches(s.client)))
            && (self.to.is_empty() || self.to.iter().any(|o| o.matches(s, deny)))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn authz(json: &str) -> Authz {
        let config: Authorization = serde_json::from_str(json).unwrap();
        config.validate("authorization").unwrap();
        Authz::new(&config)
    }

    fn id(s: &str) -> SpiffeId {
        s.parse().unwrap()
    }

    fn http<'a>(port: u16, client: Option<&'a SpiffeId>, m: &'a str, p: &'a str) -> Subject<'a> {
        Subject {
            port,
            client: client.map(as_client),
            http: Some((m, p)),
        }
    }

    fn as_client(id: &SpiffeId) -> Client<'_> {
        let text = Box::leak(id.to_string().into_boxed_str());
        Client { id, text }
    }

    fn allowed(a: &Authz, s: Subject<'_>) -> bool {
        a.check(&s) == Decision::Allow
    }

    #[test]
    fn defaults_decide_ports_no_allow_rule_covers() {
        let web = id("spiffe://td/ns/shop/sa/web");
        for (default, anon, authed) in [
            ("all-allowed", true, true),
            ("all-authenticated", false, true),
            ("deny", false, false),
        ] {
            let a = authz(&format!(r#"{{"default":"{default}"}}"#));
            assert_eq!(allowed(&a, http(80, None, "GET", "/")), anon, "{default}");
            assert_eq!(
                allowed(&a, http(80, Some(&web), "GET", "/")),
                authed,
                "{default}"
            );
        }
        let a = authz(r#"{"default":"deny"}"#);
        assert_eq!(
            a.check(&http(80, None, "GET", "/")),
            Decision::Deny(Arc::from("default:deny"))
        );
    }

    #[test]
    fn identity_namespace_and_unauthenticated_sources() {
        let a = authz(
            r#"{"rules":[{"name":"r","action":"ALLOW","from":[
                {"identities":["spiffe://td/ns/shop/sa/web"]},
                {"identities":["spiffe://td/ns/ops/*"]},
                {"identities":["*/sa/admin"]},
                {"namespaces":["batch"]},
                {"unauthenticated":true}]}]}"#,
        );
        for (who, ok) in [
            ("spiffe://td/ns/shop/sa/web", true),
            ("spiffe://td/ns/shop/sa/web2", false),
            ("spiffe://td/ns/ops/sa/anything", true),
            ("spiffe://td/ns/x/sa/admin", true),
            ("spiffe://td/ns/batch/sa/job", true),
            ("spiffe://td/ns/other/sa/job", false),
        ] {
            let who = id(who);
            assert_eq!(allowed(&a, http(80, Some(&who), "GET", "/")), ok, "{who}");
        }
        assert!(allowed(&a, http(80, None, "GET", "/")));
    }

    #[test]
    fn operations_and_the_port_an_allow_covers() {
        let a = authz(
            r#"{"rules":[{"action":"ALLOW","to":[
                {"ports":[80],"methods":["GET"],"paths":["/api/*","*.css","/health"]}]}]}"#,
        );
        assert!(allowed(&a, http(80, None, "GET", "/api/x")));
        assert!(allowed(&a, http(80, None, "GET", "/s/site.css")));
        assert!(allowed(&a, http(80, None, "GET", "/health")));
        assert!(!allowed(&a, http(80, None, "GET", "/health/x")));
        assert!(!allowed(&a, http(80, None, "POST", "/api/x")));
        assert_eq!(
            a.check(&http(80, None, "POST", "/api/x")),
            Decision::Deny(Arc::from("no-allow-rule"))
        );
        // Port 81 is not covered by the ALLOW: the default (all allowed) applies.
        assert!(allowed(&a, http(81, None, "POST", "/x")));
        let tcp = Subject {
            port: 80,
            client: None,
            http: None,
        };
        assert!(
            !allowed(&a, tcp),
            "an ALLOW with HTTP conditions never matches TCP"
        );
    }

    #[test]
    fn deny_comes_first_and_fails_closed_for_tcp() {
        let admin = id("spiffe://td/ns/ops/sa/admin");
        let a = authz(
            r#"{"rules":[
                {"name":"no-admin-writes","action":"DENY","to":[{"methods":["POST"],"paths":["/admin*"]}]},
                {"action":"ALLOW","from":[{"identities":["spiffe://td/ns/ops/*"]}]}]}"#,
        );
        assert!(allowed(&a, http(80, Some(&admin), "GET", "/admin")));
        assert_eq!(
            a.check(&http(80, Some(&admin), "POST", "/admin/users")),
            Decision::Deny(Arc::from("no-admin-writes"))
        );
        let tcp = Subject {
            port: 5432,
            client: Some(as_client(&admin)),
            http: None,
        };
        assert_eq!(a.check(&tcp), Decision::Deny(Arc::from("no-admin-writes")));
    }
}
