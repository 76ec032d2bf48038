//! The demo's Kubernetes objects, as files a user can edit: the namespace, the `web` Service
//! with its two versions and the client as Pods whose `status.podIP` is a loopback address
//! (their app's own address in an annotation), a DestinationRule with subsets v1/v2, a
//! VirtualService splitting 90/10 with retries, PeerAuthentication STRICT and an
//! AuthorizationPolicy. Reading a directory back gives each workload's addresses.

use std::net::Ipv4Addr;
use std::path::Path;

use crate::translate::Inputs;

pub const NAMESPACE: &str = "demo";
/// Where the demo writes the app's own address (the proxy forwards inbound there).
pub const APP_IP_ANNOTATION: &str = "demo.meshctl.io/app-ip";
/// The port of every app, and the Service's target port.
pub const APP_PORT: u16 = 8080;
pub const ROUTING_FILE: &str = "10-web-routing.yaml";

/// A workload of the demo: one pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    pub name: &'static str,
    pub service_account: &'static str,
    /// `version` label (None for the client).
    pub version: Option<&'static str>,
    /// Last octet of its addresses.
    host: u8,
}

pub const WEB_V1: Workload = Workload {
    name: "web-v1",
    service_account: "web",
    version: Some("v1"),
    host: 11,
};
pub const WEB_V2: Workload = Workload {
    name: "web-v2",
    service_account: "web",
    version: Some("v2"),
    host: 12,
};
pub const CLIENT: Workload = Workload {
    name: "client",
    service_account: "client",
    version: None,
    host: 21,
};
pub const WORKLOADS: [Workload; 3] = [WEB_V1, WEB_V2, CLIENT];

/// A workload's addresses: the pod's (its proxy listens there, as interception would make
/// it) and the app's own (what 127.0.0.1 is inside a real pod).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addresses {
    pub pod: Ipv4Addr,
    pub app: Ipv4Addr,
}

/// The demo's addresses: `127.<net>.0.<host>` for pods and the controller, `127.<net>.1.<host>`
/// for apps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub net: u8,
}

impl Layout {
    pub fn controller(self) -> Ipv4Addr {
        Ipv4Addr::new(127, self.net, 0, 1)
    }

    pub fn of(self, w: Workload) -> Addresses {
        Addresses {
            pod: Ipv4Addr::new(127, self.net, 0, w.host),
            app: Ipv4Addr::new(127, self.net, 1, w.host),
        }
    }
}

/// The files of the demo, (name, text).
pub fn files(layout: Layout) -> Vec<(&'static str, String)> {
    let pods: String = WORKLOADS.iter().map(|w| pod(*w, layout.of(*w))).collect();
    vec![
        (
            "00-workloads.yaml",
            format!(
                "# The demo's workloads: each Pod's status.podIP is a loopback address its proxy\n\
                 # listens on; the app behind it listens on the address in {APP_IP_ANNOTATION}.\n\
                 # Endpoints of the Service come from the Pods (no EndpointSlices needed).\n\
                 apiVersion: v1\nkind: Namespace\nmetadata: {{ name: {NAMESPACE} }}\n---\n\
                 apiVersion: v1\nkind: Service\nmetadata: {{ name: web, namespace: {NAMESPACE} }}\n\
                 spec:\n  selector: {{ app: web }}\n  \
                 ports: [{{ name: http, port: 80, targetPort: http }}]\n{pods}"
            ),
        ),
        (ROUTING_FILE, routing(90, 10)),
        ("20-security.yaml", SECURITY.to_owned()),
    ]
}

fn pod(w: Workload, a: Addresses) -> String {
    let app = if w.version.is_some() { "web" } else { "client" };
    let labels = match w.version {
        Some(v) => format!("{{ app: {app}, version: {v} }}"),
        None => format!("{{ app: {app} }}"),
    };
    let ports = if w.version.is_some() {
        format!(", ports: [{{ name: http, containerPort: {APP_PORT} }}]")
    } else {
        String::new()
    };
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {NAMESPACE}\n  \
         labels: {labels}\n  annotations: {{ {APP_IP_ANNOTATION}: \"{app_ip}\" }}\nspec:\n  \
         serviceAccountName: {sa}\n  \
         initContainers: [{{ name: meshctl-proxy, image: meshctl, restartPolicy: Always }}]\n  \
         containers: [{{ name: app, image: meshctl-demo-{app}{ports} }}]\n\
         status: {{ phase: Running, podIP: \"{pod_ip}\" }}\n",
        name = w.name,
        sa = w.service_account,
        app_ip = a.app,
        pod_ip = a.pod,
    )
}

/// The DestinationRule and the VirtualService sending `v1` and `v2` percent to each subset.
pub fn routing(v1: u32, v2: u32) -> String {
    format!(
        "# web's versions as subsets, and the split between them: edit the weights and save;\n\
         # the proxies get the new split within a second.\n\
         apiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
         metadata: {{ name: web, namespace: {NAMESPACE} }}\nspec:\n  host: web\n  subsets:\n  \
         - {{ name: v1, labels: {{ version: v1 }} }}\n  - {{ name: v2, labels: {{ version: v2 }} }}\n\
         ---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n\
         metadata: {{ name: web, namespace: {NAMESPACE} }}\nspec:\n  hosts: [web]\n  http:\n  \
         - name: canary\n    route:\n    - destination: {{ host: web, subset: v1 }}\n      \
         weight: {v1}\n    - destination: {{ host: web, subset: v2 }}\n      weight: {v2}\n    \
         # web-v2 fails one request in 20: retried on another try, the client never sees it.\n    \
         retries: {{ attempts: 2, perTryTimeout: 1s, retryOn: \"5xx,connect-failure\" }}\n"
    )
}

const SECURITY: &str = "\
# mTLS required for every workload of the namespace, and web answers only the client's GETs.
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: demo }
spec:
  mtls: { mode: STRICT }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: web-from-client, namespace: demo }
spec:
  selector: { matchLabels: { app: web } }
  action: ALLOW
  rules:
  - from: [{ source: { principals: [cluster.local/ns/demo/sa/client] } }]
    to: [{ operation: { methods: [GET] } }]
";

/// Why a directory cannot be used for the demo.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {dir}: {cause}")]
    Read { dir: String, cause: std::io::Error },
    #[error(
        "{dir} has no Pod {NAMESPACE}/{pod} with status.podIP and the {APP_IP_ANNOTATION} \
         annotation as loopback addresses: give an empty directory (the demo writes its files \
         there) or one an earlier `meshctl demo --dir` wrote"
    )]
    NotDemo { dir: String, pod: &'static str },
}

