//! The rollout driver: while this replica leads, every Canary object is fed to the rollout
//! state machine. Its weights are set with `set-weight`'s code, a shift is done when every
//! client proxy acked a config carrying it, and each step is judged on the canary pods'
//! proxies' figures. The state lives in the Canary's status, so a restarted (or new) leader
//! resumes at the recorded step.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kube::Api;
use kube::api::{ListParams, PostParams};
use tokio::sync::watch;

use super::acks::{self, RouteWrite};
use super::peers;
use super::proxies::Proxies;
use super::publish::Published;
use super::source::Source;
use super::synthetic::Loads;
use crate::canary::analysis::{canary_pods, figures, service_pods, without};
use crate::canary::resource::{AnalysisRecord, Canary, CanaryStatus, WrittenRoute};
use crate::canary::rollout::{Input, Need, Phase, Plan, State};
use crate::canary::{SetWeight, Want, set_weight};
use crate::k8s::Connection;

/// What the driver reads and writes.
pub struct Driver {
    pub client: kube::Client,
    pub proxies: Arc<Proxies>,
    pub published: watch::Receiver<Option<Arc<Published>>>,
    pub stores: Arc<dyn Source>,
    pub leading: watch::Receiver<bool>,
    /// Where the other replicas run (their `/proxies` count too).
    pub mesh_namespace: String,
    /// How often Canary objects are looked at.
    pub tick: Duration,
    pub loads: Loads,
}

/// `namespace/name` of a Canary.
fn key(canary: &Canary) -> String {
    format!(
        "{}/{}",
        canary.metadata.namespace.as_deref().unwrap_or(""),
        canary.metadata.name.as_deref().unwrap_or("")
    )
}

/// Status writes tried when the spec keeps changing under them.
const SAVE_ATTEMPTS: usize = 5;

