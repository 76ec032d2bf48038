//! Removes exactly what `sidecar::add` put into a pod template, using the recorded
//! `meshctl.io/injected-*` annotations for the fields it created.

use serde_json::{Map, Value};

use super::config::INJECTED_PREFIX;
use super::sidecar::{ANNOTATION_CREATED, NULL_MARK, RESERVED_NAMES};

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
    // `Some(true)`: created where it was null; `Some(false)`: created where it was missing.
    let created_from = |field: &str| {
        created
            .iter()
            .find_map(|entry| match entry.split_once('=') {
                Some((name, NULL_MARK)) if name == field => Some(true),
                None if entry == field => Some(false),
                _ => None,
            })
    };

    if let Some(Value::Object(spec)) = template.get_mut("spec") {
        for field in ["initContainers", "containers", "volumes"] {
            if let Some(Value::Array(items)) = spec.get_mut(field) {
                items.retain(|item| !is_reserved(item));
                if items.is_empty() {
                    restore(spec, field, created_from(field));
                }
            }
        }
    }
    if let Some(Value::Object(metadata)) = template.get_mut("metadata") {
        if let Some(Value::Object(annotations)) = metadata.get_mut("annotations") {
            annotations.retain(|key, _| !key.starts_with(INJECTED_PREFIX));
            if annotations.is_empty() {
                restore(metadata, "annotations", created_from("annotations"));
            }
        }
        if metadata.is_empty() {
            restore(template, "metadata", created_from("metadata"));
        }
    }
    true
}

/// Puts an emptied field back the way it was before injection created it.
fn restore(parent: &mut Map<String, Value>, field: &str, created_from_null: Option<bool>) {
    match created_from_null {
        Some(true) => {
            parent.insert(field.to_owned(), Value::Null);
        }
        Some(false) => {
            parent.shift_remove(field);
        }
        None => {}
    }
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
