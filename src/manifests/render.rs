//! Rendering the embedded templates with the values and certificates into manifests: each
//! document keeps its rendered text (comments included, for printing) and its parsed object.

use kube::api::DynamicObject;
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Serde, Value as JinjaValue};
use minijinja::{Environment, UndefinedBehavior, context};
use serde_json::json;

use super::certs::InstallCerts;
use super::templates::{TEMPLATES, is_crd, is_foreign_crd};
use super::values::Values;

/// Every object the install makes carries this label (upgrade prunes by it).
pub const PART_OF_LABEL: &str = "app.kubernetes.io/part-of";
/// CRDs with `app.kubernetes.io/managed-by: meshctl` are ours to update.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MESHCTL: &str = "meshctl";

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {template}: {reason}")]
    Template {
        template: &'static str,
        reason: String,
    },
    #[error("template {template}, document {number}: not a Kubernetes object: {reason}")]
    Document {
        template: &'static str,
        number: usize,
        reason: String,
    },
}

/// Which CRD templates to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrdSet {
    None,
    /// meshctl's own APIs only (`meshctl.io`): what a printed install carries by default.
    Owned,
    /// Also other products' APIs (the apply step then keeps a CRD another product owns).
    All,
}

/// One rendered object.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub template: &'static str,
    /// The document's YAML text as rendered (no `---` separator).
    pub text: String,
    pub object: DynamicObject,
}

impl Manifest {
    pub fn kind(&self) -> &str {
        self.object.types.as_ref().map_or("", |t| t.kind.as_str())
    }

    pub fn name(&self) -> &str {
        self.object.metadata.name.as_deref().unwrap_or("")
    }

    pub fn is_crd(&self) -> bool {
        self.kind() == "CustomResourceDefinition"
    }
}

/// Renders every template (of the CRD templates, those `crds` names), in apply order.
pub fn render(
    values: &Values,
    certs: &InstallCerts,
    crds: CrdSet,
) -> Result<Vec<Manifest>, RenderError> {
    let env = environment();
    let version = env!("CARGO_PKG_VERSION");
    let ctx = context! {
        values => JinjaValue::from(Serde(values)),
        certs => context! {
            trust_anchors => &certs.identity.trust_anchors,
            issuer_cert => &certs.identity.issuer_cert,
            issuer_key => certs.identity.issuer_key.expose(),
            webhook_ca => &certs.webhook.ca,
            webhook_cert => &certs.webhook.cert,
            webhook_key => certs.webhook.key.expose(),
        },
        meta => JinjaValue::from(Serde(json!({
            "version": version,
            "labels": {
                "app.kubernetes.io/name": MESHCTL,
                PART_OF_LABEL: MESHCTL,
                MANAGED_BY_LABEL: MESHCTL,
                "app.kubernetes.io/version": version,
            },
            "selector": {
                "app.kubernetes.io/name": MESHCTL,
                "app.kubernetes.io/component": "controller",
            },
            "values_json": serde_json::to_string(values).expect("values serialize"),
        }))),
    };
    let mut manifests = Vec::new();
    for &(name, _) in TEMPLATES {
        let skip = match crds {
            CrdSet::None => is_crd(name),
            CrdSet::Owned => is_foreign_crd(name),
            CrdSet::All => false,
        };
        if skip {
            continue;
        }
        let text = env
            .get_template(name)
            .and_then(|t| t.render(&ctx))
            .map_err(|e| RenderError::Template {
                template: name,
                reason: format!("{e:#}"),
            })?;
        split_documents(name, &text, &mut manifests)?;
    }
    Ok(manifests)
}

/// All manifests as one YAML stream, for `kubectl apply -f -`.
pub fn to_yaml_stream(manifests: &[Manifest]) -> String {
    let mut out = String::new();
    for m in manifests {
        out.push_str("---\n");
        out.push_str(&m.text);
        out.push('\n');
    }
    out
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A misspelt value must fail the render, not print nothing (CRATES.md gotcha 3).
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .expect("default delimiters"),
    );
    // `.yaml` templates keep minijinja's JSON auto-escaping: every `{{ }}` becomes a JSON
    // scalar or collection, which is valid YAML and cannot break the document's structure.
    env.add_filter("b64encode", |s: String| base64(s.as_bytes()));
    env.add_filter("merge", merge);
    for &(name, source) in TEMPLATES {
        env.add_template(name, source)
            .expect("templates are checked by the tests");
    }
    env
}

/// The keys of `a`, then those of `b` (which win).
fn merge(a: JinjaValue, b: JinjaValue) -> Result<JinjaValue, minijinja::Error> {
    let mut pairs: Vec<(JinjaValue, JinjaValue)> = Vec::new();
    for map in [&a, &b] {
        for key in map.try_iter()? {
            let value = map.get_item(&key)?;
            match pairs.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => pairs.push((key, value)),
            }
        }
    }
    Ok(JinjaValue::from_pairs(pairs))
}

fn split_documents(
    template: &'static str,
    text: &str,
    out: &mut Vec<Manifest>,
) -> Result<(), RenderError> {
    let mut docs: Vec<Vec<&str>> = vec![Vec::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            docs.push(Vec::new());
        } else {
            docs.last_mut().expect("never empty").push(line);
        }
    }
    for (index, lines) in docs.iter().enumerate() {
        let doc = lines.join("\n");
        let bad = |reason: String| RenderError::Document {
            template,
            number: index + 1,
            reason,
        };
        let value: serde_json::Value =
            serde_saphyr::from_str(&doc).map_err(|e| bad(e.to_string()))?;
        if value.is_null() {
            continue; // only comments, or a block switched off by a value
        }
        let object: DynamicObject =
            serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        if object.types.is_none() || object.metadata.name.is_none() {
            return Err(bad("no apiVersion, kind or metadata.name".to_owned()));
        }
        out.push(Manifest {
            template,
            text: doc.trim_end().to_owned(),
            object,
        });
    }
    Ok(())
}

/// Standard base64 with padding (Secret data, caBundle).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }
}
