//! The `status.parents` of HTTPRoutes and GRPCRoutes (Gateway API): what translation decided
//! per Service parent (`Accepted`) and per route (`ResolvedRefs`), and the pure function that
//! turns it into the entries the controller writes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::gateway::ParentRef;

/// The `controllerName` of the status entries this mesh owns.
pub const CONTROLLER_NAME: &str = "meshctl.io/controller";

/// A condition that is not `True`: its reason (a Gateway API reason) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub reason: &'static str,
    pub message: String,
}

impl Verdict {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// What translation decided about one route object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteOutcome {
    /// The route's `metadata.generation`, for `observedGeneration`.
    pub generation: Option<i64>,
    /// Each Service parentRef (others belong to gateway controllers) and whether it was taken.
    pub parents: Vec<(ParentRef, Result<(), Verdict>)>,
    /// Whether every backendRef resolved.
    pub resolved_refs: Result<(), Verdict>,
    /// The object's warnings (`field: message`): what an accepted route does not apply as
    /// written, told in its `Accepted` condition.
    pub warnings: Vec<String>,
}

impl Default for RouteOutcome {
    fn default() -> Self {
        Self {
            generation: None,
            parents: Vec::new(),
            resolved_refs: Ok(()),
            warnings: Vec::new(),
        }
    }
}

/// One `status.parents[]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteParentStatus {
    pub parent_ref: Value,
    pub controller_name: String,
    pub conditions: Vec<Condition>,
}

/// A `metav1.Condition`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    pub last_transition_time: String,
}

/// The entries this controller owns in `status.parents`: one per Service parentRef with
/// `Accepted` and `ResolvedRefs`. `previous` is the object's current `status.parents`: a
/// condition whose status did not change keeps its `lastTransitionTime`; `now` (RFC 3339)
/// stamps the others. Entries of other controllers are not returned: the controller merges.
pub fn parents(outcome: &RouteOutcome, previous: &[Value], now: &str) -> Vec<RouteParentStatus> {
    let parent_value = |p: &ParentRef| {
        let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.retain(|_, x| !x.is_null());
        }
        v
    };
    outcome
        .parents
        .iter()
        .map(|(p, accepted)| {
            let parent_ref = parent_value(p);
            let old: Vec<Condition> = previous
                .iter()
                .filter(|e| {
                    e.get("controllerName").and_then(Value::as_str) == Some(CONTROLLER_NAME)
                })
                .filter(|e| e.get("parentRef") == Some(&parent_ref))
                .filter_map(|e| e.get("conditions"))
                .filter_map(|c| serde_json::from_value::<Vec<Condition>>(c.clone()).ok())
                .flatten()
                .collect();
            let condition = |kind: &str, result: &Result<(), Verdict>, ok: (&str, String)| {
                let (status, reason, message) = match result {
                    Ok(()) => ("True", ok.0.to_owned(), ok.1),
                    Err(v) => ("False", v.reason.to_owned(), v.message.clone()),
                };
                let since = old
                    .iter()
                    .find(|c| c.kind == kind && c.status == status)
                    .map_or_else(|| now.to_owned(), |c| c.last_transition_time.clone());
                Condition {
                    kind: kind.to_owned(),
                    status: status.to_owned(),
                    reason,
                    message,
                    observed_generation: outcome.generation,
                    last_transition_time: since,
                }
            };
            RouteParentStatus {
                parent_ref,
                controller_name: CONTROLLER_NAME.to_owned(),
                conditions: vec![
                    condition(
                        "Accepted",
                        accepted,
                        ("Accepted", accepted_message(outcome)),
                    ),
                    condition(
                        "ResolvedRefs",
                        &outcome.resolved_refs,
                        ("ResolvedRefs", String::new()),
                    ),
                ],
            }
        })
        .collect()
}

/// The whole `status.parents` to write: the entries of other controllers as they are, in
/// their order, then `ours` (entries of ours for parents no longer named are dropped).
pub fn merge(previous: &[Value], ours: &[RouteParentStatus]) -> Vec<Value> {
    previous
        .iter()
        .filter(|e| e.get("controllerName").and_then(Value::as_str) != Some(CONTROLLER_NAME))
        .cloned()
        .chain(ours.iter().filter_map(|e| serde_json::to_value(e).ok()))
        .collect()
}

/// The longest `message` a `metav1.Condition` may have.
const MESSAGE_MAX: usize = 32_768;

