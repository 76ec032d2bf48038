//! Install value overrides: `--ha`, `-f values.yaml`, `--set-file a.b=FILE` and `--set a.b=c`,
//! applied in that order over a base (the defaults, or what an install recorded). Keys are
//! checked against the base's tree, so a typo lists the valid keys instead of being ignored.

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::values::{HA_REPLICAS, InvalidValue, Values};

#[derive(Debug, thiserror::Error)]
pub enum OverrideError {
    #[error("{origin}: unknown key `{key}`; valid keys{under}: {valid}")]
    UnknownKey {
        origin: String,
        key: String,
        under: String,
        valid: String,
    },
    #[error("{origin}: `{key}` is a group of settings; set one of its keys: {valid}")]
    NotALeaf {
        origin: String,
        key: String,
        valid: String,
    },
    #[error("{origin}: `{key}` is a single value, not a group; set it as `{key}=VALUE`")]
    NotAGroup { origin: String, key: String },
    #[error("{origin}: invalid value {value} for `{key}`: expected {expected}")]
    WrongType {
        origin: String,
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error("{origin}: expected KEY=VALUE (e.g. controller.replicas=2), got {given:?}")]
    Syntax { origin: &'static str, given: String },
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: not a YAML mapping of values: {reason}")]
    Yaml { path: PathBuf, reason: String },
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
}

/// The overrides given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub ha: bool,
    pub files: Vec<PathBuf>,
    pub set_files: Vec<String>,
    pub sets: Vec<String>,
}

impl Overrides {
    pub fn is_empty(&self) -> bool {
        !self.ha && self.files.is_empty() && self.set_files.is_empty() && self.sets.is_empty()
    }

    /// `base` with every override applied, validated.
    pub fn apply(&self, base: &Values) -> Result<Values, OverrideError> {
        let mut tree = serde_json::to_value(base).expect("values serialize to JSON");
        if self.ha {
            tree["highAvailability"] = Value::Bool(true);
            if base.controller.replicas < 2 {
                tree["controller"]["replicas"] = HA_REPLICAS.into();
            }
        }
        for path in &self.files {
            let text = std::fs::read_to_string(path).map_err(|e| OverrideError::Read {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let yaml_error = |reason: String| OverrideError::Yaml {
                path: path.clone(),
                reason,
            };
            let incoming: Value =
                serde_saphyr::from_str(&text).map_err(|e| yaml_error(e.to_string()))?;
            match incoming {
                // An empty file overrides nothing.
                Value::Null => {}
                Value::Object(map) => merge(&mut tree, map, "", &path.display().to_string())?,
                other => return Err(yaml_error(format!("found {}", kind(&other)))),
            }
        }
        for spec in &self.set_files {
            let (key, file) = split(spec, "--set-file")?;
            let text = std::fs::read_to_string(file).map_err(|e| OverrideError::Read {
                path: PathBuf::from(file),
                reason: e.to_string(),
            })?;
            set(&mut tree, key, Value::String(text), "--set-file")?;
        }
        for spec in &self.sets {
            let (key, value) = split(spec, "--set")?;
            set(&mut tree, key, Value::String(value.to_owned()), "--set")?;
        }
        let values: Values = serde_json::from_value(tree).expect("checked against the tree");
        values.validate()?;
        Ok(values)
    }
}

fn split<'a>(spec: &'a str, origin: &'static str) -> Result<(&'a str, &'a str), OverrideError> {
    match spec.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key, value)),
        _ => Err(OverrideError::Syntax {
            origin,
            given: spec.to_owned(),
        }),
    }
}

/// Sets the leaf at dotted `key`; a string from the command line is converted to the leaf's type.
fn set(tree: &mut Value, key: &str, value: Value, origin: &str) -> Result<(), OverrideError> {
    let mut node = tree;
    let mut walked = String::new();
    for part in key.split('.') {
        let map = node.as_object_mut().expect("only objects are walked into");
        if !map.contains_key(part) {
            return Err(unknown(map, &walked, part, origin));
        }
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(part);
        node = map.get_mut(part).expect("checked");
        if let Value::Object(_) = node
            && walked.len() == key.len()
        {
            return Err(OverrideError::NotALeaf {
                origin: origin.to_owned(),
                key: walked,
                valid: keys(node.as_object().expect("object")),
            });
        }
        if !node.is_object() && walked.len() < key.len() {
            return Err(OverrideError::NotAGroup {
                origin: origin.to_owned(),
                key: walked,
            });
        }
    }
    *node = coerce(node, value, key, origin)?;
    Ok(())
}

