//! `meshctl inject --preview`: what injection would change in each object, as the RFC 6902
//! patch the admission webhook would answer, from the same [`inject_object`].

use serde::Serialize;
use serde_json::Value;

use super::stream::{Document, Error, Input, documents};
use super::{InjectOptions, inject_object, workload};

/// One object's change.
#[derive(Debug, Serialize)]
pub struct Preview {
    /// `deployment/web`.
    pub object: String,
    /// `k8s/web.yaml document 2` (`item 3` added for a `List`'s items).
    pub source: String,
    /// The report line's action: `injected`, `skipped: not a workload`, ...
    pub result: String,
    /// Empty when nothing would change.
    pub patch: json_patch::Patch,
}

/// Every object of every input, in order; the first unparsable document or object that cannot
/// be injected stops it, as it stops `meshctl inject`.
pub fn preview(inputs: &[Input<'_>], options: &InjectOptions) -> Result<Vec<Preview>, Error> {
    let mut out = Vec::new();
    for document in documents(inputs) {
        let document = document?;
        let source = format!("{} document {}", document.file, document.document);
        let items = match &document.value {
            Value::Object(map)
                if map
                    .get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.ends_with("List")) =>
            {
                map.get("items").and_then(Value::as_array)
            }
            _ => None,
        };
        match items {
            Some(items) => {
                for (index, item) in items.iter().enumerate() {
                    let source = format!("{source} item {}", index + 1);
                    out.push(one(&document, item, source, options)?);
                }
            }
            None => out.push(one(&document, &document.value, source, options)?),
        }
    }
    Ok(out)
}

fn one(
    document: &Document,
    object: &Value,
    source: String,
    options: &InjectOptions,
) -> Result<Preview, Error> {
    let (after, entry) = inject_object(object, options).map_err(|problem| Error::Object {
        file: document.file.clone(),
        document: document.document,
        line: document.line,
        problem: Box::new(problem),
    })?;
    let patch = after.map_or_else(
        || json_patch::Patch(Vec::new()),
        |after| json_patch::diff(object, &after),
    );
    let object_name = object
        .as_object()
        .map_or_else(|| entry.object.clone(), workload::display_name);
    // The report line without its object name: `injected`, `skipped: not a workload`.
    let line = entry.to_string();
    let result = line
        .trim_start_matches("warning: ")
        .strip_prefix(&format!("{} ", entry.object))
        .unwrap_or(&line)
        .to_owned();
    Ok(Preview {
        object: object_name,
        source,
        result,
        patch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_patch_per_object_and_list_item() {
        let yaml = b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers: [{name: app, image: nginx}]\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n";
        let json = br#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"b"}]}}]}"#;
        let inputs = [
            Input {
                name: "a.yaml",
                bytes: yaml,
            },
            Input {
                name: "b.json",
                bytes: json,
            },
        ];
        let previews = preview(&inputs, &InjectOptions::default()).unwrap();
        let summary: Vec<(&str, &str, &str, bool)> = previews
            .iter()
            .map(|p| {
                (
                    p.object.as_str(),
                    p.source.as_str(),
                    p.result.as_str(),
                    p.patch.0.is_empty(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("deployment/web", "a.yaml document 1", "injected", false),
                (
                    "service/web",
                    "a.yaml document 2",
                    "skipped: not a workload",
                    true
                ),
                ("pod/p", "b.json document 1 item 1", "injected", false),
            ]
        );
        // The patch applied to the object is what `meshctl inject` writes.
        let list: Value = serde_json::from_slice(json).unwrap();
        let pod = list["items"][0].clone();
        let mut patched = pod.clone();
        json_patch::patch(&mut patched, &previews[2].patch).unwrap();
        let (injected, _) = inject_object(&pod, &InjectOptions::default()).unwrap();
        assert_eq!(Some(patched), injected);
    }
}