/// An accepted route's message: its warnings, if any (cut to what the API server takes).
fn accepted_message(outcome: &RouteOutcome) -> String {
    if outcome.warnings.is_empty() {
        return String::new();
    }
    let mut message = format!("accepted with warnings: {}", outcome.warnings.join("; "));
    if message.len() > MESSAGE_MAX {
        let mut end = MESSAGE_MAX - 3;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str("...");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent(name: &str) -> ParentRef {
        ParentRef {
            kind: Some("Service".into()),
            group: Some(String::new()),
            name: Some(name.into()),
            ..ParentRef::default()
        }
    }

    #[test]
    fn conditions_per_parent_with_reasons_and_kept_transition_times() {
        let outcome = RouteOutcome {
            generation: Some(3),
            parents: vec![
                (parent("web"), Ok(())),
                (
                    parent("gone"),
                    Err(Verdict::new(
                        "NoMatchingParent",
                        "Service shop/gone does not exist",
                    )),
                ),
            ],
            resolved_refs: Err(Verdict::new(
                "BackendNotFound",
                "no Service port web-v9.shop:80",
            )),
            warnings: vec!["spec.hostnames: ignored for Service parents".into()],
        };
        let first = parents(&outcome, &[], "2026-01-01T00:00:00Z");
        assert_eq!(first.len(), 2);
        assert_eq!(
            first[0].parent_ref,
            serde_json::json!({"group": "", "kind": "Service", "name": "web"})
        );
        let c = &first[0].conditions;
        assert_eq!(
            (
                c[0].kind.as_str(),
                c[0].status.as_str(),
                c[0].reason.as_str()
            ),
            ("Accepted", "True", "Accepted")
        );
        assert_eq!(
            c[0].message,
            "accepted with warnings: spec.hostnames: ignored for Service parents"
        );
        assert_eq!(
            (
                c[1].kind.as_str(),
                c[1].status.as_str(),
                c[1].reason.as_str()
            ),
            ("ResolvedRefs", "False", "BackendNotFound")
        );
        assert_eq!(c[1].observed_generation, Some(3));
        let c = &first[1].conditions;
        assert_eq!(
            (c[0].status.as_str(), c[0].reason.as_str()),
            ("False", "NoMatchingParent")
        );
        assert_eq!(c[0].message, "Service shop/gone does not exist");
        // Later: the backend resolved. Accepted keeps its time, ResolvedRefs changes.
        let previous: Vec<Value> = first
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect();
        let fixed = RouteOutcome {
            resolved_refs: Ok(()),
            ..outcome
        };
        let second = parents(&fixed, &previous, "2026-01-02T00:00:00Z");
        let c = &second[0].conditions;
        assert_eq!(c[0].last_transition_time, "2026-01-01T00:00:00Z");
        assert_eq!(
            (c[1].status.as_str(), c[1].last_transition_time.as_str()),
            ("True", "2026-01-02T00:00:00Z")
        );
    }

    #[test]
    fn merging_keeps_other_controllers_entries_and_drops_our_stale_ones() {
        let gateway = serde_json::json!({
            "parentRef": {"name": "edge", "kind": "Gateway"},
            "controllerName": "example.com/gateway",
            "conditions": [],
        });
        let stale = serde_json::json!({
            "parentRef": {"group": "", "kind": "Service", "name": "old"},
            "controllerName": CONTROLLER_NAME,
            "conditions": [],
        });
        let outcome = RouteOutcome {
            parents: vec![(parent("web"), Ok(()))],
            ..RouteOutcome::default()
        };
        let previous = [stale, gateway.clone()];
        let ours = parents(&outcome, &previous, "2026-01-01T00:00:00Z");
        let merged = merge(&previous, &ours);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0], gateway);
        assert_eq!(merged[1]["parentRef"]["name"], "web");
        // Merging what was written again changes nothing: no second write.
        let again = parents(&outcome, &merged, "2026-01-02T00:00:00Z");
        assert_eq!(merge(&merged, &again), merged);
    }

    #[test]
    fn a_long_message_is_cut_to_what_the_api_server_takes() {
        let outcome = RouteOutcome {
            parents: vec![(parent("web"), Ok(()))],
            warnings: vec!["é".repeat(MESSAGE_MAX)],
            ..RouteOutcome::default()
        };
        let message = &parents(&outcome, &[], "2026-01-01T00:00:00Z")[0].conditions[0].message;
        assert!(message.len() <= MESSAGE_MAX, "{}", message.len());
        assert!(message.ends_with("..."));
    }
}
