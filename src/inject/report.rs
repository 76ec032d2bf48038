//! What happened to each object, as printed on stderr: `deployment/web injected`.

use std::fmt;

/// The fate of one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Injected,
    /// Was injected before; now injected with different settings.
    Updated,
    /// Already injected with exactly these settings: written back unchanged.
    AlreadyInjected,
    /// `--annotate-only`: `meshctl.io/inject: enabled` added.
    Annotated,
    AlreadyAnnotated,
    Uninjected,
    /// Passed through unchanged, with the reason.
    Skipped(String),
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `deployment/web`, or `document 3` when the document has no kind.
    pub object: String,
    pub action: Action,
    /// Printed as a warning: the user asked for something that was not done.
    pub warning: bool,
}

impl Entry {
    pub fn new(object: String, action: Action) -> Self {
        Entry {
            object,
            action,
            warning: false,
        }
    }

    pub fn warning(object: String, reason: String) -> Self {
        Entry {
            object,
            action: Action::Skipped(reason),
            warning: true,
        }
    }

    /// Whether the document was modified.
    pub fn changed(&self) -> bool {
        matches!(
            self.action,
            Action::Injected | Action::Updated | Action::Annotated | Action::Uninjected
        )
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.warning {
            f.write_str("warning: ")?;
        }
        write!(f, "{} ", self.object)?;
        match &self.action {
            Action::Injected => f.write_str("injected"),
            Action::Updated => f.write_str("injected (updated)"),
            Action::AlreadyInjected => f.write_str("unchanged: already injected"),
            Action::Annotated => f.write_str("annotated (meshctl.io/inject: enabled)"),
            Action::AlreadyAnnotated => f.write_str("unchanged: already annotated"),
            Action::Uninjected => f.write_str("uninjected"),
            Action::Skipped(reason) => write!(f, "skipped: {reason}"),
        }
    }
}
