//! What injection adds to a pod template: the proxy and init containers, their volumes, and the
//! `meshctl.io/injected-*` annotations (version, effective settings, created fields) that let
//! uninject and re-injection undo it exactly.

use serde_json::{Map, Value, json};

use super::config::{INJECTED_PREFIX, Key, Settings};
use super::workload::{self, Found};

pub const PROXY_CONTAINER: &str = "meshctl-proxy";
pub const INIT_CONTAINER: &str = "meshctl-init";
pub const TOKEN_VOLUME: &str = "meshctl-identity-token";
pub const XTABLES_VOLUME: &str = "meshctl-xtables-lock";
pub const TRUST_ROOTS_VOLUME: &str = "meshctl-trust-roots";
/// Container and volume names that belong to meshctl in every pod template.
pub const RESERVED_NAMES: [&str; 5] = [
    PROXY_CONTAINER,
    INIT_CONTAINER,
    TOKEN_VOLUME,
    XTABLES_VOLUME,
    TRUST_ROOTS_VOLUME,
];

pub const OUTBOUND_PORT: u16 = 4140;
pub const INBOUND_PORT: u16 = 4143;
pub const ADMIN_PORT: u16 = 4191;
pub const PROXY_UID: u32 = 2102;
pub const TOKEN_DIR: &str = "/var/run/secrets/meshctl.io/serviceaccount";
pub const TOKEN_AUDIENCE: &str = "identity.meshctl.io";
/// The trust anchors: the controller keeps a copy of the mesh's ConfigMap in every namespace
/// (ConfigMaps cannot be mounted across namespaces), as Istio does with its root cert.
pub const TRUST_ROOTS_CONFIGMAP: &str = "meshctl-identity-trust-roots";
pub const TRUST_ROOTS_DIR: &str = "/var/run/meshctl/trust-roots";
/// Where the image keeps the binary (the Dockerfile's ENTRYPOINT).
pub const BINARY: &str = "/usr/local/bin/meshctl";

pub const ANNOTATION_VERSION: &str = "meshctl.io/injected-version";
/// Comma list of the fields injection created (so uninject removes them again).
pub const ANNOTATION_CREATED: &str = "meshctl.io/injected-created";
/// Marks a created field that was null before: `volumes=null`.
pub const NULL_MARK: &str = "null";

/// Injects into a pod template (`metadata` + `spec`, `spec` already checked to be a map).
/// The template must not carry an earlier injection (uninject it first).
pub fn add(template: &mut Map<String, Value>, settings: &Settings) {
    let mut created: Vec<String> = Vec::new();
    let native = settings.native_sidecar();
    let name = workload_name(template);
    let name = name.as_deref();
    let spec = map_entry(template, "spec", &mut created);
    let init_containers = list_entry(spec, "initContainers", &mut created);
    let mut first = Vec::with_capacity(2);
    if native {
        first.push(proxy_container(settings, true, name));
    }
    first.push(init_container(settings));
    init_containers.splice(0..0, first);
    if !native {
        let proxy = proxy_container(settings, false, name);
        list_entry(spec, "containers", &mut created).insert(0, proxy);
    }
    let volumes = list_entry(spec, "volumes", &mut created);
    volumes.push(json!({
        "name": TOKEN_VOLUME,
        "projected": {"sources": [{"serviceAccountToken": {
            "audience": TOKEN_AUDIENCE,
            "expirationSeconds": 86400,
            "path": "token",
        }}]},
    }));
    volumes.push(json!({"name": XTABLES_VOLUME, "emptyDir": {}}));
    volumes.push(json!({
        "name": TRUST_ROOTS_VOLUME,
        "configMap": {"name": TRUST_ROOTS_CONFIGMAP},
    }));

    let metadata = map_entry(template, "metadata", &mut created);
    let annotations = map_entry(metadata, "annotations", &mut created);
    annotations.insert(
        ANNOTATION_VERSION.to_owned(),
        Value::String(env!("CARGO_PKG_VERSION").to_owned()),
    );
    for (key, value) in settings.iter() {
        annotations.insert(
            format!("{INJECTED_PREFIX}{}", key.name()),
            Value::String(value.to_owned()),
        );
    }
    if !created.is_empty() {
        annotations.insert(
            ANNOTATION_CREATED.to_owned(),
            Value::String(created.join(",")),
        );
    }
}

