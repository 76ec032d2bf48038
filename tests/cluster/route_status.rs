//! HTTPRoute and GRPCRoute `status.parents` written by the controller on the real API server: nothing while
//! another replica holds the Lease; once it leads, Accepted/ResolvedRefs per Service parent
//! (BackendNotFound for a missing backend Service, flipping once it exists) next to another
//! controller's entry, which stays as it was; no second write for an unchanged route, and
//! none from a replica that does not lead.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

use crate::controller_process::{ControllerProcess, install};
use crate::harness::Cluster;

const WRITES: &str = "meshctl_controller_route_status_writes_total";

/// Polls route `name` until `done` holds on its `status.parents` (at most 20 s).
async fn wait_parents(
    routes: &Api<DynamicObject>,
    name: &str,
    what: &str,
    logs: &dyn Fn() -> String,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let parents = parents(routes, name).await;
        if done(&parents) {
            return parents;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {parents:#?}\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn parents(routes: &Api<DynamicObject>, name: &str) -> Vec<Value> {
    let route = serde_json::to_value(routes.get(name).await.unwrap()).unwrap();
    route["status"]["parents"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The condition `kind` of our entry.
fn condition<'a>(parents: &'a [Value], kind: &str) -> Option<&'a Value> {
    parents
        .iter()
        .find(|p| p["controllerName"] == "meshctl.io/controller")?["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

fn is(parents: &[Value], kind: &str, status: &str, reason: &str) -> bool {
    condition(parents, kind).is_some_and(|c| c["status"] == status && c["reason"] == reason)
}

fn grpc_route_api(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "GRPCRoute");
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, "grpcroutes"),
    )
}

/// A route of `kind` attached to Service `parent`, sending everything to `backend`.
fn route(kind: &str, name: &str, parent: &str, backend: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": kind,
        "metadata": {"name": name},
        "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": parent, "port": 8080}],
            "rules": [{"backendRefs": [{"name": backend, "port": 8080}]}],
        },
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_leader_writes_route_status_once_per_change_and_keeps_other_controllers_entries() {
    let cluster = &Cluster::start().await.expect("a test cluster of its own");
    let mesh_ns = "meshctl-status";
    install(&cluster.kubeconfig, mesh_ns);
    let client = cluster.admin().await;
    let ns = cluster.namespace("status").await;
    for name in ["web", "web-v2", "api", "rpc"] {
        crate::canary::service(&client, &ns, name).await;
    }
    // Another replica holds the Lease (for an hour): the controller started next does not lead.
    let leases: Api<Lease> = Api::namespaced(client.clone(), mesh_ns);
    let lease = serde_json::from_value(json!({
        "metadata": {"name": "meshctl-controller"},
        "spec": {"holderIdentity": "another-replica", "leaseDurationSeconds": 3600},
    }))
    .unwrap();
    leases.create(&PostParams::default(), &lease).await.unwrap();

    let kubeconfig = cluster
        .kubeconfig_for_service_account(mesh_ns, "meshctl-controller")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let replica = |n: usize| {
        ControllerProcess::start_with(
            kubeconfig.clone(),
            mesh_ns,
            "127.0.0.1",
            None,
            dir.path().join(format!("controller-{n}.log")),
            &["--lease-duration", "3s"],
        )
    };
    let first = replica(0);
    let logs = || {
        (0..2)
            .map(|n| {
                let log = std::fs::read_to_string(dir.path().join(format!("controller-{n}.log")));
                format!("--- controller {n}:\n{}", log.unwrap_or_default())
            })
            .collect::<String>()
    };

    let findings = "meshctl_controller_translation_findings";
    assert_eq!(first.metric(findings), 0.0, "{}", logs());
    let routes = crate::canary_rollout::route_api(&client, &ns);
    routes
        .create(
            &PostParams::default(),
            &route("HTTPRoute", "web", "web", "web-v2"),
        )
        .await
        .unwrap();
    routes
        .create(
            &PostParams::default(),
            &route("HTTPRoute", "api", "api", "api-v2"),
        )
        .await
        .unwrap();
    let grpc_routes = grpc_route_api(&client, &ns);
    grpc_routes
        .create(
            &PostParams::default(),
            &route("GRPCRoute", "rpc", "rpc", "rpc"),
        )
        .await
        .unwrap();
    // A gateway controller's entry, which is not ours to touch.
    let gateway = json!({
        "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "edge"},
        "controllerName": "example.com/gateway",
        "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
            "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
    });
    routes
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"parents": [gateway]}})),
        )
        .await
        .unwrap();

    // Not leading: the routes are translated (the missing backend is a finding), and
    // nothing is written.
    let deadline = Instant::now() + Duration::from_secs(10);
    while first.metric(findings) < 1.0 {
        assert!(Instant::now() < deadline, "no translation\n{}", logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(first.metric(WRITES), 0.0, "{}", logs());
    assert_eq!(
        parents(&routes, "web").await,
        std::slice::from_ref(&gateway)
    );
    assert!(parents(&routes, "api").await.is_empty());
    assert!(parents(&grpc_routes, "rpc").await.is_empty());

    // The Lease is free: this replica leads and writes.
    leases
        .delete("meshctl-controller", &DeleteParams::default())
        .await
        .unwrap();
    let web = wait_parents(&routes, "web", "web accepted", &logs, |p| {
        is(p, "Accepted", "True", "Accepted") && is(p, "ResolvedRefs", "True", "ResolvedRefs")
    })
    .await;
    assert_eq!(first.metric("meshctl_controller_leader"), 1.0);
    assert_eq!(web.len(), 2, "{web:#?}");
    assert_eq!(web[0], gateway, "the gateway's entry is kept as it was");
    assert_eq!(
        web[1]["parentRef"],
        json!({"group": "", "kind": "Service", "name": "web", "port": 8080})
    );
    assert_eq!(
        condition(&web, "Accepted").unwrap()["observedGeneration"],
        1
    );
    let api = wait_parents(&routes, "api", "api unresolved", &logs, |p| {
        is(p, "ResolvedRefs", "False", "BackendNotFound")
    })
    .await;
    assert!(is(&api, "Accepted", "True", "Accepted"), "{api:#?}");
    let message = condition(&api, "ResolvedRefs").unwrap()["message"].clone();
    assert!(message.as_str().unwrap().contains("api-v2"), "{message}");

    wait_parents(&grpc_routes, "rpc", "rpc accepted", &logs, |p| {
        is(p, "Accepted", "True", "Accepted") && is(p, "ResolvedRefs", "True", "ResolvedRefs")
    })
    .await;

    // Our own writes came back as watch events: nothing more is written for them.
    let writes = first.metric(WRITES);
    assert!(writes >= 3.0, "{writes}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(first.metric(WRITES), writes, "a write loop\n{}", logs());
    assert_eq!(parents(&routes, "api").await, api);

    // A second replica does not lead: it writes nothing while the backend appears, and the
    // leader flips ResolvedRefs (Accepted keeps its transition time).
    let second = replica(1);
    crate::canary::service(&client, &ns, "api-v2").await;
    let fixed = wait_parents(&routes, "api", "api resolved", &logs, |p| {
        is(p, "ResolvedRefs", "True", "ResolvedRefs")
    })
    .await;
    let since = |p: &[Value]| condition(p, "Accepted").unwrap()["lastTransitionTime"].clone();
    assert_eq!(since(&fixed), since(&api));
    assert_eq!(second.metric("meshctl_controller_leader"), 0.0);
    assert_eq!(second.metric(WRITES), 0.0, "{}", logs());
    assert_eq!(first.metric(WRITES), writes + 1.0, "{}", logs());
}
