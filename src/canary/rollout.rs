//! The rollout state machine: pure, with the time and every observation passed in. A weight
//! shift counts as done only once every client proxy acked the config that carries it; the
//! analysis window starts then. Checks below the thresholds count towards a rollback.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a rollout proceeds (from `canary start`'s flags).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The canary weights in order, each analysed for one interval; 100 % follows the last.
    pub steps: Vec<u32>,
    /// How long each analysis window is (and the time between checks).
    pub interval_seconds: u64,
    pub thresholds: Thresholds,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Thresholds {
    /// Lowest success rate that passes, in percent.
    pub success_rate: f64,
    /// Highest p99 latency that passes, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// Failed checks (over the whole rollout) that roll it back.
    pub failed_checks: u32,
    /// Fewer requests in a window is no verdict: the check waits for traffic.
    pub min_requests: u64,
}

/// Why a plan cannot run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("--step {0}: a step is 1 to 100 (percent of traffic)")]
    Step(u32),
    #[error("--steps {0}: the weights must rise, each 1 to 100, and none above --max-weight {1}")]
    Steps(String, u32),
    #[error("--interval {0}s: the interval is 1s to 10m (proxies keep 10 minutes of figures)")]
    Interval(u64),
    #[error("--success-rate {0}: give a percentage, 0 to 100")]
    SuccessRate(f64),
    #[error("--threshold 0: at least one failed check must roll back")]
    Threshold,
}

impl Plan {
    /// Steps of `step` up to `max_weight` (the last one `max_weight` itself), or `steps`.
    pub fn new(
        step: Option<u32>,
        steps: Option<Vec<u32>>,
        max_weight: Option<u32>,
        interval: Duration,
        thresholds: Thresholds,
    ) -> Result<Plan, PlanError> {
        let steps = match steps {
            Some(steps) => {
                let max = max_weight.unwrap_or(100);
                let rising = steps.windows(2).all(|w| w[0] < w[1]);
                if steps.is_empty() || !rising || steps.iter().any(|&s| s == 0 || s > max) {
                    let text: Vec<String> = steps.iter().map(u32::to_string).collect();
                    return Err(PlanError::Steps(text.join(","), max));
                }
                steps
            }
            None => {
                let step = step.unwrap_or(10);
                let max = max_weight.unwrap_or(50).min(100);
                if step == 0 || step > 100 || max == 0 {
                    return Err(PlanError::Step(step));
                }
                let mut out: Vec<u32> = (1..).map(|i| i * step).take_while(|&w| w <= max).collect();
                if out.last().is_none_or(|&l| l < max) {
                    out.push(max);
                }
                out
            }
        };
        let secs = interval.as_secs();
        if !(1..=600).contains(&secs) {
            return Err(PlanError::Interval(secs));
        }
        if !(0.0..=100.0).contains(&thresholds.success_rate) {
            return Err(PlanError::SuccessRate(thresholds.success_rate));
        }
        if thresholds.failed_checks == 0 {
            return Err(PlanError::Threshold);
        }
        Ok(Plan {
            steps,
            interval_seconds: secs,
            thresholds,
        })
    }

    fn interval_ms(&self) -> u64 {
        self.interval_seconds * 1000
    }

    /// The window the proxies are asked about. They keep 10 s slots and a window is the
    /// current, partly filled slot plus whole ones before it, so one slot more than the
    /// interval needs always covers the whole interval (a 2 s interval is judged on 10 to
    /// 20 s: earlier steps of the same canary, never an empty slot just begun).
    pub fn window(&self) -> Duration {
        let slots = self.interval_seconds.div_ceil(10) + 1;
        Duration::from_secs((slots * 10).min(600))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Stepping through the weights, analysing each.
    Progressing,
    /// Held at the current weight until resumed; no checks run.
    Paused,
    /// Sending all traffic to the canary.
    Promoting,
    /// Sending all traffic back after too many failed checks.
    RollingBack,
    /// Sending all traffic back because someone aborted.
    Aborting,
    /// The canary has all the traffic.
    Succeeded,
    /// Rolled back after too many failed checks.
    Failed,
    /// Rolled back on request.
    Aborted,
}

impl Phase {
    pub fn is_done(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed | Phase::Aborted)
    }