/// State machine steps taken in one look at a Canary (a write, its acks, a check...).
const STEPS_PER_LOOK: usize = 8;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Driver {
    /// Runs for the controller's life.
    pub async fn run(mut self) {
        let conn = Connection {
            client: self.client.clone(),
            server: String::new(),
            context: "controller".to_owned(),
            namespace: "default".to_owned(),
            once: self.client.clone(),
        };
        let api: Api<Canary> = Api::all(self.client.clone());
        loop {
            while !*self.leading.borrow_and_update() {
                // Only the leader sends synthetic load.
                self.loads.retain(|_| false);
                if self.leading.changed().await.is_err() {
                    return;
                }
            }
            match api.list(&ListParams::default()).await {
                Ok(list) => {
                    let keys: Vec<String> = list.items.iter().map(key).collect();
                    self.loads.retain(|k| keys.iter().any(|x| x == k));
                    for canary in list.items {
                        self.look(&conn, canary).await;
                    }
                }
                // No CRD yet, or no rights: said once a tick at debug, the install has both.
                Err(e) => tracing::debug!(error = %e, "cannot list Canary objects"),
            }
            tokio::time::sleep(self.tick).await;
        }
    }

    /// One look at one Canary: apply what was asked, step the state machine as far as it
    /// goes now, write the status if it changed.
    async fn look(&self, conn: &Connection, canary: Canary) {
        let ns = canary.metadata.namespace.clone().unwrap_or_default();
        let name = canary.metadata.name.clone().unwrap_or_default();
        let before = canary.status.clone().unwrap_or_default();
        if before.state.as_ref().is_some_and(|s| s.phase.is_done()) {
            self.loads.set(&key(&canary), None);
            return;
        }
        let mut status = before.clone();
        status.observed_generation = canary.metadata.generation;
        match canary.spec.plan() {
            Ok(plan) => self.advance(conn, &canary, &plan, &mut status).await,
            Err(e) => {
                status.phase = Some(crate::canary::record::INVALID.to_owned());
                status.message = Some(format!("the spec cannot run: {e}"));
            }
        }
        // Synthetic load while the rollout runs (not paused, not finished).
        let running = status
            .state
            .as_ref()
            .is_some_and(|s| !s.phase.is_done() && s.phase != Phase::Paused);
        let load = canary.spec.load.as_ref().filter(|_| running);
        if self.loads.set(&key(&canary), load)
            && let Some(l) = load
        {
            let now = now_ms();
            status.event(
                now,
                &format!("sending {} requests per second to {}", l.rps, l.url),
            );
        }
        if status != before {
            self.save(&ns, &name, canary, status).await;
        }
    }

    /// Writes `status` (a replace, not a merge: fields the state machine cleared must go).
    /// It records what was done, so a conflict (the CLI changed the spec meanwhile) is
    /// retried on the fresh object: the new spec is acted on at the next look.
    async fn save(&self, ns: &str, name: &str, mut canary: Canary, status: CanaryStatus) {
        let api: Api<Canary> = Api::namespaced(self.client.clone(), ns);
        for _ in 0..SAVE_ATTEMPTS {
            canary.status = Some(status.clone());
            match api
                .replace_status(name, &PostParams::default(), &canary)
                .await
            {
                Ok(_) => return,
                Err(kube::Error::Api(e)) if e.code == 409 => match api.get_opt(name).await {
                    Ok(Some(fresh)) => canary = fresh,
                    // Deleted meanwhile: nothing to record.
                    Ok(None) => return,
                    Err(e) => {
                        tracing::warn!(canary = %format!("{ns}/{name}"), error = %e, "cannot read the Canary again");
                        return;
                    }
                },
                Err(e) => {
                    tracing::warn!(canary = %format!("{ns}/{name}"), error = %e, "cannot write the Canary's status");
                    return;
                }
            }
        }
        tracing::warn!(canary = %format!("{ns}/{name}"), "the Canary changed under every status write");
    }

    async fn advance(
        &self,
        conn: &Connection,
        canary: &Canary,
        plan: &Plan,
        status: &mut CanaryStatus,
    ) {
        let spec = &canary.spec;
        let ns = canary.metadata.namespace.clone().unwrap_or_default();
        let now = now_ms();
        let mut state = match status.state.clone() {
            Some(state) => state,
            None => {
                status.event(now, &format!("started: steps {:?}, then 100%", plan.steps));
                State::start(plan, now)
            }
        };
        // What was asked through the spec (the CLI writes these).
        let mut asked = Vec::new();
        if spec.aborted {
            asked.push(Input::Abort);
        } else if spec.paused {
            asked.push(Input::Pause);
        } else {
            asked.push(Input::Resume);
        }
        if let Some(p) = &spec.promotion
            && status.promotion_handled != Some(p.requested_ms)
        {
            status.promotion_handled = Some(p.requested_ms);
            asked.push(Input::Promote { full: p.full });
        }
        for input in asked {
            let was = state.clone();
            state = state.on(plan, input, now);
            if state != was {
                status.last_decision = Some(state.message.clone());
                status.event(now, &state.message);
            }
        }
        let mut note = None;
        for _ in 0..STEPS_PER_LOOK {
            if !*self.leading.borrow() {
                break;
            }
            let now = now_ms();
            let input = match state.next(plan, now) {
                Need::Write(weight) => match self.write(conn, &ns, spec, weight).await {
                    Ok(written) => {
                        status.route = Some(format!("{} {}/{}", written.kind, ns, written.name));
                        status.written = Some(written);
                        status.weight = Some(weight);
                        Input::Written { weight }
                    }
                    Err(e) => {
                        status.message = Some(format!("cannot set weight {weight}%: {e}"));
                        status.event(now, status.message.clone().unwrap_or_default().as_str());
                        return;
                    }
                },
                Need::Acks(weight) => {
                    let Some(written) = &status.written else {
                        break;
                    };
                    let write = RouteWrite {
                        kind: written.kind.clone(),
                        namespace: ns.clone(),
                        name: written.name.clone(),
                        resource_version: written.resource_version.clone(),
                        service: spec.service.clone(),
                    };
                    let mut records = self.proxies.list();
                    match peers::records(&self.client, &self.mesh_namespace).await {
                        Ok(theirs) => records.extend(theirs),
                        Err(e) => {
                            note = Some(format!("waiting for the acks of weight {weight}%: {e}"));
                            break;
                        }
                    }
                    let published = self.published.borrow().clone();
                    let count = acks::count(&records, published.as_deref(), &*self.stores, &write);
                    status.acks = Some(count);
                    Input::Acks {
                        weight,
                        acked: count.acked,
                        total: count.total,
                    }
                }
                Need::Figures { window } => {
                    let (record, what) = self.analyse(&ns, spec, window, state.weight, now).await;
                    // No figures at all is no verdict, even when no traffic is required.
                    let (pods, answered) = (record.canary.pods, record.canary.pods_answered);
                    if answered == 0 {
                        note = Some(if pods == 0 {
                            format!(
                                "cannot analyse weight {}%: the {what} has no running pod",
                                state.weight
                            )
                        } else {
                            format!(
                                "cannot analyse weight {}%: none of the {pods} canary pods' proxies answered on their admin port",
                                state.weight
                            )
                        });
                        status.analysis = Some(record);
                        break;
                    }
                    let input = Input::Figures(record.canary.figures());
                    status.analysis = Some(record);
                    input
                }
                Need::WaitUntil(_) | Need::Nothing => break,
            };
            let checked = matches!(input, Input::Figures(_));
            let was = state.clone();
            state = state.on(plan, input, now);
            if state == was {
                break;
            }
            if checked {
                // The stable version's figures of the same window, beside the verdict.
                let stable = status.analysis.as_ref().and_then(|a| a.stable.as_ref());
                let versus =
                    stable.map_or(String::new(), |f| format!(" (stable: {})", f.summary()));
                status.last_decision = Some(format!("{}{versus}", state.message));
            }
            status.event(now, &state.message);
        }
        status.weight_acked = state.acked.then_some(state.weight);
        status.phase = Some(format!("{:?}", state.phase));
        status.message = Some(note.unwrap_or_else(|| state.message.clone()));
        status.state = Some(state);
    }

    async fn write(
        &self,
        conn: &Connection,
        ns: &str,
        spec: &crate::canary::resource::CanarySpec,
        weight: u32,
    ) -> Result<WrittenRoute, crate::canary::CanaryError> {
        let outcome = set_weight(
            conn,
            &SetWeight {
                namespace: ns.to_owned(),
                service: spec.service.clone(),
                want: Want::one(&spec.canary, weight),
                create: None,
            },
        )
        .await?;
        Ok(WrittenRoute {
            kind: outcome.kind.kind().to_owned(),
            name: outcome.name,
            resource_version: outcome.resource_version,
        })
    }

    /// The canary's and the stable pods' figures over `window`, and what the canary's pods
    /// are (for messages).
    async fn analyse(
        &self,
        ns: &str,
        spec: &crate::canary::resource::CanarySpec,
        window: Duration,
        weight: u32,
        now: u64,
    ) -> (AnalysisRecord, String) {
        let (canary, what) = canary_pods(&self.client, ns, &spec.service, &spec.canary)
            .await
            .unwrap_or_else(|e| (Vec::new(), format!("canary {} ({e})", spec.canary)));
        let all = service_pods(&self.client, ns, &spec.service)
            .await
            .unwrap_or_default();
        let stable = without(all, &canary);
        let canary_figures = figures(&canary, window).await;
        let stable_figures = if stable.is_empty() {
            None
        } else {
            Some(figures(&stable, window).await)
        };
        let record = AnalysisRecord {
            at_ms: now,
            window_seconds: window.as_secs(),
            weight,
            canary: canary_figures,
            stable: stable_figures,
        };
        (record, what)
    }
}