/// The map under `key`, created (and recorded as created) when missing or null.
fn map_entry<'a>(
    parent: &'a mut Map<String, Value>,
    key: &'static str,
    created: &mut Vec<String>,
) -> &'a mut Map<String, Value> {
    let (map, found) = workload::map_field(parent, key);
    record(created, key, found);
    map
}

/// The list under `key`, created (and recorded as created) when missing or null.
fn list_entry<'a>(
    parent: &'a mut Map<String, Value>,
    key: &'static str,
    created: &mut Vec<String>,
) -> &'a mut Vec<Value> {
    let (list, found) = workload::list_field(parent, key);
    record(created, key, found);
    list
}

/// `field` when it was missing, `field=null` when it was null (uninject puts the null back).
fn record(created: &mut Vec<String>, key: &str, found: Found) {
    match found {
        Found::Present => {}
        Found::Missing => created.push(key.to_owned()),
        Found::Null => created.push(format!("{key}={NULL_MARK}")),
    }
}

/// The proxy: a native sidecar (`restartPolicy: Always` in `initContainers`) or, for clusters
/// without native sidecars, the first app container that holds the others back until ready.
/// The workload's name as its pod labels give it (the usual labels, in Istio's order), for
/// the spans' `service.name`.
fn workload_name(template: &Map<String, Value>) -> Option<String> {
    let labels = template.get("metadata")?.get("labels")?;
    ["app.kubernetes.io/name", "app"]
        .iter()
        .find_map(|key| labels.get(*key)?.as_str().filter(|v| !v.is_empty()))
        .map(str::to_owned)
}

