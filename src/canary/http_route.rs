//! Gateway API HTTPRoute (GAMMA: a parentRef names the Service): the weights of
//! `spec.rules[].backendRefs[]` in every rule that sends to a canary (absent weights are 1).

use serde_json::{Value, json};

use super::distribute::{Backend, every_canary_found, shift_route};
use super::{CanaryError, Change, Want, describe};

/// Whether the route is attached to Service `service` (a parentRef of kind Service, core
/// group, in the route's namespace).
pub fn routes(obj: &Value, service: &str) -> bool {
    let refs = obj.pointer("/spec/parentRefs").and_then(Value::as_array);
    refs.into_iter().flatten().any(|p| {
        let s = |k: &str| p.get(k).and_then(Value::as_str);
        s("kind") == Some("Service")
            && matches!(s("group"), None | Some(""))
            && s("name") == Some(service)
            && s("namespace").is_none_or(|ns| {
                Some(ns) == obj.pointer("/metadata/namespace").and_then(Value::as_str)
            })
    })
}

/// A backendRef to a Service (the default kind) by name.
fn service_name(backend: &Value) -> Option<&str> {
    let s = |k: &str| backend.get(k).and_then(Value::as_str);
    let core = matches!(s("group"), None | Some("")) && matches!(s("kind"), None | Some("Service"));
    if core { s("name") } else { None }
}

/// The object with the canaries' weights set in every rule that has one; nothing else moves.
pub fn set_weights(obj: &Value, want: &Want) -> Result<(Value, Vec<Change>), CanaryError> {
    let what = describe(obj);
    let mut out = obj.clone();
    let mut changes = Vec::new();
    let mut seen = Vec::new();
    let Some(rules) = out.pointer_mut("/spec/rules").and_then(Value::as_array_mut) else {
        return Err(CanaryError::object(
            &what,
            "spec.rules",
            "the route has no rules to weigh",
        ));
    };
    for (r, rule) in rules.iter_mut().enumerate() {
        let Some(refs) = rule.get_mut("backendRefs").and_then(Value::as_array_mut) else {
            continue;
        };
        let backends: Vec<Backend> = refs
            .iter()
            .enumerate()
            .map(|(b, v)| {
                let name = service_name(v).unwrap_or("").to_owned();
                Backend {
                    path: format!("spec.rules[{r}].backendRefs[{b}]"),
                    canary: want.percent_of(&name).map(|_| name.clone()),
                    name,
                    weight: v.get("weight").and_then(Value::as_u64).unwrap_or(1),
                }
            })
            .collect();
        let route = format!("spec.rules[{r}].backendRefs");
        shift_route(&what, &route, refs, backends, want, &mut seen, &mut changes)?;
    }
    every_canary_found(&what, "spec.rules[].backendRefs", &seen, want)?;
    Ok((out, changes))
}

/// A new route for Service `service` (port `port`) sending the canaries their share and
/// the Service itself the rest.
pub fn create(api_version: &str, namespace: &str, service: &str, port: i64, want: &Want) -> Value {
    let canary: u32 = want.canaries.iter().map(|c| c.1).sum();
    let mut refs = vec![json!({"name": service, "port": port, "weight": 100 - canary.min(100)})];
    refs.extend(
        want.canaries
            .iter()
            .map(|(name, w)| json!({"name": name, "port": port, "weight": w})),
    );
    json!({
        "apiVersion": api_version,
        "kind": "HTTPRoute",
        "metadata": {"name": service, "namespace": namespace},
        "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": service, "port": port}],
            "rules": [{"backendRefs": refs}],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::owned::tests::only_weights_differ;

    fn route() -> Value {
        serde_json::from_str(r#"{
          "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
          "metadata": {"name": "web", "namespace": "shop", "labels": {"team": "a"}},
          "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": "web", "port": 80}],
            "rules": [
              {"matches": [{"headers": [{"name": "x-beta", "value": "1"}]}],
               "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x", "value": "y"}]}}],
               "backendRefs": [{"name": "web-canary", "port": 80}]},
              {"timeouts": {"request": "5s"}, "x-unknown": {"kept": true},
               "backendRefs": [{"name": "web-stable", "port": 80, "weight": 90},
                               {"name": "web-canary", "port": 80, "weight": 10, "filters": []}]},
              {"backendRefs": [{"name": "other", "port": 80}]}
            ]}}"#).unwrap()
    }

    #[test]
    fn only_the_weights_of_rules_with_the_canary_change() {
        let input = route();
        let mut want = Want::one("web-canary", 30);
        // The first rule sends only to the canary: it cannot give anyone the other 70 %.
        assert!(
            matches!(set_weights(&input, &want), Err(CanaryError::Object { field, .. }) if field == "spec.rules[0].backendRefs")
        );
        want = Want::one("web-canary", 100);
        let (out, changes) = set_weights(&input, &want).unwrap();
        let paths: Vec<(&str, &Value)> = changes.iter().map(|c| (c.path.as_str(), &c.to)).collect();
        assert_eq!(
            paths,
            [
                ("spec.rules[0].backendRefs[0]", &json!(100)),
                ("spec.rules[1].backendRefs[0]", &json!(0)),
                ("spec.rules[1].backendRefs[1]", &json!(100)),
            ]
        );
        only_weights_differ(
            &input,
            &out,
            &[
                "/spec/rules/0/backendRefs/0/weight",
                "/spec/rules/1/backendRefs/0/weight",
                "/spec/rules/1/backendRefs/1/weight",
            ],
        );
    }

    #[test]
    fn a_two_backend_rule_moves_the_rest_to_the_stable_one() {
        let mut input = route();
        input["spec"]["rules"].as_array_mut().unwrap().remove(0);
        let (out, changes) = set_weights(&input, &Want::one("web-canary", 25)).unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(out["spec"]["rules"][0]["backendRefs"][0]["weight"], 75);
        assert_eq!(out["spec"]["rules"][0]["backendRefs"][1]["weight"], 25);
        only_weights_differ(
            &input,
            &out,
            &[
                "/spec/rules/0/backendRefs/0/weight",
                "/spec/rules/0/backendRefs/1/weight",
            ],
        );
        // Again: nothing to change.
        assert!(
            set_weights(&out, &Want::one("web-canary", 25))
                .unwrap()
                .1
                .is_empty()
        );
    }

    #[test]
    fn an_unknown_canary_names_the_backends_there() {
        let err = set_weights(&route(), &Want::one("web-v2", 10))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no backend is web-v2 (the backends are web-canary, web-stable, other)"),
            "{err}"
        );
        assert!(
            err.starts_with("HTTPRoute shop/web: spec.rules[].backendRefs:"),
            "{err}"
        );
    }

    #[test]
    fn attached_to_the_service_by_a_core_parent_ref() {
        let r = route();
        assert!(routes(&r, "web"));
        assert!(!routes(&r, "other"));
        let mut gateway = r.clone();
        gateway["spec"]["parentRefs"][0] = json!({"name": "web"});
        assert!(
            !routes(&gateway, "web"),
            "a parentRef without kind is a Gateway"
        );
        let created = create(
            "gateway.networking.k8s.io/v1",
            "shop",
            "web",
            8080,
            &Want::one("web-canary", 10),
        );
        assert!(routes(&created, "web"));
        assert_eq!(
            created["spec"]["rules"][0]["backendRefs"],
            json!([
            {"name": "web", "port": 8080, "weight": 90}, {"name": "web-canary", "port": 8080, "weight": 10}])
        );
    }
}
