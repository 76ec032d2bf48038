//! AuthorizationPolicy YAML in, each pod's model authorization out.

use super::super::tests::{SECURITY_PODS as PODS, findings, mesh, security_inbound};
use super::*;
use crate::translate::Mesh;

fn authz(m: &Mesh, ns: &str, name: &str) -> Authorization {
    security_inbound(m, ns, name).authorization
}

fn ap(ns: &str, name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n\
         metadata: {{ name: {name}, namespace: {ns} }}\nspec:\n{spec}\n"
    )
}

fn with(policies: &[String]) -> Mesh {
    mesh(&[PODS.to_owned(), policies.concat()].concat())
}

#[test]
fn principals_methods_and_paths_become_an_allow_rule_for_the_selected_pod() {
    let m = with(&[ap(
        "shop",
        "web",
        r#"  selector: { matchLabels: { app: web } }
  action: ALLOW
  rules:
  - from:
    - source: { principals: ["cluster.local/ns/default/sa/sleep", "spiffe://cluster.local/ns/x/sa/y"] }
    to:
    - operation: { methods: [GET], paths: ["/info*"], ports: ["8080"], notHosts: ["admin.*"] }
    when:
    - { key: "request.auth.claims[groups]", values: [group1] }
    - { key: source.principal, notValues: ["cluster.local/ns/evil/sa/*"] }"#,
    )]);
    assert!(findings(&m).is_empty(), "{:#?}", findings(&m));
    let web = authz(&m, "shop", "web");
    assert_eq!(web.default, DefaultPolicy::Deny);
    let rule = &web.rules[0];
    assert_eq!(rule.name.as_deref(), Some("shop/web.rules[0]"));
    assert_eq!(rule.action, Action::Allow);
    assert_eq!(
        rule.from[0].identities,
        [
            "spiffe://cluster.local/ns/default/sa/sleep",
            "spiffe://cluster.local/ns/x/sa/y"
        ]
    );
    let op = &rule.to[0];
    assert_eq!(
        (op.methods.as_slice(), op.paths.as_slice()),
        (&["GET".to_owned()][..], &["/info*".to_owned()][..])
    );
    assert_eq!(op.ports, [8080]);
    assert_eq!(op.not_hosts, ["admin.*"]);
    assert_eq!(rule.when[0].key, "request.auth.claims[groups]");
    assert_eq!(
        rule.when[1].not_values,
        ["spiffe://cluster.local/ns/evil/sa/*"]
    );
    // db is not selected: nothing applies to it.
    assert_eq!(authz(&m, "shop", "db"), Authorization::default());
}

#[test]
fn empty_rules_root_namespace_and_actions() {
    let m = with(&[
        // ALLOW with no rules: allow nothing.
        ap("batch", "nothing", "  action: ALLOW"),
        // DENY with no rules: deny nothing.
        ap("shop", "no-op", "  action: DENY"),
        // Mesh-wide, from the root namespace: deny plaintext everywhere.
        ap(
            "meshctl-system",
            "mesh",
            "  action: DENY\n  rules: [{ from: [{ source: { notPrincipals: [\"*\"] } }] }]",
        ),
        ap("istio-system", "audit", "  action: AUDIT\n  rules: [{}]"),
        ap(
            "shop",
            "ext",
            "  selector: { matchLabels: { app: db } }\n  action: CUSTOM\n  provider: { name: opa }\n  rules: [{ to: [{ operation: { paths: [\"/admin*\"] } }] }]",
        ),
    ]);
    let job = authz(&m, "batch", "job");
    assert_eq!(job.default, DefaultPolicy::Deny);
    assert_eq!(job.rules.len(), 1, "only the mesh-wide DENY: {job:#?}");
    assert_eq!(job.rules[0].from[0].not_identities, ["*"]);
    let web = authz(&m, "shop", "web");
    assert_eq!(web.default, DefaultPolicy::AllAllowed);
    assert_eq!(web.rules.len(), 1);
    let db = authz(&m, "shop", "db");
    assert_eq!(db.rules.len(), 2);
    assert!(db.rules.iter().all(|r| r.action == Action::Deny));
    let f = findings(&m);
    assert!(
        f.iter()
            .any(|x| x.1 == "AuthorizationPolicy/audit" && x.2 == "spec.action"),
        "{f:#?}"
    );
    assert!(
        f.iter().any(|x| x.0 == "error"
            && x.1 == "AuthorizationPolicy/ext"
            && x.3.contains("fail closed")),
        "{f:#?}"
    );
}

#[test]
fn what_cannot_be_applied_is_reported_and_fails_closed() {
    let m = with(&[
        ap(
            "shop",
            "allow",
            r#"  selector: { matchLabels: { app: web } }
  rules:
  - from: [{ source: { remoteIpBlocks: [1.2.3.4] } }]
  - to: [{ operation: { ports: [http] } }]
  - when: [{ key: connection.sni, values: [x] }]
  - from: [{ source: { principals: ["a*b"] } }]
  - from: [{ source: { namespaces: [shop], ipBlocks: [10.0.0.0/8] } }]"#,
        ),
        ap(
            "shop",
            "deny",
            "  selector: { matchLabels: { app: db } }\n  action: DENY\n  rules: [{ to: [{ operation: { methods: [\"BAD METHOD\"] } }] }]",
        ),
        ap(
            "shop",
            "waypoint",
            "  targetRef: { kind: Gateway, name: w }",
        ),
    ]);
    let web = authz(&m, "shop", "web");
    assert_eq!(web.rules.len(), 1, "only the good ALLOW rule: {web:#?}");
    assert_eq!(web.rules[0].from[0].ip_blocks, ["10.0.0.0/8"]);
    let db = authz(&m, "shop", "db");
    assert_eq!(db.rules.len(), 1);
    assert!(
        db.rules[0].to.is_empty() && db.rules[0].from.is_empty(),
        "matches everything"
    );
    let f = findings(&m);
    for field in [
        "spec.rules[0].from[0].source.remoteIpBlocks",
        "spec.rules[1].to[0].operation.ports[0]",
        "spec.rules[2].when[0].key",
        "spec.rules[3].from[0].source.principals[0]",
    ] {
        assert!(
            f.iter().any(|x| x.1 == "AuthorizationPolicy/allow"
                && x.2 == field
                && x.3.contains("not applied")),
            "{field}: {f:#?}"
        );
    }
    assert!(
        f.iter()
            .any(|x| x.1 == "AuthorizationPolicy/deny" && x.3.contains("denies every request")),
        "{f:#?}"
    );
    assert!(
        f.iter()
            .any(|x| x.1 == "AuthorizationPolicy/waypoint" && x.2 == "spec.targetRef"),
        "{f:#?}"
    );
}
