//! Pods of the pod-network harness registered in a real kube-apiserver (the cluster tests'
//! harness): the injected Deployment, a ReplicaSet it owns and a Pod per network-namespace pod
//! owned by that, with a status (Running, Ready, podIP = the namespace's address, container
//! statuses) that no kubelet would write here; and Services. Through the API server's pod
//! proxy, requests to such a Pod reach the real proxy in the namespace.

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::harness::{Cluster, cluster, missing_testbin};
use crate::meshctl;
use crate::node::Pod;
use crate::spec::injected_fixture;

/// Whether the test cluster's binaries are built; says why not (a failure in CI, like a
/// missing pod-network prerequisite).
pub fn cluster_available(test: &str) -> bool {
    let Some(why) = missing_testbin() else {
        return true;
    };
    crate::skip(test, &why);
    false
}

/// `meshctl args…` against the test cluster (admin kubeconfig).
pub fn meshctl_in_cluster(args: &[&str]) -> std::process::Output {
    let kubeconfig = cluster().kubeconfig.to_string_lossy().into_owned();
    std::process::Command::new(meshctl())
        .args(["--kubeconfig", &kubeconfig])
        .args(args)
        .output()
        .expect("run meshctl")
}

/// One test's namespace in the API server.
pub struct Registry {
    client: Client,
    pub namespace: String,
}

/// The ReplicaSets' pod-template-hash (any stable value: no controller checks it).
const HASH: &str = "5d8c7";

impl Registry {
    pub async fn new(cluster: &Cluster, prefix: &str) -> Registry {
        Registry {
            namespace: cluster.namespace(prefix).await,
            client: cluster.admin().await,
        }
    }

