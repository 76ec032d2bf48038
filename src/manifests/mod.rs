//! The control-plane manifests of `meshctl install`: typed values with overrides, the
//! certificates they carry, and rendering of the embedded `templates/`.

pub mod certs;
pub mod overrides;
#[cfg(test)]
mod proptests;
pub mod render;
pub mod templates;
pub mod values;

pub use certs::{CertError, IdentityCerts, IdentityFiles, InstallCerts, WebhookCerts};
pub use overrides::{OverrideError, Overrides};
pub use render::{CrdSet, Manifest, RenderError, render, to_yaml_stream};
pub use values::Values;

#[cfg(test)]
mod snapshot_tests;