/// The proxy container; `name` is the workload's, if its labels say it.
fn proxy_container(settings: &Settings, native: bool, name: Option<&str>) -> Value {
    let mesh_namespace = settings
        .get(Key::MeshNamespace)
        .unwrap_or(crate::mesh_namespace::DEFAULT);
    let mut env = vec![
        env_value(
            "MESHCTL_PROXY_LOG_LEVEL",
            settings.get(Key::ProxyLogLevel).unwrap_or("info"),
        ),
        env_value(
            "MESHCTL_PROXY_LOG_FORMAT",
            settings.get(Key::ProxyLogFormat).unwrap_or("text"),
        ),
        env_value(
            "MESHCTL_PROXY_OUTBOUND_ADDR",
            &format!("127.0.0.1:{OUTBOUND_PORT}"),
        ),
        env_value(
            "MESHCTL_PROXY_INBOUND_ADDR",
            &format!("0.0.0.0:{INBOUND_PORT}"),
        ),
        env_value("MESHCTL_PROXY_ADMIN_ADDR", &format!("0.0.0.0:{ADMIN_PORT}")),
        env_field("MESHCTL_POD_NAME", "metadata.name"),
        env_field("MESHCTL_POD_NAMESPACE", "metadata.namespace"),
        env_field("MESHCTL_POD_IP", "status.podIP"),
        env_field("MESHCTL_SERVICE_ACCOUNT", "spec.serviceAccountName"),
        env_value("MESHCTL_IDENTITY_TOKEN_FILE", &format!("{TOKEN_DIR}/token")),
        env_value(
            "MESHCTL_IDENTITY_TRUST_ROOTS",
            &format!("{TRUST_ROOTS_DIR}/ca-bundle.crt"),
        ),
        env_value(
            "MESHCTL_CONTROLLER_ADDR",
            &crate::mesh_namespace::controller_addr(mesh_namespace),
        ),
        // The CA's identity is the controller's service account there.
        env_value("MESHCTL_CONTROLLER_NAMESPACE", mesh_namespace),
    ];
    if let Some(domain) = settings.get(Key::TrustDomain) {
        env.push(env_value("MESHCTL_TRUST_DOMAIN", domain));
    }
    if let Some(opaque) = settings.get(Key::OpaquePorts) {
        env.push(env_value("MESHCTL_PROXY_INBOUND_PORTS_OPAQUE", opaque));
    }
    if let Some(localhost) = settings.get(Key::LocalhostPorts) {
        env.push(env_value(
            "MESHCTL_PROXY_INBOUND_PORTS_LOCALHOST",
            localhost,
        ));
    }
    if let Some(from) = settings.get(Key::AdminOperatorFrom) {
        env.push(env_value("MESHCTL_PROXY_ADMIN_OPERATOR_FROM", from));
    }
    if let Some(endpoint) = settings.get(Key::TracingEndpoint) {
        env.push(env_value("MESHCTL_PROXY_TRACING_ENDPOINT", endpoint));
        // Without one the proxy names its spans by its service account.
        if let Some(name) = name {
            env.push(env_value("MESHCTL_PROXY_TRACING_SERVICE_NAME", name));
        }
    }
    if let Some(rate) = settings.get(Key::TracingSampling) {
        env.push(env_value("MESHCTL_PROXY_TRACING_SAMPLING", rate));
    }
    let probe = |path: &str, period: u32, failures: u32| {
        json!({
            "httpGet": {"path": path, "port": ADMIN_PORT},
            "periodSeconds": period,
            "failureThreshold": failures,
        })
    };
    let mut container = json!({
        "name": PROXY_CONTAINER,
        "image": settings.get(Key::ProxyImage),
        "imagePullPolicy": "IfNotPresent",
        "args": ["proxy"],
        "env": env,
        "ports": [
            {"name": "meshctl-inbound", "containerPort": INBOUND_PORT, "protocol": "TCP"},
            {"name": "meshctl-admin", "containerPort": ADMIN_PORT, "protocol": "TCP"},
        ],
        "resources": resources(settings),
        "securityContext": {
            "runAsUser": PROXY_UID,
            "runAsGroup": PROXY_UID,
            "runAsNonRoot": true,
            "readOnlyRootFilesystem": true,
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "startupProbe": probe("/ready", 1, 120),
        "readinessProbe": probe("/ready", 10, 3),
        "livenessProbe": probe("/live", 10, 3),
        "volumeMounts": [
            {"name": TOKEN_VOLUME, "mountPath": TOKEN_DIR, "readOnly": true},
            {"name": TRUST_ROOTS_VOLUME, "mountPath": TRUST_ROOTS_DIR, "readOnly": true},
        ],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    });
    let fields = container.as_object_mut().expect("a json! object");
    if native {
        fields.insert("restartPolicy".to_owned(), json!("Always"));
    } else {
        // The kubelet starts the next container only once this hook returns.
        fields.insert(
            "lifecycle".to_owned(),
            json!({"postStart": {"exec": {"command": [
                BINARY, "proxy-await", "--admin-port", ADMIN_PORT.to_string(), "--timeout", "120s",
            ]}}}),
        );
    }
    container
}

/// The init step: `meshctl proxy-init` installs the iptables redirection, as root with
/// NET_ADMIN/NET_RAW only.
fn init_container(settings: &Settings) -> Value {
    let mut args: Vec<String> = [
        "proxy-init",
        "--inbound-port",
        &INBOUND_PORT.to_string(),
        "--outbound-port",
        &OUTBOUND_PORT.to_string(),
        "--proxy-uid",
        &PROXY_UID.to_string(),
        "--admin-port",
        &ADMIN_PORT.to_string(),
    ]
    .map(str::to_owned)
    .to_vec();
    for (flag, key) in [
        ("--skip-inbound-ports", Key::SkipInboundPorts),
        ("--skip-outbound-ports", Key::SkipOutboundPorts),
        ("--skip-outbound-cidrs", Key::SkipOutboundCidrs),
        ("--iptables-mode", Key::IptablesMode),
    ] {
        if let Some(value) = settings.get(key) {
            args.push(flag.to_owned());
            args.push(value.to_owned());
        }
    }
    json!({
        "name": INIT_CONTAINER,
        "image": settings.get(Key::ProxyImage),
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "resources": resources(settings),
        "securityContext": {
            "runAsUser": 0,
            "runAsNonRoot": false,
            "privileged": false,
            "readOnlyRootFilesystem": true,
            "allowPrivilegeEscalation": false,
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
        },
        // iptables takes its lock under /run; the root filesystem stays read-only.
        "volumeMounts": [{"name": XTABLES_VOLUME, "mountPath": "/run"}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    })
}

fn resources(settings: &Settings) -> Value {
    let pair = |cpu: Key, memory: Key| {
        let mut map = Map::new();
        for (name, key) in [("cpu", cpu), ("memory", memory)] {
            if let Some(value) = settings.get(key) {
                map.insert(name.to_owned(), Value::String(value.to_owned()));
            }
        }
        map
    };
    let mut out = Map::new();
    for (name, values) in [
        (
            "requests",
            pair(Key::ProxyCpuRequest, Key::ProxyMemoryRequest),
        ),
        ("limits", pair(Key::ProxyCpuLimit, Key::ProxyMemoryLimit)),
    ] {
        if !values.is_empty() {
            out.insert(name.to_owned(), Value::Object(values));
        }
    }
    Value::Object(out)
}

fn env_value(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

fn env_field(name: &str, path: &str) -> Value {
    json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}})
}
