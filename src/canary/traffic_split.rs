//! SMI TrafficSplit (split.smi-spec.io v1alpha1 to v1alpha4): the weights of
//! `spec.backends[]`, written in the form the split uses: integers out of 100, or quantities
//! out of `1000m` when any weight there is a quantity (`900m`).

use serde_json::{Value, json};

use super::distribute::{Backend, every_canary_found, reweigh, write_weights};
use super::{CanaryError, Change, Want, describe, host_is};
use crate::translate::traffic_split::weight_milli;

/// Whether the split's apex is Service `service`.
pub fn routes(obj: &Value, service: &str) -> bool {
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    (obj.pointer("/spec/service").and_then(Value::as_str)).is_some_and(|s| host_is(s, service, ns))
}

/// The weights' form in a split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// `90`, out of 100.
    Integer,
    /// `"900m"`, out of 1000m.
    Quantity,
}

impl Form {
    fn of(backends: &[Value]) -> Form {
        if backends
            .iter()
            .any(|b| b.get("weight").is_some_and(Value::is_string))
        {
            Form::Quantity
        } else {
            Form::Integer
        }
    }

    fn total(self) -> u64 {
        match self {
            Form::Integer => 100,
            Form::Quantity => 1000,
        }
    }

    fn write(self, units: u64) -> Value {
        match self {
            Form::Integer => json!(units),
            Form::Quantity => json!(format!("{units}m")),
        }
    }
}

/// The split with the canaries' weights set; nothing else moves.
pub fn set_weights(obj: &Value, want: &Want) -> Result<(Value, Vec<Change>), CanaryError> {
    let what = describe(obj);
    let mut out = obj.clone();
    let Some(list) = out
        .pointer_mut("/spec/backends")
        .and_then(Value::as_array_mut)
    else {
        return Err(CanaryError::object(
            &what,
            "spec.backends",
            "the split has no backends",
        ));
    };
    let form = Form::of(list);
    let mut backends = Vec::with_capacity(list.len());
    for (i, b) in list.iter().enumerate() {
        let name = b
            .get("service")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let weight = match b.get("weight") {
            None | Some(Value::Null) => 0,
            Some(w) => {
                let milli = weight_milli(w).map_err(|e| {
                    CanaryError::object(&what, format!("spec.backends[{i}].weight"), e)
                })?;
                if form == Form::Quantity {
                    milli
                } else {
                    milli / 1000
                }
            }
        };
        backends.push(Backend {
            path: format!("spec.backends[{i}]"),
            canary: want.percent_of(&name).map(|_| name.clone()),
            name,
            weight,
        });
    }
    every_canary_found(&what, "spec.backends", &backends, want)?;
    let weights = reweigh(&what, "spec.backends", &backends, want, form.total())?;
    let mut changes = Vec::new();
    write_weights(list, &backends, weights, |w| form.write(w), &mut changes);
    Ok((out, changes))
}

/// A new split of Service `service` between itself and the canaries. v1alpha1 weights are
/// quantities; later versions' are integers.
pub fn create(api_version: &str, namespace: &str, service: &str, want: &Want) -> Value {
    let form = if api_version.ends_with("/v1alpha1") {
        Form::Quantity
    } else {
        Form::Integer
    };
    let scale = form.total() / 100;
    let canary: u32 = want.canaries.iter().map(|c| c.1).sum();
    let mut backends = vec![
        json!({"service": service, "weight": form.write(u64::from(100 - canary.min(100)) * scale)}),
    ];
    backends.extend(
        want.canaries
            .iter()
            .map(|(name, w)| json!({"service": name, "weight": form.write(u64::from(*w) * scale)})),
    );
    json!({
        "apiVersion": api_version,
        "kind": "TrafficSplit",
        "metadata": {"name": service, "namespace": namespace},
        "spec": {"service": service, "backends": backends},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::owned::tests::only_weights_differ;

    fn split(weights: [Value; 2]) -> Value {
        let [a, b] = weights;
        json!({"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
               "metadata": {"name": "web-split", "namespace": "shop"},
               "spec": {"service": "web.shop.svc.cluster.local",
                        "matches": [{"kind": "HTTPRouteGroup", "name": "beta"}],
                        "backends": [{"service": "web-v1", "weight": a, "x": 1},
                                     {"service": "web-v2", "weight": b}]}})
    }

    #[test]
    fn integer_weights_stay_integers() {
        let input = split([json!(500), json!(500)]);
        assert!(routes(&input, "web"));
        let (out, changes) = set_weights(&input, &Want::one("web-v2", 20)).unwrap();
        assert_eq!(out["spec"]["backends"][0]["weight"], json!(80));
        assert_eq!(out["spec"]["backends"][1]["weight"], json!(20));
        assert_eq!(changes[0].from, json!(500));
        only_weights_differ(
            &input,
            &out,
            &["/spec/backends/0/weight", "/spec/backends/1/weight"],
        );
    }

    #[test]
    fn quantity_weights_stay_quantities() {
        let input = split([json!("900m"), json!("100m")]);
        let (out, changes) = set_weights(&input, &Want::one("web-v2", 25)).unwrap();
        assert_eq!(out["spec"]["backends"][0]["weight"], json!("750m"));
        assert_eq!(out["spec"]["backends"][1]["weight"], json!("250m"));
        assert_eq!(changes.len(), 2);
        only_weights_differ(
            &input,
            &out,
            &["/spec/backends/0/weight", "/spec/backends/1/weight"],
        );
        // "1" is a quantity too (1000m).
        let (out, _) =
            set_weights(&split([json!("1"), json!("0")]), &Want::one("web-v2", 1)).unwrap();
        assert_eq!(out["spec"]["backends"][0]["weight"], json!("990m"));
    }

    #[test]
    fn a_bad_weight_is_named() {
        let err =
            set_weights(&split([json!("lots"), json!(1)]), &Want::one("web-v2", 5)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("TrafficSplit shop/web-split: spec.backends[0].weight: "),
            "{err}"
        );
    }

    #[test]
    fn created_splits_use_their_version_s_form() {
        let want = Want::one("web-v2", 10);
        let v1 = create("split.smi-spec.io/v1alpha1", "shop", "web", &want);
        assert_eq!(
            v1["spec"]["backends"],
            json!([{"service": "web", "weight": "900m"}, {"service": "web-v2", "weight": "100m"}])
        );
        let v4 = create("split.smi-spec.io/v1alpha4", "shop", "web", &want);
        assert_eq!(v4["spec"]["backends"][0]["weight"], json!(90));
        assert!(routes(&v4, "web"));
    }
}
