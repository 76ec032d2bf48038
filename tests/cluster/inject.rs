//! `meshctl inject` output is what a real kube-apiserver accepts: every injected example and
//! fixture object is created by server-side apply with dry-run and strict field validation
//! (an unknown or misspelled field fails), and the server keeps everything that was sent.

use std::path::{Path, PathBuf};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery;
use meshctl::inject::workload::template_path;
use meshctl::inject::{InjectOptions, Input, Key, Operation, Overrides};
use serde_json::Value;

use crate::harness::cluster;

/// The README's examples and the inject fixtures (every workload kind, annotations, a List).
fn manifest_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("examples"))
        .expect("examples/")
        .map(|entry| entry.expect("examples/ entry").path())
        .collect();
    files.sort();
    for fixture in ["kinds.yaml", "annotations.yaml", "list.json"] {
        files.push(root.join("tests/fixtures/inject").join(fixture));
    }
    files
}

/// Injects every file in one run and returns the objects, `List` items flattened.
fn injected_objects(options: InjectOptions) -> Vec<Value> {
    let files: Vec<(String, Vec<u8>)> = manifest_files()
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            (path.display().to_string(), bytes)
        })
        .collect();
    let inputs: Vec<Input<'_>> = files
        .iter()
        .map(|(name, bytes)| Input { name, bytes })
        .collect();
    let output = meshctl::inject::run(&inputs, &Operation::Inject(options)).expect("inject");
    let yaml_options = serde_saphyr::options! { legacy_octal_numbers: true };
    let documents: Vec<Value> =
        serde_saphyr::from_multiple_with_options(&output.text, yaml_options).expect("YAML out");
    let mut objects = Vec::new();
    for document in documents.into_iter().filter(|d| !d.is_null()) {
        match document["items"].as_array() {
            Some(items) if document["kind"] == "List" => objects.extend(items.iter().cloned()),
            _ => objects.push(document),
        }
    }
    objects
}

/// Server-side apply of `object` into `namespace` with dry-run and strict field validation;
/// the server's answer (the object as it would be stored).
async fn dry_run_apply(
    client: &kube::Client,
    namespace: &str,
    mut object: Value,
) -> Result<Value, String> {
    let api_version = object["apiVersion"]
        .as_str()
        .expect("apiVersion")
        .to_owned();
    let kind = object["kind"].as_str().expect("kind").to_owned();
    let name = object["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
    let gvk = GroupVersionKind::gvk(group, version, &kind);
    let (resource, _) = discovery::pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|e| panic!("{api_version} {kind}: {e}"));
    // The examples name their own namespace; each test runs in one of its own.
    if let Some(metadata) = object["metadata"].as_object_mut() {
        metadata.shift_remove("namespace");
    }
    default_service_account(&mut object);
    let api = Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &resource);
    let params = PatchParams::apply("meshctl").dry_run().validation_strict();
    let answer = api
        .patch(&name, &params, &Patch::Apply(&object))
        .await
        .map_err(|e| format!("{kind}/{name} refused by the API server: {e}\n{object:#}"))?;
    let answer = serde_json::to_value(answer).expect("answer as JSON");
    if let Err(path) = contained_in(&object, &answer, String::new()) {
        return Err(format!(
            "{kind}/{name}: the server dropped or changed {path}\nsent: {object:#}\nanswer: {answer:#}"
        ));
    }
    Ok(answer)
}

/// What a real cluster's ServiceAccount admission plugin does (the harness runs without it,
/// having no controller to create `default` accounts): a pod without `serviceAccountName`
/// gets `default`, which the projected identity token requires.
fn default_service_account(object: &mut Value) {
    if let Some(spec) = pod_spec_mut(object)
        && !spec.contains_key("serviceAccountName")
    {
        spec.insert("serviceAccountName".to_owned(), "default".into());
    }
}

