//! The `Canary` resource (meshctl.io/v1alpha1): a progressive rollout as the CLI asks for it
//! (spec) and as the controller's leader drives it (status). The CRD in the install is
//! generated from these types (`templates/crds/meshctl.io_canaries.yaml`, kept fresh by a
//! test).

use std::time::Duration;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::rollout::{Figures, Plan, PlanError, State, Thresholds};

/// A rollout: shift `canary`'s share of `service`'s traffic step by step, analysing each
/// step from the proxies, then promote it or roll it back.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "meshctl.io",
    version = "v1alpha1",
    kind = "Canary",
    plural = "canaries",
    namespaced,
    status = "CanaryStatus",
    shortname = "can",
    printcolumn = r#"{"name":"Service","type":"string","jsonPath":".spec.service"}"#,
    printcolumn = r#"{"name":"Canary","type":"string","jsonPath":".spec.canary"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Weight","type":"integer","jsonPath":".status.weight"}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.message"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CanarySpec {
    /// The Service whose traffic is split (the object routing it is found as `set-weight`
    /// finds it).
    pub service: String,
    /// The canary backend: a Service, or a VirtualService subset.
    pub canary: String,
    /// The canary weights in order (rising, percent); 100 % follows the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<u32>>,
    /// Without `steps`: steps of this many percent up to `maxWeight`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_weight: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_weight: Option<u32>,
    /// Seconds each step is analysed for (and between checks).
    pub interval_seconds: u64,
    pub analysis: Analysis,
    /// Hold at the current weight (no checks) until false again.
    #[serde(default)]
    pub paused: bool,
    /// Send all traffic back to the stable backends and stop.
    #[serde(default)]
    pub aborted: bool,
    /// Synthetic requests the leader sends while the rollout runs (when real traffic is too
    /// little to judge on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<Load>,
    /// A promotion asked by hand, done once (`status.promotionHandled` records it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<Promotion>,
}

/// The thresholds a step must pass.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    /// Lowest success rate that passes, in percent.
    pub success_rate: f64,
    /// Highest p99 latency that passes, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// Failed checks (over the whole rollout) that roll it back.
    pub threshold: u32,
    /// Fewer requests in a window is no verdict: the check waits for traffic.
    pub min_requests: u64,
}

/// `GET url` at `rps` requests per second.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Load {
    /// An `http://` URL that reaches the canary (e.g. its Service's DNS name).
    pub url: String,
    pub rps: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    /// Straight to 100 % instead of skipping the current step's analysis.
    #[serde(default)]
    pub full: bool,
    /// When it was asked (milliseconds since the epoch); tells one request from the next.
    pub requested_ms: u64,
}

/// What the controller's leader last did and saw.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStatus {
    /// Progressing, Paused, Promoting, RollingBack, Aborting, Succeeded, Failed, Aborted;
    /// Invalid when the spec cannot run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The rollout state machine's state (resumed from here after a controller restart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "opaque_object")]
    pub state: Option<State>,
    /// The canary weight set now (percent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// The weight every client proxy has acked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_acked: Option<u32>,
    /// Client proxies running the config with `weight`, of how many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acks: Option<AckCount>,
    /// `Kind namespace/name` of the object whose weights are set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The route as last written (proxies must run a config carrying this version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<WrittenRoute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why the last decision (step, rollback, promotion) was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_decision: Option<String>,
    /// The last analysis, of the canary and of the stable backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_handled: Option<u64>,
    /// The latest events, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
    /// The spec generation this status answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WrittenRoute {
    pub kind: String,
    pub name: String,
    pub resource_version: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AckCount {
    pub acked: usize,
    pub total: usize,
}

/// One analysis: the figures of both versions over the same window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRecord {
    pub at_ms: u64,
    pub window_seconds: u64,
    pub weight: u32,
    pub canary: VersionFigures,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable: Option<VersionFigures>,
}

/// One version's inbound figures, merged over its pods' proxies.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionFigures {
    pub requests: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// Pods whose proxy answered, of how many.
    pub pods_answered: usize,
    pub pods: usize,
}

