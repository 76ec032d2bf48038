//! Istio's mesh-wide config (the `istio` ConfigMap's `mesh` key, an IstioOperator's
//! `spec.meshConfig`): its tracing settings are install values in meshctl, so they become
//! findings that say which value to set, not proxy config.

use serde_json::Value;

use super::finding::{Finding, ObjectRef, Severity};

/// The findings of one ConfigMap or IstioOperator; none for other ConfigMaps.
pub fn findings(value: &Value, kind: &str, object: &ObjectRef) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |severity, field: String, message: String| {
        out.push(Finding {
            object: object.clone(),
            field,
            severity,
            message,
        });
    };
    let (mesh, at) = match kind {
        "ConfigMap" => {
            let istio = object.name == "istio" || object.name.starts_with("istio-");
            let Some(text) = value.pointer("/data/mesh").and_then(Value::as_str) else {
                return out;
            };
            if !istio {
                return out;
            }
            match serde_saphyr::from_str::<Value>(text) {
                Ok(mesh) => (mesh, "data.mesh: "),
                Err(e) => {
                    push(
                        Severity::Error,
                        "data.mesh".to_owned(),
                        format!("not a YAML mesh config ({e}); its settings are not read"),
                    );
                    return out;
                }
            }
        }
        _ => match value.pointer("/spec/meshConfig") {
            Some(mesh) => (mesh.clone(), "spec.meshConfig."),
            None => return out,
        },
    };
    let Some(tracing) = mesh.pointer("/defaultConfig/tracing") else {
        return out;
    };
    let field = |name: &str| format!("{at}defaultConfig.tracing.{name}");
    if let Some(percent) = tracing.get("sampling") {
        match percent.as_f64().filter(|p| (0.0..=100.0).contains(p)) {
            Some(p) => push(
                Severity::Warning,
                field("sampling"),
                format!(
                    "Istio samples {p} % of requests; meshctl's rate is a fraction of 1: \
                     `meshctl install --set tracing.sampling={}`",
                    p / 100.0
                ),
            ),
            None => push(
                Severity::Error,
                field("sampling"),
                format!("{percent} is not a percentage (0 to 100); it is not mapped"),
            ),
        }
    }
    if let Some(address) = tracing.pointer("/zipkin/address") {
        let address = address.as_str().unwrap_or_default();
        push(
            Severity::Warning,
            field("zipkin.address"),
            format!(
                "meshctl's proxies export OTLP over gRPC, not Zipkin: run an OpenTelemetry \
                 Collector with an OTLP receiver and its zipkin exporter sending to {address} \
                 (endpoint http://{address}/api/v2/spans), and set `meshctl install --set \
                 tracing.endpoint=<collector>:4317`"
            ),
        );
    }
    for other in ["lightstep", "datadog", "stackdriver", "openCensusAgent"] {
        if tracing.get(other).is_some() {
            push(
                Severity::Warning,
                field(other),
                "not used: meshctl exports OTLP only; send it through an OpenTelemetry \
                 Collector to this backend and set `meshctl install --set \
                 tracing.endpoint=<collector>:4317`"
                    .to_owned(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(kind: &str, name: &str) -> ObjectRef {
        ObjectRef::new(kind, "istio-system", name)
    }

    #[test]
    fn istios_configmap_tracing_is_mapped_and_zipkin_named() {
        let cm = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "istio", "namespace": "istio-system"},
            "data": {"mesh": "defaultConfig:\n  tracing:\n    sampling: 2.5\n    zipkin:\n      address: zipkin.istio-system:9411\n"},
        });
        let f = findings(&cm, "ConfigMap", &at("ConfigMap", "istio"));
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(f[0].field, "data.mesh: defaultConfig.tracing.sampling");
        assert!(
            f[0].message.contains("--set tracing.sampling=0.025"),
            "{}",
            f[0].message
        );
        assert_eq!(
            f[1].field,
            "data.mesh: defaultConfig.tracing.zipkin.address"
        );
        assert!(f[1].message.contains("zipkin.istio-system:9411"));
        assert!(f[1].message.contains("tracing.endpoint="));
        // Another ConfigMap with a `mesh` key is not Istio's.
        assert!(findings(&cm, "ConfigMap", &at("ConfigMap", "app-settings")).is_empty());
    }

    #[test]
    fn an_istio_operators_mesh_config_is_read_and_a_bad_percentage_is_an_error() {
        let op = serde_json::json!({
            "apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator",
            "metadata": {"name": "default"},
            "spec": {"meshConfig": {"defaultConfig": {"tracing": {"sampling": 150}}}},
        });
        let f = findings(&op, "IstioOperator", &at("IstioOperator", "default"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].field, "spec.meshConfig.defaultConfig.tracing.sampling");
        assert!(f[0].message.starts_with("150 is not a percentage"));
    }
}
