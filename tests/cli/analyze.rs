//! `meshctl analyze`: every finding with file, document and field; exit 1 on errors only.

use crate::support::{fixture, run, stderr, stdout};

#[test]
fn the_quickstart_directory_prints_every_finding_with_file_and_field() {
    let out = run(&["analyze", "-f", &fixture("translate/quickstart")], b"");
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "warnings only: {text}{}",
        stderr(&out)
    );
    let (file, field) = (
        "40-web-service-profile.yaml",
        "spec.routes[1].responseClasses",
    );
    let line = text
        .lines()
        .find(|l| l.contains(file))
        .unwrap_or_else(|| panic!("{file} missing:\n{text}"));
    assert!(line.contains(field) && line.contains("warning"), "{line}");
    assert!(line.contains("not enforced yet by the proxy"), "{line}");
    // maxRequestsPerConnection is enforced now: no finding.
    assert!(!text.contains("maxRequestsPerConnection"), "{text}");
    let json = run(
        &[
            "analyze",
            "-f",
            &fixture("translate/quickstart"),
            "-o",
            "json",
        ],
        b"",
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("pure JSON on stdout");
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(
        findings.len(),
        text.lines().count() - 1,
        "one table row per finding"
    );
    assert!(
        findings
            .iter()
            .all(|f| f["object"]["document"].is_u64() && f["object"]["line"].is_u64())
    );
}

#[test]
fn a_clean_directory_exits_0() {
    let out = run(&["analyze", "-f", &fixture("translate/clean")], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("no findings"), "{}", stdout(&out));
}

#[test]
fn errors_exit_1_and_name_document_and_field() {
    let bad = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: v, namespace: shop }\nspec:\n  hosts: [web]\n  http:\n  - route:\n    - destination: { host: web }\n      weight: many\n---\nkind: [\n";
    let out = run(&["analyze", "-f", "-", "-o", "json"], bad.as_bytes());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = v["findings"].as_array().unwrap();
    let fields: Vec<(&str, u64, &str)> = f
        .iter()
        .map(|f| {
            (
                f["severity"].as_str().unwrap(),
                f["object"]["document"].as_u64().unwrap_or(0),
                f["field"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        fields.contains(&("error", 1, "spec.http[0].route[0].weight")),
        "{fields:?}"
    );
    assert!(
        fields.iter().any(|(s, d, _)| *s == "error" && *d == 2),
        "{fields:?}"
    );
    assert!(f.iter().all(|f| f["object"]["file"] == "<stdin>"));
}

#[test]
fn istios_mesh_config_tracing_is_mapped_to_install_values() {
    let mesh = "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: istio, namespace: istio-system }\ndata:\n  mesh: |\n    defaultConfig:\n      tracing:\n        sampling: 10\n        zipkin: { address: zipkin.istio-system:9411 }\n";
    let out = run(&["analyze", "-f", "-", "-o", "json"], mesh.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = v["findings"].as_array().unwrap();
    let field = |name: &str| {
        f.iter()
            .find(|f| f["field"] == name)
            .unwrap_or_else(|| panic!("{name} in {f:?}"))["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let sampling = field("data.mesh: defaultConfig.tracing.sampling");
    assert!(
        sampling.contains("--set tracing.sampling=0.1"),
        "{sampling}"
    );
    let zipkin = field("data.mesh: defaultConfig.tracing.zipkin.address");
    assert!(
        zipkin.contains("zipkin exporter") && zipkin.contains("tracing.endpoint"),
        "{zipkin}"
    );
    assert!(f.iter().all(|f| f["object"]["name"] == "istio"));
}