/// The pod spec of a workload (`None` for other objects).
fn pod_spec_mut(object: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    let api_version = object["apiVersion"].as_str()?;
    let path = template_path(api_version, object["kind"].as_str()?)?;
    let mut current = object;
    for step in path.iter().chain(&["spec"]) {
        current = current.get_mut(*step)?;
    }
    current.as_object_mut()
}

/// Whether everything in `sent` is in `answer` (the server may add defaults, never drop or
/// change a field). The error is the dotted path of the first difference.
fn contained_in(sent: &Value, answer: &Value, path: String) -> Result<(), String> {
    match (sent, answer) {
        (Value::Object(sent), Value::Object(answer)) => {
            for (key, value) in sent {
                let here = format!("{path}.{key}");
                match answer.get(key) {
                    Some(found) => contained_in(value, found, here)?,
                    // A null field is the same as an absent one.
                    None if value.is_null() => {}
                    None => return Err(here),
                }
            }
            Ok(())
        }
        (Value::Array(sent), Value::Array(answer)) if sent.len() == answer.len() => sent
            .iter()
            .zip(answer)
            .enumerate()
            .try_for_each(|(i, (s, a))| contained_in(s, a, format!("{path}[{i}]"))),
        _ if sent == answer => Ok(()),
        _ => Err(path),
    }
}

fn names(containers: Option<&Value>) -> Vec<&str> {
    containers
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default()
}

/// Applies every object and returns how many carried the proxy where `native` says.
async fn apply_all(prefix: &str, options: InjectOptions, native: bool) -> usize {
    let cluster = cluster();
    let client = cluster.admin().await;
    let namespace = cluster.namespace(prefix).await;
    let mut meshed = 0;
    for object in injected_objects(options) {
        let mut answer = dry_run_apply(&client, &namespace, object)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let Some(spec) = pod_spec_mut(&mut answer) else {
            continue;
        };
        let (list, other) = if native {
            ("initContainers", "containers")
        } else {
            ("containers", "initContainers")
        };
        if names(spec.get(list)).first() == Some(&"meshctl-proxy") {
            assert!(!names(spec.get(other)).contains(&"meshctl-proxy"));
            assert!(names(spec.get("initContainers")).contains(&"meshctl-init"));
            if native {
                assert_eq!(spec["initContainers"][0]["restartPolicy"], "Always");
            }
            meshed += 1;
        }
    }
    meshed
}

#[tokio::test]
async fn injected_examples_and_fixtures_are_created_by_the_api_server() {
    // 4 examples (one more opted out), 8 kinds, 1 in the JSON List; the annotated fixture
    // asks for a classic sidecar.
    assert_eq!(
        apply_all("inject", InjectOptions::default(), true).await,
        4 + 8 + 1
    );
}

#[tokio::test]
async fn classic_sidecar_output_is_created_by_the_api_server() {
    let mut overrides = Overrides::default();
    overrides.set(Key::NativeSidecar, "false").unwrap();
    let options = InjectOptions {
        overrides,
        ..InjectOptions::default()
    };
    // The same, plus the annotated fixture's classic sidecar.
    assert_eq!(
        apply_all("inject-classic", options, false).await,
        4 + 8 + 1 + 1
    );
}

#[tokio::test]
async fn a_misspelled_field_is_refused() {
    let cluster = cluster();
    let client = cluster.admin().await;
    let namespace = cluster.namespace("inject-strict").await;
    let mut deployment = injected_objects(InjectOptions::default())
        .into_iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("a Deployment");
    let proxy = pod_spec_mut(&mut deployment).expect("pod spec")["initContainers"][0]
        .as_object_mut()
        .expect("the proxy");
    let probe = proxy.shift_remove("startupProbe").expect("a startup probe");
    proxy.insert("startupProbes".to_owned(), probe);
    let err = dry_run_apply(&client, &namespace, deployment)
        .await
        .expect_err("a misspelled field must be refused");
    assert!(err.contains("startupProbes"), "{err}");
}
