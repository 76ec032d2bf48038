//! `meshctl check` on the real API server: pre-install as admin and as a user without rights,
//! a healthy install, then a version skew, a missing CRD, a caBundle that does not verify and
//! an issuer expiring in 30 days, STRICT mTLS over a pod without a proxy (`mesh-config`, and
//! `meshctl analyze` of the cluster); JSON shape and exit codes for every output format.

use std::process::Output;
use std::time::SystemTime;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use crate::cert_files::CertFiles;
use crate::harness::Cluster;
use crate::install::{meshctl_with, ok, run, run_marking_ready};

/// Not the default namespace: the install test uses that one, and an uninstalled namespace
/// stays Terminating here (no namespace controller runs).
const NS: &str = "mesh-check";

/// Runs `check` with `-o json` and returns the exit code and every check's (id, status).
/// A stand-in for the controller's pod: a Running pod of its Deployment whose IP is this
/// machine's, where a server answers `/metrics` on the controller's admin port with the
/// build-info line of the version it is told it runs.
struct FakeController {
    version: std::sync::Arc<std::sync::Mutex<String>>,
}

impl FakeController {
    async fn start(client: &kube::Client, version: &str) -> FakeController {
        use std::io::{Read, Write};
        // The API server proxies to pod IPs, never to loopback: this machine's own address.
        let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        probe.connect("192.0.2.254:9").unwrap();
        let ip = probe.local_addr().unwrap().ip();
        assert!(
            !ip.is_loopback(),
            "no address but loopback for a stand-in pod"
        );
        let listener = std::net::TcpListener::bind((ip, 9990)).unwrap();
        let shared = std::sync::Arc::new(std::sync::Mutex::new(version.to_owned()));
        let answer = shared.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut head = [0u8; 2048];
                let n = stream.read(&mut head).unwrap_or(0);
                let version = answer.lock().unwrap().clone();
                // /proxies: no proxy subscribed; /metrics: the build info.
                let body = if head[..n].starts_with(b"GET /proxies") {
                    "[]".to_owned()
                } else {
                    format!("meshctl_controller_build_info{{version=\"{version}\"}} 1\n")
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), NS);
        let pod = serde_json::from_value(json!({
            "metadata": {"name": "meshctl-controller-0", "labels": {
                "app.kubernetes.io/name": "meshctl", "app.kubernetes.io/component": "controller"}},
            "spec": {"containers": [{"name": "controller", "image": "meshctl:test"}]},
        }))
        .unwrap();
        pods.create(&Default::default(), &pod).await.unwrap();
        let status = json!({"status": {"phase": "Running", "podIP": ip.to_string(),
                                       "podIPs": [{"ip": ip.to_string()}]}});
        pods.patch_status(
            "meshctl-controller-0",
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await
        .unwrap();
        FakeController { version: shared }
    }

    /// From now on, the stand-in says it runs `version`.
    fn runs(&self, version: &str) {
        *self.version.lock().unwrap() = version.to_owned();
    }
}

fn check_json(
    cluster: &Cluster,
    kubeconfig: Option<&std::path::Path>,
    extra: &[&str],
) -> (i32, Value) {
    let out = meshctl_with(
        kubeconfig.unwrap_or(&cluster.kubeconfig),
        &["check", "-n", NS, "-o", "json"],
    )
    .args(extra)
    .output()
    .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    // The documented shape.
    assert!(
        matches!(doc["status"].as_str(), Some("passed" | "failed")),
        "{doc}"
    );
    assert!(doc["durationMs"].is_u64(), "{doc}");
    for category in doc["categories"].as_array().unwrap() {
        assert!(category["name"].is_string());
        for check in category["checks"].as_array().unwrap() {
            assert!(check["id"].is_string() && check["description"].is_string());
            assert!(check["message"].is_string() && check["durationMs"].is_u64());
            let status = check["status"].as_str().unwrap();
            assert!(
                ["ok", "warning", "error", "skipped"].contains(&status),
                "{check}"
            );
            assert_eq!(
                check.get("hint").is_some(),
                status == "warning" || status == "error",
                "{check}"
            );
        }
    }
    assert_eq!(
        doc["status"] == "passed",
        out.status.code() == Some(0),
        "{doc}"
    );
    (out.status.code().unwrap(), doc)
}

