//! Removes exactly what `sidecar::add` put into a pod template, using the recorded
//! `meshctl.io/injected-*` annotations for the fields it created.

use serde_json::{Map, Value};

use super::config::INJECTED_PREFIX;
use super::sidecar::{ANNOTATION_CREATED, RESERVED_NAMES};

/// Whether the template carries any trace of an injection.
pub fn is_injected(template: &Map<String, Value>) -> bool {
    let annotated =
        annotations(template).is_some_and(|a| a.keys().any(|k| k.starts_with(INJECTED_PREFIX)));
    let spec = template.get("spec").and_then(Value::as_object);
    annotated
        || spec.is_some_and(|spec| {
            ["initContainers", "containers", "volumes"]
                .iter()
                .any(|field| list(spec, field).iter().any(is_reserved))
        })
}

/// Undoes an injection in place; returns whether anything was removed.
pub fn remove(template: &mut Map<String, Value>) -> bool {
    if !is_injected(template) {
        return false;
    }
    let created: Vec<String> = annotations(template)
        .and_then(|a| a.get(ANNOTATION_CREATED))
        .and_then(Value::as_str)
        .map(|list| list.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let was_created = |field: &str| created.iter().any(|c| c == field);

    if let Some(Value::Object(spec)) = template.get_mut("spec") {
        for field in ["initContainers", "containers", "volumes"] {
            if let Some(Value::Array(items)) = spec.get_mut(field) {
                items.retain(|item| !is_reserved(item));
                if items.is_empty() && was_created(field) {
                    spec.shift_remove(field);
                }
            }
        }
    }
    if let Some(Value::Object(metadata)) = template.get_mut("metadata") {
        if let Some(Value::Object(annotations)) = metadata.get_mut("annotations") {
            annotations.retain(|key, _| !key.starts_with(INJECTED_PREFIX));
            if annotations.is_empty() && was_created("annotations") {
                metadata.shift_remove("annotations");
            }
        }
        if metadata.is_empty() && was_created("metadata") {
            template.shift_remove("metadata");
        }
    }
    true
}

fn annotations(template: &Map<String, Value>) -> Option<&Map<String, Value>> {
    template.get("metadata")?.get("annotations")?.as_object()
}

fn list<'a>(spec: &'a Map<String, Value>, field: &str) -> &'a [Value] {
    spec.get(field)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn is_reserved(item: &Value) -> bool {
    item.get("name")
        .and_then(Value::as_str)
        .is_some_and(|name| RESERVED_NAMES.contains(&name))
}
