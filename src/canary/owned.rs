//! What a server-side apply of weights carries: the weight list (atomic in every routing
//! schema, so applied whole with every other field of it as it is) plus every field meshctl
//! already owns on the object, so that applying does not drop them.

use serde_json::{Map, Value, json};

use crate::k8s::FIELD_MANAGER;

/// The fields of `obj` that `manager`'s Apply entry in `metadata.managedFields` owns, with
/// their current values (an empty object when it owns none).
pub fn owned_by(obj: &Value, manager: &str) -> Value {
    let entries = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array);
    let mut out = Value::Object(Map::new());
    for entry in entries.into_iter().flatten() {
        let is = |k: &str, v: &str| entry.get(k).and_then(Value::as_str) == Some(v);
        if !(is("manager", manager) && is("operation", "Apply")) {
            continue;
        }
        if let Some(Value::Object(set)) = entry.get("fieldsV1")
            && let Some(projected) = project(obj, set)
        {
            merge(&mut out, projected);
        }
    }
    out
}

/// The part of `value` named by a `fieldsV1` set. Lists are taken whole: the routing schemas
/// declare none as a map (`k:` keys), so the server treats each as one atomic value.
fn project(value: &Value, set: &Map<String, Value>) -> Option<Value> {
    let Value::Object(fields) = value else {
        return Some(value.clone());
    };
    let mut out = Map::new();
    for (key, inner) in set {
        let Some(name) = key.strip_prefix("f:") else {
            continue;
        };
        let Some(v) = fields.get(name) else { continue };
        let picked = match inner {
            Value::Object(sub) if !sub.is_empty() && v.is_object() => project(v, sub),
            _ => Some(v.clone()),
        };
        if let Some(p) = picked {
            out.insert(name.to_owned(), p);
        }
    }
    Some(Value::Object(out))
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// The object to apply: `changed`'s identity and resourceVersion (so a write racing another
/// fails instead of undoing it), the fields meshctl owns in `current`, and `changed`'s weight
/// list under `spec.<list>`.
pub fn apply_patch(current: &Value, changed: &Value, list: &str) -> Value {
    let mut patch = owned_by(current, FIELD_MANAGER);
    let meta = |k: &str| {
        changed
            .pointer(&format!("/metadata/{k}"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    merge(
        &mut patch,
        json!({
            "apiVersion": changed["apiVersion"],
            "kind": changed["kind"],
            "metadata": {"name": meta("name"), "namespace": meta("namespace"),
                         "resourceVersion": meta("resourceVersion")},
            "spec": {list: changed.pointer(&format!("/spec/{list}")).cloned().unwrap_or(Value::Null)},
        }),
    );
    if patch
        .pointer("/metadata/resourceVersion")
        .is_some_and(Value::is_null)
        && let Some(m) = patch.get_mut("metadata").and_then(Value::as_object_mut)
    {
        m.remove("resourceVersion");
    }
    patch
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Asserts `after` is `before` except at `weights` (JSON pointers), compared as text so
    /// key order and number forms count too.
    pub(crate) fn only_weights_differ(before: &Value, after: &Value, weights: &[&str]) {
        let mask = |v: &Value| {
            let mut v = v.clone();
            for p in weights {
                let (parent, key) = p.rsplit_once('/').unwrap();
                if let Some(Value::Object(m)) = v.pointer_mut(parent) {
                    m.remove(key);
                }
            }
            serde_json::to_string(&v).unwrap()
        };
        assert_eq!(mask(before), mask(after));
        for p in weights {
            assert_ne!(before.pointer(p), after.pointer(p), "{p} did not change");
        }
    }

    #[test]
    fn the_patch_keeps_what_meshctl_owns_and_carries_the_whole_list() {
        let current = json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "7",
                "labels": {"a": "1", "b": "2"},
                "managedFields": [
                    {"manager": "meshctl", "operation": "Apply", "fieldsType": "FieldsV1",
                     "fieldsV1": {"f:metadata": {"f:labels": {"f:a": {}}},
                                  "f:spec": {"f:parentRefs": {}, "f:rules": {}}}},
                    {"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1",
                     "fieldsV1": {"f:spec": {"f:hostnames": {}}}}]},
            "spec": {"parentRefs": [{"name": "web", "kind": "Service"}], "hostnames": ["x"],
                     "rules": [{"backendRefs": [{"name": "web", "weight": 1}]}]}});
        let mut changed = current.clone();
        changed["spec"]["rules"][0]["backendRefs"][0]["weight"] = json!(100);
        let patch = apply_patch(&current, &changed, "rules");
        assert_eq!(
            patch,
            json!({
            "metadata": {"labels": {"a": "1"}, "name": "web", "namespace": "shop", "resourceVersion": "7"},
            "spec": {"parentRefs": [{"name": "web", "kind": "Service"}],
                     "rules": [{"backendRefs": [{"name": "web", "weight": 100}]}]},
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute"})
        );
        // Owning nothing yet: only identity and the list.
        let mut theirs = current.clone();
        theirs["metadata"]["managedFields"][0]["manager"] = json!("kubectl");
        let patch = apply_patch(&theirs, &changed, "rules");
        assert_eq!(
            patch["spec"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["rules"]
        );
        assert!(patch["metadata"].get("labels").is_none());
    }
}
