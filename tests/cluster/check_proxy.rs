//! `meshctl check --proxy`: the data-plane category on pods written by hand (finished and
//! evicted pods skipped by name, a proxy still starting, a proxy the API server cannot reach),
//! and on a namespace without meshed pods. Real proxies answering are covered in
//! tests/podnet/stat_cluster.rs (that needs root).

use serde_json::{Value, json};

use crate::harness::cluster;
use crate::install::run;
use crate::pods::{pod, proxy_status, running};

/// `check --proxy -n ns -o json`: the exit code and (id → (status, message)) of the
/// data-plane checks.
fn data_plane(ns: &str) -> (i32, Vec<(String, String, String)>) {
    let out = run(cluster(), &["check", "--proxy", "-n", ns, "-o", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    let categories = doc["categories"].as_array().expect("categories");
    let names: Vec<&str> = categories
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["kubernetes-api", "data-plane"], "{doc}");
    let checks = categories[1]["checks"].as_array().expect("checks");
    let results = checks
        .iter()
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (text("id"), text("status"), text("message"))
        })
        .collect();
    (out.status.code().expect("exit code"), results)
}

fn find<'a>(results: &'a [(String, String, String)], id: &str) -> (&'a str, &'a str) {
    let (_, status, message) = results
        .iter()
        .find(|(i, _, _)| i == id)
        .unwrap_or_else(|| panic!("no {id} in {results:?}"));
    (status, message)
}

#[tokio::test]
async fn data_plane_checks_name_the_pods_that_fail_and_skip_finished_ones() {
    let ns = cluster().namespace("dataplane").await;
    let (code, results) = data_plane(&ns);
    assert_eq!(code, 0, "{results:?}");
    let (status, message) = find(&results, "data-plane-pods");
    assert_eq!(status, "warning");
    assert_eq!(message, format!("no meshed pods in namespace {ns}"));
    assert_eq!(find(&results, "proxy-ready").0, "skipped");

    pod(&ns, "plain", false, running("10.0.0.5", false)).await;
    pod(&ns, "done", true, json!({"phase": "Succeeded"})).await;
    let evicted = json!({"phase": "Failed", "reason": "Evicted"});
    pod(&ns, "evicted", true, evicted).await;
    let waiting = json!({"waiting": {"reason": "CrashLoopBackOff"}});
    let starting =
        json!({"phase": "Pending", "initContainerStatuses": [proxy_status(false, waiting)]});
    pod(&ns, "starting", true, starting).await;
    pod(&ns, "loopback", true, running("127.0.0.1", true)).await;

    let (code, results) = data_plane(&ns);
    assert_eq!(code, 1, "{results:?}");
    let (status, message) = find(&results, "data-plane-pods");
    assert_eq!(status, "ok");
    assert_eq!(
        message,
        format!(
            "2 meshed pods in namespace {ns}; skipped {ns}/done (finished), {ns}/evicted (evicted)"
        )
    );
    let (status, message) = find(&results, "proxy-ready");
    assert_eq!(status, "error");
    assert_eq!(
        message,
        format!("proxy not ready in {ns}/starting (waiting: CrashLoopBackOff)")
    );
    // The API server does not proxy to loopback addresses: the pod is named with why.
    let (status, message) = find(&results, "proxy-version");
    assert_eq!(status, "error");
    assert!(
        message.starts_with(&format!(
            "cannot read the admin port of {ns}/loopback: answered HTTP 400: address not allowed"
        )),
        "{message}"
    );
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        message.ends_with(&format!("; 0 other proxies run {version}")),
        "{message}"
    );
    assert_eq!(find(&results, "proxy-identity").0, "skipped");
    assert_eq!(find(&results, "proxy-config-version").0, "skipped");
}

#[tokio::test]
async fn a_caller_who_may_not_proxy_to_pods_is_told_the_right_once_per_namespace() {
    let cluster = cluster();
    let ns = cluster.namespace("dataplanerbac").await;
    for (name, ip) in [("web", "10.0.0.9"), ("api", "10.0.0.10")] {
        pod(&ns, name, true, running(ip, true)).await;
    }
    let kubeconfig = cluster.kubeconfig_for_service_account(&ns, "viewer").await;
    let read = json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]);
    crate::stat::grant(&ns, "viewer", "read", read).await;
    let out = crate::install::meshctl_with(&kubeconfig, &["check", "--proxy", "-n", &ns])
        .output()
        .expect("run meshctl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    // One message for both pods: the right, the namespace and the API server's words (they
    // name the user), not a 403 per pod.
    let denied = format!(
        "not allowed to read the proxies of 2 meshed pods in namespace {ns} through the API \
         server: "
    );
    let user = format!("User \"system:serviceaccount:{ns}:viewer\" cannot get resource");
    for part in [
        &denied[..],
        &user,
        "check --proxy needs `get` on `pods/proxy` there",
        "kubectl auth can-i get pods/proxy",
    ] {
        assert!(text.contains(part), "{part:?} missing from:\n{text}");
    }
    assert_eq!(text.matches(&denied).count(), 1, "{text}");
}
