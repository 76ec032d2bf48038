//! `meshctl canary set-weight` against the real API server, on a cluster of its own (it
//! installs the routing CRDs): HTTPRoute, TrafficSplit and VirtualService weights changed
//! with every other field byte-identical, two objects routing one Service refused, and
//! `--create` writing a route that later weight changes keep whole.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use k8s_openapi::api::core::v1::Service;
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Value, json};

use crate::failed::failed;
use crate::harness::Cluster;
use crate::install::{ok, run};

/// Applies the routing CRDs `meshctl install` prints and waits until they serve.
fn install_crds(cluster: &Cluster) {
    // Printed installs carry other products' CRDs only when asked for.
    let printed = ok(&run(cluster, &["install", "--crds", "all"]));
    let crds: Vec<&str> = printed
        .split("\n---")
        .filter(|doc| doc.contains("kind: CustomResourceDefinition"))
        .collect();
    assert!(crds.len() >= 3, "no CRDs in the printed install");
    let kubectl = |args: &[&str], stdin: Option<String>| -> Output {
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&cluster.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        let input = stdin.unwrap_or_default();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    ok(&kubectl(
        &["apply", "--server-side", "-f", "-"],
        Some(crds.join("\n---\n")),
    ));
    for crd in [
        "httproutes.gateway.networking.k8s.io",
        "trafficsplits.split.smi-spec.io",
        "virtualservices.networking.istio.io",
    ] {
        let crd = format!("crd/{crd}");
        ok(&kubectl(
            &["wait", "--for=condition=Established", "--timeout=60s", &crd],
            None,
        ));
    }
}

fn api(
    client: &Client,
    ns: &str,
    api_version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let (group, version) = api_version.split_once('/').unwrap();
    let gvk = GroupVersionKind::gvk(group, version, kind);
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

/// Creates `obj` as another tool would (its own field manager, an update not an apply).
async fn create(client: &Client, ns: &str, obj: Value, plural: &str) -> Api<DynamicObject> {
    let api = api(
        client,
        ns,
        obj["apiVersion"].as_str().unwrap(),
        obj["kind"].as_str().unwrap(),
        plural,
    );
    let typed: DynamicObject = serde_json::from_value(obj).unwrap();
    let params = PostParams {
        field_manager: Some("kubectl-create".to_owned()),
        ..Default::default()
    };
    api.create(&params, &typed).await.unwrap();
    api
}

async fn get(api: &Api<DynamicObject>, name: &str) -> Value {
    serde_json::to_value(api.get(name).await.unwrap()).unwrap()
}

/// `spec` as text with the weights at `weights` (pointers into spec) removed, and labels and
/// annotations: what must not change.
fn untouched(obj: &Value, weights: &[&str]) -> String {
    let mut spec = obj["spec"].clone();
    for p in weights {
        let (parent, key) = p.rsplit_once('/').unwrap();
        spec.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap()
            .remove(key);
    }
    let meta = &obj["metadata"];
    serde_json::to_string(&json!([spec, meta["labels"], meta["annotations"]])).unwrap()
}

fn set_weight(cluster: &Cluster, ns: &str, args: &[&str]) -> Output {
    let mut all = vec!["canary", "set-weight", "-n", ns, "-o", "json"];
    all.extend_from_slice(args);
    run(cluster, &all)
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap()
}

pub(crate) async fn service(client: &Client, ns: &str, name: &str) {
    let svc: Service = serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 8080}]}}))
    .unwrap();
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &svc)
        .await
        .unwrap();
}

