//! One parsed object in, the same object injected (or uninjected) in place: kind dispatch,
//! `List` items, opt-outs, refusals and the per-object report.

use serde_json::{Map, Value};

use super::config::{self, BadAnnotation, InjectMode, Settings};
use super::report::{Action, Entry};
use super::{Operation, sidecar, uninject, workload};

/// Sidecars of other meshes; a pod carrying one is refused.
const FOREIGN_SIDECARS: [&str; 4] = ["istio-proxy", "istio-init", "linkerd-proxy", "linkerd-init"];

/// Why an object stops the whole run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{object} {problem}")]
pub struct ObjectError {
    /// `deployment/web`.
    pub object: String,
    pub problem: Problem,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error(
        "cannot be injected: {0}; opt it out with the annotation `meshctl.io/inject: disabled`, \
         or pass --skip-uninjectable to pass such objects through unchanged"
    )]
    Refused(String),
    #[error("has a bad {0}; fix or remove the annotation")]
    BadAnnotation(BadAnnotation),
    #[error("is malformed: {0}; fix the manifest")]
    Malformed(String),
}

/// Applies `op` to one document's value in place, appending one report entry per object
/// (several for a `List`). `label` names the document when it has no kind.
pub fn apply(
    value: &mut Value,
    op: &Operation,
    label: &str,
    out: &mut Vec<Entry>,
) -> Result<(), ObjectError> {
    let Value::Object(object) = value else {
        out.push(Entry::warning(
            label.to_owned(),
            "not a Kubernetes object (not a map)".to_owned(),
        ));
        return Ok(());
    };
    let Some(kind) = object.get("kind").and_then(Value::as_str) else {
        out.push(Entry::warning(
            label.to_owned(),
            "has no kind; passed through unchanged".to_owned(),
        ));
        return Ok(());
    };
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let path = workload::template_path(api_version, kind);
    if kind.ends_with("List")
        && let Some(Value::Array(items)) = object.get_mut("items")
    {
        for (index, item) in items.iter_mut().enumerate() {
            apply(item, op, &format!("{label} item {}", index + 1), out)?;
        }
        return Ok(());
    }
    let Some(path) = path else {
        let name = workload::display_name(object);
        out.push(Entry::new(
            name,
            Action::Skipped("not a workload".to_owned()),
        ));
        return Ok(());
    };
    let name = workload::display_name(object);
    let fail = |problem| ObjectError {
        object: name.clone(),
        problem,
    };
    let template = workload::template(object, path).map_err(|e| fail(Problem::Malformed(e)))?;
    workload::check_template_shape(template, path).map_err(|e| fail(Problem::Malformed(e)))?;
    let action = match op {
        Operation::Uninject => uninject_template(object, path),
        Operation::Inject(options) => {
            let layers = [
                workload::annotations(object),
                workload::annotations(template),
            ];
            // The namespace's annotations configure, but only the object's opt it in or out
            // here: the webhook decided from the namespace before calling.
            let settings_layers = [options.namespace_annotations.as_ref(), layers[0], layers[1]];
            match config::inject_mode(&layers).map_err(|e| fail(Problem::BadAnnotation(e)))? {
                InjectMode::Disabled => {
                    Action::Skipped(format!("{}: disabled", config::INJECT_ANNOTATION))
                }
                mode => {
                    if let Some(reason) = refusal(template, path) {
                        if !options.skip_uninjectable {
                            return Err(fail(Problem::Refused(reason)));
                        }
                        out.push(Entry::warning(
                            name,
                            format!("cannot be injected: {reason}"),
                        ));
                        return Ok(());
                    }
                    if options.annotate_only {
                        annotate(object, path, mode)
                    } else {
                        let settings = Settings::resolve(&options.overrides, &settings_layers)
                            .map_err(|e| fail(Problem::BadAnnotation(e)))?;
                        inject_template(object, path, &settings)
                    }
                }
            }
        }
    };
    out.push(Entry::new(name, action));
    Ok(())
}

/// Why this pod cannot take the proxy, if it cannot.
fn refusal(template: &Map<String, Value>, path: &[&str]) -> Option<String> {
    let spec = template.get("spec")?;
    if spec.get("hostNetwork") == Some(&Value::Bool(true)) {
        return Some(format!(
            "{} is true (the proxy's iptables rules would capture the node's traffic)",
            workload::field_path(path, "spec.hostNetwork")
        ));
    }
    for list in ["initContainers", "containers"] {
        let names = spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for name in names.filter_map(|c| c.get("name")?.as_str()) {
            if FOREIGN_SIDECARS.contains(&name) {
                return Some(format!(
                    "it already has another mesh's sidecar ({list} has {name})"
                ));
            }
        }
    }
    None
}

fn template_of<'a>(
    object: &'a mut Map<String, Value>,
    path: &[&str],
) -> &'a mut Map<String, Value> {
    workload::template_mut(object, path).expect("template() checked the path")
}

fn inject_template(object: &mut Map<String, Value>, path: &[&str], settings: &Settings) -> Action {
    let template = template_of(object, path);
    if !uninject::is_injected(template) {
        sidecar::add(template, settings);
        return Action::Injected;
    }
    // Only a re-injection needs the copy, to tell an update from the same bytes.
    let before = template.clone();
    uninject::remove(template);
    sidecar::add(template, settings);
    if *template == before {
        Action::AlreadyInjected
    } else {
        Action::Updated
    }
}

fn uninject_template(object: &mut Map<String, Value>, path: &[&str]) -> Action {
    if uninject::remove(template_of(object, path)) {
        Action::Uninjected
    } else {
        Action::Skipped("not injected".to_owned())
    }
}

/// `--annotate-only`: mark the pod template for the admission webhook.
fn annotate(object: &mut Map<String, Value>, path: &[&str], mode: InjectMode) -> Action {
    let template = template_of(object, path);
    let template_says_enabled = workload::annotations(template)
        .and_then(|a| a.get(config::INJECT_ANNOTATION))
        .is_some_and(|v| v == "enabled");
    if mode == InjectMode::Enabled && template_says_enabled {
        return Action::AlreadyAnnotated;
    }
    let metadata = workload::map_field(template, "metadata").0;
    workload::map_field(metadata, "annotations").0.insert(
        config::INJECT_ANNOTATION.to_owned(),
        Value::String("enabled".to_owned()),
    );
    Action::Annotated
}
