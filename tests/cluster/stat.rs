//! `meshctl stat` in cluster mode where no proxy can answer: an unknown name, a namespace
//! without meshed pods (the message says how to inject), and a meshed pod the API server will
//! not proxy to (reported by name; none answering is an error). The figures themselves are
//! tested through real proxies in tests/podnet/stat_cluster.rs (that needs root).

use std::process::Output;

use crate::harness::cluster;
use crate::install::run;
use crate::pods::{pod, running};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn unknown_names_unmeshed_pods_and_unreachable_proxies_are_explained() {
    let cluster = cluster();
    let ns = cluster.namespace("stat").await;

    let out = run(cluster, &["stat", "deploy", "web", "-n", &ns]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains(&format!(
            "deployment `web` not found in namespace {ns}; list them with `kubectl get deploy -n {ns}`"
        )),
        "{}",
        stderr(&out)
    );
    let out = run(cluster, &["stat", "deploy", "-n", &ns]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("no deploy in namespace {ns}")),
        "{}",
        stderr(&out)
    );

    pod(&ns, "plain", false, running("10.0.0.5", false)).await;
    let out = run(cluster, &["stat", "pod", "-n", &ns]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no meshed pods among the 1 pods of pod in namespace"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("| meshctl inject - |"),
        "{}",
        stderr(&out)
    );

    // The API server refuses to proxy to a loopback address: the pod is named with why.
    pod(&ns, "meshed", true, running("127.0.0.1", true)).await;
    let out = run(cluster, &["stat", "pod", "meshed", "-n", &ns, "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("warning: pod {ns}/meshed: its proxy gave no figures: answered HTTP 400: address not allowed")),
        "{err}"
    );
    assert!(err.contains("no proxy answered (1 asked)"), "{err}");
}
