//! `meshctl routes`: a service's figures per route of its config (HTTPRoute rules,
//! VirtualService http entries, ServiceProfile routes: the model's named routes), from its
//! clients' proxies, which keep an outbound window per route.

use super::report::{Merged, RowKey, Signals};

/// One route of the service, as its clients sent to it.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteRow {
    pub route: String,
    /// The authorities (service labels) it was reached by.
    pub authorities: Vec<String>,
    pub signals: Signals,
}

/// A route's own row (not one of its backends'), to an authority `to` accepts.
fn route_row(key: &RowKey, to: &impl Fn(&str) -> bool) -> bool {
    key.direction == "outbound"
        && key.route.is_some()
        && key.backend.is_none()
        && to(&key.authority)
}

/// The routes of the authorities `to` accepts, merged across every client answer in
/// `merged`, in name order; a route configured but not called has zero requests.
pub fn routes(merged: &Merged, to: impl Fn(&str) -> bool) -> Vec<RouteRow> {
    let mut names: Vec<(String, Vec<String>)> = Vec::new();
    for (key, _) in merged.signals().filter(|(k, _)| route_row(k, &to)) {
        let route = key.route.clone().unwrap_or_default();
        match names.iter_mut().find(|(name, _)| *name == route) {
            Some((_, authorities)) if authorities.contains(&key.authority) => {}
            Some((_, authorities)) => authorities.push(key.authority.clone()),
            None => names.push((route, vec![key.authority.clone()])),
        }
    }
    names.sort();
    names
        .into_iter()
        .filter_map(|(route, authorities)| {
            let signals =
                merged.sum(|k| route_row(k, &to) && k.route.as_deref() == Some(route.as_str()))?;
            Some(RouteRow {
                route,
                authorities,
                signals,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::StatsAnswer;

    #[test]
    fn routes_are_merged_across_clients_and_their_backends_left_out() {
        let answer = |rows: &str| -> StatsAnswer {
            serde_json::from_str(&format!(
                r#"{{"windowSeconds": 10, "latencyBucketsMs": [10.0], "rows": [{rows}]}}"#
            ))
            .unwrap()
        };
        let a = answer(
            r#"{"direction": "outbound", "authority": "web:80", "requests": 30, "failures": 0,
                "latencyBuckets": [30, 0]},
               {"direction": "outbound", "authority": "web:80", "route": "api", "requests": 20,
                "failures": 2, "latencyBuckets": [20, 0]},
               {"direction": "outbound", "authority": "web:80", "route": "api",
                "backend": "web/v1", "requests": 20, "failures": 2, "latencyBuckets": [20, 0]},
               {"direction": "outbound", "authority": "web:80", "route": "rest", "requests": 10,
                "failures": 0, "latencyBuckets": [0, 10]},
               {"direction": "outbound", "authority": "db:5432", "route": "default",
                "requests": 7, "failures": 0, "latencyBuckets": [7, 0]}"#,
        );
        let b = answer(
            r#"{"direction": "outbound", "authority": "web:80", "route": "api", "requests": 30,
                "failures": 3, "latencyBuckets": [30, 0]},
               {"direction": "outbound", "authority": "web:80", "route": "idle", "requests": 0,
                "failures": 0, "latencyBuckets": [0, 0]}"#,
        );
        let merged = Merged::from_answers([&a, &b]).unwrap().unwrap();
        let rows = routes(&merged, |authority| authority.starts_with("web"));
        let names: Vec<&str> = rows.iter().map(|r| r.route.as_str()).collect();
        assert_eq!(names, ["api", "idle", "rest"]);
        let api = &rows[0].signals;
        assert_eq!((api.requests, api.failures, api.rps), (50, 5, 5.0));
        assert_eq!(api.success_rate, Some(0.9));
        assert_eq!(rows[0].authorities, ["web:80"]);
        assert_eq!(rows[1].signals.success_rate, None);
        // All slower than the last bound.
        assert!(rows[2].signals.latency_p50_ms.is_some_and(|ms| ms >= 10.0));
    }
}
