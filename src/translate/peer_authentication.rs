//! Istio PeerAuthentication (security.istio.io v1, v1beta1) into each pod's inbound mTLS
//! modes, with Istio's precedence: mesh-wide (root namespace, no selector) < namespace-wide
//! < workload (selector); UNSET inherits from the level above; `portLevelMtls` of the
//! workload policy overrides per app port. Of equals, the oldest wins.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::catalog::Catalog;
use super::endpoints::runs_proxy;
use super::finding::ObjectRef;
use super::spec::parse;
use super::workload::{WorkloadSelector, is_root, policies, selects};
use crate::model::identity::{InboundTls, TlsMode};

/// The PeerAuthentication kind.
pub const KIND: &str = "PeerAuthentication";

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    selector: Option<WorkloadSelector>,
    mtls: Option<Mtls>,
    port_level_mtls: Option<BTreeMap<String, Mtls>>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize)]
struct Mtls {
    mode: Option<Mode>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Mode {
    Unset,
    Disable,
    Permissive,
    Strict,
}

impl Mtls {
    /// The mode it sets; None for UNSET or absent (inherit).
    fn mode(self) -> Option<TlsMode> {
        match self.mode? {
            Mode::Unset => None,
            Mode::Disable => Some(TlsMode::Disable),
            Mode::Permissive => Some(TlsMode::Permissive),
            Mode::Strict => Some(TlsMode::Strict),
        }
    }
}

/// One policy as translation keeps it.
#[derive(Clone, Debug)]
struct Policy {
    object: ObjectRef,
    mode: Option<TlsMode>,
    /// Workload policies only.
    selector: BTreeMap<String, String>,
    /// App port → mode (None: the policy's own mode).
    ports: BTreeMap<u16, Option<TlsMode>>,
}

/// Every PeerAuthentication of a snapshot, by level.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerIndex {
    mesh: Option<Policy>,
    namespaces: BTreeMap<String, Policy>,
    /// By namespace, oldest first.
    workloads: BTreeMap<String, Vec<Policy>>,
}

impl PeerIndex {
    /// Reads the snapshot's PeerAuthentications; what is ignored is reported.
    pub fn new(catalog: &mut Catalog<'_>) -> Self {
        let mut index = PeerIndex::default();
        for p in policies(catalog, KIND) {
            let root = is_root(catalog.options, &p.namespace);
            let mut report = catalog.report(&p.object);
            let Some(spec) = parse::<Spec>(p.spec, "spec", &mut report) else {
                continue;
            };
            let selector = WorkloadSelector::labels(&spec.selector);
            let mut ports = BTreeMap::new();
            for (key, mtls) in spec.port_level_mtls.iter().flatten() {
                match key.parse::<u16>() {
                    Ok(port) if port > 0 => {
                        ports.insert(port, mtls.mode());
                    }
                    _ => report.error(
                        format!("spec.portLevelMtls.{key}"),
                        "expected an app (container) port number 1-65535; this port's mode is \
                         not applied",
                    ),
                }
            }
            if selector.is_none() && !ports.is_empty() {
                report.warn(
                    "spec.portLevelMtls",
                    "portLevelMtls applies only with a selector (as in Istio): it is ignored \
                     here; add selector.matchLabels for the pods whose ports it sets",
                );
                ports.clear();
            }
            let policy = Policy {
                object: p.object.clone(),
                mode: spec.mtls.and_then(Mtls::mode),
                selector: selector.clone().unwrap_or_default(),
                ports,
            };
            match (selector, root) {
                (Some(_), true) => report.warn(
                    "spec.selector",
                    "a PeerAuthentication with a selector in the root namespace is ignored (as \
                     in Istio): put it in the workloads' namespace",
                ),
                (Some(_), false) => index
                    .workloads
                    .entry(p.namespace.clone())
                    .or_default()
                    .push(policy),
                (None, true) => match &index.mesh {
                    Some(older) => shadowed(&mut report, &older.object),
                    None => index.mesh = Some(policy),
                },
                (None, false) => match index.namespaces.get(&p.namespace) {
                    Some(older) => shadowed(&mut report, &older.object),
                    None => {
                        index.namespaces.insert(p.namespace.clone(), policy);
                    }
                },
            }
        }
        index.report_overlaps(catalog);
        index.report_unmeshed(catalog);
        index
    }