impl VersionFigures {
    /// `150 requests, 99.33% success, p99 12ms`.
    pub fn summary(&self) -> String {
        let rate = self
            .success_rate
            .map_or("-".to_owned(), |r| format!("{r:.2}%"));
        let p99 = self.p99_ms.map_or("-".to_owned(), |p| format!("{p:.0}ms"));
        format!("{} requests, {rate} success, p99 {p99}", self.requests)
    }

    pub fn figures(&self) -> Figures {
        Figures {
            requests: self.requests,
            // No request: no failure either (too few requests is judged before this).
            success_rate: self.success_rate.unwrap_or(100.0),
            p99_ms: self.p99_ms,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub at_ms: u64,
    pub message: String,
}

/// The state machine's own JSON, kept whole by the API server.
fn opaque_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

/// Events kept in the status.
pub const EVENTS_KEPT: usize = 20;

impl CanarySpec {
    /// The plan the spec asks for.
    pub fn plan(&self) -> Result<Plan, PlanError> {
        Plan::new(
            self.step_weight,
            self.steps.clone(),
            self.max_weight,
            Duration::from_secs(self.interval_seconds),
            Thresholds {
                success_rate: self.analysis.success_rate,
                p99_ms: self.analysis.p99_ms,
                failed_checks: self.analysis.threshold,
                min_requests: self.analysis.min_requests,
            },
        )
    }
}

impl CanaryStatus {
    /// Adds an event, dropping the oldest past [`EVENTS_KEPT`]; the same message twice in a
    /// row is one event.
    pub fn event(&mut self, at_ms: u64, message: &str) {
        if self.events.last().is_some_and(|e| e.message == message) {
            return;
        }
        self.events.push(Event {
            at_ms,
            message: message.to_owned(),
        });
        let extra = self.events.len().saturating_sub(EVENTS_KEPT);
        self.events.drain(..extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    /// The CRD template in the install is this type's CRD (with the install's labels).
    /// `UPDATE_SNAPSHOTS=1 cargo test --lib canary_crd` rewrites it.
    #[test]
    fn canary_crd_template_is_fresh() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("templates/crds/meshctl.io_canaries.yaml");
        let mut crd = serde_json::to_value(Canary::crd()).unwrap();
        crd["metadata"]["labels"] = serde_json::json!("LABELS");
        let yaml = serde_saphyr::to_string(&crd).unwrap();
        let text = format!(
            "# Canary (meshctl.io): a progressive rollout driven by the controller's leader.\n\
             # Generated from src/canary/resource.rs: UPDATE_SNAPSHOTS=1 cargo test --lib canary_crd\n{}",
            yaml.replace("labels: LABELS", "labels: {{ meta.labels }}")
        );
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &text).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{} is stale: UPDATE_SNAPSHOTS=1 cargo test --lib canary_crd",
            path.display()
        );
    }

    #[test]
    fn the_spec_gives_the_plan_and_refuses_what_cannot_run() {
        let mut spec = CanarySpec {
            service: "web".into(),
            canary: "web-v2".into(),
            steps: Some(vec![10, 50]),
            interval_seconds: 2,
            analysis: Analysis {
                success_rate: 99.0,
                p99_ms: None,
                threshold: 2,
                min_requests: 10,
            },
            ..CanarySpec::default()
        };
        let plan = spec.plan().unwrap();
        assert_eq!(
            (plan.steps, plan.thresholds.failed_checks),
            (vec![10, 50], 2)
        );
        spec.analysis.threshold = 0;
        assert_eq!(spec.plan(), Err(PlanError::Threshold));
    }

    #[test]
    fn events_are_bounded_and_not_repeated() {
        let mut status = CanaryStatus::default();
        status.event(1, "a");
        status.event(2, "a");
        assert_eq!(status.events.len(), 1);
        for i in 0..30 {
            status.event(i, &format!("e{i}"));
        }
        assert_eq!(status.events.len(), EVENTS_KEPT);
        assert_eq!(status.events[0].message, "e10");
    }
}
