//! Helpers for the inject tests: fixtures, golden files, parsing output, strict validation
//! against the k8s-openapi types.

use std::path::{Path, PathBuf};

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

pub fn fixture(name: &str) -> String {
    crate::support::fixture(&format!("inject/{name}"))
}

pub fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// Compares `actual` with the golden file `inject/golden/NAME`.
pub fn assert_golden(name: &str, actual: &str) {
    crate::support::assert_golden(&PathBuf::from(fixture(&format!("golden/{name}"))), actual);
}

/// Every document of a YAML (or JSON) stream, as kubectl would read it.
pub fn documents(text: &str) -> Vec<Value> {
    let options = serde_saphyr::options! { legacy_octal_numbers: true };
    let docs: Vec<Value> = serde_saphyr::from_multiple_with_options(text, options)
        .unwrap_or_else(|e| panic!("output is not valid YAML: {e}\n{text}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// Deserializes every object strictly into its k8s-openapi type and back, and requires the
/// same value: a misspelled or unknown field, or a wrong type, fails.
pub fn assert_valid_kubernetes(doc: &Value) {
    if let Err(problem) = check_kubernetes(doc) {
        panic!("{problem}");
    }
}

/// [`assert_valid_kubernetes`] as a result, so that its own failures can be tested.
pub fn check_kubernetes(doc: &Value) -> Result<(), String> {
    let kind = doc["kind"]
        .as_str()
        .ok_or_else(|| format!("no kind: {doc}"))?;
    use k8s_openapi::api::{apps::v1 as apps, batch::v1 as batch, core::v1 as core};
    match kind {
        "List" => doc["items"]
            .as_array()
            .ok_or("a List without items")?
            .iter()
            .try_for_each(check_kubernetes),
        "Pod" => round_trip::<core::Pod>(doc),
        "ReplicationController" => round_trip::<core::ReplicationController>(doc),
        "Service" => round_trip::<core::Service>(doc),
        "ConfigMap" => round_trip::<core::ConfigMap>(doc),
        "Deployment" => round_trip::<apps::Deployment>(doc),
        "StatefulSet" => round_trip::<apps::StatefulSet>(doc),
        "DaemonSet" => round_trip::<apps::DaemonSet>(doc),
        "ReplicaSet" => round_trip::<apps::ReplicaSet>(doc),
        "Job" => round_trip::<batch::Job>(doc),
        "CronJob" => round_trip::<batch::CronJob>(doc),
        other => Err(format!("no typed check for kind {other}")),
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(doc: &Value) -> Result<(), String> {
    let typed: T = serde_json::from_value(doc.clone())
        .map_err(|e| format!("not a valid {}: {e}\n{doc:#}", doc["kind"]))?;
    let mut back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    drop_added_type_fields(&mut back, doc);
    if back != *doc {
        return Err(format!(
            "fields lost in a typed round trip (unknown or misspelled):\nbefore: {doc:#}\nafter: \
             {back:#}"
        ));
    }
    Ok(())
}

pub fn examples_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
}

/// k8s-openapi writes `apiVersion`/`kind` into embedded objects (a StatefulSet's
/// volumeClaimTemplates) where manifests usually leave them out; that is not a lost field.
fn drop_added_type_fields(back: &mut Value, original: &Value) {
    match (back, original) {
        (Value::Object(back), Value::Object(original)) => {
            for key in ["apiVersion", "kind"] {
                if !original.contains_key(key) {
                    back.shift_remove(key);
                }
            }
            for (key, value) in back.iter_mut() {
                if let Some(original) = original.get(key) {
                    drop_added_type_fields(value, original);
                }
            }
        }
        (Value::Array(back), Value::Array(original)) => {
            for (value, original) in back.iter_mut().zip(original) {
                drop_added_type_fields(value, original);
            }
        }
        _ => {}
    }
}