/// Merges a values file into the tree, key by key.
fn merge(
    tree: &mut Value,
    incoming: Map<String, Value>,
    prefix: &str,
    origin: &str,
) -> Result<(), OverrideError> {
    let map = tree.as_object_mut().expect("merge walks objects only");
    for (part, value) in incoming {
        let key = if prefix.is_empty() {
            part.clone()
        } else {
            format!("{prefix}.{part}")
        };
        let Some(slot) = map.get_mut(&part) else {
            return Err(unknown(map, prefix, &part, origin));
        };
        match (slot.is_object(), value) {
            (true, Value::Object(inner)) => merge(slot, inner, &key, origin)?,
            (true, _) => {
                return Err(OverrideError::NotALeaf {
                    origin: origin.to_owned(),
                    key,
                    valid: keys(slot.as_object().expect("object")),
                });
            }
            (false, value) => *slot = coerce(slot, value, &key, origin)?,
        }
    }
    Ok(())
}

/// `value` in the type of `current` (a leaf): strings from `--set` are parsed; a YAML number
/// given for a string setting (e.g. `cpuLimit: 2`) becomes its text.
fn coerce(current: &Value, value: Value, key: &str, origin: &str) -> Result<Value, OverrideError> {
    let wrong = |value: &Value, expected: &'static str| OverrideError::WrongType {
        origin: origin.to_owned(),
        key: key.to_owned(),
        value: match value {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        },
        expected,
    };
    match (current, value) {
        (Value::String(_), Value::String(s)) => Ok(Value::String(s)),
        (Value::String(_), Value::Number(n)) => Ok(Value::String(n.to_string())),
        (Value::String(_), other) => Err(wrong(&other, "a string")),
        (Value::Bool(_), Value::Bool(b)) => Ok(Value::Bool(b)),
        (Value::Bool(_), Value::String(s)) => match s.as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(wrong(&Value::String(s), "true or false")),
        },
        (Value::Bool(_), other) => Err(wrong(&other, "true or false")),
        (Value::Number(_), Value::Number(n)) if n.as_u64().is_some_and(fits_u32) => {
            Ok(Value::Number(n))
        }
        (Value::Number(_), Value::String(s)) => match s.parse::<u32>() {
            Ok(n) => Ok(n.into()),
            Err(_) => Err(wrong(&Value::String(s), "a whole number")),
        },
        (Value::Number(_), other) => Err(wrong(&other, "a whole number")),
        (_, other) => Err(wrong(&other, "a value of the setting's type")),
    }
}

fn fits_u32(n: u64) -> bool {
    u32::try_from(n).is_ok()
}

fn unknown(map: &Map<String, Value>, prefix: &str, part: &str, origin: &str) -> OverrideError {
    OverrideError::UnknownKey {
        origin: origin.to_owned(),
        key: if prefix.is_empty() {
            part.to_owned()
        } else {
            format!("{prefix}.{part}")
        },
        under: if prefix.is_empty() {
            String::new()
        } else {
            format!(" under `{prefix}`")
        },
        valid: keys(map),
    }
}