#[tokio::test]
async fn set_weight_changes_only_the_weights_of_the_one_route() {
    let cluster = &Cluster::start().await.expect("a test cluster of its own");
    install_crds(cluster);
    let client = cluster.admin().await;
    let ns = cluster.namespace("canary").await;
    for s in ["web", "web-canary", "web-stable"] {
        service(&client, &ns, s).await;
    }

    // HTTPRoute: two rules send to the canary, one does not; matches, filters, timeouts and
    // fields the schema does not know stay as they are.
    let routes = create(&client, &ns, json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "labels": {"team": "shop"}, "annotations": {"note": "by hand"}},
        "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": "web", "port": 8080}],
            "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
                 "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x-a", "value": "1"}]}}],
                 "backendRefs": [{"name": "web-stable", "port": 8080, "weight": 90},
                                 {"name": "web-canary", "port": 8080, "weight": 10, "x-extra": {"kept": [1, 2]}}]},
                {"timeouts": {"request": "5s"},
                 "backendRefs": [{"name": "web-stable", "port": 8080}, {"name": "web-canary", "port": 8080}]},
                {"backendRefs": [{"name": "web-stable", "port": 8080}]}]}}), "httproutes").await;
    let before = get(&routes, "web").await;
    let out = json_of(&set_weight(cluster, &ns, &["web", "web-canary=30"]));
    assert_eq!(out["kind"], "HTTPRoute");
    assert_eq!(out["created"], false);
    assert_eq!(out["changes"].as_array().unwrap().len(), 4, "{out}");
    let after = get(&routes, "web").await;
    let w = |r: usize, b: usize| after["spec"]["rules"][r]["backendRefs"][b]["weight"].clone();
    assert_eq!(
        [w(0, 0), w(0, 1), w(1, 0), w(1, 1)],
        [json!(70), json!(30), json!(70), json!(30)]
    );
    assert_eq!(
        w(2, 0),
        Value::Null,
        "a rule without the canary was touched"
    );
    let weights = [
        "/rules/0/backendRefs/0/weight",
        "/rules/0/backendRefs/1/weight",
        "/rules/1/backendRefs/0/weight",
        "/rules/1/backendRefs/1/weight",
    ];
    assert_eq!(untouched(&before, &weights), untouched(&after, &weights));
    // meshctl owns the rules list (it is atomic) and nothing else of the spec.
    let managed = after["metadata"]["managedFields"].as_array().unwrap();
    let mine = managed
        .iter()
        .find(|m| m["manager"] == "meshctl")
        .expect("a meshctl entry");
    assert_eq!(mine["operation"], "Apply");
    assert_eq!(mine["fieldsV1"]["f:spec"], json!({"f:rules": {}}));
    // Asked again: nothing to change, nothing written.
    let again = json_of(&set_weight(cluster, &ns, &["web", "web-canary=30"]));
    assert_eq!(again["changes"], json!([]));
    assert_eq!(
        get(&routes, "web").await["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
    // A canary the route does not send to is named with the backends it has.
    let unknown = set_weight(cluster, &ns, &["web", "web-v3=5"]);
    failed(
        &unknown,
        1,
        &[
            &format!("HTTPRoute {ns}/web"),
            "no backend is web-v3",
            "web-stable, web-canary",
        ],
    );
    failed(
        &set_weight(cluster, &ns, &["web", "web-canary=300"]),
        2,
        &["CANARY=W"],
    );

    // A TrafficSplit for the same Service: two objects route it, so neither is changed.
    let splits = create(&client, &ns, json!({
        "apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit",
        "metadata": {"name": "web-split"},
        "spec": {"service": "web", "backends": [
            {"service": "web-stable", "weight": "900m"}, {"service": "web-canary", "weight": "100m"}]}}),
        "trafficsplits").await;
    let ambiguous = set_weight(cluster, &ns, &["web", "web-canary=50"]);
    failed(
        &ambiguous,
        1,
        &[
            "2 objects route service",
            &format!("HTTPRoute {ns}/web"),
            &format!("TrafficSplit {ns}/web-split"),
        ],
    );
    assert_eq!(
        get(&routes, "web").await["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
    routes
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();

    // TrafficSplit quantities stay quantities.
    let before = get(&splits, "web-split").await;
    let out = json_of(&set_weight(cluster, &ns, &["web", "web-canary=25"]));
    assert_eq!(out["kind"], "TrafficSplit");
    let after = get(&splits, "web-split").await;
    assert_eq!(
        after["spec"]["backends"],
        json!([
        {"service": "web-stable", "weight": "750m"}, {"service": "web-canary", "weight": "250m"}])
    );
    let weights = ["/backends/0/weight", "/backends/1/weight"];
    assert_eq!(untouched(&before, &weights), untouched(&after, &weights));
    splits
        .delete("web-split", &DeleteParams::default())
        .await
        .unwrap();

    // VirtualService subsets: the route of one subset only is left alone at 100 %.
    let services = create(
        &client,
        &ns,
        json!({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "web"},
        "spec": {"hosts": [format!("web.{ns}.svc.cluster.local")], "http": [
            {"name": "testers", "match": [{"headers": {"x-tester": {"exact": "1"}}}],
             "route": [{"destination": {"host": "web", "subset": "v2"}}]},
            {"name": "all", "retries": {"attempts": 3, "perTryTimeout": "2s"},
             "route": [{"destination": {"host": "web", "subset": "v1"}, "weight": 95},
                       {"destination": {"host": "web", "subset": "v2"}, "weight": 5}]}]}}),
        "virtualservices",
    )
    .await;
    let before = get(&services, "web").await;
    let out = json_of(&set_weight(cluster, &ns, &["web", "v2=100"]));
    assert_eq!(out["kind"], "VirtualService");
    let after = get(&services, "web").await;
    let weights = ["/http/1/route/0/weight", "/http/1/route/1/weight"];
    assert_eq!(
        after.pointer("/spec/http/1/route/1/weight"),
        Some(&json!(100))
    );
    assert_eq!(untouched(&before, &weights), untouched(&after, &weights));
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();

    // Nothing routes the Service: refused unless --create says what to write.
    failed(
        &set_weight(cluster, &ns, &["web", "web-canary=10"]),
        1,
        &["--create httproute"],
    );
    let out = json_of(&set_weight(
        cluster,
        &ns,
        &["web", "web-canary=10", "--create", "httproute"],
    ));
    assert_eq!(out["created"], true);
    let created = get(&routes, "web").await;
    assert_eq!(
        created["spec"]["rules"][0]["backendRefs"],
        json!([
        {"name": "web", "port": 8080, "weight": 90}, {"name": "web-canary", "port": 8080, "weight": 10}])
    );
    // Later weights keep what meshctl wrote at creation (the parentRef).
    json_of(&set_weight(cluster, &ns, &["web", "web-canary=60"]));
    let later = get(&routes, "web").await;
    assert_eq!(later["spec"]["parentRefs"], created["spec"]["parentRefs"]);
    assert_eq!(later["spec"]["rules"][0]["backendRefs"][1]["weight"], 60);
    // --create of a kind whose canary Service is missing is refused before writing.
    let ns2 = cluster.namespace("canary-create").await;
    service(&client, &ns2, "web").await;
    failed(
        &set_weight(
            cluster,
            &ns2,
            &["web", "nope=10", "--create", "virtualservice"],
        ),
        1,
        &[&format!("Service {ns2}/nope does not exist")],
    );
    service(&client, &ns2, "web-canary").await;
    let out = json_of(&set_weight(
        cluster,
        &ns2,
        &["web", "web-canary=10", "--create", "trafficsplit"],
    ));
    assert_eq!(out["apiVersion"], "split.smi-spec.io/v1alpha4");
    assert_eq!(out["changes"][1]["to"], 10);
}
