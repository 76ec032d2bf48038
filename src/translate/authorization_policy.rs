//! Istio AuthorizationPolicy (security.istio.io v1, v1beta1) into each pod's inbound
//! authorization: DENY rules, then ALLOW rules (once any ALLOW policy selects a pod, what no
//! ALLOW rule matches is denied; an ALLOW policy without rules allows nothing, a DENY
//! policy without rules denies nothing). Root-namespace policies apply mesh-wide. CUSTOM
//! (external authorizers) cannot be enforced: its rules deny (fail closed) and it is
//! reported; AUDIT is reported and has no effect, as it has none on traffic in Istio.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::catalog::Catalog;
use super::finding::Report;
use super::workload::{Scope, WorkloadSelector, policies, read_spec};
use crate::model::authz::{
    Action, Authorization, Condition, DefaultPolicy, Key, Operation, Rule, Source,
};

/// The AuthorizationPolicy kind.
pub const KIND: &str = "AuthorizationPolicy";

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    selector: Option<WorkloadSelector>,
    action: Option<ActionName>,
    provider: Option<Value>,
    rules: Option<Vec<RuleSpec>>,
    target_ref: Option<Value>,
    target_refs: Option<Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum ActionName {
    Allow,
    Deny,
    Audit,
    Custom,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct RuleSpec {
    from: Option<Vec<From>>,
    to: Option<Vec<To>>,
    when: Option<Vec<When>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct From {
    source: Option<SourceSpec>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct SourceSpec {
    principals: Option<Vec<String>>,
    not_principals: Option<Vec<String>>,
    service_accounts: Option<Vec<String>>,
    not_service_accounts: Option<Vec<String>>,
    request_principals: Option<Vec<String>>,
    not_request_principals: Option<Vec<String>>,
    namespaces: Option<Vec<String>>,
    not_namespaces: Option<Vec<String>>,
    ip_blocks: Option<Vec<String>>,
    not_ip_blocks: Option<Vec<String>>,
    remote_ip_blocks: Option<Vec<String>>,
    not_remote_ip_blocks: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct To {
    operation: Option<OperationSpec>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct OperationSpec {
    hosts: Option<Vec<String>>,
    not_hosts: Option<Vec<String>>,
    ports: Option<Vec<String>>,
    not_ports: Option<Vec<String>>,
    methods: Option<Vec<String>>,
    not_methods: Option<Vec<String>>,
    paths: Option<Vec<String>>,
    not_paths: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct When {
    key: String,
    values: Option<Vec<String>>,
    not_values: Option<Vec<String>>,
}

/// One translated policy: where it applies and its model rules.
#[derive(Clone, Debug)]
struct Policy {
    scope: Scope,
    /// Whether it is an ALLOW policy (it then denies what no ALLOW rule matches).
    allow: bool,
    rules: Vec<Rule>,
}

/// Every AuthorizationPolicy of a snapshot.
#[derive(Clone, Debug, Default)]
pub(crate) struct AuthzIndex {
    policies: Vec<Policy>,
}

impl AuthzIndex {
    pub fn new(catalog: &mut Catalog<'_>) -> Self {
        let trust_domain = catalog.options.trust_domain.clone();
        let mut index = AuthzIndex::default();
        for p in policies(catalog, KIND) {
            let options = catalog.options;
            let mut report = catalog.report(&p.object);
            let targeted = |s: &Spec| s.target_ref.is_some() || s.target_refs.is_some();
            let Some(spec) = read_spec(p.spec, &mut report, targeted) else {
                continue;
            };
            let action = match spec.action.unwrap_or(ActionName::Allow) {
                ActionName::Allow => Action::Allow,
                ActionName::Deny => Action::Deny,
                ActionName::Audit => {
                    report.warn(
                        "spec.action",
                        "AUDIT is not enforced: the proxy keeps no audit log, and an AUDIT \
                         policy never changes a decision; this policy has no effect",
                    );
                    continue;
                }
                ActionName::Custom => {
                    report.error(
                        "spec.action",
                        "CUSTOM (an external authorizer) is not supported: requests its rules \
                         match are denied (fail closed) until the policy is changed",
                    );
                    Action::Deny
                }
            };
            if spec.provider.is_some() && spec.action != Some(ActionName::Custom) {
                report.warn(
                    "spec.provider",
                    "a provider is only read with action CUSTOM",
                );
            }
            let name = format!("{}/{}", p.namespace, p.name);
            let ctx = Ctx {
                action,
                trust_domain: &trust_domain,
            };
            let rules = spec
                .rules
                .iter()
                .flatten()
                .enumerate()
                .filter_map(|(i, r)| ctx.rule(r, &format!("{name}.rules[{i}]"), i, &mut report))
                .collect();
            index.policies.push(Policy {
                scope: Scope::new(options, &p.namespace, &spec.selector),
                allow: action == Action::Allow,
                rules,
            });
        }
        index
    }

    /// The inbound authorization of a pod in `namespace` with `labels`.
    pub fn authorization(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Authorization {
        let mut out = Authorization::default();
        for p in &self.policies {
            if !p.scope.applies(namespace, labels) {
                continue;
            }
            if p.allow {
                out.default = DefaultPolicy::Deny;
            }
            out.rules.extend(p.rules.iter().cloned());
        }
        out
    }
}

/// What translating one policy's rules needs.
struct Ctx<'a> {
    action: Action,
    trust_domain: &'a str,
}

/// An Istio principal (`cluster.local/ns/x/sa/y`, or already `spiffe://...`) as the
/// proxy's SPIFFE id text; `*` and `*suffix` stay as they are.
fn spiffe(p: &str) -> String {
    if p.starts_with("spiffe://") || p.starts_with('*') {
        p.to_owned()
    } else {
        format!("spiffe://{p}")
    }
}

fn list(v: &Option<Vec<String>>) -> Vec<String> {
    v.clone().unwrap_or_default()
}

impl Ctx<'_> {
    /// One rule, or None when an ALLOW rule cannot be applied as written (allowing less).
    /// A DENY rule that cannot is made to match everything (denying more).
    fn rule(&self, r: &RuleSpec, name: &str, i: usize, report: &mut Report<'_>) -> Option<Rule> {
        let at = format!("spec.rules[{i}]");
        let mut broken = Vec::new();
        let from = r
            .from
            .iter()
            .flatten()
            .enumerate()
            .map(|(j, f)| self.source(f, &format!("{at}.from[{j}].source"), &mut broken))
            .collect();
        let to =
            r.to.iter()
                .flatten()
                .enumerate()
                .map(|(j, t)| operation(t, &format!("{at}.to[{j}].operation"), &mut broken))
                .collect();
        let when = r
            .when
            .iter()
            .flatten()
            .enumerate()
            .map(|(j, w)| self.condition(w, &format!("{at}.when[{j}]"), &mut broken))
            .collect();
        let mut rule = Rule {
            name: Some(name.to_owned()),
            action: self.action,
            from,
            to,
            when,
        };
        if broken.is_empty() {
            let check = Authorization {
                rules: vec![rule.clone()],
                ..Authorization::default()
            };
            if let Err(e) = check.validate("rule") {
                let field = e.path.strip_prefix("rule.rules[0]").unwrap_or(&e.path);
                broken.push((format!("{at}{}", model_to_istio(field)), e.message));
            }
        }
        if broken.is_empty() {
            return Some(rule);
        }
        let consequence = match self.action {
            Action::Allow => "this ALLOW rule is not applied (it allows nothing)",
            Action::Deny => "this DENY rule denies every request to the workload (fail closed)",
        };
        for (field, why) in broken {
            report.error(field, format!("{why}; {consequence} until this is fixed"));
        }
        match self.action {
            Action::Allow => None,
            Action::Deny => {
                rule.from.clear();
                rule.to.clear();
                rule.when.clear();
                Some(rule)
            }
        }
    }

    fn source(&self, f: &From, at: &str, broken: &mut Vec<(String, String)>) -> Source {
        let Some(s) = &f.source else {
            broken.push((at.to_owned(), "a from entry needs a source".to_owned()));
            return Source::default();
        };
        let before = broken.len();
        for (field, v) in [
            ("remoteIpBlocks", &s.remote_ip_blocks),
            ("notRemoteIpBlocks", &s.not_remote_ip_blocks),
        ] {
            if v.is_some() {
                broken.push((
                    format!("{at}.{field}"),
                    "remote (X-Forwarded-For) addresses are not supported: use ipBlocks for \
                     the connection's address"
                        .to_owned(),
                ));
            }
        }
        let accounts = |v: &Option<Vec<String>>| -> Vec<String> {
            list(v)
                .iter()
                .map(|a| match a.split_once('/') {
                    Some((ns, sa)) => format!("spiffe://{}/ns/{ns}/sa/{sa}", self.trust_domain),
                    None => format!("spiffe://{}/ns/*/sa/{a}", self.trust_domain),
                })
                .collect()
        };
        let mut identities: Vec<String> = list(&s.principals).iter().map(|p| spiffe(p)).collect();
        identities.extend(accounts(&s.service_accounts));
        let mut not_identities: Vec<String> =
            list(&s.not_principals).iter().map(|p| spiffe(p)).collect();
        not_identities.extend(accounts(&s.not_service_accounts));
        let source = Source {
            identities,
            not_identities,
            namespaces: list(&s.namespaces),
            not_namespaces: list(&s.not_namespaces),
            ip_blocks: list(&s.ip_blocks),
            not_ip_blocks: list(&s.not_ip_blocks),
            request_principals: list(&s.request_principals),
            not_request_principals: list(&s.not_request_principals),
            unauthenticated: false,
        };
        if source == Source::default() && broken.len() == before {
            broken.push((
                at.to_owned(),
                "an empty source is refused by Istio; give at least one field".to_owned(),
            ));
        }
        source
    }

    fn condition(&self, w: &When, at: &str, broken: &mut Vec<(String, String)>) -> Condition {
        let key = match w.key.parse::<Key>() {
            Ok(k) => k,
            Err(e) => {
                broken.push((format!("{at}.key"), e));
                return Condition::default();
            }
        };
        let principals = |v: &Option<Vec<String>>| -> Vec<String> {
            let l = list(v);
            if key == Key::SourcePrincipal {
                l.iter().map(|p| spiffe(p)).collect()
            } else {
                l
            }
        };
        Condition {
            key: w.key.clone(),
            values: principals(&w.values),
            not_values: principals(&w.not_values),
        }
    }
}

fn operation(t: &To, at: &str, broken: &mut Vec<(String, String)>) -> Operation {
    let Some(o) = &t.operation else {
        broken.push((at.to_owned(), "a to entry needs an operation".to_owned()));
        return Operation::default();
    };
    let mut ports = |field: &str, v: &Option<Vec<String>>| -> Vec<u16> {
        list(v)
            .iter()
            .enumerate()
            .filter_map(|(k, p)| match p.parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    broken.push((
                        format!("{at}.{field}[{k}]"),
                        format!("{p:?} is not a port 1-65535"),
                    ));
                    None
                }
            })
            .collect()
    };
    Operation {
        ports: ports("ports", &o.ports),
        not_ports: ports("notPorts", &o.not_ports),
        hosts: list(&o.hosts),
        not_hosts: list(&o.not_hosts),
        methods: list(&o.methods),
        not_methods: list(&o.not_methods),
        paths: list(&o.paths),
        not_paths: list(&o.not_paths),
    }
}

/// A model field path inside a rule (`.from[0].identities[1]`) in Istio's words.
fn model_to_istio(field: &str) -> String {
    let mut out = String::new();
    for part in field.split('.').filter(|p| !p.is_empty()) {
        let (head, index) = part
            .split_once('[')
            .map_or((part, ""), |(h, _)| (h, &part[h.len()..]));
        let name = match head {
            "from" => format!("from{index}.source"),
            "to" => format!("to{index}.operation"),
            "identities" => format!("principals{index}"),
            "notIdentities" => format!("notPrincipals{index}"),
            _ => part.to_owned(),
        };
        out.push('.');
        out.push_str(&name);
    }
    out
}

#[cfg(test)]
#[path = "authorization_policy_tests.rs"]
mod tests;