fn keys(map: &Map<String, Value>) -> String {
    map.keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sets(list: &[&str]) -> Overrides {
        Overrides {
            sets: list.iter().map(|s| s.to_string()).collect(),
            ..Overrides::default()
        }
    }

    fn err(o: &Overrides) -> String {
        o.apply(&Values::default()).unwrap_err().to_string()
    }

    #[test]
    fn set_converts_to_the_setting_type() {
        let v = sets(&[
            "controller.replicas=2",
            "controller.resources.cpuLimit=2",
            "webhook.failurePolicy=Ignore",
            "injection.acceptForeignLabels=true",
        ])
        .apply(&Values::default())
        .unwrap();
        assert_eq!(v.controller.replicas, 2);
        assert_eq!(v.controller.resources.cpu_limit, "2");
        assert_eq!(v.webhook.failure_policy, "Ignore");
        assert!(v.injection.accept_foreign_labels);
    }

    #[test]
    fn bad_set_paths_list_valid_keys() {
        assert_eq!(
            err(&sets(&["controller.replica=2"])),
            "--set: unknown key `controller.replica`; valid keys under `controller`: replicas, \
             logLevel, resources"
        );
        assert_eq!(
            err(&sets(&["nope=1"])),
            "--set: unknown key `nope`; valid keys: namespace, image, controller, \
             highAvailability, identity, webhook, injection, tracing"
        );
        // Tracing values from the command line reach the values, checked.
        let v = sets(&["tracing.sampling=1.0", "tracing.endpoint=c.obs:4317"])
            .apply(&Values::default())
            .unwrap();
        assert_eq!(
            (v.tracing.sampling.as_str(), v.tracing.endpoint.as_str()),
            ("1.0", "c.obs:4317")
        );
        assert!(err(&sets(&["tracing.sampling=2"])).contains("`tracing.sampling`"));
        assert!(err(&sets(&["controller=1"])).contains("`controller` is a group of settings"));
        assert!(err(&sets(&["namespace.x=1"])).contains("`namespace` is a single value"));
        assert!(err(&sets(&["controller.replicas"])).contains("expected KEY=VALUE"));
    }

    #[test]
    fn bad_set_values_say_what_is_expected() {
        assert_eq!(
            err(&sets(&["controller.replicas=two"])),
            "--set: invalid value \"two\" for `controller.replicas`: expected a whole number"
        );
        assert!(err(&sets(&["highAvailability=yes"])).contains("expected true or false"));
        assert!(err(&sets(&["controller.replicas=0"])).contains("expected 1 to 10"));
        assert!(err(&sets(&["controller.logLevel=loud"])).contains("one of trace, debug"));
    }

    #[test]
    fn ha_sets_replicas_unless_given() {
        let o = Overrides {
            ha: true,
            ..Overrides::default()
        };
        let v = o.apply(&Values::default()).unwrap();
        assert!(v.high_availability);
        assert_eq!(v.controller.replicas, HA_REPLICAS);
        let o = Overrides {
            ha: true,
            sets: vec!["controller.replicas=5".to_owned()],
            ..Overrides::default()
        };
        assert_eq!(o.apply(&Values::default()).unwrap().controller.replicas, 5);
    }

    #[test]
    fn values_files_merge_then_set_wins() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("values.yaml");
        std::fs::write(
            &file,
            "controller:\n  replicas: 2\n  resources:\n    cpuLimit: 2\n",
        )
        .unwrap();
        let o = Overrides {
            files: vec![file.clone()],
            sets: vec!["controller.replicas=4".to_owned()],
            ..Overrides::default()
        };
        let v = o.apply(&Values::default()).unwrap();
        assert_eq!(
            (
                v.controller.replicas,
                v.controller.resources.cpu_limit.as_str()
            ),
            (4, "2")
        );

        std::fs::write(&file, "controller:\n  replicas: [1]\n").unwrap();
        let o = Overrides {
            files: vec![file.clone()],
            ..Overrides::default()
        };
        assert_eq!(
            err(&o),
            format!(
                "{}: invalid value [1] for `controller.replicas`: expected a whole number",
                file.display()
            )
        );
        std::fs::write(&file, "- a\n").unwrap();
        assert!(
            err(&o).ends_with("not a YAML mapping of values: found a list"),
            "{}",
            err(&o)
        );
        std::fs::write(&file, "image:\n  tags: x\n").unwrap();
        assert!(err(&o).contains(
            "unknown key `image.tags`; valid keys under `image`: repository, tag, pullPolicy"
        ));
    }

    #[test]
    fn set_file_reads_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("td");
        std::fs::write(&file, "example.org").unwrap();
        let o = Overrides {
            set_files: vec![format!("identity.trustDomain={}", file.display())],
            ..Overrides::default()
        };
        assert_eq!(
            o.apply(&Values::default()).unwrap().identity.trust_domain,
            "example.org"
        );
        let o = Overrides {
            set_files: vec!["identity.trustDomain=/nonexistent".to_owned()],
            ..Overrides::default()
        };
        assert!(err(&o).starts_with("cannot read /nonexistent: "));
    }
}
