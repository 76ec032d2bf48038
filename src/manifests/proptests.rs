//! Fuzzing install's value overrides (`-f`, `--set`): whatever the operator types is applied
//! or refused with an error that names where it came from; never a panic.

use proptest::prelude::*;
use serde_json::Value;

use super::overrides::{OverrideError, Overrides};
use super::values::Values;

/// Every dotted key of the default values, leaves and groups.
fn keys() -> Vec<String> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<String>) {
        if let Value::Object(map) = value {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.push(key.clone());
                walk(&key, v, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        "",
        &serde_json::to_value(Values::default()).unwrap(),
        &mut out,
    );
    out
}

/// A key: a real one mostly, sometimes with a typo, an extra part or nothing.
fn key() -> impl Strategy<Value = String> {
    let real = keys();
    let n = real.len();
    (0..n, 0..4u8, "[a-zA-Z.]{0,6}").prop_map(move |(i, how, junk)| match how {
        0 => format!("{}{junk}", real[i]),
        1 => format!("{}.{junk}", real[i]),
        _ => real[i].clone(),
    })
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("true".to_owned()),
        Just("0".to_owned()),
        Just("4294967296".to_owned()),
        Just("-1".to_owned()),
        Just("1.5".to_owned()),
        Just("=".to_owned()),
        "\\PC{0,16}",
    ]
}

/// A values file: the `--set`s as nested YAML, or any text.
fn file() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec((key(), value()), 0..4).prop_map(|pairs| {
            let mut tree = serde_json::Map::new();
            for (k, v) in pairs {
                let mut node = &mut tree;
                let parts: Vec<&str> = k.split('.').collect();
                for part in &parts[..parts.len() - 1] {
                    let entry = node
                        .entry(part.to_string())
                        .or_insert_with(|| Value::Object(Default::default()));
                    if !entry.is_object() {
                        *entry = Value::Object(Default::default());
                    }
                    node = entry.as_object_mut().unwrap();
                }
                let leaf = serde_saphyr::from_str::<Value>(&v).unwrap_or(Value::String(v));
                node.insert(parts[parts.len() - 1].to_owned(), leaf);
            }
            serde_json::to_string(&tree).unwrap()
        }),
        "\\PC{0,80}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn overrides_are_applied_or_refused_by_origin(
        sets in prop::collection::vec((key(), value()), 0..4),
        files in prop::collection::vec(file(), 0..2),
        ha in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<_> = files
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let path = dir.path().join(format!("values-{i}.yaml"));
                std::fs::write(&path, text).unwrap();
                path
            })
            .collect();
        let overrides = Overrides {
            ha,
            files,
            set_files: Vec::new(),
            sets: sets.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        };
        match overrides.apply(&Values::default()) {
            Ok(_) => {}
            // A value of the right type that its check refuses names the setting itself.
            Err(e @ OverrideError::Invalid(_)) => {
                let message = e.to_string();
                prop_assert!(keys().iter().any(|k| message.contains(k.as_str())), "{}", message);
            }
            Err(e) => {
                let message = e.to_string();
                prop_assert!(
                    message.starts_with("--set") || message.contains("values-"),
                    "{}", message
                );
            }
        }
    }
}