    /// Whether the rollout ended without promoting the canary.
    pub fn is_failure(self) -> bool {
        matches!(self, Phase::Failed | Phase::Aborted)
    }
}

/// Where a rollout is; stored in the Canary's status, so times are milliseconds since the
/// epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub phase: Phase,
    /// The canary weight wanted now.
    pub weight: u32,
    /// Index in the plan's steps of `weight` while progressing.
    pub step: usize,
    /// Whether `weight` has been written to the route.
    pub written: bool,
    /// Whether every client proxy acked the config that carries `weight`.
    pub acked: bool,
    /// When the next check is due (once acked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_check_ms: Option<u64>,
    pub failed_checks: u32,
    pub passed_checks: u32,
    /// What it is doing or waiting for, for `canary status`.
    pub message: String,
    /// Why it rolls back (or rolled back) on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the phase last changed.
    pub transition_ms: u64,
}

/// What the driver observed or was asked.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// `weight` is written to the route.
    Written {
        weight: u32,
    },
    /// Of `total` client proxies, `acked` run a config carrying `weight`.
    Acks {
        weight: u32,
        acked: usize,
        total: usize,
    },
    /// The canary's inbound figures over the last interval.
    Figures(Figures),
    Pause,
    Resume,
    /// Skip the current step's analysis; `full`: go to 100 % now.
    Promote {
        full: bool,
    },
    Abort,
}

/// The canary's figures over one window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    pub requests: u64,
    /// Percent of requests that succeeded.
    pub success_rate: f64,
    pub p99_ms: Option<f64>,
}

/// What the driver should do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Write `weight` to the route, then report `Written`.
    Write(u32),
    /// Report the ack state of the config carrying `weight`.
    Acks(u32),
    /// Report the canary's figures over the last `window`.
    Figures { window: Duration },
    /// Nothing until this time (or until asked to pause, promote or abort).
    WaitUntil(u64),
    /// Nothing: paused or finished.
    Nothing,
}

impl State {
    pub fn start(plan: &Plan, now: u64) -> State {
        let weight = plan.steps[0];
        State {
            phase: Phase::Progressing,
            weight,
            step: 0,
            written: false,
            acked: false,
            next_check_ms: None,
            failed_checks: 0,
            passed_checks: 0,
            message: format!("setting the canary weight to {weight}%"),
            reason: None,
            transition_ms: now,
        }
    }

    pub fn next(&self, plan: &Plan, now: u64) -> Need {
        if self.phase.is_done() || self.phase == Phase::Paused {
            return Need::Nothing;
        }
        if !self.written {
            return Need::Write(self.weight);
        }
        if !self.acked {
            return Need::Acks(self.weight);
        }
        match self.next_check_ms {
            Some(due) if self.phase == Phase::Progressing && now >= due => Need::Figures {
                window: plan.window(),
            },
            Some(due) => Need::WaitUntil(due),
            None => Need::Nothing,
        }
    }

