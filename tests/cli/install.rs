//! `meshctl install` / `upgrade` / `uninstall` without a cluster: printed manifests, bad
//! `--set` keys and values, bad certificate files, and an unreachable API server.

use std::path::Path;

use crate::cert_files::{CertFiles, identity_flags};
use crate::support::{self, failed, run, stderr, stdout};

fn fixture(name: &str) -> String {
    support::fixture(&format!("install/certs/{name}"))
}

/// Runs meshctl and checks the exit code and that stdout stayed empty on failure.
fn fails(args: &[&str], code: i32) -> String {
    failed(&run(args, b""), code, &[])
}

#[test]
fn printing_leaves_other_products_crds_out_unless_asked() {
    // Gateway API, Istio and SMI CRDs belong to those projects: `kubectl apply` of a printed
    // copy would overwrite theirs, so only --crds all prints them.
    let text = stdout(&run(&["install"], b""));
    for foreign in [
        "httproutes.gateway.networking.k8s.io",
        "virtualservices.networking.istio.io",
        "trafficsplits.split.smi-spec.io",
    ] {
        assert!(
            !text.contains(&format!("name: {foreign}")),
            "{foreign} printed"
        );
    }
    // meshctl's own API (Canary) is printed: nobody else owns it.
    assert_eq!(
        text.matches("kind: CustomResourceDefinition").count(),
        1,
        "{text}"
    );
    assert!(text.contains("name: canaries.meshctl.io"));
    assert!(text.contains("kind: Namespace"));
    let all = stdout(&run(&["install", "--crds", "all"], b""));
    assert!(all.contains("name: httproutes.gateway.networking.k8s.io"));
}

#[test]
fn prints_crds_first_and_the_webhook_last() {
    let out = run(&["install", "--crds", "all"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let kinds: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .collect();
    assert_eq!(kinds.first(), Some(&"CustomResourceDefinition"));
    assert_eq!(kinds.last(), Some(&"MutatingWebhookConfiguration"));
    let ns = kinds.iter().position(|k| *k == "Namespace").unwrap();
    assert!(kinds[..ns].iter().all(|k| *k == "CustomResourceDefinition"));
    assert!(
        text.contains("image: \"ghcr.io/meshctl/meshctl:"),
        "image line"
    );

    let none = stdout(&run(&["install", "--crds", "none", "--ha"], b""));
    assert!(!none.contains("kind: CustomResourceDefinition"));
    assert!(none.contains("kind: PodDisruptionBudget"));
}

#[test]
fn bad_set_keys_list_the_valid_ones() {
    let err = fails(&["install", "--set", "controler.replicas=2"], 2);
    assert!(err.contains("unknown key `controler`"), "{err}");
    assert!(err.contains("controller"), "{err}");
    let err = fails(&["install", "--set", "controller.replica=2"], 2);
    assert!(err.contains("replicas"), "{err}");
    let err = fails(&["install", "--set", "controller=2"], 2);
    assert!(err.contains("is a group of settings"), "{err}");
    let err = fails(&["install", "--set", "replicas"], 2);
    assert!(err.contains("expected KEY=VALUE"), "{err}");
}

#[test]
fn bad_set_values_say_what_is_valid() {
    let err = fails(&["install", "--set", "controller.replicas=many"], 2);
    assert!(err.contains("`controller.replicas`"), "{err}");
    let err = fails(&["install", "--set", "controller.logLevel=loud"], 2);
    assert!(
        err.contains("expected one of trace, debug, info, warn, error"),
        "{err}"
    );
    let err = fails(&["install", "--crds", "some"], 2);
    assert!(err.contains("auto"), "{err}");
    let err = fails(&["install", "-f", "/nonexistent/values.yaml"], 2);
    assert!(err.contains("/nonexistent/values.yaml"), "{err}");
}

#[test]
fn custom_certs_must_be_readable_complete_and_chained() {
    let (ca, crt, key) = (
        fixture("ca.crt"),
        fixture("issuer.crt"),
        fixture("issuer.key"),
    );
    let files =
        |a: &str, c: &str, k: &str| [vec!["install".to_owned()], identity_flags(a, c, k)].concat();
    let good = files(&ca, &crt, &key);
    let good: Vec<&str> = good.iter().map(String::as_str).collect();
    let out = run(&good, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    // What `certs create` writes, install takes.
    let other = CertFiles::create(&[]);
    let fresh = [vec!["install".to_owned()], other.identity_flags()].concat();
    let fresh: Vec<&str> = fresh.iter().map(String::as_str).collect();
    let out = run(&fresh, b"");
    assert!(out.status.success(), "{}", stderr(&out));

    let missing = files("/nonexistent/ca.crt", &crt, &key);
    let missing: Vec<&str> = missing.iter().map(String::as_str).collect();
    assert!(fails(&missing, 1).contains("/nonexistent/ca.crt"));

    // An issuer from another anchor.
    let mismatched = files(&ca, &other.path("issuer.crt"), &other.path("issuer.key"));
    let mismatched: Vec<&str> = mismatched.iter().map(String::as_str).collect();
    let err = fails(&mismatched, 1);
    assert!(
        err.contains("is not signed by any trust anchor in"),
        "{err}"
    );

    let partial = fails(&["install", "--identity-trust-anchors-file", &ca], 1);
    assert!(partial.contains("give all three"), "{partial}");
}

/// A kubeconfig (context `gone`) whose server https://127.0.0.1:1 refuses connections.
pub fn unreachable_kubeconfig(dir: &Path) -> String {
    let kubeconfig = dir.join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: \
         https://127.0.0.1:1\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: \
         gone\n  context:\n    cluster: c\n    user: u\ncurrent-context: gone\n",
    )
    .unwrap();
    kubeconfig.display().to_string()
}

#[test]
fn an_unreachable_cluster_is_named_with_its_context() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = unreachable_kubeconfig(dir.path());
    for args in [
        &["install", "--apply"][..],
        &["install", "--dry-run=server"],
        &["upgrade", "--apply"],
        &["uninstall"],
    ] {
        let mut all = vec!["--kubeconfig", kubeconfig.as_str()];
        all.extend_from_slice(args);
        let err = fails(&all, 1);
        assert!(
            err.contains(
                "cannot reach the Kubernetes API server https://127.0.0.1:1 (context `gone`)"
            ),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn tracing_values_reach_the_controller_and_bad_ones_are_named() {
    let out = stdout(&run(
        &[
            "install",
            "--set",
            "tracing.sampling=0.5",
            "--set",
            "tracing.endpoint=collector.obs:4317",
        ],
        b"",
    ));
    for line in [
        "- name: MESHCTL_TRACING_ENDPOINT\n          value: \"collector.obs:4317\"",
        "- name: MESHCTL_TRACING_SAMPLING\n          value: \"0.5\"",
    ] {
        assert!(out.contains(line), "{line} in\n{out}");
    }
    // Off by default: no tracing environment at all.
    let plain = stdout(&run(&["install"], b""));
    assert!(!plain.contains("MESHCTL_TRACING"), "{plain}");
    let err = fails(&["install", "--set", "tracing.sampling=50"], 2);
    assert!(
        err.contains("\"50\"") && err.contains("`tracing.sampling`"),
        "{err}"
    );
    let err = fails(&["install", "--set", "tracing.endpoint=http://c:4317"], 2);
    assert!(
        err.contains("`tracing.endpoint`") && err.contains("no scheme"),
        "{err}"
    );
}
