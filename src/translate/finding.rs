//! Findings: what translation could not apply as written (object, field path, what to do),
//! for the controller's log and status, and for `meshctl analyze`.

use std::fmt;

use serde::Serialize;

/// Which object a finding is about; `file`/`document`/`line` are set for objects read from files.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based index of the YAML/JSON document in `file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<usize>,
    /// 1-based line in `file` where the document starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl ObjectRef {
    /// An object known by kind, namespace and name (no file).
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            ..Self::default()
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
            if let Some(d) = self.document {
                write!(f, "document {d}")?;
                if let Some(l) = self.line {
                    write!(f, " (line {l})")?;
                }
                if !self.kind.is_empty() || !self.name.is_empty() {
                    f.write_str(": ")?;
                }
            }
        }
        let kind = self.kind.to_ascii_lowercase();
        if kind.is_empty() && self.name.is_empty() {
            return Ok(());
        }
        if self.namespace.is_empty() {
            write!(f, "{kind}/{}", self.name)
        } else {
            write!(f, "{kind}/{} -n {}", self.name, self.namespace)
        }
    }
}

/// `Error`: the object (or part of it) is not applied; `Warning`: applied, but not all of it
/// or not exactly as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem: on which object and field, how bad, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub object: ObjectRef,
    /// JSON path inside the object, e.g. `spec.http[0].retries.retryOn`.
    pub field: String,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}: {}",
            self.object, self.severity, self.field, self.message
        )
    }
}

/// Collects the findings of one object: `at` is the object, paths are relative to its root.
pub(crate) struct Report<'a> {
    pub object: &'a ObjectRef,
    pub out: &'a mut Vec<Finding>,
}

impl Report<'_> {
    pub fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, field.into(), message.into());
    }

    pub fn warn(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Warning, field.into(), message.into());
    }

    /// A field the model has but the proxy does not enforce yet.
    pub fn not_enforced(&mut self, field: impl Into<String>, what: &str) {
        self.warn(
            field,
            format!("{what}: translated, but not enforced yet by the proxy"),
        );
    }

    fn push(&mut self, severity: Severity, field: String, message: String) {
        self.out.push(Finding {
            object: self.object.clone(),
            field,
            severity,
            message,
        });
    }
}