    pub fn on(mut self, plan: &Plan, input: Input, now: u64) -> State {
        if self.phase.is_done() {
            return self;
        }
        match input {
            Input::Written { weight } if weight == self.weight => {
                self.written = true;
                self.message = format!("waiting for the proxies to ack weight {weight}%");
            }
            Input::Acks {
                weight,
                acked,
                total,
            } if weight == self.weight && self.written => {
                if acked < total {
                    self.message =
                        format!("waiting for {acked}/{total} proxies to ack weight {weight}%");
                    return self;
                }
                self.acked = true;
                match self.phase {
                    Phase::Promoting => self.enter(
                        Phase::Succeeded,
                        "promoted: the canary has all the traffic".to_owned(),
                        now,
                    ),
                    Phase::RollingBack => {
                        let why = self.reason.clone().unwrap_or_default();
                        self.enter(Phase::Failed, format!("rolled back: {why}"), now);
                    }
                    Phase::Aborting => self.enter(
                        Phase::Aborted,
                        "aborted: the canary has no traffic".to_owned(),
                        now,
                    ),
                    _ => {
                        self.next_check_ms = Some(now + plan.interval_ms());
                        self.message = format!(
                            "analysing weight {weight}% ({}s window)",
                            plan.interval_seconds
                        );
                    }
                }
            }
            Input::Figures(f) if self.phase == Phase::Progressing && self.acked => {
                self.check(plan, f, now)
            }
            Input::Pause if self.phase == Phase::Progressing => {
                self.enter(
                    Phase::Paused,
                    format!("paused at weight {}%", self.weight),
                    now,
                );
            }
            Input::Resume if self.phase == Phase::Paused => {
                self.phase = Phase::Progressing;
                self.transition_ms = now;
                // The window restarts: what happened while paused is not judged.
                if self.acked {
                    self.next_check_ms = Some(now + plan.interval_ms());
                    self.message = format!(
                        "analysing weight {}% ({}s window)",
                        self.weight, plan.interval_seconds
                    );
                } else {
                    self.message = format!("resumed at weight {}%", self.weight);
                }
            }
            Input::Promote { full } if matches!(self.phase, Phase::Progressing | Phase::Paused) => {
                self.phase = Phase::Progressing;
                if full {
                    self.shift(
                        Phase::Promoting,
                        100,
                        "promoting: all traffic to the canary (promoted by hand)".to_owned(),
                        now,
                    );
                } else {
                    self.advance(plan, now);
                }
            }
            Input::Abort if !matches!(self.phase, Phase::Aborting) => {
                self.shift(
                    Phase::Aborting,
                    0,
                    "aborting: all traffic back to the stable backends".to_owned(),
                    now,
                );
            }
            _ => {}
        }
        self
    }

    fn check(&mut self, plan: &Plan, f: Figures, now: u64) {
        let t = &plan.thresholds;
        if f.requests < t.min_requests {
            self.message = format!(
                "waiting for traffic ({}/{} requests)",
                f.requests, t.min_requests
            );
            self.next_check_ms = Some(now + plan.interval_ms());
            return;
        }
        let mut why = Vec::new();
        if f.success_rate < t.success_rate {
            why.push(format!(
                "success rate {:.2}% < {}%",
                f.success_rate, t.success_rate
            ));
        }
        if let (Some(limit), Some(p99)) = (t.p99_ms, f.p99_ms)
            && p99 > limit
        {
            why.push(format!("p99 {p99:.0}ms > {limit:.0}ms"));
        }
        if why.is_empty() {
            self.passed_checks += 1;
            self.advance(plan, now);
            return;
        }
        self.failed_checks += 1;
        let why = why.join(", ");
        if self.failed_checks >= t.failed_checks {
            let reason = format!(
                "{} failed checks at weight {}%, the last: {why}",
                self.failed_checks, self.weight
            );
            self.shift(
                Phase::RollingBack,
                0,
                format!("rolling back: {reason}"),
                now,
            );
            self.reason = Some(reason);
        } else {
            self.message = format!(
                "check failed ({}/{}): {why}",
                self.failed_checks, t.failed_checks
            );
            self.next_check_ms = Some(now + plan.interval_ms());
        }
    }

    /// The next step's weight, or 100 % after the last.
    fn advance(&mut self, plan: &Plan, now: u64) {
        self.step += 1;
        match plan.steps.get(self.step) {
            Some(&w) => {
                self.weight = w;
                self.written = false;
                self.acked = false;
                self.next_check_ms = None;
                self.message = format!("setting the canary weight to {w}%");
            }
            None => self.shift(
                Phase::Promoting,
                100,
                "promoting: all traffic to the canary".to_owned(),
                now,
            ),
        }
    }

