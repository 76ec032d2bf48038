//! Injection of the meshctl proxy into Kubernetes manifests, and its exact undo: pure
//! functions over parsed documents (no I/O), shared by `meshctl inject` and the admission webhook.

pub mod config;
mod object;
pub mod preview;
#[cfg(test)]
mod proptests;
pub mod report;
pub mod review;
pub mod sidecar;
pub mod stream;
mod uninject;
pub mod workload;

use serde_json::{Map, Value};

pub use config::{Key, Overrides};
pub use object::{ObjectError, Problem};
pub use report::{Action, Entry};
pub use stream::{Document, Error, Format, Input, Output, documents, run};

/// How `meshctl inject` was asked to inject.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InjectOptions {
    /// Settings from CLI flags (annotations on the objects override them).
    pub overrides: Overrides,
    /// Only add `meshctl.io/inject: enabled` to pod templates, for the admission webhook.
    pub annotate_only: bool,
    /// Pass objects that cannot be injected through unchanged, with a warning, instead of failing.
    pub skip_uninjectable: bool,
    /// The namespace's `meshctl.io/` annotations, the least specific layer of settings (the
    /// webhook knows the namespace; the CLI reads manifests and does not).
    pub namespace_annotations: Option<Map<String, Value>>,
}

/// What to do to every object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    Inject(InjectOptions),
    Uninject,
}

/// One object (a workload or a Pod) in, the injected object out (`None` when it is left as it
/// is; the report entry says why). The admission webhook and `meshctl inject --preview` call
/// this; `meshctl inject` runs the same [`object::apply`] on every document of its stream.
pub fn inject_object(
    object: &Value,
    options: &InjectOptions,
) -> Result<(Option<Value>, Entry), ObjectError> {
    apply_one(object, &Operation::Inject(options.clone()))
}

/// [`inject_object`]'s inverse, for tools that hold one object.
pub fn uninject_object(object: &Value) -> Result<(Option<Value>, Entry), ObjectError> {
    apply_one(object, &Operation::Uninject)
}

fn apply_one(object: &Value, op: &Operation) -> Result<(Option<Value>, Entry), ObjectError> {
    let mut value = object.clone();
    let mut report = Vec::with_capacity(1);
    object::apply(&mut value, op, "object", &mut report)?;
    let changed = report.iter().any(Entry::changed);
    let entry = report.into_iter().next().unwrap_or_else(|| {
        Entry::new(
            "object".to_owned(),
            Action::Skipped("empty list".to_owned()),
        )
    });
    Ok((changed.then_some(value), entry))
}
