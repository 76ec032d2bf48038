//! What `meshctl inject` put into a pod template, read back so the harness runs the init
//! step and the proxy with exactly those arguments, environment and user (never retyped).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::meshctl;
use crate::node::Pod;

/// One injected container: its arguments, plain and downward-API environment, user.
pub struct Container {
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub run_as_user: u32,
    /// Capabilities added (everything else is dropped), lower case as setpriv wants.
    pub capabilities: Vec<String>,
}

pub struct Injected {
    pub init: Container,
    pub proxy: Container,
}

impl Injected {
    /// Injects the Deployment in `tests/fixtures/podnet/<file>` and reads its pod template.
    pub fn from_fixture(file: &str, pod: &Pod) -> Injected {
        Self::from_fixture_with(file, pod, &[])
    }

    /// Like `from_fixture`, with `flags` given to `meshctl inject`.
    pub fn from_fixture_with(file: &str, pod: &Pod, flags: &[&str]) -> Injected {
        let doc = injected_fixture_with(file, flags);
        let spec = &doc["spec"]["template"]["spec"];
        let inits = spec["initContainers"].as_array().expect("initContainers");
        let named = |name: &str| {
            let c = inits.iter().find(|c| c["name"] == name);
            container(
                c.unwrap_or_else(|| panic!("inject added no {name} to {file}")),
                spec,
                pod,
            )
        };
        Injected {
            init: named("meshctl-init"),
            proxy: named("meshctl-proxy"),
        }
    }
}

/// The Deployment in `tests/fixtures/podnet/<file>` as `meshctl inject` writes it.
pub fn injected_fixture(file: &str) -> Value {
    injected_fixture_with(file, &[])
}

/// The Deployment in `tests/fixtures/podnet/<file>` as `meshctl inject <flags>` writes it.
fn injected_fixture_with(file: &str, flags: &[&str]) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/podnet")
        .join(file);
    let out = std::process::Command::new(meshctl())
        .args(["inject".as_ref(), path.as_os_str()])
        .args(flags)
        .output()
        .expect("run meshctl inject");
    assert!(
        out.status.success(),
        "inject {file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout))
        .unwrap_or_else(|e| panic!("inject output for {file} is not YAML: {e}"))
}

fn container(c: &Value, pod_spec: &Value, pod: &Pod) -> Container {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s.as_str().expect("string arg").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut args = strings(&c["command"]);
    args.extend(strings(&c["args"]));
    // The image's entrypoint is meshctl itself.
    if args.first().is_some_and(|a| a.ends_with("meshctl")) {
        args.remove(0);
    }
    let mut env = BTreeMap::new();
    for var in c["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().expect("env name").to_owned();
        let value = match (&var["value"], &var["valueFrom"]["fieldRef"]["fieldPath"]) {
            (Value::String(v), _) => v.clone(),
            (_, Value::String(field)) => field_ref(field, pod_spec, pod),
            _ => panic!("env {name}: neither value nor fieldRef"),
        };
        env.insert(name, value);
    }
    let run_as_user = c["securityContext"]["runAsUser"]
        .as_u64()
        .and_then(|u| u32::try_from(u).ok())
        .unwrap_or(0);
    let capabilities = c["securityContext"]["capabilities"]["add"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_lowercase)
        .collect();
    Container {
        args,
        env,
        run_as_user,
        capabilities,
    }
}

/// What the kubelet's downward API would give this pod.
fn field_ref(field: &str, pod_spec: &Value, pod: &Pod) -> String {
    match field {
        "metadata.name" => pod.name.clone(),
        "metadata.namespace" => "shop".to_owned(),
        "status.podIP" => pod.ip.to_string(),
        "spec.serviceAccountName" => pod_spec["serviceAccountName"]
            .as_str()
            .unwrap_or("default")
            .to_owned(),
        other => panic!("downward API field {other} is not emulated by the harness"),
    }
}

impl Container {
    /// The value of `flag` in the arguments (`--proxy-uid 2102`).
    pub fn flag(&self, flag: &str) -> Option<&str> {
        let at = self.args.iter().position(|a| a == flag)?;
        self.args.get(at + 1).map(String::as_str)
    }
}

impl Pod {
    /// `meshctl <container args>` in this pod as the container's user, with only its
    /// added capabilities and its environment.
    pub fn container_command(&self, container: &Container) -> std::process::Command {
        let mut cmd = self.command("setpriv");
        let uid = container.run_as_user.to_string();
        let mut caps = String::from("-all");
        for cap in &container.capabilities {
            caps.push_str(",+");
            caps.push_str(cap);
        }
        cmd.args(["--reuid", &uid, "--regid", &uid, "--clear-groups"])
            .args(["--bounding-set", &caps, meshctl()])
            .args(&container.args)
            .envs(&container.env);
        cmd
    }

    /// Runs the injected init step (proxy-init) in this pod, as its container would.
    pub fn run_init(&self, init: &Container) {
        let out = self
            .container_command(init)
            .output()
            .expect("run the init step");
        assert!(
            out.status.success(),
            "init step {:?} in {}: {}",
            init.args,
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
