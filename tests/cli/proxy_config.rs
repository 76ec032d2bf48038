//! `meshctl proxy-config` offline (`-f`): what a workload's proxies receive (golden), one
//! entry per distinct config with its version, the same for the pod, deployment and Service
//! naming it; unknown workloads name what exists; bad names are usage errors.

use std::path::Path;

use serde_json::Value;

use crate::support::{assert_golden, fixture, run, stderr, stdout};

fn proxy_config(args: &[&str]) -> std::process::Output {
    let mut all = vec!["proxy-config"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-f", "-", "-n", "shop"]);
    let manifests = std::fs::read(fixture("proxy-config/shop.yaml")).unwrap();
    run(&all, &manifests)
}

fn json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["-o", "json"]);
    let out = proxy_config(&all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("pure JSON on stdout")
}

#[test]
fn a_deployments_config_is_what_discovery_sends_with_its_version() {
    let out = proxy_config(&["deploy/web"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_golden(
        Path::new(&fixture("proxy-config/golden/deploy-web.yaml")),
        &stdout(&out),
    );

    let entries = json(&["deploy/web"]);
    let [entry] = entries.as_array().unwrap().as_slice() else {
        panic!("one entry: {entries:#}");
    };
    assert_eq!(
        entry["pods"],
        serde_json::json!(["web-deployment-template"])
    );
    let version = entry["version"].as_str().unwrap();
    assert!(
        version.len() == 16 && version.chars().all(|c| c.is_ascii_hexdigit()),
        "{version}"
    );
    // The HTTPRoute's 90/10 split is in web's service.
    let web = entry["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("web.shop"))
        })
        .unwrap_or_else(|| panic!("no web service: {entry:#}"));
    let text = web.to_string();
    assert!(
        text.contains("\"weight\":90") && text.contains("\"weight\":10"),
        "{web:#}"
    );

    // The pod and the Service behind it name the same proxies, hence the same config.
    assert_eq!(json(&["pod/web-deployment-template"]), entries);
    assert_eq!(json(&["svc/web"]), entries);
    // Another workload gets another inbound side, so another version.
    assert_ne!(json(&["deploy/api"])[0]["version"], entry["version"]);
    assert_eq!(
        json(&["sts/db"])[0]["pods"],
        serde_json::json!(["db-statefulset-template"])
    );
}

#[test]
fn an_unknown_workload_names_namespace_and_what_exists() {
    for (workload, message) in [
        (
            "deploy/nope",
            "error: deployment shop/nope not found; deployments in namespace shop: api, web",
        ),
        (
            "svc/nope",
            "error: service shop/nope not found; services in namespace shop: web, web-v2",
        ),
    ] {
        let out = proxy_config(&[workload]);
        assert_eq!(out.status.code(), Some(1), "{workload}: {}", stderr(&out));
        assert_eq!(stderr(&out).trim_end(), message);
        assert!(out.stdout.is_empty());
    }
    let out = run(
        &[
            "proxy-config",
            "deploy/web",
            "-n",
            "elsewhere",
            "-f",
            &fixture("proxy-config"),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("deployments in namespace elsewhere: none (is -n right?)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_name_that_is_no_workload_is_a_usage_error() {
    for workload in ["ns/shop", "deploy", "web", "cronjob/web"] {
        let out = proxy_config(&[workload]);
        assert_eq!(out.status.code(), Some(2), "{workload}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("name a workload as pod/NAME, deploy/NAME"),
            "{}",
            stderr(&out)
        );
    }
}
