//! Linkerd policy YAML in, each pod's model authorization out.

use super::super::tests::{SECURITY_PODS, findings, mesh, security_inbound};
use super::*;
use crate::model::authz::DefaultPolicy;

fn doc(kind: &str, version: &str, name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: policy.linkerd.io/{version}\nkind: {kind}\n\
         metadata: {{ name: {name}, namespace: shop, labels: {{ tier: web }} }}\nspec: {spec}\n"
    )
}

fn with(docs: &[String]) -> crate::translate::Mesh {
    mesh(&[SECURITY_PODS.to_owned(), docs.concat()].concat())
}

#[test]
fn a_server_allows_only_what_its_authorizations_name() {
    let m = with(&[
        doc(
            "Server",
            "v1beta3",
            "web-http",
            "{ podSelector: { matchLabels: { app: web } }, port: 8080 }",
        ),
        doc(
            "Server",
            "v1beta3",
            "web-admin",
            "{ podSelector: { matchLabels: { app: web } }, port: 9990 }",
        ),
        doc(
            "ServerAuthorization",
            "v1beta1",
            "sleep",
            "{ server: { name: web-http }, client: { meshTLS: { serviceAccounts: [{ name: sleep }], \
             identities: [\"*.ops.serviceaccount.identity.linkerd.cluster.local\"] } } }",
        ),
        doc(
            "MeshTLSAuthentication",
            "v1alpha1",
            "batch",
            "{ identityRefs: [{ kind: ServiceAccount, name: job, namespace: batch }] }",
        ),
        doc(
            "NetworkAuthentication",
            "v1alpha1",
            "office",
            "{ networks: [{ cidr: 10.0.0.0/8, except: [10.9.0.0/16] }] }",
        ),
        doc(
            "AuthorizationPolicy",
            "v1alpha1",
            "batch-from-office",
            "{ targetRef: { group: policy.linkerd.io, kind: Server, name: web-http }, \
             requiredAuthenticationRefs: [{ group: policy.linkerd.io, kind: MeshTLSAuthentication, name: batch }, \
             { group: policy.linkerd.io, kind: NetworkAuthentication, name: office }] }",
        ),
        doc(
            "AuthorizationPolicy",
            "v1alpha1",
            "route",
            "{ targetRef: { group: gateway.networking.k8s.io, kind: HTTPRoute, name: r }, requiredAuthenticationRefs: [] }",
        ),
    ]);
    let web = security_inbound(&m, "shop", "web").authorization;
    assert_eq!(
        web.default,
        DefaultPolicy::AllAllowed,
        "ports without a Server keep the default"
    );
    let names: Vec<&str> = web.rules.iter().filter_map(|r| r.name.as_deref()).collect();
    assert_eq!(
        names,
        [
            "server/shop/web-admin:deny",
            "shop/sleep@server/web-http",
            "shop/batch-from-office@server/web-http",
        ]
    );
    let sleep = &web.rules[1];
    assert_eq!(sleep.to[0].ports, [8080]);
    assert_eq!(
        sleep.from[0].identities,
        [
            "spiffe://cluster.local/ns/shop/sa/sleep",
            "spiffe://cluster.local/ns/ops/*"
        ]
    );
    let batch = &web.rules[2].from[0];
    assert_eq!(batch.identities, ["spiffe://cluster.local/ns/batch/sa/job"]);
    assert_eq!(
        (batch.ip_blocks.as_slice(), batch.not_ip_blocks.as_slice()),
        (
            &["10.0.0.0/8".to_owned()][..],
            &["10.9.0.0/16".to_owned()][..]
        )
    );
    assert_eq!(web.rules[0].action, Action::Deny);
    assert!(
        security_inbound(&m, "shop", "db")
            .authorization
            .rules
            .is_empty()
    );
    let f = findings(&m);
    assert!(
        f.iter().any(|x| x.1 == "AuthorizationPolicy/route"
            && x.2 == "spec.targetRef"
            && x.3.contains("HTTPRoute")),
        "{f:#?}"
    );
    assert!(
        !f.iter().any(|x| x.2 == "kind"),
        "every kind is translated: {f:#?}"
    );
}

#[test]
fn access_policies_and_what_cannot_be_read() {
    let m = with(&[
        doc(
            "Server",
            "v1beta3",
            "open",
            "{ podSelector: { matchLabels: { app: db } }, port: 5432, accessPolicy: all-authenticated }",
        ),
        doc(
            "Server",
            "v1beta3",
            "exprs",
            "{ podSelector: { matchExpressions: [{ key: app, operator: Exists }] }, port: 80 }",
        ),
        doc(
            "ServerAuthorization",
            "v1beta1",
            "none",
            "{ server: { selector: { matchLabels: { tier: nothing } } }, client: { unauthenticated: true } }",
        ),
        doc(
            "AuthorizationPolicy",
            "v1alpha1",
            "missing",
            "{ targetRef: { kind: Namespace, name: shop }, requiredAuthenticationRefs: [{ kind: MeshTLSAuthentication, name: nope }] }",
        ),
    ]);
    let db = security_inbound(&m, "shop", "db").authorization;
    assert_eq!(db.rules.len(), 1);
    assert_eq!(db.rules[0].from[0].identities, ["*"]);
    let f = findings(&m);
    for (obj, field) in [
        ("Server/exprs", "spec.podSelector.matchExpressions"),
        ("ServerAuthorization/none", "spec.server"),
        (
            "AuthorizationPolicy/missing",
            "spec.requiredAuthenticationRefs[0]",
        ),
    ] {
        assert!(
            f.iter().any(|x| x.1 == obj && x.2 == field),
            "{obj} {field}: {f:#?}"
        );
    }
}
