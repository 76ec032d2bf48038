//! Which Kubernetes objects carry a pod template, where it sits, and how objects are named in
//! reports and errors.

use serde_json::{Map, Value};

/// The path from the object to its pod template (`metadata` + `spec`), by API group and kind.
/// An empty path means the object is the pod itself.
pub fn template_path(api_version: &str, kind: &str) -> Option<&'static [&'static str]> {
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    match (group, kind) {
        ("", "Pod") => Some(&[]),
        ("", "ReplicationController")
        | ("apps" | "extensions", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch", "Job") => Some(&["spec", "template"]),
        ("batch", "CronJob") => Some(&["spec", "jobTemplate", "spec", "template"]),
        _ => None,
    }
}

/// `deployment/web` (kubectl's short form); `deployment/<unnamed>` without a name.
pub fn display_name(object: &Map<String, Value>) -> String {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("object");
    let metadata = object.get("metadata");
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            let prefix = metadata?.get("generateName")?.as_str()?;
            Some(format!("{prefix}*"))
        })
        .unwrap_or_else(|| "<unnamed>".to_owned());
    format!("{}/{name}", kind.to_ascii_lowercase())
}

/// Dotted field path for messages: `spec.template.spec.hostNetwork`.
pub fn field_path(template_path: &[&str], rest: &str) -> String {
    let mut path = template_path.join(".");
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(rest);
    path
}

/// The pod template at `path`, which must be a map all the way down.
pub fn template<'a>(
    object: &'a Map<String, Value>,
    path: &[&str],
) -> Result<&'a Map<String, Value>, String> {
    let mut current = object;
    for (depth, step) in path.iter().enumerate() {
        current = current
            .get(*step)
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{} is missing or not a map", path[..=depth].join(".")))?;
    }
    Ok(current)
}

/// The same template, mutably (after `template` checked the path).
pub fn template_mut<'a>(
    object: &'a mut Map<String, Value>,
    path: &[&str],
) -> Option<&'a mut Map<String, Value>> {
    let mut current = object;
    for step in path {
        current = current.get_mut(*step)?.as_object_mut()?;
    }
    Some(current)
}

/// Checks the fields injection reads or extends have the right shape, so it never has to
/// replace a user's value. Returns the dotted path and expectation of the first bad one.
pub fn check_template_shape(template: &Map<String, Value>, path: &[&str]) -> Result<(), String> {
    let bad = |field: &str, expected: &str| {
        Err(format!("{} must be {expected}", field_path(path, field)))
    };
    match template.get("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(metadata)) => {
            if !matches!(
                metadata.get("annotations"),
                None | Some(Value::Null | Value::Object(_))
            ) {
                return bad("metadata.annotations", "a map of strings");
            }
        }
        Some(_) => return bad("metadata", "a map"),
    }
    let Some(Value::Object(spec)) = template.get("spec") else {
        return bad("spec", "a map (the pod spec)");
    };
    for list in ["initContainers", "containers", "volumes"] {
        if !matches!(spec.get(list), None | Some(Value::Null | Value::Array(_))) {
            return bad(&format!("spec.{list}"), "a list");
        }
    }
    Ok(())
}

/// Whether a field injection needs was already there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    Present,
    Missing,
    /// Present with the value null (kept as null by uninject).
    Null,
}

/// Puts an empty value of the wanted shape under `key` unless one is there (callers checked
/// the shape first, so only a missing or null field is replaced).
fn ensure<'a>(
    parent: &'a mut Map<String, Value>,
    key: &str,
    wanted: fn(&Value) -> bool,
    empty: fn() -> Value,
) -> (&'a mut Value, Found) {
    let found = match parent.get(key) {
        None => Found::Missing,
        Some(Value::Null) => Found::Null,
        Some(_) => Found::Present,
    };
    let slot = parent.entry(key).or_insert(Value::Null);
    if !wanted(slot) {
        *slot = empty();
    }
    (slot, found)
}

/// The map under `key`, created when missing or null; says what was there before.
pub fn map_field<'a>(
    parent: &'a mut Map<String, Value>,
    key: &str,
) -> (&'a mut Map<String, Value>, Found) {
    let (slot, found) = ensure(parent, key, Value::is_object, || Value::Object(Map::new()));
    (slot.as_object_mut().expect("just made a map"), found)
}

/// The list under `key`, created when missing or null; says what was there before.
pub fn list_field<'a>(
    parent: &'a mut Map<String, Value>,
    key: &str,
) -> (&'a mut Vec<Value>, Found) {
    let (slot, found) = ensure(parent, key, Value::is_array, || Value::Array(Vec::new()));
    (slot.as_array_mut().expect("just made a list"), found)
}

/// The workload's own annotations (for a Pod, its only ones).
pub fn annotations(object: &Map<String, Value>) -> Option<&Map<String, Value>> {
    object.get("metadata")?.get("annotations")?.as_object()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_workload_kind_has_a_template_path() {
        assert_eq!(template_path("v1", "Pod"), Some(&[][..]));
        for (api, kind) in [
            ("v1", "ReplicationController"),
            ("apps/v1", "Deployment"),
            ("apps/v1", "StatefulSet"),
            ("apps/v1", "DaemonSet"),
            ("apps/v1", "ReplicaSet"),
            ("extensions/v1beta1", "Deployment"),
            ("batch/v1", "Job"),
        ] {
            assert_eq!(
                template_path(api, kind),
                Some(&["spec", "template"][..]),
                "{kind}"
            );
        }
        assert_eq!(
            template_path("batch/v1", "CronJob"),
            Some(&["spec", "jobTemplate", "spec", "template"][..])
        );
        assert_eq!(template_path("v1", "Service"), None);
        assert_eq!(template_path("example.com/v1", "Deployment"), None);
        assert_eq!(template_path("argoproj.io/v1alpha1", "Rollout"), None);
    }

    #[test]
    fn names_and_shapes() {
        let obj = json!({"kind": "Deployment", "metadata": {"generateName": "web-"}});
        assert_eq!(display_name(obj.as_object().unwrap()), "deployment/web-*");
        let obj = json!({"kind": "Pod"});
        assert_eq!(display_name(obj.as_object().unwrap()), "pod/<unnamed>");
        let tpl = json!({"spec": {"volumes": {}}});
        assert_eq!(
            check_template_shape(tpl.as_object().unwrap(), &["spec", "template"]),
            Err("spec.template.spec.volumes must be a list".into())
        );
        let tpl = json!({"metadata": []});
        assert_eq!(
            check_template_shape(tpl.as_object().unwrap(), &[]),
            Err("metadata must be a map".into())
        );
    }
}
