//! Istio VirtualService: the weights of `spec.http[].route[]` in every HTTP route that sends
//! to a canary, the canary named by its destination's subset or host. Weights are integers
//! out of 100 (a lone destination without one has 100).

use serde_json::{Value, json};

use super::distribute::{Backend, every_canary_found, shift_route};
use super::{CanaryError, Change, Want, describe, host_is};

fn namespace(obj: &Value) -> &str {
    obj.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Whether one of the object's hosts is Service `service`.
pub fn routes(obj: &Value, service: &str) -> bool {
    let ns = namespace(obj);
    let hosts = obj.pointer("/spec/hosts").and_then(Value::as_array);
    hosts
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|h| host_is(h, service, ns))
}

/// Which canary of `want` a destination is: its subset, else its host's Service.
fn canary_of(destination: &Value, ns: &str, want: &Want) -> Option<String> {
    let s = |k: &str| destination.get(k).and_then(Value::as_str);
    want.canaries
        .iter()
        .map(|c| &c.0)
        .find(|c| match s("subset") {
            Some(subset) => subset == c.as_str(),
            None => s("host").is_some_and(|h| host_is(h, c, ns)),
        })
        .cloned()
}

/// The object with the canaries' weights set; nothing else moves.
pub fn set_weights(obj: &Value, want: &Want) -> Result<(Value, Vec<Change>), CanaryError> {
    let what = describe(obj);
    let ns = namespace(obj).to_owned();
    let mut out = obj.clone();
    let mut changes = Vec::new();
    let mut seen = Vec::new();
    let Some(http) = out.pointer_mut("/spec/http").and_then(Value::as_array_mut) else {
        return Err(CanaryError::object(
            &what,
            "spec.http",
            "no HTTP routes to weigh (tcp and tls routes are not weighed)",
        ));
    };
    for (r, route) in http.iter_mut().enumerate() {
        let Some(dests) = route.get_mut("route").and_then(Value::as_array_mut) else {
            continue;
        };
        let lone = dests.len() == 1;
        let backends: Vec<Backend> = dests
            .iter()
            .enumerate()
            .map(|(d, v)| {
                let dest = v.get("destination").cloned().unwrap_or(Value::Null);
                let s = |k: &str| dest.get(k).and_then(Value::as_str).map(str::to_owned);
                Backend {
                    path: format!("spec.http[{r}].route[{d}]"),
                    name: s("subset").or_else(|| s("host")).unwrap_or_default(),
                    canary: canary_of(&dest, &ns, want),
                    weight: v.get("weight").and_then(Value::as_u64).unwrap_or(if lone {
                        100
                    } else {
                        0
                    }),
                }
            })
            .collect();
        let route = format!("spec.http[{r}].route");
        shift_route(
            &what,
            &route,
            dests,
            backends,
            want,
            &mut seen,
            &mut changes,
        )?;
    }
    every_canary_found(&what, "spec.http[].route", &seen, want)?;
    Ok((out, changes))
}

/// A new VirtualService for Service `service` sending the canary Services (by host) their
/// share and `service` the rest.
pub fn create(api_version: &str, namespace: &str, service: &str, want: &Want) -> Value {
    let canary: u32 = want.canaries.iter().map(|c| c.1).sum();
    let mut route =
        vec![json!({"destination": {"host": service}, "weight": 100 - canary.min(100)})];
    route.extend(
        want.canaries
            .iter()
            .map(|(name, w)| json!({"destination": {"host": name}, "weight": w})),
    );
    json!({
        "apiVersion": api_version,
        "kind": "VirtualService",
        "metadata": {"name": service, "namespace": namespace},
        "spec": {"hosts": [service], "http": [{"route": route}]},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::owned::tests::only_weights_differ;

    fn vs() -> Value {
        serde_json::from_str(r#"{
          "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
          "metadata": {"name": "reviews", "namespace": "shop"},
          "spec": {"hosts": ["reviews.shop.svc.cluster.local"],
            "http": [
              {"name": "jason", "match": [{"headers": {"end-user": {"exact": "jason"}}}],
               "route": [{"destination": {"host": "reviews", "subset": "v2"}}]},
              {"retries": {"attempts": 3}, "fault": {"delay": {"fixedDelay": "1s", "percentage": {"value": 0.5}}},
               "route": [{"destination": {"host": "reviews", "subset": "v1"}, "weight": 90, "headers": {"request": {"set": {"a": "b"}}}},
                         {"destination": {"host": "reviews", "subset": "v2"}, "weight": 10}]}
            ],
            "tcp": [{"route": [{"destination": {"host": "reviews"}}]}]}}"#).unwrap()
    }

    #[test]
    fn subsets_are_weighed_in_every_route_that_has_them() {
        let input = vs();
        assert!(routes(&input, "reviews"));
        // The first route sends only to v2: it can only take 100 %.
        assert!(set_weights(&input, &Want::one("v2", 40)).is_err());
        let (out, changes) = set_weights(&input, &Want::one("v2", 100)).unwrap();
        // The lone destination already had 100 (implicitly): it is left without a weight.
        assert_eq!(
            changes.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(),
            ["spec.http[1].route[0]", "spec.http[1].route[1]"]
        );
        only_weights_differ(
            &input,
            &out,
            &["/spec/http/1/route/0/weight", "/spec/http/1/route/1/weight"],
        );
    }

    #[test]
    fn destinations_by_host() {
        let input = json!({"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"hosts": ["web"], "http": [{"route": [
                {"destination": {"host": "web-stable.shop.svc.cluster.local", "port": {"number": 80}}, "weight": 100},
                {"destination": {"host": "web-canary"}, "weight": 0}]}]}});
        let (out, changes) = set_weights(&input, &Want::one("web-canary", 5)).unwrap();
        assert_eq!(changes[0].backend, "web-stable.shop.svc.cluster.local");
        assert_eq!(
            (changes[0].to.clone(), changes[1].to.clone()),
            (json!(95), json!(5))
        );
        only_weights_differ(
            &input,
            &out,
            &["/spec/http/0/route/0/weight", "/spec/http/0/route/1/weight"],
        );
        let err = set_weights(&input, &Want::one("v3", 5))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "no backend is v3 (the backends are web-stable.shop.svc.cluster.local, web-canary)"
            ),
            "{err}"
        );
        let created = create(
            "networking.istio.io/v1",
            "shop",
            "web",
            &Want::one("web-canary", 5),
        );
        assert!(routes(&created, "web"));
        assert_eq!(
            set_weights(&created, &Want::one("web-canary", 5))
                .unwrap()
                .1,
            []
        );
    }
}
