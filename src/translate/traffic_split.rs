//! SMI TrafficSplit (split.smi-spec.io v1alpha1 to v1alpha4): the apex Service's traffic
//! split between backend Services by weight (integers like 500 or quantities like 900m).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::catalog::Catalog;
use super::finding::{ObjectRef, Report};
use super::routes::{self, Dest};
use super::service::Table;
use crate::model::route::{BackendRef, Route};
use crate::model::service::Protocol;

/// The TrafficSplit kind.
pub const KIND: &str = "TrafficSplit";

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub service: Option<String>,
    pub backends: Option<Vec<SplitBackend>>,
    pub matches: Option<Vec<Value>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SplitBackend {
    pub service: Option<String>,
    /// An integer or a quantity (`900m`, `1`, `0.5`).
    pub weight: Option<Value>,
}

/// Whether an apiVersion is one of the SMI split versions this reads.
pub(crate) fn is_smi(api_version: &str) -> bool {
    matches!(
        api_version,
        "split.smi-spec.io/v1alpha1"
            | "split.smi-spec.io/v1alpha2"
            | "split.smi-spec.io/v1alpha3"
            | "split.smi-spec.io/v1alpha4"
    )
}

/// A weight in thousandths: `900m` is 900, `1` is 1000, `500` is 500000.
pub(crate) fn weight_milli(v: &Value) -> Result<u64, String> {
    let bad = || format!("{v} is not a weight: give an integer (500) or a quantity (900m, 0.5)");
    let milli = match v {
        Value::Number(n) => n.as_f64().map(|f| f * 1000.0),
        Value::String(s) => match s.strip_suffix('m') {
            Some(m) => m.parse::<f64>().ok(),
            None => s.parse::<f64>().ok().map(|f| f * 1000.0),
        },
        _ => None,
    }
    .ok_or_else(bad)?;
    if !milli.is_finite() || !(0.0..=4e12).contains(&milli) {
        return Err(bad());
    }
    Ok(milli.round() as u64)
}

/// The apex Service, in the split's namespace.
pub(crate) fn targets(
    catalog: &mut Catalog<'_>,
    object: &ObjectRef,
    spec: &Spec,
) -> Vec<(String, String)> {
    let Some(apex) = spec.service.clone().filter(|s| !s.is_empty()) else {
        catalog.report(object).error(
            "spec.service",
            "a TrafficSplit needs its apex service; it is not applied",
        );
        return Vec::new();
    };
    match catalog.resolve_host(&apex, &object.namespace) {
        Ok(t) => vec![t],
        Err(e) => {
            catalog
                .report(object)
                .error("spec.service", format!("{e}; the split is not applied"));
            Vec::new()
        }
    }
}

/// Writes the split into port service `key`: one route sending to the backends by weight.
pub(crate) fn apply(
    catalog: &mut Catalog<'_>,
    table: &mut Table,
    object: &ObjectRef,
    spec: &Spec,
    key: &str,
) {
    if spec.matches.as_ref().is_some_and(|m| !m.is_empty()) {
        catalog.report(object).warn(
            "spec.matches",
            "HTTPRouteGroup matches are not supported: the split applies to every request",
        );
    }
    let mut weighted = Vec::new();
    for (i, b) in spec.backends.iter().flatten().enumerate() {
        let at = format!("spec.backends[{i}]");
        let Some(service) = b.service.clone().filter(|s| !s.is_empty()) else {
            catalog
                .report(object)
                .error(format!("{at}.service"), "a backend needs a service");
            continue;
        };
        let milli = match b.weight.as_ref().map(weight_milli) {
            Some(Ok(w)) => w,
            Some(Err(e)) => {
                catalog.report(object).error(format!("{at}.weight"), e);
                continue;
            }
            None => {
                catalog
                    .report(object)
                    .error(format!("{at}.weight"), "a backend needs a weight");
                continue;
            }
        };
        let dest = Dest {
            host: service,
            ..Dest::default()
        };
        if let Some(r) = routes::resolve(
            catalog,
            table,
            key,
            &object.namespace,
            &dest,
            &format!("{at}.service"),
            object,
        ) {
            weighted.push((r.backend, milli));
        }
    }
    let weights = scale(&weighted.iter().map(|w| w.1).collect::<Vec<_>>());
    let backends: Vec<BackendRef> = weighted
        .iter()
        .zip(weights)
        .map(|((name, _), weight)| BackendRef {
            name: name.clone(),
            weight,
        })
        .collect();
    if backends.iter().all(|b| b.weight == 0) {
        catalog.report(object).error(
            "spec.backends",
            "no backend could be used (or every weight is 0); the split is not applied",
        );
        return;
    }
    let Some(t) = table.get_mut(key) else { return };
    t.route_source = Some(object.clone());
    if t.model.protocol == Protocol::Opaque {
        let top = backends
            .iter()
            .max_by_key(|b| b.weight)
            .map(|b| b.name.clone());
        if let Some(pos) = top.and_then(|n| t.model.backends.iter().position(|b| b.name == n)) {
            let b = t.model.backends.remove(pos);
            t.model.backends.insert(0, b);
        }
        let port = t.port;
        let mut report = Report {
            object,
            out: &mut catalog.findings,
        };
        report.warn(
            "spec.backends",
            format!("port {port} is opaque (TCP): connections are not split; all go to the backend with the highest weight"),
        );
        return;
    }
    t.model.routes = vec![Route {
        name: "split".to_owned(),
        backends,
        ..Route::default()
    }];
}

/// Weights made to fit u32 keeping their ratios (divided by their common scale if needed).
fn scale(milli: &[u64]) -> Vec<u32> {
    let max = milli.iter().copied().max().unwrap_or(0);
    let divisor = max.div_ceil(u64::from(u32::MAX / 16)).max(1);
    // Whole units when every weight is a whole number: 500/500, not 500000/500000.
    let unit = if milli.iter().all(|m| m % 1000 == 0) {
        1000
    } else {
        1
    };
    milli
        .iter()
        .map(|m| u32::try_from(m / unit.max(divisor)).unwrap_or(u32::MAX))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_as_integers_and_quantities() {
        let w = |j: Value| weight_milli(&j);
        assert_eq!(w(serde_json::json!(500)), Ok(500_000));
        assert_eq!(w(serde_json::json!("900m")), Ok(900));
        assert_eq!(w(serde_json::json!("1")), Ok(1000));
        assert_eq!(w(serde_json::json!(0.5)), Ok(500));
        assert!(w(serde_json::json!("x")).is_err());
        assert!(w(serde_json::json!(-1)).is_err());
        assert_eq!(scale(&[900, 100]), [900, 100]);
        assert_eq!(scale(&[500_000, 500_000]), [500, 500]);
    }
}
