//! `meshctl check` without a cluster: the catalogue, and an unreachable server reported as a
//! failed fatal check (the rest skipped) with exit 1 in every output format.

use crate::install::unreachable_kubeconfig;
use crate::support::{run, stderr, stdout};

#[test]
fn list_prints_the_catalogue() {
    let out = run(&["check", "--list"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for id in [
        "kubernetes-api",
        "namespace",
        "webhook-ca-bundle",
        "identity-certs",
    ] {
        assert!(text.contains(&format!("/ {id}: ")), "{id} missing:\n{text}");
    }
    assert!(
        !text.contains("install-permissions"),
        "pre-install checks only with --pre"
    );
    let pre = stdout(&run(&["check", "--pre", "--list"], b""));
    assert!(
        pre.contains("install-permissions") && pre.contains("hint: "),
        "{pre}"
    );
}

#[test]
fn an_unreachable_server_fails_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = unreachable_kubeconfig(dir.path());
    for format in ["text", "short", "json"] {
        let out = run(&["--kubeconfig", &kubeconfig, "check", "-o", format], b"");
        assert_eq!(out.status.code(), Some(1), "-o {format}");
        let text = stdout(&out);
        assert!(
            text.contains("https://127.0.0.1:1 (context `gone`)"),
            "{text}"
        );
        if format == "json" {
            let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(doc["status"], "failed");
            assert_eq!(doc["categories"][1]["checks"][0]["status"], "skipped");
        } else {
            // × or [FAIL] depending on the locale.
            let marked = ["× ", "[FAIL] "]
                .iter()
                .any(|m| text.contains(&format!("{m}can reach the Kubernetes API server")));
            assert!(marked, "{text}");
        }
    }
    // --wait retries (progress on stderr), then fails the same way.
    let out = run(
        &[
            "--kubeconfig",
            &kubeconfig,
            "check",
            "--wait",
            "3s",
            "-o",
            "short",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("waiting: kubernetes-api failing, retrying"),
        "{}",
        stderr(&out)
    );
}