    /// The policy that decides a pod's modes: its workload policy, else its namespace's,
    /// else the mesh's (the first that sets a mode).
    fn deciding(&self, namespace: &str, labels: &BTreeMap<String, String>) -> Option<&Policy> {
        let workload = self
            .workloads
            .get(namespace)
            .into_iter()
            .flatten()
            .find(|w| selects(&w.selector, labels))
            .filter(|w| w.mode.is_some() || !w.ports.is_empty());
        let namespace = self.namespaces.get(namespace).filter(|p| p.mode.is_some());
        workload
            .or(namespace)
            .or(self.mesh.as_ref().filter(|p| p.mode.is_some()))
    }

    /// Warns about pods without a proxy that Services send to while STRICT applies to them:
    /// nothing enforces it there (`meshctl inject` them, or exempt them).
    fn report_unmeshed(&self, catalog: &mut Catalog<'_>) {
        let mut found = Vec::new();
        for ((ns, name), pod) in &catalog.pods {
            if runs_proxy(pod) {
                continue;
            }
            let labels = pod.metadata.labels.clone().unwrap_or_default();
            let tls = self.tls(ns, &labels);
            let strict =
                tls.mode == TlsMode::Strict || tls.ports.values().any(|m| *m == TlsMode::Strict);
            let served = catalog.services.iter().any(|((svc_ns, _), svc)| {
                svc_ns == ns
                    && svc
                        .spec
                        .as_ref()
                        .and_then(|s| s.selector.as_ref())
                        .is_some_and(|sel| !sel.is_empty() && selects(sel, &labels))
            });
            if let Some(policy) = self.deciding(ns, &labels).filter(|_| strict && served) {
                found.push((policy.object.clone(), format!("{ns}/{name}")));
            }
        }
        for (object, pod) in found {
            catalog.report(&object).warn(
                "spec.mtls.mode",
                format!(
                    "pod {pod} receives Service traffic but runs no proxy: STRICT is not \
                     enforced there and it accepts plaintext; inject it (meshctl inject) or \
                     exempt it with a workload policy"
                ),
            );
        }
    }

    /// Warns about workload policies that select a pod another (older) one selects too.
    fn report_overlaps(&self, catalog: &mut Catalog<'_>) {
        let mut lost = Vec::new();
        for ((ns, pod), p) in &catalog.pods {
            let labels = p.metadata.labels.clone().unwrap_or_default();
            let mut selecting = self
                .workloads
                .get(ns)
                .into_iter()
                .flatten()
                .filter(|w| selects(&w.selector, &labels));
            if let Some(first) = selecting.next() {
                for other in selecting {
                    lost.push((other.object.clone(), first.object.clone(), pod.clone()));
                }
            }
        }
        for (object, winner, pod) in lost {
            catalog.report(&object).warn(
                "spec.selector",
                format!(
                    "pod {pod} is also selected by the older {winner}, which applies to it; \
                     this policy does not (select each pod with one policy)"
                ),
            );
        }
    }

    /// The inbound mTLS modes of a pod in `namespace` with `labels`.
    pub fn tls(&self, namespace: &str, labels: &BTreeMap<String, String>) -> InboundTls {
        let mut mode = TlsMode::Permissive;
        for level in [self.mesh.as_ref(), self.namespaces.get(namespace)] {
            if let Some(m) = level.and_then(|p| p.mode) {
                mode = m;
            }
        }
        let workload = self
            .workloads
            .get(namespace)
            .into_iter()
            .flatten()
            .find(|w| selects(&w.selector, labels));
        let Some(workload) = workload else {
            return InboundTls {
                mode,
                ports: BTreeMap::new(),
            };
        };
        let mode = workload.mode.unwrap_or(mode);
        InboundTls {
            mode,
            ports: workload
                .ports
                .iter()
                .map(|(port, m)| (*port, m.unwrap_or(mode)))
                .collect(),
        }
    }
}

