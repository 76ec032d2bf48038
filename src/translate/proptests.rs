//! Fuzzing translation: the quickstart objects (and Gateway API routes on them) with one field replaced by an odd value or
//! removed never make it panic, and every config built from the result validates.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::tests::assert_valid;
use super::{Inputs, ObjectRef, Options, translate};

/// Every quickstart document, and the Gateway API routes on its Services, parsed once.
fn seeds() -> Vec<Value> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/translate");
    let mut files: Vec<_> = ["quickstart", "gateway"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            serde_saphyr::from_multiple::<Value>(&text).unwrap()
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// Values that trip translators: wrong types, out of range, empty, wildcards, bad syntax.
fn odd() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(70000)),
        Just(json!(1e300)),
        Just(json!("")),
        Just(json!("*")),
        Just(json!("x")),
        Just(json!("0s")),
        Just(json!("900m")),
        Just(json!("(")),
        Just(json!("None")),
        Just(json!("10.0.0.300")),
        Just(json!("v1")),
        Just(json!({})),
        Just(json!([])),
        Just(json!([{}])),
        Just(json!({"exact": "a", "regex": "("})),
        Just(json!(true)),
        "[a-z/.:*-]{0,12}".prop_map(Value::String),
        (0u32..700).prop_map(|n| json!(n)),
    ]
}

/// Every path to a value inside `v` (object keys and array indexes).
fn paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                at.push(k.clone());
                paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                at.push(i.to_string());
                paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn set(v: &mut Value, path: &[String], new: Option<Value>) {
    let Some((last, parent)) = path.split_last() else {
        if let Some(n) = new {
            *v = n;
        }
        return;
    };
    let mut cur = v;
    for step in parent {
        let next = match cur {
            Value::Object(m) => m.get_mut(step),
            Value::Array(a) => step.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match (cur, new) {
        (Value::Object(m), Some(n)) => {
            m.insert(last.clone(), n);
        }
        (Value::Object(m), None) => {
            m.remove(last);
        }
        (Value::Array(a), new) => {
            if let Ok(i) = last.parse::<usize>()
                && i < a.len()
            {
                match new {
                    Some(n) => a[i] = n,
                    None => {
                        a.remove(i);
                    }
                }
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_objects_never_panic_and_always_validate(
        doc in any::<prop::sample::Index>(),
        path in any::<prop::sample::Index>(),
        remove in any::<bool>(),
        value in odd(),
        second in any::<prop::sample::Index>(),
        value2 in odd(),
    ) {
        let mut docs = seeds();
        let d = doc.index(docs.len());
        for (pick, v) in [(path, value), (second, value2)] {
            let mut all = Vec::new();
            paths(&docs[d], &mut Vec::new(), &mut all);
            let p = &all[pick.index(all.len())];
            set(&mut docs[d], p, if remove { None } else { Some(v) });
        }
        let mut inputs = Inputs::default();
        let mut findings = Vec::new();
        for v in docs {
            inputs.add_value(v, &ObjectRef::default(), &mut findings);
        }
        let mesh = translate(&inputs, &Options::default());
        assert_valid(&mesh, &inputs);
    }
}
