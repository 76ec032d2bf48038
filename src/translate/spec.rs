//! Reading a config object's fields into typed structs without ever dropping one silently:
//! a field the struct does not know becomes a finding naming its path, and a field of the
//! wrong type a finding naming where it is. Also the duration and percent forms the APIs use.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::finding::Report;
use crate::model::duration::Duration;

/// Parses `value` (found at `path`, e.g. `spec`) into `T`; reports fields `T` does not know.
/// `None` (with an Error finding at the culprit field) when a field has the wrong shape.
pub(crate) fn parse<T: DeserializeOwned + Serialize>(
    value: &Value,
    path: &str,
    report: &mut Report<'_>,
) -> Option<T> {
    match serde_json::from_value::<T>(value.clone()) {
        Ok(typed) => {
            // What `T` reads, written back: every key it knows is there (as null when unset).
            let known = serde_json::to_value(&typed).unwrap_or(Value::Null);
            let mut unknown = Vec::new();
            unknown_fields(value, &known, path, &mut unknown);
            for field in unknown {
                report.warn(
                    field,
                    "meshctl does not implement this field; it is ignored (remove it, or expect \
                     the mesh to behave as if it were absent)",
                );
            }
            Some(typed)
        }
        Err(e) => {
            let at = locate::<T>(value);
            let field = join(path, &at);
            report.error(
                field,
                format!("{e}; the object is not applied until this is fixed"),
            );
            None
        }
    }
}

/// Keys of `given` missing from `known` (recursively); nulls count as absent.
fn unknown_fields(given: &Value, known: &Value, path: &str, out: &mut Vec<String>) {
    match (given, known) {
        (Value::Object(g), Value::Object(k)) => {
            for (key, value) in g {
                if value.is_null() {
                    continue;
                }
                let at = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match k.get(key) {
                    Some(inner) => unknown_fields(value, inner, &at, out),
                    None => out.push(at),
                }
            }
        }
        (Value::Array(g), Value::Array(k)) => {
            for (i, (value, inner)) in g.iter().zip(k).enumerate() {
                unknown_fields(value, inner, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// One step into a JSON value.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// The deepest field whose removal lets `value` parse as `T`: where a type error is.
/// Only run when parsing failed, on one object, so the repeated parses cost nothing that matters.
fn locate<T: DeserializeOwned>(value: &Value) -> Vec<Step> {
    let mut path: Vec<Step> = Vec::new();
    loop {
        let Some(node) = get(value, &path) else {
            return path;
        };
        let children: Vec<Step> = match node {
            Value::Object(m) => m.keys().map(|k| Step::Key(k.clone())).collect(),
            Value::Array(a) => (0..a.len()).map(Step::Index).collect(),
            _ => return path,
        };
        let culprit = children.into_iter().find(|child| {
            let mut without = value.clone();
            let mut at = path.clone();
            at.push(child.clone());
            remove(&mut without, &at);
            serde_json::from_value::<T>(without).is_ok()
        });
        match culprit {
            Some(child) => path.push(child),
            None => return path,
        }
    }
}

fn get<'v>(value: &'v Value, path: &[Step]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.get(k),
        Step::Index(i) => v.get(*i),
    })
}

fn remove(value: &mut Value, path: &[Step]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut v = value;
    for step in parent {
        let next = match step {
            Step::Key(k) => v.get_mut(k),
            Step::Index(i) => v.get_mut(*i),
        };
        match next {
            Some(n) => v = n,
            None => return,
        }
    }
    match (last, v) {
        (Step::Key(k), Value::Object(m)) => {
            m.remove(k);
        }
        (Step::Index(i), Value::Array(a)) if *i < a.len() => {
            a.remove(*i);
        }
        _ => {}
    }
}

fn join(path: &str, steps: &[Step]) -> String {
    let mut out = path.to_owned();
    for step in steps {
        match step {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A Go/protobuf duration as Istio and Linkerd write them ("1s", "0.5s", "100ms", "1m30s",
/// "1h", "250us"), rounded up to whole milliseconds (the model's resolution).
pub(crate) fn go_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "{text:?} is not a duration; write a number and a unit (h, m, s, ms, us, ns), e.g. \
             \"2s\", \"0.5s\", \"250ms\", \"1m30s\""
        )
    };
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if s == "0" {
        return Ok(Duration::from_millis(0));
    }
    let mut rest = s;
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3.6e12,
            "m" => 6e10,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        nanos += number * scale;
    }
    // A year is far beyond any timeout; refuse what would overflow.
    if !nanos.is_finite() || nanos > 3.2e16 {
        return Err(bad());
    }
    let ms = (nanos / 1e6).ceil() as u64;
    Ok(Duration::from_millis(ms))
}

/// A percentage 0..=100 as a finite number, else a message.
pub(crate) fn percent(value: f64) -> Result<f64, String> {
    if value.is_finite() && (0.0..=100.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not a percentage: give 0 to 100"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::finding::{ObjectRef, Severity};

    #[derive(serde::Deserialize, Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Outer {
        name: Option<String>,
        inner: Option<Vec<Inner>>,
    }

    #[derive(serde::Deserialize, Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Inner {
        attempts: Option<u32>,
    }

    fn run(json: Value) -> (bool, Vec<(Severity, String, String)>) {
        let object = ObjectRef::new("X", "ns", "x");
        let mut out = Vec::new();
        let parsed = parse::<Outer>(
            &json,
            "spec",
            &mut Report {
                object: &object,
                out: &mut out,
            },
        );
        let found = out
            .into_iter()
            .map(|f| (f.severity, f.field, f.message))
            .collect();
        (parsed.is_some(), found)
    }

    #[test]
    fn unknown_fields_are_named_by_path() {
        let (ok, found) = run(serde_json::json!({
            "name": "a", "extra": 1, "inner": [{"attempts": 1}, {"attempt": 2}], "nothing": null
        }));
        assert!(ok);
        let fields: Vec<&str> = found.iter().map(|f| f.1.as_str()).collect();
        assert_eq!(fields, ["spec.extra", "spec.inner[1].attempt"]);
        assert!(found.iter().all(|f| f.0 == Severity::Warning));
    }

    #[test]
    fn a_wrong_type_names_the_field() {
        let (ok, found) = run(serde_json::json!({"inner": [{"attempts": 1}, {"attempts": "x"}]}));
        assert!(!ok);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, Severity::Error);
        assert_eq!(found[0].1, "spec.inner[1].attempts");
        assert!(found[0].2.contains("invalid type"), "{}", found[0].2);
    }

    #[test]
    fn go_durations() {
        let ms = |s| go_duration(s).map(|d| d.get().as_millis());
        assert_eq!(ms("2s"), Ok(2000));
        assert_eq!(ms("0.5s"), Ok(500));
        assert_eq!(ms("1m30s"), Ok(90_000));
        assert_eq!(ms("1h"), Ok(3_600_000));
        assert_eq!(ms("250us"), Ok(1));
        assert_eq!(ms("0"), Ok(0));
        for bad in ["", "2", "s", "1d", "1e400s", "-1s", "1..5s"] {
            assert!(go_duration(bad).is_err(), "{bad}");
        }
    }
}