fn shadowed(report: &mut super::finding::Report<'_>, older: &ObjectRef) {
    report.warn(
        "metadata.name",
        format!(
            "the older {older} applies at the same level (mesh or namespace); this policy is \
             ignored (keep one per level)"
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::super::tests::{SECURITY_PODS as PODS, findings, mesh, security_inbound};
    use super::*;
    use crate::translate::Mesh;

    fn tls(m: &Mesh, ns: &str, name: &str) -> InboundTls {
        security_inbound(m, ns, name).tls
    }

    fn pa(ns: &str, name: &str, spec: &str) -> String {
        format!(
            "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
             metadata: {{ name: {name}, namespace: {ns} }}\nspec: {spec}\n"
        )
    }

    #[test]
    fn strict_over_a_pod_without_a_proxy_that_a_service_selects_is_reported() {
        let svc = "---\napiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: shop }\n\
                   spec: { selector: { app: web }, ports: [{ port: 80 }] }\n";
        let yaml = [
            PODS,
            svc,
            &pa("shop", "default", "{ mtls: { mode: STRICT } }"),
        ]
        .concat();
        let m = mesh(&yaml);
        let f = findings(&m);
        assert_eq!(f.len(), 1, "web only (db has no Service): {f:#?}");
        assert_eq!(f[0].1, "PeerAuthentication/default");
        assert!(
            f[0].3.contains("pod shop/web") && f[0].3.contains("runs no proxy"),
            "{f:#?}"
        );
    }

    #[test]
    fn nothing_is_permissive() {
        let m = mesh(PODS);
        assert_eq!(tls(&m, "shop", "web"), InboundTls::default());
    }

    #[test]
    fn the_most_specific_level_wins_and_unset_inherits() {
        let yaml = [
            PODS.to_owned(),
            pa("meshctl-system", "mesh", "{ mtls: { mode: STRICT } }"),
            pa("shop", "ns", "{ mtls: { mode: PERMISSIVE } }"),
            pa(
                "shop",
                "web",
                "{ selector: { matchLabels: { app: web } }, mtls: { mode: UNSET }, \
                 portLevelMtls: { \"8080\": { mode: DISABLE }, \"9090\": { mode: UNSET }, \"7070\": { mode: STRICT } } }",
            ),
        ]
        .concat();
        let m = mesh(&yaml);
        assert!(findings(&m).is_empty(), "{:#?}", findings(&m));
        // batch has no policy of its own: the mesh's STRICT.
        assert_eq!(tls(&m, "batch", "job").mode, TlsMode::Strict);
        // db: the namespace's PERMISSIVE over the mesh's.
        assert_eq!(tls(&m, "shop", "db").mode, TlsMode::Permissive);
        // web: UNSET inherits PERMISSIVE; its ports override (UNSET: the workload's mode).
        let web = tls(&m, "shop", "web");
        assert_eq!(web.mode, TlsMode::Permissive);
        assert_eq!(
            web.ports,
            BTreeMap::from([
                (7070, TlsMode::Strict),
                (8080, TlsMode::Disable),
                (9090, TlsMode::Permissive)
            ])
        );
    }

    #[test]
    fn istio_system_is_a_root_namespace_and_what_is_ignored_is_reported() {
        let yaml = [
            PODS.to_owned(),
            pa("istio-system", "mesh", "{ mtls: { mode: STRICT } }"),
            pa("istio-system", "picky", "{ selector: { matchLabels: { app: web } }, mtls: { mode: DISABLE } }"),
            pa("shop", "a", "{ mtls: { mode: STRICT }, portLevelMtls: { \"80\": { mode: DISABLE } } }"),
            pa("shop", "b", "{ mtls: { mode: DISABLE } }"),
            pa("shop", "w1", "{ selector: { matchLabels: { app: db } }, mtls: { mode: DISABLE, caCertificates: x } }"),
            pa("shop", "w2", "{ selector: { matchLabels: { app: db } }, mtls: { mode: STRICT } }"),
            pa("shop", "bad", "{ selector: { matchLabels: { app: none } }, portLevelMtls: { http: { mode: STRICT } } }"),
            pa("batch", "typo", "{ mtls: { mode: strict } }"),
        ]
        .concat();
        let m = mesh(&yaml);
        assert_eq!(tls(&m, "shop", "web").mode, TlsMode::Strict);
        assert_eq!(tls(&m, "shop", "db").mode, TlsMode::Disable);
        // The typo is refused: batch keeps the mesh's STRICT.
        assert_eq!(tls(&m, "batch", "job").mode, TlsMode::Strict);
        let f = findings(&m);
        for (name, field, needle) in [
            ("picky", "spec.selector", "root namespace"),
            ("a", "spec.portLevelMtls", "only with a selector"),
            ("b", "metadata.name", "peerauthentication/a -n shop"),
            ("w1", "spec.mtls.caCertificates", "does not implement"),
            ("w2", "spec.selector", "pod db"),
            ("bad", "spec.portLevelMtls.http", "port number"),
            ("typo", "spec.mtls.mode", "unknown variant"),
        ] {
            assert!(
                f.iter().any(
                    |(_, obj, fld, msg)| obj == &format!("PeerAuthentication/{name}")
                        && fld == field
                        && msg.contains(needle)
                ),
                "{name} {field}: {f:#?}"
            );
        }
    }
}