/// Each workload's addresses as the files in `dir` give them.
pub fn read_addresses(dir: &Path) -> Result<Vec<(Workload, Addresses)>, ManifestError> {
    let shown = dir.display().to_string();
    let mut read = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|cause| ManifestError::Read {
        dir: shown.clone(),
        cause,
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
            && let Ok(bytes) = std::fs::read(&path)
        {
            read.push((path.display().to_string(), bytes));
        }
    }
    let documents: Vec<_> = read
        .iter()
        .map(|(name, bytes)| crate::inject::Input { name, bytes })
        .collect();
    let (inputs, _) = Inputs::from_documents(&documents);
    WORKLOADS
        .iter()
        .map(|w| {
            addresses_of(&inputs, w.name)
                .map(|a| (*w, a))
                .ok_or_else(|| ManifestError::NotDemo {
                    dir: shown.clone(),
                    pod: w.name,
                })
        })
        .collect()
}

fn addresses_of(inputs: &Inputs, name: &str) -> Option<Addresses> {
    let pod = inputs.pods.iter().find(|p| {
        p.metadata.name.as_deref() == Some(name)
            && p.metadata.namespace.as_deref() == Some(NAMESPACE)
    })?;
    let loopback = |s: &str| s.parse::<Ipv4Addr>().ok().filter(Ipv4Addr::is_loopback);
    let pod_ip = loopback(pod.status.as_ref()?.pod_ip.as_deref()?)?;
    let app_ip = loopback(pod.metadata.annotations.as_ref()?.get(APP_IP_ANNOTATION)?)?;
    Some(Addresses {
        pod: pod_ip,
        app: app_ip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::{self, Options};

    fn write(dir: &Path, layout: Layout) {
        for (name, text) in files(layout) {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }

    #[test]
    fn the_files_translate_to_a_90_10_split_over_mtls_endpoints() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), Layout { net: 77 });
        let addresses = read_addresses(dir.path()).unwrap();
        assert_eq!(addresses[0].1.pod, Ipv4Addr::new(127, 77, 0, 11));
        assert_eq!(addresses[0].1.app, Ipv4Addr::new(127, 77, 1, 11));

        let read: Vec<_> = files(Layout { net: 77 });
        let documents: Vec<_> = read
            .iter()
            .map(|(name, text)| crate::inject::Input {
                name,
                bytes: text.as_bytes(),
            })
            .collect();
        let (mut inputs, findings) = Inputs::from_documents(&documents);
        assert!(findings.is_empty(), "{findings:?}");
        crate::controller::derive_endpoints(&mut inputs);
        let mesh = translate::translate(&inputs, &Options::default());
        let view = mesh.view(NAMESPACE);
        let web = view.get("web.demo:80").expect("web.demo:80");
        let json = serde_json::to_value(&**web).unwrap();
        let text = json.to_string();
        // Both subsets' endpoints, meshed (identity), and the 90/10 weights.
        for want in [
            "127.77.0.11:8080",
            "127.77.0.12:8080",
            "spiffe://cluster.local/ns/demo/sa/web",
            "\"weight\":90",
            "\"weight\":10",
        ] {
            assert!(text.contains(want), "{want} missing in {json:#}");
        }
        // What translation cannot enforce yet is reported, not dropped.
        let errors: Vec<_> = mesh
            .findings
            .iter()
            .filter(|f| f.object.kind.ends_with("Service") || f.object.kind == "DestinationRule")
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn a_directory_of_other_objects_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("x.yaml"),
            "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n",
        )
        .unwrap();
        let err = read_addresses(dir.path()).unwrap_err();
        assert!(err.to_string().contains("Pod demo/web-v1"), "{err}");
    }
}
