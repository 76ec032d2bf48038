//! Property tests: no input makes injection panic, and on generated workloads injection is
//! idempotent, reversible by uninject, and survives the YAML and JSON writers.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{InjectOptions, Input, Operation, run};

fn inject() -> Operation {
    Operation::Inject(InjectOptions::default())
}

/// Strings that trip YAML writers: YAML 1.1 booleans and octals, markers, indicators, newlines.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("yes".to_owned()),
        Just("0644".to_owned()),
        Just("1.10".to_owned()),
        Just("~".to_owned()),
        Just("null".to_owned()),
        Just("---".to_owned()),
        Just("- item".to_owned()),
        Just("a: b".to_owned()),
        Just("#not a comment".to_owned()),
        Just(" leading space".to_owned()),
        Just("trailing space ".to_owned()),
        Just("line one\nline two\n".to_owned()),
        Just("no final newline\nsecond".to_owned()),
        Just("word ".repeat(30)),
        Just("0x1F".to_owned()),
        Just("1e3".to_owned()),
        Just("2024-01-01".to_owned()),
        "[a-zA-Z0-9 :#'\"\\-\\[\\]{}|>&*!%@,.\\n\\t\\u{e9}\\u{1F600}]{0,40}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1.0e6f64..1.0e6).prop_map(|f| json!(f)),
        tricky_string().prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-zA-Z][a-zA-Z0-9._/-]{0,12}", inner), 0..4)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// An optional field: absent, null, empty, or with content.
fn optional_list(items: BoxedStrategy<Value>) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        prop::collection::vec(items, 0..3).prop_map(|v| Some(Value::Array(v))),
    ]
}

fn container() -> BoxedStrategy<Value> {
    (
        "[a-z][a-z0-9-]{0,10}",
        tricky_string(),
        prop::collection::vec(("[a-z]{1,8}", value()), 0..3),
    )
        .prop_map(|(name, image, extra)| {
            let mut c = Map::new();
            c.insert("name".into(), json!(name));
            c.insert("image".into(), json!(image));
            c.extend(extra);
            Value::Object(c)
        })
        .boxed()
}

fn annotations() -> impl Strategy<Value = Option<Value>> {
    let key = prop_oneof![
        Just("meshctl.io/proxy-cpu-request".to_owned()),
        Just("meshctl.io/opaque-ports".to_owned()),
        Just("meshctl.io/native-sidecar".to_owned()),
        Just("meshctl.io/skip-outbound-cidrs".to_owned()),
        "[a-z.]{1,10}/[a-z-]{1,10}",
    ];
    let value = prop_oneof![
        Just("250m".to_owned()),
        Just("3306,5432".to_owned()),
        Just("false".to_owned()),
        Just("true".to_owned()),
        Just("10.0.0.0/8".to_owned()),
        tricky_string(),
    ];
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        prop::collection::vec((key, value), 0..4).prop_map(|kv| {
            Some(Value::Object(
                kv.into_iter().map(|(k, v)| (k, Value::String(v))).collect(),
            ))
        }),
    ]
}

/// A Deployment, Pod or CronJob whose pod template varies in every field injection touches.
fn workload() -> impl Strategy<Value = Value> {
    (
        0..3usize,
        annotations(),
        any::<bool>(),
        optional_list(container()),
        prop::collection::vec(container(), 0..3),
        optional_list(value().boxed()),
        prop::collection::vec(("[a-z]{1,8}", value()), 0..3),
    )
        .prop_map(|(kind, annotations, has_metadata, init, containers, volumes, extra)| {
            let mut spec = Map::new();
            spec.extend(extra);
            spec.insert("containers".into(), Value::Array(containers));
            if let Some(init) = init {
                spec.insert("initContainers".into(), init);
            }
            if let Some(volumes) = volumes {
                spec.insert("volumes".into(), volumes);
            }
            let mut template = Map::new();
            if has_metadata {
                let mut metadata = Map::new();
                metadata.insert("labels".into(), json!({"app": "x"}));
                if let Some(annotations) = annotations {
                    metadata.insert("annotations".into(), annotations);
                }
                template.insert("metadata".into(), Value::Object(metadata));
            }
            template.insert("spec".into(), Value::Object(spec));
            let template = Value::Object(template);
            match kind {
                0 => json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"},
                            "spec": {"replicas": 1, "template": template}}),
                1 => {
                    let mut pod = template.as_object().cloned().unwrap_or_default();
                    pod.shift_insert(0, "kind".into(), json!("Pod"));
                    pod.shift_insert(0, "apiVersion".into(), json!("v1"));
                    Value::Object(pod)
                }
                _ => json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
                            "spec": {"jobTemplate": {"spec": {"template": template}}}}),
            }
        })
}

fn run_text(name: &str, text: &str, op: &Operation) -> Result<String, super::Error> {
    run(
        &[Input {
            name,
            bytes: text.as_bytes(),
        }],
        op,
    )
    .map(|out| out.text)
}

fn parse_yaml(text: &str) -> Vec<Value> {
    let options = serde_saphyr::options! { legacy_octal_numbers: true };
    serde_saphyr::from_multiple_with_options(text, options).expect("our output parses")
}

fn check_round_trip(
    name: &str,
    text: &str,
    parse: fn(&str) -> Vec<Value>,
) -> Result<(), TestCaseError> {
    let Ok(injected) = run_text(name, text, &inject()) else {
        // Refusals and bad annotations are errors; they are tested elsewhere.
        return Ok(());
    };
    let twice = run_text(name, &injected, &inject()).expect("injected output injects again");
    prop_assert_eq!(&twice, &injected, "injecting twice changed the bytes");
    let restored = run_text(name, &injected, &Operation::Uninject).expect("uninject works");
    prop_assert_eq!(
        parse(&restored),
        parse(text),
        "uninject did not restore the original"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        for name in ["a.yaml", "a.json", "<stdin>"] {
            for op in [inject(), Operation::Uninject] {
                let _ = run(&[Input { name, bytes: &bytes }], &op);
            }
        }
    }

    #[test]
    fn yaml_ish_text_never_panics(
        text in "(---\n|\\.\\.\\.\n|kind: (Pod|Deployment|List)\n|apiVersion: (v1|apps/v1)\n|items:\n|- |  |spec:\n|template:\n|containers: \\[\\]\n|metadata: \\{\\}\n|hostNetwork: true\n|[a-z]{1,4}: |[&*!|>%#'\"{}\\[\\],]|\t|\n){0,40}"
    ) {
        for op in [inject(), Operation::Uninject] {
            let _ = run_text("a.yaml", &text, &op);
        }
    }

    #[test]
    fn generated_workloads_round_trip_through_yaml(doc in workload()) {
        let text = serde_saphyr::to_string(&doc).expect("serializable");
        check_round_trip("w.yaml", &text, parse_yaml)?;
    }

    #[test]
    fn generated_workloads_round_trip_through_json(doc in workload()) {
        let text = serde_json::to_string(&doc).expect("serializable");
        check_round_trip("w.json", &text, |t| vec![serde_json::from_str(t).expect("our output parses")])?;
    }
}
