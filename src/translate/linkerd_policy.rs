//! Linkerd policy (policy.linkerd.io): a `Server` (pods by label, one port) takes only the
//! traffic its authorizations allow: `ServerAuthorization`s, and `AuthorizationPolicy`s
//! whose required `MeshTLSAuthentication` / `NetworkAuthentication` / ServiceAccount all
//! hold. Into the same ALLOW rules as Istio's policies, for that port only; a Server
//! nothing authorizes denies everything (its `accessPolicy` default). Ports without a
//! Server keep the default (all allowed). HTTPRoute-scoped authorizations are reported and
//! not applied (the Server then allows less, never more).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::catalog::Catalog;
use super::finding::Report;
use super::spec::parse;
use super::workload::{WorkloadSelector, policies_of, selects};
use crate::model::authz::{Action, Authorization, Operation, Rule, Source};

/// The Linkerd policy API group.
pub const GROUP: &str = "policy.linkerd.io";

/// The kinds read here.
pub const KINDS: [&str; 5] = [
    "Server",
    "ServerAuthorization",
    "AuthorizationPolicy",
    "MeshTLSAuthentication",
    "NetworkAuthentication",
];

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct ServerSpec {
    pod_selector: Option<LabelSelector>,
    port: Option<IntOrString>,
    proxy_protocol: Option<String>,
    access_policy: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct LabelSelector {
    match_labels: Option<BTreeMap<String, String>>,
    match_expressions: Option<Value>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct ServerAuthorizationSpec {
    server: Option<ServerRef>,
    client: Option<Client>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct ServerRef {
    name: Option<String>,
    selector: Option<WorkloadSelector>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Client {
    #[serde(rename = "meshTLS")]
    mesh_tls: Option<MeshTls>,
    unauthenticated: Option<bool>,
    networks: Option<Vec<Network>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct MeshTls {
    #[serde(rename = "serviceAccounts")]
    service_accounts: Option<Vec<AccountRef>>,
    identities: Option<Vec<String>>,
    #[serde(rename = "unauthenticatedTLS")]
    unauthenticated_tls: Option<bool>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct AccountRef {
    name: String,
    namespace: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct Network {
    cidr: String,
    except: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicySpec {
    target_ref: Option<Ref>,
    required_authentication_refs: Option<Vec<Ref>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct Ref {
    group: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct MeshTlsSpec {
    identities: Option<Vec<String>>,
    identity_refs: Option<Vec<Ref>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct NetworkSpec {
    networks: Option<Vec<Network>>,
}

/// One Server and the sources its authorizations allow (each an ALLOW rule).
#[derive(Clone, Debug)]
struct Server {
    namespace: String,
    name: String,
    labels: BTreeMap<String, String>,
    selector: BTreeMap<String, String>,
    port: IntOrString,
    /// Each allowed client, as one source (None: anyone).
    allowed: Vec<(String, Option<Source>)>,
}

/// Every Linkerd Server of a snapshot with what is authorized on it.
#[derive(Clone, Debug, Default)]
pub(crate) struct LinkerdIndex {
    servers: Vec<Server>,
}

/// A Linkerd identity (`sa.ns.serviceaccount.identity.linkerd.<domain>`, `*`, or
/// `*.ns.serviceaccount...`) as a SPIFFE id pattern.
fn identity(id: &str, trust_domain: &str) -> Option<String> {
    if id == "*" {
        return Some("*".to_owned());
    }
    let mut parts = id.split('.');
    let (sa, ns, kind) = (parts.next()?, parts.next()?, parts.next()?);
    if kind != "serviceaccount" {
        return None;
    }
    Some(if sa == "*" {
        format!("spiffe://{trust_domain}/ns/{ns}/*")
    } else {
        format!("spiffe://{trust_domain}/ns/{ns}/sa/{sa}")
    })
}

fn networks(list: &[Network]) -> (Vec<String>, Vec<String>) {
    let cidrs = list.iter().map(|n| n.cidr.clone()).collect();
    let except = list
        .iter()
        .flat_map(|n| n.except.clone().unwrap_or_default())
        .collect();
    (cidrs, except)
}

/// What translation needs to read one policy object.
struct Ctx {
    trust_domain: String,
    /// MeshTLSAuthentication / NetworkAuthentication sources by (kind, namespace, name).
    authentications: BTreeMap<(String, String, String), Source>,
}

impl LinkerdIndex {
    pub fn new(catalog: &mut Catalog<'_>) -> Self {
        let mut ctx = Ctx {
            trust_domain: catalog.options.trust_domain.clone(),
            authentications: BTreeMap::new(),
        };
        ctx.read_authentications(catalog);
        let mut index = LinkerdIndex::default();
        for p in policies_of(catalog, GROUP, "Server") {
            let mut report = catalog.report(&p.object);
            let Some(spec) = parse::<ServerSpec>(p.spec, "spec", &mut report) else {
                continue;
            };
            let selector = spec.pod_selector.unwrap_or_default();
            if selector.match_expressions.is_some() {
                report.error(
                    "spec.podSelector.matchExpressions",
                    "not supported: use matchLabels; this Server selects no pod until then",
                );
                continue;
            }
            let Some(port) = spec.port else {
                report.error("spec.port", "a Server needs its port (number or name)");
                continue;
            };
            let open = match spec.access_policy.as_deref() {
                None | Some("deny") => None,
                Some("all-unauthenticated" | "cluster-unauthenticated") => Some(None),
                Some("all-authenticated" | "cluster-authenticated") => Some(Some(Source {
                    identities: vec!["*".to_owned()],
                    ..Source::default()
                })),
                Some(other) => {
                    report.error(
                        "spec.accessPolicy",
                        format!("{other:?} is not a Linkerd access policy; deny is used"),
                    );
                    None
                }
            };
            if spec
                .access_policy
                .as_deref()
                .is_some_and(|a| a.starts_with("cluster-"))
            {
                report.warn(
                    "spec.accessPolicy",
                    "the cluster's networks are not known to meshctl: read as its all- form",
                );
            }
            index.servers.push(Server {
                namespace: p.namespace.clone(),
                name: p.name.clone(),
                labels: p.labels.clone(),
                selector: selector.match_labels.unwrap_or_default(),
                port,
                allowed: open
                    .map(|s| vec![(format!("{}/{}.accessPolicy", p.namespace, p.name), s)])
                    .unwrap_or_default(),
            });
        }
        ctx.server_authorizations(catalog, &mut index);
        ctx.authorization_policies(catalog, &mut index);
        index
    }

    /// The rules of a pod: ALLOW rules for the ports of the Servers that select it.
    pub fn apply(
        &self,
        pod: &Pod,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        out: &mut Authorization,
    ) {
        for s in self
            .servers
            .iter()
            .filter(|s| s.namespace == namespace && selects(&s.selector, labels))
        {
            let Some(port) = super::inbound::container_port(pod, &s.port) else {
                continue;
            };
            let to = vec![Operation {
                ports: vec![port],
                ..Operation::default()
            }];
            if s.allowed.is_empty() {
                out.rules.push(Rule {
                    name: Some(format!("server/{}/{}:deny", s.namespace, s.name)),
                    action: Action::Deny,
                    from: Vec::new(),
                    to,
                    when: Vec::new(),
                });
                continue;
            }
            for (name, source) in &s.allowed {
                out.rules.push(Rule {
                    name: Some(format!("{name}@server/{}", s.name)),
                    action: Action::Allow,
                    from: source.iter().cloned().collect(),
                    to: to.clone(),
                    when: Vec::new(),
                });
            }
        }
    }
}

impl Ctx {
    fn read_authentications(&mut self, catalog: &mut Catalog<'_>) {
        for p in policies_of(catalog, GROUP, "MeshTLSAuthentication") {
            let mut report = catalog.report(&p.object);
            let Some(spec) = parse::<MeshTlsSpec>(p.spec, "spec", &mut report) else {
                continue;
            };
            let mut source = Source::default();
            for (i, id) in spec.identities.iter().flatten().enumerate() {
                match identity(id, &self.trust_domain) {
                    Some(id) => source.identities.push(id),
                    None => report.error(
                        format!("spec.identities[{i}]"),
                        format!("{id:?} is not a Linkerd identity (SA.NS.serviceaccount.identity.linkerd.DOMAIN or *)"),
                    ),
                }
            }
            for (i, r) in spec.identity_refs.iter().flatten().enumerate() {
                let ns = r.namespace.clone().unwrap_or_else(|| p.namespace.clone());
                match (r.kind.as_deref(), r.name.as_deref()) {
                    (Some("ServiceAccount"), Some(name)) => source
                        .identities
                        .push(format!("spiffe://{}/ns/{ns}/sa/{name}", self.trust_domain)),
                    (Some("Namespace"), Some(name)) => source.namespaces.push(name.to_owned()),
                    _ => report.error(
                        format!("spec.identityRefs[{i}]"),
                        "expected kind ServiceAccount or Namespace with a name",
                    ),
                }
            }
            if source.identities.is_empty() && source.namespaces.is_empty() {
                // Nothing valid: matches no client (fail closed).
                source
                    .identities
                    .push("spiffe://nobody.invalid/none".to_owned());
            }
            self.authentications.insert(
                ("MeshTLSAuthentication".into(), p.namespace, p.name),
                source,
            );
        }
        for p in policies_of(catalog, GROUP, "NetworkAuthentication") {
            let mut report = catalog.report(&p.object);
            let Some(spec) = parse::<NetworkSpec>(p.spec, "spec", &mut report) else {
                continue;
            };
            let (ip_blocks, not_ip_blocks) = networks(&spec.networks.unwrap_or_default());
            let source = Source {
                ip_blocks,
                not_ip_blocks,
                ..Source::default()
            };
            self.authentications.insert(
                ("NetworkAuthentication".into(), p.namespace, p.name),
                source,
            );
        }
    }

    fn server_authorizations(&self, catalog: &mut Catalog<'_>, index: &mut LinkerdIndex) {
        for p in policies_of(catalog, GROUP, "ServerAuthorization") {
            let mut report = catalog.report(&p.object);
            let Some(spec) = parse::<ServerAuthorizationSpec>(p.spec, "spec", &mut report) else {
                continue;
            };
            let client = spec.client.unwrap_or_default();
            let mut source = Source::default();
            let (ip_blocks, not_ip_blocks) =
                networks(client.networks.as_deref().unwrap_or_default());
            source.ip_blocks = ip_blocks;
            source.not_ip_blocks = not_ip_blocks;
            if let Some(tls) = &client.mesh_tls {
                if tls.unauthenticated_tls == Some(true) {
                    report.warn(
                        "spec.client.meshTLS.unauthenticatedTLS",
                        "not supported: TLS clients without an identity are not told apart; \
                         they are not authorized by this entry",
                    );
                }
                for a in tls.service_accounts.iter().flatten() {
                    let ns = a.namespace.clone().unwrap_or_else(|| p.namespace.clone());
                    source.identities.push(format!(
                        "spiffe://{}/ns/{ns}/sa/{}",
                        self.trust_domain, a.name
                    ));
                }
                for id in tls.identities.iter().flatten() {
                    source.identities.extend(identity(id, &self.trust_domain));
                }
                if source.identities.is_empty() {
                    source.identities.push("*".to_owned());
                }
            } else if client.unauthenticated != Some(true) {
                report.error(
                    "spec.client",
                    "give meshTLS or unauthenticated: true; this authorization allows nothing",
                );
                continue;
            }
            let source = (source != Source::default()).then_some(source);
            let server = spec.server.unwrap_or_default();
            let hit = attach(
                index,
                &p.namespace,
                &server,
                &format!("{}/{}", p.namespace, p.name),
                source,
            );
            if !hit {
                report.warn(
                    "spec.server",
                    "selects no Server: this authorization has no effect",
                );
            }
        }
    }

    fn authorization_policies(&self, catalog: &mut Catalog<'_>, index: &mut LinkerdIndex) {
        for p in policies_of(catalog, GROUP, "AuthorizationPolicy") {
            let mut report = catalog.report(&p.object);
            let Some(spec) = parse::<PolicySpec>(p.spec, "spec", &mut report) else {
                continue;
            };
            let Some(source) = self.required(&p.namespace, &spec, &mut report) else {
                continue;
            };
            let target = spec.target_ref.unwrap_or_default();
            let label = format!("{}/{}", p.namespace, p.name);
            let hit = match target.kind.as_deref() {
                Some("Server") => {
                    let by_name = ServerRef {
                        name: target.name.clone(),
                        selector: None,
                    };
                    attach(index, &p.namespace, &by_name, &label, source)
                }
                Some("Namespace") => {
                    let mut hit = false;
                    for s in index
                        .servers
                        .iter_mut()
                        .filter(|s| s.namespace == p.namespace)
                    {
                        s.allowed.push((label.clone(), source.clone()));
                        hit = true;
                    }
                    hit
                }
                Some(kind) => {
                    report.error(
                        "spec.targetRef",
                        format!(
                            "authorization scoped to a {kind} is not supported: it allows \
                             nothing (requests its Server does not otherwise allow are denied)"
                        ),
                    );
                    continue;
                }
                None => {
                    report.error(
                        "spec.targetRef",
                        "give the Server or Namespace it authorizes",
                    );
                    continue;
                }
            };
            if !hit {
                report.warn(
                    "spec.targetRef",
                    "names no Server: this policy has no effect",
                );
            }
        }
    }

    /// The one source every required authentication makes (None: the policy is unusable).
    fn required(
        &self,
        ns: &str,
        spec: &PolicySpec,
        report: &mut Report<'_>,
    ) -> Option<Option<Source>> {
        let mut source = Source::default();
        for (i, r) in spec
            .required_authentication_refs
            .iter()
            .flatten()
            .enumerate()
        {
            let at = format!("spec.requiredAuthenticationRefs[{i}]");
            let kind = r.kind.clone().unwrap_or_default();
            let name = r.name.clone().unwrap_or_default();
            let ref_ns = r.namespace.clone().unwrap_or_else(|| ns.to_owned());
            if kind == "ServiceAccount" {
                source.identities.push(format!(
                    "spiffe://{}/ns/{ref_ns}/sa/{name}",
                    self.trust_domain
                ));
                continue;
            }
            let Some(found) =
                self.authentications
                    .get(&(kind.clone(), ref_ns.clone(), name.clone()))
            else {
                report.error(
                    &at,
                    format!(
                        "no {kind} {ref_ns}/{name}: this policy allows nothing until it exists"
                    ),
                );
                return None;
            };
            let merged = merge(&mut source, found);
            if !merged {
                report.error(
                    &at,
                    "two authentications of the same kind must both hold: not supported; this \
                     policy allows nothing",
                );
                return None;
            }
        }
        Some((source != Source::default()).then_some(source))
    }
}

/// ANDs `more` into `source`; false when both constrain the same field.
fn merge(source: &mut Source, more: &Source) -> bool {
    let clash = (!source.identities.is_empty() || !source.namespaces.is_empty())
        && (!more.identities.is_empty() || !more.namespaces.is_empty())
        || !source.ip_blocks.is_empty() && !more.ip_blocks.is_empty();
    if clash {
        return false;
    }
    source.identities.extend(more.identities.iter().cloned());
    source.namespaces.extend(more.namespaces.iter().cloned());
    source.ip_blocks.extend(more.ip_blocks.iter().cloned());
    source
        .not_ip_blocks
        .extend(more.not_ip_blocks.iter().cloned());
    true
}

/// Adds `source` to the Servers of `ns` that `server` names; whether any.
fn attach(
    index: &mut LinkerdIndex,
    ns: &str,
    server: &ServerRef,
    label: &str,
    source: Option<Source>,
) -> bool {
    let selector = WorkloadSelector::labels(&server.selector);
    let mut hit = false;
    for s in index.servers.iter_mut().filter(|s| s.namespace == ns) {
        let named = server.name.as_deref() == Some(s.name.as_str());
        let selected = selector.as_ref().is_some_and(|sel| selects(sel, &s.labels));
        if named || selected {
            s.allowed.push((label.to_owned(), source.clone()));
            hit = true;
        }
    }
    hit
}

#[cfg(test)]
#[path = "linkerd_policy_tests.rs"]
mod tests;