    fn shift(&mut self, phase: Phase, weight: u32, message: String, now: u64) {
        self.weight = weight;
        self.written = false;
        self.acked = false;
        self.next_check_ms = None;
        self.enter(phase, message, now);
    }

    fn enter(&mut self, phase: Phase, message: String, now: u64) {
        self.phase = phase;
        self.message = message;
        self.transition_ms = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1000;

    fn plan() -> Plan {
        let t = Thresholds {
            success_rate: 99.0,
            p99_ms: Some(500.0),
            failed_checks: 2,
            min_requests: 50,
        };
        Plan::new(None, Some(vec![10, 50]), None, Duration::from_secs(30), t).unwrap()
    }

    fn good() -> Figures {
        Figures {
            requests: 100,
            success_rate: 100.0,
            p99_ms: Some(20.0),
        }
    }

    /// Writes the wanted weight and has every proxy ack it at `now`.
    fn shift(s: State, p: &Plan, now: u64) -> State {
        let Need::Write(w) = s.next(p, now) else {
            panic!("no write wanted: {s:?}")
        };
        let s = s.on(p, Input::Written { weight: w }, now);
        assert_eq!(s.next(p, now), Need::Acks(w));
        s.on(
            p,
            Input::Acks {
                weight: w,
                acked: 3,
                total: 3,
            },
            now,
        )
    }

    #[test]
    fn steps_from_step_and_max_weight() {
        let t = plan().thresholds;
        let steps = |step, max| {
            Plan::new(Some(step), None, max, Duration::from_secs(30), t.clone()).map(|p| p.steps)
        };
        assert_eq!(steps(10, None), Ok(vec![10, 20, 30, 40, 50]));
        // A max weight that is not a multiple of the step is still reached.
        assert_eq!(steps(20, Some(50)), Ok(vec![20, 40, 50]));
        assert_eq!(steps(60, Some(50)), Ok(vec![50]));
        assert_eq!(steps(0, None), Err(PlanError::Step(0)));
        let explicit = |s: Vec<u32>, max| {
            Plan::new(None, Some(s), max, Duration::from_secs(30), t.clone()).map(|p| p.steps)
        };
        assert_eq!(
            explicit(vec![1, 5, 25, 50], Some(50)),
            Ok(vec![1, 5, 25, 50])
        );
        assert!(explicit(vec![1, 5, 75], Some(50)).is_err());
        assert!(explicit(vec![5, 5], None).is_err());
        assert_eq!(
            Plan::new(None, None, None, Duration::from_secs(0), t.clone()),
            Err(PlanError::Interval(0))
        );
        let none = Thresholds {
            failed_checks: 0,
            ..t
        };
        assert_eq!(
            Plan::new(None, None, None, Duration::from_secs(30), none),
            Err(PlanError::Threshold)
        );
    }

    #[test]
    fn the_window_asked_always_covers_the_interval() {
        let window = |secs| {
            let t = plan().thresholds;
            let p = Plan::new(None, None, None, Duration::from_secs(secs), t).unwrap();
            p.window().as_secs()
        };
        assert_eq!(
            [window(1), window(10), window(11), window(30), window(600)],
            [20, 20, 30, 40, 600]
        );
    }

    #[test]
    fn a_healthy_canary_steps_on_acks_and_is_promoted() {
        let p = plan();
        let s = State::start(&p, 0);
        assert_eq!(s.next(&p, 0), Need::Write(10));
        let s = s.on(&p, Input::Written { weight: 10 }, 0);
        // Not every proxy acked: the shift is not done and no window runs.
        let s = s.on(
            &p,
            Input::Acks {
                weight: 10,
                acked: 2,
                total: 3,
            },
            5 * S,
        );
        assert_eq!(s.message, "waiting for 2/3 proxies to ack weight 10%");
        assert_eq!(s.next(&p, 100 * S), Need::Acks(10));
        // The window starts at the last ack (7 s), so the check is due at 37 s.
        let s = s.on(
            &p,
            Input::Acks {
                weight: 10,
                acked: 3,
                total: 3,
            },
            7 * S,
        );
        assert_eq!(s.next(&p, 36 * S), Need::WaitUntil(37 * S));
        // Four 10 s slots: the current one may have just begun.
        assert_eq!(
            s.next(&p, 37 * S),
            Need::Figures {
                window: Duration::from_secs(40)
            }
        );
        let s = s.on(&p, Input::Figures(good()), 37 * S);
        assert_eq!((s.weight, s.step, s.passed_checks), (50, 1, 1));
        let s = shift(s, &p, 40 * S);
        let s = s.on(&p, Input::Figures(good()), 70 * S);
        assert_eq!((s.phase, s.weight), (Phase::Promoting, 100));
        let s = shift(s, &p, 71 * S);
        assert_eq!(s.phase, Phase::Succeeded);
        assert_eq!(s.next(&p, 1000 * S), Need::Nothing);
        assert!(!s.phase.is_failure());
    }

    #[test]
    fn acks_of_an_older_weight_do_not_count() {
        let p = plan();
        let s = State::start(&p, 0).on(&p, Input::Written { weight: 10 }, 0);
        let s = s.on(
            &p,
            Input::Acks {
                weight: 5,
                acked: 3,
                total: 3,
            },
            S,
        );
        assert!(!s.acked);
        // Acks before the weight is written are not about it either.
        let s = State::start(&p, 0).on(
            &p,
            Input::Acks {
                weight: 10,
                acked: 3,
                total: 3,
            },
            S,
        );
        assert!(!s.acked);
    }

    #[test]
    fn too_few_requests_is_waiting_not_a_pass() {
        let p = plan();
        let s = shift(State::start(&p, 0), &p, 0);
        let quiet = Figures {
            requests: 12,
            ..good()
        };
        let s = s.on(&p, Input::Figures(quiet), 30 * S);
        assert_eq!(s.message, "waiting for traffic (12/50 requests)");
        assert_eq!((s.weight, s.passed_checks, s.failed_checks), (10, 0, 0));
        assert_eq!(s.next(&p, 59 * S), Need::WaitUntil(60 * S));
        // Few requests that all fail are no verdict either.
        let s = s.on(
            &p,
            Input::Figures(Figures {
                requests: 49,
                success_rate: 0.0,
                p99_ms: None,
            }),
            60 * S,
        );
        assert_eq!(s.failed_checks, 0);
    }

    #[test]
    fn failed_checks_up_to_the_threshold_roll_back() {
        let p = plan();
        let s = shift(State::start(&p, 0), &p, 0);
        let bad = Figures {
            success_rate: 97.5,
            ..good()
        };
        let s = s.on(&p, Input::Figures(bad), 30 * S);
        assert_eq!(
            (s.phase, s.weight, s.failed_checks),
            (Phase::Progressing, 10, 1)
        );
        assert_eq!(s.message, "check failed (1/2): success rate 97.50% < 99%");
        // A pass in between moves on; failures still add up over the rollout.
        let s = s.on(&p, Input::Figures(good()), 60 * S);
        let s = shift(s, &p, 61 * S);
        let slow = Figures {
            p99_ms: Some(800.0),
            ..good()
        };
        let s = s.on(&p, Input::Figures(slow), 91 * S);
        assert_eq!((s.phase, s.weight), (Phase::RollingBack, 0));
        assert_eq!(s.next(&p, 91 * S), Need::Write(0));
        let s = shift(s, &p, 92 * S);
        assert_eq!(s.phase, Phase::Failed);
        assert_eq!(
            s.message,
            "rolled back: 2 failed checks at weight 50%, the last: p99 800ms > 500ms"
        );
        assert!(s.phase.is_failure());
        // Finished: nothing moves it.
        assert_eq!(s.clone().on(&p, Input::Resume, 100 * S), s);
    }

    #[test]
    fn the_p99_limit_is_optional() {
        let mut p = plan();
        p.thresholds.p99_ms = None;
        let s = shift(State::start(&p, 0), &p, 0);
        let s = s.on(
            &p,
            Input::Figures(Figures {
                p99_ms: Some(9000.0),
                ..good()
            }),
            30 * S,
        );
        assert_eq!(s.weight, 50);
    }

    #[test]
    fn pause_holds_and_resume_restarts_the_window() {
        let p = plan();
        let s = shift(State::start(&p, 0), &p, 0);
        let s = s.on(&p, Input::Pause, 10 * S);
        assert_eq!(
            (s.phase, s.message.as_str()),
            (Phase::Paused, "paused at weight 10%")
        );
        assert_eq!(s.next(&p, 500 * S), Need::Nothing);
        // Figures arriving while paused are not judged.
        let s = s.on(
            &p,
            Input::Figures(Figures {
                success_rate: 0.0,
                ..good()
            }),
            500 * S,
        );
        assert_eq!(s.failed_checks, 0);
        let s = s.on(&p, Input::Resume, 600 * S);
        assert_eq!(s.phase, Phase::Progressing);
        assert_eq!(s.next(&p, 600 * S), Need::WaitUntil(630 * S));
        let s = s.on(&p, Input::Figures(good()), 630 * S);
        assert_eq!(s.weight, 50);
    }

    #[test]
    fn promote_skips_a_step_or_goes_to_full() {
        let p = plan();
        let s = shift(State::start(&p, 0), &p, 0);
        let skipped = s.clone().on(&p, Input::Promote { full: false }, S);
        assert_eq!(
            (skipped.phase, skipped.weight, skipped.passed_checks),
            (Phase::Progressing, 50, 0)
        );
        let paused = s.clone().on(&p, Input::Pause, S);
        let full = paused.on(&p, Input::Promote { full: true }, 2 * S);
        assert_eq!((full.phase, full.weight), (Phase::Promoting, 100));
        assert_eq!(full.next(&p, 2 * S), Need::Write(100));
        // Promoting is not paused half way.
        let still = full.clone().on(&p, Input::Pause, 3 * S);
        assert_eq!(still.phase, Phase::Promoting);
    }

    #[test]
    fn abort_sends_everything_back_at_once() {
        let p = plan();
        let s = shift(State::start(&p, 0), &p, 0).on(&p, Input::Abort, 4 * S);
        assert_eq!((s.phase, s.weight), (Phase::Aborting, 0));
        // At once: the write is wanted before any check is due.
        assert_eq!(s.next(&p, 4 * S), Need::Write(0));
        let s = shift(s, &p, 5 * S);
        assert_eq!(s.phase, Phase::Aborted);
        assert!(s.phase.is_failure());
        // A promotion can be aborted too.
        let s = shift(State::start(&p, 0), &p, 0).on(&p, Input::Promote { full: true }, S);
        assert_eq!(s.on(&p, Input::Abort, 2 * S).phase, Phase::Aborting);
    }

    #[test]
    fn the_state_round_trips_through_json() {
        let p = plan();
        let s = shift(State::start(&p, 0), &p, 0);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["phase"], "Progressing");
        assert_eq!(json["nextCheckMs"], 30_000);
        assert_eq!(serde_json::from_value::<State>(json).unwrap(), s);
        let pj = serde_json::to_value(&p).unwrap();
        assert_eq!(pj["thresholds"]["minRequests"], 50);
        assert_eq!(serde_json::from_value::<Plan>(pj).unwrap(), p);
    }
}
