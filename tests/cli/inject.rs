//! `meshctl inject` / `uninject` on fixtures: golden output, validity, idempotence, round trip.

use serde_json::Value;

use crate::inject_support::*;
use crate::support::{failed, http_server, run, stderr, stdout};

/// Injects, checks the golden stdout and report, and the properties every injection must have.
fn golden_case(case: &str, args: &[&str], ext: &str) -> String {
    let out = run(args, b"");
    assert!(out.status.success(), "{case}: {}", stderr(&out));
    let text = stdout(&out);
    assert_golden(&format!("{case}.out.{ext}"), &text);
    assert_golden(&format!("{case}.report"), &stderr(&out));
    for doc in documents(&text) {
        assert_valid_kubernetes(&doc);
    }
    text
}

fn reinject(args: &[&str], injected: &str) -> String {
    let mut again = vec!["inject", "-"];
    again.extend_from_slice(&args[2..]);
    let out = run(&again, injected.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

fn uninject(text: &str) -> String {
    let out = run(&["uninject", "-"], text.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// inject(inject(x)) == inject(x) byte for byte, and uninject(inject(x)) == x as values.
fn assert_idempotent_and_reversible(input: &str, args: &[&str], injected: &str) {
    assert_eq!(
        reinject(args, injected),
        injected,
        "injecting twice changed the output"
    );
    let restored = uninject(injected);
    assert_eq!(
        documents(&restored),
        documents(input),
        "uninject did not restore the input"
    );
}

#[test]
fn every_workload_kind_gets_a_native_sidecar() {
    let args = ["inject", &fixture("kinds.yaml")];
    let text = golden_case("kinds", &args, "yaml");
    assert_idempotent_and_reversible(&read(&fixture("kinds.yaml")), &args, &text);
    // Not-workload documents come back byte for byte, comments and quoting included.
    let input = read(&fixture("kinds.yaml"));
    let tail = &input[input.find("# Not workloads").unwrap()..];
    assert!(
        text.ends_with(tail),
        "the Service and ConfigMap were rewritten"
    );
    let docs = documents(&text);
    let deployment = &docs[1]["spec"]["template"]["spec"];
    let names: Vec<&str> = deployment["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["meshctl-proxy", "meshctl-init", "migrate"]);
    assert_eq!(deployment["initContainers"][0]["restartPolicy"], "Always");
}

#[test]
fn classic_sidecar_goes_first_in_containers() {
    let args = ["inject", &fixture("kinds.yaml"), "--native-sidecar=false"];
    let text = golden_case("kinds-classic", &args, "yaml");
    assert_idempotent_and_reversible(&read(&fixture("kinds.yaml")), &args, &text);
    let docs = documents(&text);
    let spec = &docs[1]["spec"]["template"]["spec"];
    assert_eq!(spec["containers"][0]["name"], "meshctl-proxy");
    assert!(spec["containers"][0].get("restartPolicy").is_none());
    assert!(spec["containers"][0]["lifecycle"]["postStart"].is_object());
    assert_eq!(spec["initContainers"][0]["name"], "meshctl-init");
}

#[test]
fn every_annotation_is_honoured() {
    let args = [
        "inject",
        &fixture("annotations.yaml"),
        "--proxy-cpu-request",
        "1",
    ];
    let text = golden_case("annotations", &args, "yaml");
    assert_idempotent_and_reversible(&read(&fixture("annotations.yaml")), &args, &text);
    let docs = documents(&text);
    let spec = &docs[0]["spec"]["template"]["spec"];
    let proxy = &spec["containers"][0];
    assert_eq!(proxy["image"], "registry.example.com/meshctl:dev");
    assert_eq!(
        proxy["resources"]["requests"]["cpu"], "400m",
        "pod template beats workload and flag"
    );
    assert_eq!(proxy["resources"]["limits"]["cpu"], "1");
    let init_args = spec["initContainers"][0]["args"].as_array().unwrap();
    let joined: Vec<&str> = init_args.iter().map(|a| a.as_str().unwrap()).collect();
    let joined = joined.join(" ");
    assert!(joined.contains("--skip-inbound-ports 22"), "{joined}");
    assert!(
        joined.contains("--skip-outbound-ports 3306,6379"),
        "{joined}"
    );
    assert!(
        joined.contains("--skip-outbound-cidrs 10.0.0.0/8,fd00::/8"),
        "{joined}"
    );
    assert!(joined.contains("--iptables-mode nft"), "{joined}");
    assert!(
        proxy["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "MESHCTL_PROXY_INBOUND_PORTS_OPAQUE" && e["value"] == "5432")
    );
    // The opted-out Deployment is untouched.
    assert!(
        docs[1]["spec"]["template"]["spec"]
            .get("initContainers")
            .is_none()
    );
}

#[test]
fn every_flag_is_honoured_and_recorded() {
    let args = [
        "inject",
        &fixture("kinds.yaml"),
        "--proxy-image=example.com/mesh:1",
        "--proxy-log-level=debug",
        "--proxy-log-format=json",
        "--proxy-cpu-request=10m",
        "--proxy-cpu-limit=2",
        "--proxy-memory-request=1Mi",
        "--proxy-memory-limit=1Gi",
        "--skip-inbound-ports=22",
        "--skip-outbound-ports=443",
        "--skip-outbound-cidrs=169.254.169.254/32",
        "--opaque-ports=6379,11211",
        "--localhost-ports=9000",
        "--trust-domain=example.org",
        "--iptables-mode=legacy",
        "--native-sidecar",
    ];
    let out = run(&args, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_idempotent_and_reversible(&read(&fixture("kinds.yaml")), &args, &text);
    let docs = documents(&text);
    let template = &docs[0];
    let annotations = &template["metadata"]["annotations"];
    for (name, value) in [
        ("proxy-image", "example.com/mesh:1"),
        ("proxy-log-level", "debug"),
        ("proxy-log-format", "json"),
        ("proxy-cpu-request", "10m"),
        ("proxy-cpu-limit", "2"),
        ("proxy-memory-request", "1Mi"),
        ("proxy-memory-limit", "1Gi"),
        ("skip-inbound-ports", "22"),
        ("skip-outbound-ports", "443"),
        ("skip-outbound-cidrs", "169.254.169.254/32"),
        ("opaque-ports", "6379,11211"),
        ("localhost-ports", "9000"),
        ("trust-domain", "example.org"),
        ("iptables-mode", "legacy"),
        ("native-sidecar", "true"),
    ] {
        assert_eq!(
            annotations[format!("meshctl.io/injected-{name}")],
            value,
            "{name}"
        );
    }
    let proxy = &template["spec"]["initContainers"][0];
    let env = |name: &str| -> Value {
        proxy["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(env("MESHCTL_PROXY_LOG_LEVEL")["value"], "debug");
    assert_eq!(env("MESHCTL_PROXY_LOG_FORMAT")["value"], "json");
    assert_eq!(
        env("MESHCTL_PROXY_INBOUND_PORTS_OPAQUE")["value"],
        "6379,11211"
    );
    assert_eq!(
        env("MESHCTL_PROXY_INBOUND_PORTS_LOCALHOST")["value"],
        "9000"
    );
    assert_eq!(env("MESHCTL_TRUST_DOMAIN")["value"], "example.org");
    assert_eq!(proxy["resources"]["limits"]["memory"], "1Gi");
}

#[test]
fn reinjecting_with_new_flags_updates_in_place() {
    let first = run(&["inject", &fixture("kinds.yaml")], b"");
    let first = stdout(&first);
    let out = run(
        &["inject", "-", "--proxy-memory-limit", "1Gi"],
        first.as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("deployment/web injected (updated)"),
        "{}",
        stderr(&out)
    );
    let docs = documents(&stdout(&out));
    let spec = &docs[1]["spec"]["template"]["spec"];
    let proxies = spec["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "meshctl-proxy")
        .count();
    assert_eq!(proxies, 1);
    assert_eq!(
        spec["initContainers"][0]["resources"]["limits"]["memory"],
        "1Gi"
    );
    // And back to the plain injection, byte for byte.
    let again = run(&["inject", "-"], stdout(&out).as_bytes());
    assert_eq!(stdout(&again), first);
}

#[test]
fn a_json_list_comes_back_as_json() {
    let args = ["inject", &fixture("list.json")];
    let text = golden_case("list", &args, "json");
    assert_idempotent_and_reversible(&read(&fixture("list.json")), &args, &text);
    let value: Value = serde_json::from_str(&text).expect("pure JSON out");
    assert_eq!(
        value["items"][0]["spec"]["template"]["spec"]["initContainers"][0]["name"],
        "meshctl-proxy"
    );
    assert!(
        text.starts_with("{\n  \"apiVersion\""),
        "two-space pretty JSON"
    );
    assert!(text.ends_with("}\n"));
}

#[test]
fn annotate_only_marks_pod_templates() {
    let args = ["inject", &fixture("kinds.yaml"), "--annotate-only"];
    let text = golden_case("annotate-only", &args, "yaml");
    assert_eq!(reinject(&args, &text), text);
    for doc in documents(&text).iter().take(8) {
        let template = if doc["kind"] == "Pod" {
            doc
        } else if doc["kind"] == "CronJob" {
            &doc["spec"]["jobTemplate"]["spec"]["template"]
        } else {
            &doc["spec"]["template"]
        };
        assert_eq!(
            template["metadata"]["annotations"]["meshctl.io/inject"], "enabled",
            "{}",
            doc["kind"]
        );
        assert!(
            template["spec"]
                .get("initContainers")
                .is_none_or(|i| i.as_array().unwrap().len() == 1)
        );
    }
}

#[test]
fn the_readme_example_injects_the_examples_directory() {
    let dir = examples_dir().to_str().unwrap().to_owned();
    let out = run(&["inject", &dir], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    // Paths differ per checkout; the golden report uses the relative name.
    let report = stderr(&out).replace(&format!("{dir}/"), "examples/");
    assert_golden("examples.report", &report);
    let text = stdout(&out);
    assert_golden("examples.out.yaml", &text);
    for doc in documents(&text) {
        assert_valid_kubernetes(&doc);
    }
    let restored = documents(&uninject(&text));
    let mut originals = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        originals.extend(documents(&read(file.to_str().unwrap())));
    }
    assert_eq!(restored, originals);
}

#[test]
fn the_classic_post_start_hook_runs_and_waits_for_ready() {
    let out = run(
        &["inject", &fixture("kinds.yaml"), "--native-sidecar=false"],
        b"",
    );
    let docs = documents(&stdout(&out));
    let command = docs[0]["spec"]["containers"][0]["lifecycle"]["postStart"]["exec"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(
        command[0], "/usr/local/bin/meshctl",
        "the Dockerfile's binary"
    );
    // An admin port that is ready.
    let port = http_server("", 16).port().to_string();
    let mut args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
    let at = args.iter().position(|a| *a == "--admin-port").unwrap();
    args[at + 1] = &port;
    let out = run(&args, b"");
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    let out = run(
        &["proxy-await", "--admin-port", "1", "--timeout", "300ms"],
        b"",
    );
    failed(&out, 1, &["was not ready after 300ms"]);
}

#[test]
fn strict_validation_catches_misspelled_and_mistyped_fields() {
    let out = run(&["inject", &fixture("kinds.yaml")], b"");
    let docs = documents(&stdout(&out));
    let deployment = &docs[1];
    check_kubernetes(deployment).unwrap();
    let mut misspelled = deployment.clone();
    let proxy = &mut misspelled["spec"]["template"]["spec"]["initContainers"][0];
    let probe = proxy
        .as_object_mut()
        .unwrap()
        .remove("startupProbe")
        .unwrap();
    proxy["startupProbes"] = probe;
    let err = check_kubernetes(&misspelled).unwrap_err();
    assert!(err.contains("fields lost"), "{err}");
    let mut mistyped = deployment.clone();
    mistyped["spec"]["template"]["spec"]["initContainers"][0]["securityContext"]["runAsUser"] =
        Value::String("2102".into());
    let err = check_kubernetes(&mistyped).unwrap_err();
    assert!(err.contains("not a valid"), "{err}");
}

/// The proxy container's env value `name` in an injected document.
fn proxy_env(doc: &Value, name: &str) -> Option<String> {
    let spec = &doc["spec"]["template"]["spec"];
    let containers = spec["initContainers"].as_array()?.iter();
    let proxy = containers
        .chain(spec["containers"].as_array()?.iter())
        .find(|c| c["name"] == "meshctl-proxy")?;
    let env = proxy["env"].as_array()?;
    let var = env.iter().find(|e| e["name"] == name)?;
    var["value"].as_str().map(str::to_owned)
}

#[test]
fn a_mesh_installed_elsewhere_gets_proxies_that_look_there() {
    // install -n X puts the controller (the CA and discovery) in X ...
    let installed = stdout(&run(&["install", "-n", "mesh-x"], b""));
    let service = documents(&installed)
        .into_iter()
        .find(|d| d["kind"] == "Service" && d["metadata"]["name"] == "meshctl-controller")
        .expect("the controller's Service");
    assert_eq!(service["metadata"]["namespace"], "mesh-x");
    // ... and inject --mesh-namespace X (what the webhook in X passes) points proxies at it.
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n\
                  spec:\n  template:\n    spec:\n      containers: [{name: app, image: app}]\n";
    let out = run(
        &["inject", "-", "--mesh-namespace", "mesh-x"],
        deploy.as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = documents(&stdout(&out)).remove(0);
    let addr = proxy_env(&doc, "MESHCTL_CONTROLLER_ADDR").expect("controller address");
    assert_eq!(addr, "meshctl-controller.mesh-x.svc:8086");
    assert_eq!(
        proxy_env(&doc, "MESHCTL_CONTROLLER_NAMESPACE").as_deref(),
        Some("mesh-x")
    );
    // The CA identity proxies expect is the controller's in that namespace.
    let ns = meshctl::mesh_namespace::of_controller_addr(&addr).unwrap();
    let ca = meshctl::identity::service::ca_identity("cluster.local", ns).unwrap();
    assert_eq!(
        ca.to_string(),
        "spiffe://cluster.local/ns/mesh-x/sa/meshctl-controller"
    );
    // The default stays meshctl-system; a bad name is a usage error.
    let out = run(&["inject", "-"], deploy.as_bytes());
    let doc = documents(&stdout(&out)).remove(0);
    assert_eq!(
        proxy_env(&doc, "MESHCTL_CONTROLLER_ADDR").as_deref(),
        Some("meshctl-controller.meshctl-system.svc:8086")
    );
    let out = run(
        &["inject", "-", "--mesh-namespace", "Mesh X"],
        deploy.as_bytes(),
    );
    failed(&out, 2, &["--mesh-namespace"]);
}
