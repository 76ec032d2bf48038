//! Automatic injection on the real API server: `install --apply`, then `meshctl controller` as a
//! local process serving the webhook, and the API server calling it (the webhook configuration
//! patched to a `url` on 127.0.0.1 with a test serving certificate, since no kube-proxy resolves
//! the Service). Pods in an enabled namespace get the proxy, the same as `meshctl inject`
//! (with the tracing values the controller was given, as `inject --tracing-*`); opted
//! out and other namespaces' pods do not; a malformed review gets a clear refusal; 200
//! concurrent creations all pass; with the controller down, kube-system still works, enabled
//! namespaces are refused naming the webhook, and `meshctl check` says so.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use crate::controller_process::ControllerProcess;
use crate::harness::Cluster;
use crate::install::{meshctl, ok, run};

const NS: &str = "meshctl-system";

/// Tracing as `install --set tracing.*` passes it to the controller, and as `meshctl
/// inject` takes it: both must inject the same proxy.
const TRACING: [&str; 4] = [
    "--tracing-endpoint",
    "collector.obs:4317",
    "--tracing-sampling",
    "0.5",
];

fn parse_response(text: &str) -> (u16, String) {
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

/// POSTs `body` to the webhook over TLS verified with `ca_pem`, as the API server would.
fn post_review(addr: SocketAddr, ca_pem: &str, body: &[u8]) -> (u16, String) {
    let roots =
        meshctl::identity::pem::PemFile::parse(std::path::Path::new("ca"), ca_pem.as_bytes())
            .unwrap()
            .certs;
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(meshctl::identity::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let head = format!(
        "POST /inject?timeout=10s HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).unwrap();
    tls.write_all(body).unwrap();
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw);
    parse_response(&String::from_utf8_lossy(&raw))
}

async fn namespace(client: &Client, name: &str, labels: Value) {
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
}

/// A Deployment's pod as its ReplicaSet would create it.
fn web_pod(name: &str, labels: Value, annotations: Value) -> Value {
    let mut all_labels = json!({"app": "web", "pod-template-hash": "5d8f7c9b4"});
    all_labels
        .as_object_mut()
        .unwrap()
        .extend(labels.as_object().unwrap().clone());
    let mut metadata = json!({"name": name, "labels": all_labels});
    // Absent rather than empty, as the API server sends it to the webhook.
    if annotations.as_object().is_some_and(|a| !a.is_empty()) {
        metadata["annotations"] = annotations;
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": metadata,
        "spec": {
            // The ServiceAccount admission plugin that fills this in is off in the harness.
            "serviceAccountName": "web",
            "containers": [{
                "name": "app", "image": "nginx:1.27",
                "ports": [{"containerPort": 8080}],
                "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
            }],
            "volumes": [{"name": "config", "configMap": {"name": "web", "defaultMode": 420}}],
        },
    })
}

async fn create(client: &Client, ns: &str, pod: &Value) -> Result<Pod, kube::Error> {
    let pod: Pod = serde_json::from_value(pod.clone()).unwrap();
    Api::<Pod>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &pod)
        .await
}

fn has_proxy(pod: &Pod) -> bool {
    let spec = pod.spec.as_ref().unwrap();
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .any(|c| c.name == "meshctl-proxy")
}

/// What `meshctl inject -` writes for `pod` (JSON in, JSON out).
fn cli_inject(cluster: &Cluster, pod: &Value) -> Value {
    let mut child = meshctl(cluster, &[&["inject", "-"][..], &TRACING].concat())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(pod).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    serde_json::from_slice(ok_bytes(&out)).unwrap()
}

fn ok_bytes(out: &std::process::Output) -> &[u8] {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    &out.stdout
}

/// The pod as stored, without what differs between any two pods (names, uids, times).
fn comparable(pod: &Pod) -> Value {
    json!({
        "labels": pod.metadata.labels,
        "annotations": pod.metadata.annotations,
        "spec": pod.spec,
    })
}