    /// Creates the Deployment of `tests/fixtures/podnet/<file>` as injected, its ReplicaSet and
    /// one Pod per `pods` entry, Running at that pod's address; returns the Pods' names.
    pub async fn deployment(&self, file: &str, pods: &[&Pod]) -> Vec<String> {
        let mut deployment = injected_fixture(file);
        deployment["metadata"]["namespace"] = self.namespace.clone().into();
        let name = deployment["metadata"]["name"]
            .as_str()
            .expect("name")
            .to_owned();
        let deployment = self.create("apps", "Deployment", deployment).await;

        let mut template = deployment["spec"]["template"].clone();
        template["metadata"]["labels"]["pod-template-hash"] = HASH.into();
        let mut selector = deployment["spec"]["selector"].clone();
        selector["matchLabels"]["pod-template-hash"] = HASH.into();
        let set_name = format!("{name}-{HASH}");
        let set = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": set_name,
                "namespace": self.namespace,
                "labels": template["metadata"]["labels"],
                "ownerReferences": [owner("apps/v1", "Deployment", &deployment)],
            },
            "spec": {"replicas": pods.len(), "selector": selector, "template": template},
        });
        let set = self.create("apps", "ReplicaSet", set).await;

        let mut names = Vec::new();
        for pod in pods {
            let pod_name = format!("{set_name}-{}", pod.name);
            let object = json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": pod_name,
                    "namespace": self.namespace,
                    "labels": template["metadata"]["labels"],
                    "annotations": template["metadata"]["annotations"],
                    "ownerReferences": [owner("apps/v1", "ReplicaSet", &set)],
                },
                "spec": template["spec"],
            });
            self.create("", "Pod", object).await;
            self.set_running(&pod_name, pod, &template["spec"]).await;
            names.push(pod_name);
        }
        names
    }

    /// The ConfigMap a meshctl install keeps its trust anchors in, in namespace `mesh_ns`
    /// (created when missing), holding `anchors_pem`.
    pub async fn trust_anchors(&self, mesh_ns: &str, anchors_pem: &str) {
        let map = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "meshctl-identity-trust-roots", "namespace": mesh_ns},
            "data": {"ca-bundle.crt": anchors_pem},
        });
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), mesh_ns, &resource("", "ConfigMap"));
        let map: DynamicObject = serde_json::from_value(map).expect("configmap");
        api.create(&PostParams::default(), &map)
            .await
            .unwrap_or_else(|e| panic!("create the trust anchors in {mesh_ns}: {e}"));
    }

    /// A ClusterIP Service `name` selecting `app: <app>`, port 80 to the pods' 8080.
    pub async fn service(&self, name: &str, app: &str) {
        self.service_port(name, app, ("http", 80, 8080)).await;
    }

    /// A ClusterIP Service `name` selecting `app: <app>` with one port: (name, port, target).
    pub async fn service_port(
        &self,
        name: &str,
        app: &str,
        (port_name, port, target): (&str, u16, u16),
    ) {
        let service = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "selector": {"app": app},
                "ports": [{"name": port_name, "port": port, "targetPort": target}],
            },
        });
        self.create("", "Service", service).await;
    }

    /// The EndpointSlice the endpoint-slice controller would write for Service `service`
    /// (port `http` 8080): one endpoint per `(pod name, pod)`, each ready; applied again on
    /// every call, as that controller updates it when pods come and go.
    pub async fn endpoint_slice(&self, service: &str, pods: &[(&str, &Pod)]) {
        self.endpoint_slice_port(service, ("http", 8080), pods)
            .await;
    }

    /// [`Self::endpoint_slice`] for the port `(name, number)`.
    pub async fn endpoint_slice_port(
        &self,
        service: &str,
        (port_name, port): (&str, u16),
        pods: &[(&str, &Pod)],
    ) {
        let endpoints: Vec<Value> = pods
            .iter()
            .map(|(name, pod)| {
                json!({
                    "addresses": [pod.ip.to_string()],
                    "conditions": {"ready": true, "serving": true, "terminating": false},
                    "targetRef": {"kind": "Pod", "namespace": self.namespace, "name": name},
                })
            })
            .collect();
        let slice = json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": format!("{service}-slice"),
                "namespace": self.namespace,
                "labels": {"kubernetes.io/service-name": service},
            },
            "addressType": "IPv4",
            "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
            "endpoints": endpoints,
        });
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &ApiResource::from_gvk(&GroupVersionKind::gvk(
                "discovery.k8s.io",
                "v1",
                "EndpointSlice",
            )),
        );
        let slice: DynamicObject = serde_json::from_value(slice).expect("slice");
        api.patch(
            &format!("{service}-slice"),
            &PatchParams::apply("endpointslice-controller.k8s.io").force(),
            &Patch::Apply(&slice),
        )
        .await
        .unwrap_or_else(|e| panic!("apply the EndpointSlice of {service}: {e}"));
    }

    /// The cluster IP the API server gave Service `name`.
    pub async fn cluster_ip(&self, name: &str) -> std::net::Ipv4Addr {
        let api: Api<k8s_openapi::api::core::v1::Service> =
            Api::namespaced(self.client.clone(), &self.namespace);
        let svc = api.get(name).await.expect("get service");
        svc.spec
            .and_then(|s| s.cluster_ip)
            .and_then(|ip| ip.parse().ok())
            .expect("a cluster IP")
    }

    /// A projected service-account token for `sa` (created when missing) with `audience`, as
    /// the kubelet mounts it into a meshed pod.
    pub async fn token(&self, sa: &str, audience: &str) -> String {
        use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
        use k8s_openapi::api::core::v1::ServiceAccount;
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &self.namespace);
        if accounts.get_opt(sa).await.expect("get sa").is_none() {
            let account: ServiceAccount =
                serde_json::from_value(json!({"metadata": {"name": sa}})).expect("sa");
            accounts
                .create(&PostParams::default(), &account)
                .await
                .expect("create sa");
        }
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: vec![audience.to_owned()],
                expiration_seconds: Some(3600),
                ..TokenRequestSpec::default()
            },
            ..TokenRequest::default()
        };
        let answer = accounts
            .create_token_request(sa, &PostParams::default(), &request)
            .await
            .expect("token request");
        answer.status.expect("token status").token
    }

    /// What a kubelet would report for a pod whose containers all started: Running, Ready,
    /// the init step done, the proxy (a native sidecar) and the apps running and ready.
    async fn set_running(&self, name: &str, pod: &Pod, spec: &Value) {
        let status_of = |c: &Value, state: Value, ready: bool| {
            json!({
                "name": c["name"], "image": c["image"], "imageID": "", "ready": ready,
                "started": ready, "restartCount": 0, "state": state,
            })
        };
        let running = json!({"running": {}});
        let done = json!({"terminated": {"exitCode": 0, "reason": "Completed"}});
        let inits: Vec<Value> = spec["initContainers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                if c["restartPolicy"] == "Always" {
                    status_of(c, running.clone(), true)
                } else {
                    status_of(c, done.clone(), false)
                }
            })
            .collect();
        let apps: Vec<Value> = spec["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| status_of(c, running.clone(), true))
            .collect();
        let conditions: Vec<Value> = ["PodScheduled", "Initialized", "ContainersReady", "Ready"]
            .iter()
            .map(|t| json!({"type": t, "status": "True"}))
            .collect();
        let ip = pod.ip.to_string();
        let status = json!({"status": {
            "phase": "Running",
            "hostIP": "10.213.0.1",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": conditions,
            "initContainerStatuses": inits,
            "containerStatuses": apps,
        }});
        let pods: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.namespace, &resource("", "Pod"));
        pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap_or_else(|e| panic!("set the status of pod {name}: {e}"));
    }

    /// A Role `name` granting `rules` in this namespace, bound to its service account `sa`.
    pub async fn grant(&self, sa: &str, name: &str, rules: Value) {
        let group = "rbac.authorization.k8s.io";
        let meta = json!({"name": name, "namespace": self.namespace});
        let role = json!({"apiVersion": format!("{group}/v1"), "kind": "Role",
            "metadata": meta, "rules": rules});
        self.create(group, "Role", role).await;
        let binding = json!({"apiVersion": format!("{group}/v1"), "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": group, "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": self.namespace}]});
        self.create(group, "RoleBinding", binding).await;
    }

    /// Creates `object` and returns it as the server stored it (with its uid).
    async fn create(&self, group: &str, kind: &str, object: Value) -> Value {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.namespace, &resource(group, kind));
        let object: DynamicObject = serde_json::from_value(object).expect("object");
        let created = api
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("create {kind} {:?}: {e}", object.metadata.name));
        serde_json::to_value(created).expect("json")
    }
}

fn resource(group: &str, kind: &str) -> ApiResource {
    let version = "v1";
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

/// An owner reference to `object` as its controller.
fn owner(api_version: &str, kind: &str, object: &Value) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": object["metadata"]["name"],
        "uid": object["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    })
}