fn status<'a>(doc: &'a Value, id: &str) -> (&'a str, &'a str) {
    let check = doc["categories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["checks"].as_array().unwrap())
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {doc}"));
    (
        check["status"].as_str().unwrap(),
        check["message"].as_str().unwrap(),
    )
}

/// Runs `check` after install and asserts its exit code and that check `id` came out `state`
/// with a message containing `says`; returns the whole document.
fn expect(cluster: &Cluster, code: i32, id: &str, state: &str, says: &str) -> Value {
    let (exit, doc) = check_json(cluster, None, &[]);
    assert_eq!(exit, code, "{doc}");
    let (status, message) = status(&doc, id);
    assert_eq!(status, state, "{id}: {message}");
    assert!(message.contains(says), "{id}: {message}");
    doc
}

/// Exit codes agree across text, short and JSON output.
fn exit_codes(cluster: &Cluster, expected: i32) {
    for format in ["text", "short", "json"] {
        let out: Output = run(cluster, &["check", "-n", NS, "-o", format]);
        assert_eq!(
            out.status.code(),
            Some(expected),
            "-o {format}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[tokio::test]
async fn check_before_and_after_install() {
    // A cluster of its own: installs write cluster-wide objects (CRDs, webhooks, cluster
    // roles), and a CRD another test deleted can stay Terminating for minutes on a loaded
    // machine (the API server's finalizer backs off), which a shared server would inherit.
    let cluster = &Cluster::start().await.expect("a test cluster of its own");
    let client = cluster.admin().await;

    // Pre-install as admin: nothing in the way.
    let (code, doc) = check_json(cluster, None, &["--pre"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(status(&doc, "install-permissions").0, "ok", "{doc}");
    assert_eq!(status(&doc, "clock-skew").0, "ok", "{doc}");
    // After-install checks on an empty cluster: the namespace is fatal, the rest skipped.
    let (code, doc) = check_json(cluster, None, &[]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(status(&doc, "namespace").0, "error");
    assert_eq!(
        status(&doc, "identity-certs"),
        ("skipped", "skipped: `namespace` failed")
    );

    // A service account without rights cannot install.
    let ns = cluster.namespace("check-user").await;
    let kubeconfig = cluster.kubeconfig_for_service_account(&ns, "nobody").await;
    let (code, doc) = check_json(cluster, Some(&kubeconfig), &["--pre"]);
    assert_eq!(code, 1, "{doc}");
    let (state, message) = status(&doc, "install-permissions");
    assert_eq!(state, "error");
    assert!(
        message.contains("create clusterroles.rbac.authorization.k8s.io"),
        "{message}"
    );
    assert!(
        message.contains("create deployments.apps in mesh-check"),
        "{message}"
    );

    // A healthy install (no kubelet: the controller's pod is a stand-in on this machine).
    ok(&run_marking_ready(
        cluster,
        &client,
        &["install", "-n", NS, "--apply", "--timeout", "60s"],
    )
    .await);
    let ours = env!("CARGO_PKG_VERSION");
    let controller = FakeController::start(&client, ours).await;
    let (code, doc) = check_json(cluster, None, &[]);
    assert_eq!(code, 0, "{doc}");
    for category in doc["categories"].as_array().unwrap() {
        for check in category["checks"].as_array().unwrap() {
            // The stand-in controller pod answers /metrics and an empty /proxies; the
            // pod-network controller test reads a real one through the pod proxy.
            assert_eq!(check["status"], "ok", "{check}");
        }
    }
    eprintln!("check on a healthy install took {} ms", doc["durationMs"]);
    exit_codes(cluster, 0);
    let (code, doc) = check_json(cluster, None, &["--pre"]);
    assert_eq!((code, status(&doc, "no-install-yet").0), (1, "error"));
    let short = run(cluster, &["check", "-n", NS, "--pre", "-o", "short"]);
    assert_eq!(short.status.code(), Some(1));
    let text = String::from_utf8_lossy(&short.stdout);
    assert!(
        text.contains("meshctl is not installed yet") && text.contains("upgrade"),
        "{text}"
    );
    assert!(
        !text.contains("clock"),
        "short shows only warnings and errors: {text}"
    );

    // What the controller runs counts, not what its Deployment's label says.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let label = |v: &str| json!({"metadata": {"labels": {"app.kubernetes.io/version": v}}});
    deployments
        .patch(
            "meshctl-controller",
            &PatchParams::default(),
            &Patch::Merge(&label("0.0.1")),
        )
        .await
        .unwrap();
    let runs = format!("1 controller pods run meshctl {ours}");
    expect(cluster, 0, "controller-version", "ok", &runs);
    // Version skew: a warning, still passing.
    controller.runs("0.0.1");
    expect(
        cluster,
        0,
        "controller-version",
        "warning",
        "meshctl-controller-0 runs 0.0.1",
    );
    controller.runs(ours);

    // A caBundle that does not verify the serving certificate: an error, exit 1 everywhere.
    let hooks: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let mut hook = hooks.get("meshctl-proxy-injector").await.unwrap();
    let good = hook.webhooks.as_ref().unwrap()[0]
        .client_config
        .ca_bundle
        .clone();
    let other = meshctl::manifests::certs::generate_webhook(NS, SystemTime::now()).unwrap();
    hook.webhooks.as_mut().unwrap()[0].client_config.ca_bundle =
        Some(k8s_openapi::ByteString(other.ca.into_bytes()));
    hook.metadata.managed_fields = None;
    hooks
        .replace("meshctl-proxy-injector", &Default::default(), &hook)
        .await
        .unwrap();
    expect(cluster, 1, "webhook-ca-bundle", "error", "does not verify");
    exit_codes(cluster, 1);
    let mut hook = hooks.get("meshctl-proxy-injector").await.unwrap();
    hook.webhooks.as_mut().unwrap()[0].client_config.ca_bundle = good;
    hooks
        .replace("meshctl-proxy-injector", &Default::default(), &hook)
        .await
        .unwrap();

    // Another product's CRD missing: named, a warning (the mesh ignores that API until then).
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.delete("virtualservices.networking.istio.io", &Default::default())
        .await
        .unwrap();
    let missing = "the mesh ignores these APIs: virtualservices.networking.istio.io";
    expect(cluster, 0, "crds-established", "warning", missing);

    // An issuer expiring in 30 days, given at upgrade (which also restores the CRD).
    let certs = CertFiles::create(&["--issuer-validity", "720h"]);
    let flags = certs.identity_flags();
    let mut upgrade = vec!["upgrade", "-n", NS, "--apply", "--timeout", "60s"];
    upgrade.extend(flags.iter().map(String::as_str));
    ok(&run_marking_ready(cluster, &client, &upgrade).await);
    let doc = expect(cluster, 0, "identity-certs", "warning", "expires");
    assert_eq!(status(&doc, "crds-established").0, "ok");

    strict_over_an_unmeshed_pod(cluster, &client).await;
    istios_tracing_config(cluster, &client).await;

    ok(&run(
        cluster,
        &["uninstall", "-n", NS, "--apply", "--force"],
    ));
}

/// A namespace under STRICT mTLS whose Service sends to a pod without a proxy: nothing
/// enforces STRICT there. `check` warns (`mesh-config`); `analyze` of the cluster names it.
async fn strict_over_an_unmeshed_pod(cluster: &Cluster, client: &kube::Client) {
    use kube::api::{ApiResource, DynamicObject, PostParams};
    use kube::core::GroupVersionKind;
    let ns = cluster.namespace("shop-strict").await;
    let create = |gvk: GroupVersionKind, object: Value| {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &ns, &ApiResource::from_gvk(&gvk));
        async move {
            let object: DynamicObject = serde_json::from_value(object).unwrap();
            api.create(&PostParams::default(), &object).await.unwrap();
        }
    };
    create(
        GroupVersionKind::gvk("", "v1", "Service"),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    )
    .await;
    create(
        GroupVersionKind::gvk("", "v1", "Pod"),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
               "spec": {"containers": [{"name": "app", "image": "web"}]}}),
    )
    .await;
    expect(cluster, 0, "mesh-config", "ok", "translate as written");
    create(
        GroupVersionKind::gvk("security.istio.io", "v1", "PeerAuthentication"),
        json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
               "metadata": {"name": "strict"}, "spec": {"mtls": {"mode": "STRICT"}}}),
    )
    .await;
    let unmeshed = format!("pod {ns}/web receives Service traffic but runs no proxy");
    expect(cluster, 0, "mesh-config", "warning", &unmeshed);

    // The same finding from `analyze` of the live cluster: a warning (exit 0), with its object.
    let out = run(cluster, &["analyze", "-n", &ns, "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("pure JSON");
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{doc}");
    assert_eq!(findings[0]["object"]["kind"], "PeerAuthentication", "{doc}");
    assert_eq!(findings[0]["object"]["name"], "strict", "{doc}");
    assert!(
        findings[0]["message"].as_str().unwrap().contains(&unmeshed),
        "{doc}"
    );
    // Another namespace has no findings; -A has it whatever -n says.
    let out = run(cluster, &["analyze", "-n", NS]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no findings"), "{text}");
    let out = run(cluster, &["analyze", "-n", NS, "-A"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("runs no proxy"), "{text}");
}

/// Istio's `istio` ConfigMap with tracing settings: `analyze` of the live cluster maps its
/// sampling percentage and names its Zipkin address (it is no input of the controller).
async fn istios_tracing_config(cluster: &Cluster, client: &kube::Client) {
    use k8s_openapi::api::core::v1::ConfigMap;
    let ns = cluster.namespace("istio-root").await;
    let mesh = "defaultConfig:\n  tracing:\n    sampling: 2\n    zipkin: {address: zipkin:9411}\n";
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "istio"},
        "data": {"mesh": mesh},
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .create(&Default::default(), &cm)
        .await
        .unwrap();
    let out = run(cluster, &["analyze", "-n", &ns, "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("pure JSON");
    let findings = doc["findings"].as_array().unwrap();
    let fields: Vec<&str> = findings
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "data.mesh: defaultConfig.tracing.sampling",
            "data.mesh: defaultConfig.tracing.zipkin.address"
        ],
        "{doc}"
    );
    assert!(
        findings[0]["message"]
            .as_str()
            .unwrap()
            .contains("--set tracing.sampling=0.02"),
        "{doc}"
    );
    assert_eq!(findings[0]["object"]["namespace"], ns.as_str(), "{doc}");
}