fn check_json(cluster: &Cluster) -> Value {
    let out = run(cluster, &["check", "-n", NS, "-o", "json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check: not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn check_status(doc: &Value, id: &str) -> (String, String) {
    let check = doc["categories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["checks"].as_array().unwrap())
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {doc}"));
    (
        check["status"].as_str().unwrap().to_owned(),
        check["message"].as_str().unwrap().to_owned(),
    )
}

/// Points every entry of the installed webhook configuration at `url`, trusting `ca_pem`.
async fn call_url(client: &Client, url: &str, ca_pem: &str) {
    let hooks: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let mut config = hooks.get("meshctl-proxy-injector").await.unwrap();
    for hook in config.webhooks.iter_mut().flatten() {
        hook.client_config.service = None;
        hook.client_config.url = Some(url.to_owned());
        hook.client_config.ca_bundle = Some(k8s_openapi::ByteString(ca_pem.as_bytes().to_vec()));
    }
    config.metadata.managed_fields = None;
    hooks
        .replace("meshctl-proxy-injector", &PostParams::default(), &config)
        .await
        .unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

#[tokio::test]
async fn the_api_server_calls_the_webhook_of_a_local_controller() {
    // A cluster of its own: the webhook configuration is cluster-wide and, with Fail, refuses
    // pods of enabled namespaces while no controller runs.
    let cluster = &Cluster::start().await.expect("a test cluster of its own");
    let client = cluster.admin().await;
    ok(&run(cluster, &["install", "--apply", "--wait=false"]));

    // A serving certificate for 127.0.0.1 (the install's names only the Service), written to
    // the Secret the controller watches.
    let certs =
        meshctl::manifests::certs::generate_webhook_for(NS, &["127.0.0.1"], SystemTime::now())
            .unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    Api::<Secret>::namespaced(client.clone(), NS)
        .patch(
            "meshctl-webhook-tls",
            &PatchParams::default(),
            &Patch::Merge(&json!({"data": {
                "tls.crt": b64(&certs.cert), "tls.key": b64(certs.key.expose()), "ca.crt": b64(&certs.ca),
            }})),
        )
        .await
        .unwrap();
    let log = std::env::temp_dir().join(format!("meshctl-webhook-{}.log", std::process::id()));
    let kubeconfig = cluster
        .kubeconfig_for_service_account(NS, "meshctl-controller")
        .await;
    let mut controller = Some(ControllerProcess::start_with(
        kubeconfig,
        NS,
        "127.0.0.1",
        None,
        log,
        &TRACING,
    ));
    let webhook = controller.as_ref().unwrap().webhook;
    let url = format!("https://{webhook}/inject");
    call_url(&client, &url, &certs.ca).await;

    let suffix = std::process::id();
    let enabled = format!("shop-{suffix}");
    let plain = format!("plain-{suffix}");
    namespace(&client, &enabled, json!({"meshctl.io/inject": "enabled"})).await;
    namespace(&client, &plain, json!({})).await;

    // A Deployment's pod in the enabled namespace has the proxy, and is what `meshctl inject`
    // makes of the same pod (created in a namespace without injection, so nothing else adds).
    let pod = web_pod("web-5d8f7c9b4-abcde", json!({}), json!({}));
    let webhooked = create(&client, &enabled, &pod).await.unwrap_or_else(|e| {
        panic!(
            "pod in {enabled}: {e}\n{}",
            controller.as_ref().unwrap().logs()
        )
    });
    assert!(has_proxy(&webhooked), "{webhooked:?}");
    let spec = webhooked.spec.as_ref().unwrap();
    let proxy = (spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers))
    .find(|c| c.name == "meshctl-proxy")
    .unwrap();
    let env = |name: &str| {
        let var = proxy.env.iter().flatten().find(|e| e.name == name);
        var.and_then(|e| e.value.clone())
            .unwrap_or_else(|| panic!("{name} in {proxy:?}"))
    };
    assert_eq!(env("MESHCTL_PROXY_TRACING_ENDPOINT"), "collector.obs:4317");
    assert_eq!(env("MESHCTL_PROXY_TRACING_SAMPLING"), "0.5");
    assert_eq!(env("MESHCTL_PROXY_TRACING_SERVICE_NAME"), "web");
    let by_cli = create(&client, &plain, &cli_inject(cluster, &pod))
        .await
        .unwrap();
    assert_eq!(comparable(&webhooked), comparable(&by_cli));

    // Opted out by label (the API server does not call), by annotation (it calls; skipped),
    // and a namespace that does not opt in.
    let out_label = web_pod(
        "web-out-label",
        json!({"meshctl.io/inject": "disabled"}),
        json!({}),
    );
    let out_annotation = web_pod(
        "web-out-annotation",
        json!({}),
        json!({"meshctl.io/inject": "disabled"}),
    );
    for (ns, pod) in [
        (&enabled, &out_label),
        (&enabled, &out_annotation),
        (&plain, &pod),
    ] {
        let mut pod = pod.clone();
        pod["metadata"]["name"] = json!(format!("{}-x", pod["metadata"]["name"].as_str().unwrap()));
        let created = create(&client, ns, &pod).await.unwrap();
        assert!(!has_proxy(&created), "{ns}: {created:?}");
    }

    // A malformed review: a refusal that says what is wrong, and the controller still serves.
    let (status, body) = post_review(webhook, &certs.ca, b"{\"kind\": \"AdmissionReview\"");
    assert_eq!(status, 400, "{body}");
    let review: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(review["response"]["allowed"], false);
    let message = review["response"]["status"]["message"].as_str().unwrap();
    assert!(message.contains("not JSON"), "{message}");
    let (status, body) = post_review(
        webhook,
        &certs.ca,
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"x"}}"#,
    );
    assert_eq!(status, 200, "{body}");
    let review: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(review["response"]["uid"], "u-1");
    assert!(
        review["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("`request.object` is missing"),
        "{review}"
    );
    assert_eq!(controller.as_ref().unwrap().get("/ready").0, 200);

    // 200 concurrent creations: every one admitted with the proxy.
    let creations = (0..200).map(|i| {
        let client = client.clone();
        let enabled = enabled.clone();
        async move {
            let pod = web_pod(&format!("load-{i}"), json!({}), json!({}));
            let started = Instant::now();
            let created = create(&client, &enabled, &pod).await;
            (created, started.elapsed())
        }
    });
    let results = futures::future::join_all(creations).await;
    let mut latencies = Vec::new();
    for (created, took) in results {
        let created = created.unwrap_or_else(|e| panic!("a concurrent creation failed: {e}"));
        assert!(has_proxy(&created), "{}", created.name_any());
        latencies.push(took);
    }
    latencies.sort();
    println!(
        "200 concurrent pod creations through the webhook: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1],
    );
    let injected = controller
        .as_ref()
        .unwrap()
        .metric("meshctl_controller_webhook_reviews_total{result=\"injected\"}");
    assert!(injected >= 201.0, "reviews counted as injected: {injected}");
    let sum = controller
        .as_ref()
        .unwrap()
        .metric("meshctl_controller_webhook_review_seconds_sum");
    let count = controller
        .as_ref()
        .unwrap()
        .metric("meshctl_controller_webhook_review_seconds_count");
    // The histogram's bucket holding the 99th percentile of the controller's own times.
    let (_, text) = controller.as_ref().unwrap().get("/metrics");
    let p99_bucket = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("meshctl_controller_webhook_review_seconds_bucket{le=\"")?;
            let (le, n) = rest.split_once("\"} ")?;
            Some((le.to_owned(), n.trim().parse::<f64>().ok()?))
        })
        .find(|(_, n)| *n >= count * 0.99)
        .map_or_else(|| "?".to_owned(), |(le, _)| le);
    println!(
        "the controller's own time per review: mean {:?}, p99 <= {p99_bucket} s, over {count} \
         reviews",
        Duration::from_secs_f64(sum / count.max(1.0))
    );

    // Rotation as `meshctl upgrade` orders it: the caBundle trusts old and new CA first, then
    // the Secret gets the new leaf; the controller reloads it and pods are admitted throughout.
    let rotated =
        meshctl::manifests::certs::generate_webhook_for(NS, &["127.0.0.1"], SystemTime::now())
            .unwrap();
    call_url(&client, &url, &format!("{}{}", certs.ca, rotated.ca)).await;
    // The pause upgrade makes: the API server's webhook clients follow their informer.
    tokio::time::sleep(meshctl::manifests::certs::WEBHOOK_BUNDLE_SETTLE).await;
    Api::<Secret>::namespaced(client.clone(), NS)
        .patch(
            "meshctl-webhook-tls",
            &PatchParams::default(),
            &Patch::Merge(&json!({"data": {
                "tls.crt": b64(&rotated.cert), "tls.key": b64(rotated.key.expose()),
            }})),
        )
        .await
        .unwrap();
    let reloads = "meshctl_controller_webhook_certificate_reloads_total";
    let mut i = 0;
    while controller.as_ref().unwrap().metric(reloads) < 2.0 {
        let pod = web_pod(&format!("rotating-{i}"), json!({}), json!({}));
        let created = create(&client, &enabled, &pod).await.unwrap();
        assert!(has_proxy(&created));
        i += 1;
        assert!(i < 200, "the new certificate was never loaded");
    }
    let (status, body) = post_review(webhook, &rotated.ca, b"{}");
    assert_eq!(status, 400, "the new leaf is served: {body}");
    let created = create(&client, &enabled, &web_pod("rotated", json!({}), json!({})))
        .await
        .unwrap();
    assert!(has_proxy(&created));

    // A pod created before its namespace opted in runs without the proxy: check names its
    // Deployment; an Istio-labelled namespace is named too (not accepted by this install).
    let late = format!("late-{suffix}");
    namespace(&client, &late, json!({})).await;
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "late-web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}},
        },
    }))
    .unwrap();
    let deployment = Api::<Deployment>::namespaced(client.clone(), &late)
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    let owner = |kind: &str, name: &str, uid: &str| json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid, "controller": true}]);
    let mut rs = serde_json::to_value(&deployment).unwrap();
    rs["kind"] = json!("ReplicaSet");
    rs["metadata"] = json!({
        "name": "late-web-5d8f7c9b4",
        "ownerReferences": owner("Deployment", "late-web", &deployment.uid().unwrap()),
    });
    rs.as_object_mut().unwrap().remove("status");
    let rs: ReplicaSet = serde_json::from_value(rs).unwrap();
    let rs = Api::<ReplicaSet>::namespaced(client.clone(), &late)
        .create(&PostParams::default(), &rs)
        .await
        .unwrap();
    let mut stale = web_pod("late-web-5d8f7c9b4-zzzzz", json!({}), json!({}));
    stale["metadata"]["ownerReferences"] =
        owner("ReplicaSet", "late-web-5d8f7c9b4", &rs.uid().unwrap());
    create(&client, &late, &stale).await.unwrap();
    let label = json!({"metadata": {"labels": {"meshctl.io/inject": "enabled"}}});
    Api::<Namespace>::all(client.clone())
        .patch(&late, &PatchParams::default(), &Patch::Merge(&label))
        .await
        .unwrap();
    let istio = format!("istio-{suffix}");
    namespace(&client, &istio, json!({"istio-injection": "enabled"})).await;
    let doc = check_json(cluster);
    let (status, message) = check_status(&doc, "webhook-admission");
    assert_eq!(status, "ok", "{message}");
    let (status, message) = check_status(&doc, "webhook-ca-bundle");
    assert_eq!(status, "ok", "{message}");
    assert!(message.contains("127.0.0.1"), "{message}");
    let (status, message) = check_status(&doc, "injection-unmeshed-pods");
    assert_eq!(status, "warning", "{message}");
    assert!(
        message.contains(&format!(
            "kubectl rollout restart deployment/late-web -n {late}"
        )),
        "{message}"
    );
    assert!(
        !message.contains("web-out"),
        "opted-out pods are fine: {message}"
    );
    let (status, message) = check_status(&doc, "injection-foreign-labels");
    assert_eq!(status, "warning", "{message}");
    assert!(
        message.contains(&format!(
            "{istio} (istio-injection=enabled; not injected by meshctl)"
        )),
        "{message}"
    );

    // The controller down: kube-system never calls the webhook; an enabled namespace is
    // refused (Fail) with a message naming the webhook; check reports it.
    drop(controller.take());
    let system = create(
        &client,
        "kube-system",
        &web_pod("system-pod", json!({}), json!({})),
    )
    .await
    .expect("kube-system pods do not call the webhook");
    assert!(!has_proxy(&system));
    let refused = create(
        &client,
        &enabled,
        &web_pod("while-down", json!({}), json!({})),
    )
    .await
    .expect_err("an enabled namespace's pod is refused while the webhook is down");
    let refused = refused.to_string();
    assert!(refused.contains("namespace.inject.meshctl.io"), "{refused}");
    let created = create(
        &client,
        &plain,
        &web_pod("plain-while-down", json!({}), json!({})),
    )
    .await
    .expect("a namespace that does not opt in never calls the webhook");
    assert!(!has_proxy(&created));
    let doc = check_json(cluster);
    let (status, message) = check_status(&doc, "webhook-admission");
    assert_eq!(status, "error", "{message}");
    assert!(message.contains("namespace.inject.meshctl.io"), "{message}");
}
