//! `meshctl inject` on bad input, refusals and unusual streams: exit codes, messages that
//! name the file, document and line, and nothing on stdout unless everything succeeded.

use crate::inject_support::fixture;
use crate::support::{failed, run, stderr, stdout};

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx
";

/// Runs inject on stdin and requires failure (exit `code`), an empty stdout, and every
/// `needle` in the message.
fn fails(args: &[&str], stdin: &str, code: i32, needles: &[&str]) {
    failed(&run(args, stdin.as_bytes()), code, needles);
}

#[test]
fn invalid_yaml_names_file_document_and_file_line() {
    let stream = format!("{DEPLOYMENT}---\n# second\nkind: Service\nmetadata: [\n  name: x\n");
    fails(
        &["inject", "-"],
        &stream,
        1,
        &[
            "<stdin>: document 2, line 14, column",
            "invalid YAML",
            "unclosed bracket",
        ],
    );
}

#[test]
fn invalid_json_names_document_and_line() {
    let stream = "{\"kind\": \"Service\", \"apiVersion\": \"v1\"}\n{\"kind\": \n\"Pod\",, }\n";
    fails(
        &["inject", "-"],
        stream,
        1,
        &["<stdin>: document 2, line 3, column", "invalid JSON"],
    );
}

#[test]
fn invalid_utf8_is_an_error_with_a_position() {
    let out = run(&["inject", "-"], b"kind: Service\nname: \xff\n");
    failed(&out, 1, &["<stdin>: line 2, column 7: not UTF-8"]);
}

#[test]
fn an_error_in_a_later_file_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), DEPLOYMENT).unwrap();
    std::fs::write(dir.path().join("b.yaml"), "kind: [\n").unwrap();
    let b = dir.path().join("b.yaml");
    let out = run(&["inject", dir.path().to_str().unwrap()], b"");
    failed(&out, 1, &[&format!("{}: document 1, line 1", b.display())]);
}

#[test]
fn host_network_is_refused_unless_skipped() {
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: agent\nspec:\n  hostNetwork: true\n  containers: [{name: a, image: x}]\n";
    fails(
        &["inject", "-"],
        pod,
        1,
        &[
            "document 1 (line 1): pod/agent cannot be injected: spec.hostNetwork is true",
            "--skip-uninjectable",
        ],
    );
    let out = run(&["inject", "-", "--skip-uninjectable"], pod.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), pod, "passed through byte for byte");
    assert!(
        stderr(&out).contains("warning: pod/agent skipped: cannot be injected"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn another_meshs_sidecar_is_refused() {
    for sidecar in ["istio-proxy", "linkerd-proxy"] {
        let doc = DEPLOYMENT.replace(
            "- name: web\n",
            &format!("- name: {sidecar}\n        image: x\n      - name: web\n"),
        );
        fails(
            &["inject", "-"],
            &doc,
            1,
            &["deployment/web cannot be injected", sidecar],
        );
    }
}

#[test]
fn bad_annotations_are_errors_naming_the_annotation() {
    let doc = DEPLOYMENT.replace(
        "spec:\n  template:\n",
        "  annotations:\n    meshctl.io/opaque-ports: mysql\nspec:\n  template:\n",
    );
    fails(
        &["inject", "-"],
        &doc,
        1,
        &[
            "deployment/web has a bad annotation meshctl.io/opaque-ports",
            "\"mysql\" is not a port",
        ],
    );
    let doc = DEPLOYMENT.replace(
        "name: web\nspec",
        "name: web\n  annotations: {meshctl.io/inject: maybe}\nspec",
    );
    fails(
        &["inject", "-"],
        &doc,
        1,
        &["meshctl.io/inject", "expected \"enabled\" or \"disabled\""],
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    fails(
        &["inject", "-", "--proxy-cpu-request", "lots"],
        DEPLOYMENT,
        2,
        &["--proxy-cpu-request", "quantity"],
    );
    fails(
        &["inject", "-", "--skip-outbound-cidrs", "10.0.0.0"],
        DEPLOYMENT,
        2,
        &["not a CIDR"],
    );
    fails(
        &["inject", "-", "--native-sidecar=maybe"],
        DEPLOYMENT,
        2,
        &["maybe"],
    );
    fails(&["inject"], "", 2, &["FILE|DIR|-"]);
}

#[test]
fn malformed_workloads_are_errors() {
    let doc = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 1}\n";
    fails(
        &["inject", "-"],
        doc,
        1,
        &["deployment/web is malformed: spec.template is missing"],
    );
    let doc = DEPLOYMENT.replace("    spec:\n", "    spec:\n      volumes: {}\n");
    fails(
        &["inject", "-"],
        &doc,
        1,
        &["spec.template.spec.volumes must be a list"],
    );
}

#[test]
fn missing_inputs_are_errors() {
    fails(
        &["inject", "/nonexistent/x.yaml"],
        "",
        1,
        &["cannot read /nonexistent/x.yaml"],
    );
    let dir = tempfile::tempdir().unwrap();
    fails(
        &["inject", dir.path().to_str().unwrap()],
        "",
        1,
        &["no .yaml, .yml or .json files"],
    );
    fails(&["inject", "-", "-"], "", 1, &["stdin"]);
}

#[test]
fn documents_without_kind_pass_through_with_a_warning() {
    let stream = format!("# just settings\nfoo: bar\n---\n{DEPLOYMENT}---\n- a list\n");
    let out = run(&["inject", "-"], stream.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("# just settings\nfoo: bar\n---\n"),
        "{text}"
    );
    assert!(text.ends_with("---\n- a list\n"), "{text}");
    let err = stderr(&out);
    assert!(
        err.contains("warning: <stdin>: document 1 skipped: has no kind"),
        "{err}"
    );
    assert!(err.contains("deployment/web injected"), "{err}");
    assert!(
        err.contains("warning: <stdin>: document 3 skipped: not a Kubernetes object"),
        "{err}"
    );
}

#[test]
fn directories_are_read_recursively_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("nested")).unwrap();
    std::fs::write(
        dir.path().join("nested/b.yml"),
        DEPLOYMENT.replace("name: web", "name: b"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a.json"),
        "{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"a\"}}",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a manifest").unwrap();
    let out = run(&["inject", dir.path().to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "service/a skipped: not a workload\ndeployment/b injected\n"
    );
    let text = stdout(&out);
    assert!(text.starts_with("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"a\"}}\n---\n"), "{text}");
}

#[test]
fn stdin_json_is_detected_and_answered_in_json() {
    let json = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"x"}]}}"#;
    let out = run(&["inject", "-"], json.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON out");
    assert_eq!(value["spec"]["initContainers"][0]["name"], "meshctl-proxy");
}

#[test]
fn uninject_leaves_plain_manifests_byte_for_byte() {
    let input = std::fs::read_to_string(fixture("kinds.yaml")).unwrap();
    let out = run(&["uninject", &fixture("kinds.yaml")], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), input);
    assert!(
        stderr(&out).contains("deployment/web skipped: not injected"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_tracing_flags_and_annotations_name_the_value() {
    fails(
        &["inject", "--tracing-sampling", "1.5", "-"],
        DEPLOYMENT,
        2,
        &["--tracing-sampling \"1.5\"", "0.0 (none) to 1.0"],
    );
    fails(
        &["inject", "--tracing-endpoint", "collector", "-"],
        DEPLOYMENT,
        2,
        &["--tracing-endpoint \"collector\"", "has no port"],
    );
    let annotated = DEPLOYMENT.replace(
        "  template:\n",
        "  template:\n    metadata:\n      annotations: {meshctl.io/tracing-sampling: \"all\"}\n",
    );
    fails(
        &["inject", "-"],
        &annotated,
        1,
        &["meshctl.io/tracing-sampling", "\"all\" is not a number"],
    );
}
