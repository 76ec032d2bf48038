//! Traffic policies of a service or route: load balancing, timeouts, retries, circuit
//! breaking, outlier detection and local rate limiting (plain data, YAML camelCase).
//!
//! An absent section means the feature is off (no timeout, no retries, no ejection, no
//! rate limit); circuit-breaker limits default to generous values so a pool cannot grow
//! without bound.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::duration::Duration;

/// Every resilience setting of a service or route.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub load_balancer: LoadBalancer,
    #[serde(default)]
    pub timeouts: Timeouts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Retries>,
    #[serde(default)]
    pub circuit_breaker: CircuitBreaker,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// With `consistent-hash` on a cookie: the proxy sets that cookie on a response to a
    /// request that lacked it, so the client's next requests stick to one endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky_cookie: Option<StickyCookie>,
}

/// The attributes of a generated affinity cookie (its name is `loadBalancer.hashOn.cookie`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StickyCookie {
    /// Its `Path` attribute; none: the cookie is for every path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Its `Max-Age`; 0s makes it a session cookie.
    pub ttl: Duration,
}

/// How a backend picks one of its endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancer {
    #[serde(default)]
    pub algorithm: Algorithm,
    /// What `consistent-hash` hashes; required by it, refused by the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_on: Option<HashOn>,
}

/// Load-balancing algorithms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// Power of two random choices, compared by peak-EWMA latency x outstanding requests.
    #[default]
    P2cEwma,
    /// Power of two random choices, compared by outstanding requests.
    LeastRequest,
    RoundRobin,
    Random,
    /// Session affinity: the same key goes to the same endpoint while it exists.
    ConsistentHash,
}

/// The request property a consistent hash is computed from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum HashOn {
    /// A request header, by name (e.g. `x-user`).
    Header(String),
    /// A cookie, by name (e.g. `session`).
    Cookie(String),
}

/// Request deadlines.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timeouts {
    /// Deadline of the whole request, all tries and backoffs included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Duration>,
    /// Deadline of each try (a timed-out try may be retried).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_try: Option<Duration>,
}

/// When and how often a failed request is tried again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Retries {
    /// Retries after the first try (so at most `attempts + 1` tries), like Istio's `attempts`.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Conditions that make a try retriable.
    #[serde(default = "default_retry_on")]
    pub retry_on: Vec<RetryOn>,
    /// Statuses retried under `retriable-status-codes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retriable_status_codes: Vec<u16>,
    #[serde(default)]
    pub backoff: Backoff,
    #[serde(default)]
    pub budget: RetryBudget,
}

fn default_attempts() -> u32 {
    2
}

fn default_retry_on() -> Vec<RetryOn> {
    vec![
        RetryOn::GatewayError,
        RetryOn::ConnectFailure,
        RetryOn::Reset,
        RetryOn::RefusedStream,
    ]
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            attempts: default_attempts(),
            retry_on: default_retry_on(),
            retriable_status_codes: Vec::new(),
            backoff: Backoff::default(),
            budget: RetryBudget::default(),
        }
    }
}

/// A condition under which a try is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetryOn {
    /// Any 5xx status (and a per-try timeout).
    Status5xx,
    /// 502, 503, 504 (and a per-try timeout).
    GatewayError,
    /// The connection to the endpoint could not be made.
    ConnectFailure,
    /// The connection was reset before a response.
    Reset,
    /// HTTP/2 REFUSED_STREAM: the server did not process the request.
    RefusedStream,
    /// A status listed in `retriableStatusCodes`.
    RetriableStatusCodes,
    /// A gRPC status (in trailers-only responses), e.g. `grpc:unavailable`.
    Grpc(GrpcCode),
}

/// gRPC status codes worth retrying.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrpcCode {
    Cancelled,
    DeadlineExceeded,
    ResourceExhausted,
    Internal,
    Unavailable,
}

impl GrpcCode {
    const ALL: [(GrpcCode, &'static str, u32); 5] = [
        (GrpcCode::Cancelled, "cancelled", 1),
        (GrpcCode::DeadlineExceeded, "deadline-exceeded", 4),
        (GrpcCode::ResourceExhausted, "resource-exhausted", 8),
        (GrpcCode::Internal, "internal", 13),
        (GrpcCode::Unavailable, "unavailable", 14),
    ];

    /// The numeric status carried by the `grpc-status` header.
    pub fn code(self) -> u32 {
        Self::ALL
            .iter()
            .find(|(c, _, _)| *c == self)
            .map_or(0, |e| e.2)
    }

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(c, _, _)| *c == self)
            .map_or("", |e| e.1)
    }
}

const RETRY_ON_SIMPLE: [(RetryOn, &str); 6] = [
    (RetryOn::Status5xx, "5xx"),
    (RetryOn::GatewayError, "gateway-error"),
    (RetryOn::ConnectFailure, "connect-failure"),
    (RetryOn::Reset, "reset"),
    (RetryOn::RefusedStream, "refused-stream"),
    (RetryOn::RetriableStatusCodes, "retriable-status-codes"),
];

/// Why a `retryOn` entry was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "unknown retryOn condition {0:?}; allowed: 5xx, gateway-error, connect-failure, reset, \
     refused-stream, retriable-status-codes, grpc:cancelled, grpc:deadline-exceeded, \
     grpc:resource-exhausted, grpc:internal, grpc:unavailable"
)]
pub struct RetryOnError(String);

impl FromStr for RetryOn {
    type Err = RetryOnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(code) = s.strip_prefix("grpc:") {
            return GrpcCode::ALL
                .iter()
                .find(|(_, name, _)| *name == code)
                .map(|(c, _, _)| RetryOn::Grpc(*c))
                .ok_or_else(|| RetryOnError(s.to_owned()));
        }
        RETRY_ON_SIMPLE
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(r, _)| *r)
            .ok_or_else(|| RetryOnError(s.to_owned()))
    }
}

impl fmt::Display for RetryOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryOn::Grpc(code) => write!(f, "grpc:{}", code.name()),
            simple => {
                let name = RETRY_ON_SIMPLE
                    .iter()
                    .find(|(r, _)| r == simple)
                    .map_or("", |e| e.1);
                f.write_str(name)
            }
        }
    }
}

impl Serialize for RetryOn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RetryOn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::from_str_de(d)
    }
}

/// Jittered exponential backoff between tries: a random wait in `[0, min(max, base * 2^n)]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(25),
            max: Duration::from_millis(250),
        }
    }
}

/// Caps retries so they cannot amplify an outage: retries may add at most `ratio` of the
/// recent request rate, plus `minPerSecond` always allowed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryBudget {
    #[serde(default = "default_ratio")]
    pub ratio: f64,
    #[serde(default = "default_min_per_second")]
    pub min_per_second: u32,
}

fn default_ratio() -> f64 {
    0.2
}

fn default_min_per_second() -> u32 {
    10
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            ratio: default_ratio(),
            min_per_second: default_min_per_second(),
        }
    }
}

/// Connection-pool limits; a request over them gets a fast 503.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CircuitBreaker {
    /// Concurrent requests in flight to the backend (one HTTP/1 connection each).
    #[serde(default = "default_limit")]
    pub max_connections: u32,
    /// Requests allowed to wait for a free slot when `maxConnections` are busy.
    #[serde(default = "default_limit")]
    pub max_pending_requests: u32,
    /// Requests per upstream connection before it is closed; 0 means unlimited.
    #[serde(default)]
    pub max_requests_per_connection: u32,
    /// How long an upstream connection may sit unused before it is closed (default 30s;
    /// checked once a second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<Duration>,
}

fn default_limit() -> u32 {
    1024
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self {
            max_connections: default_limit(),
            max_pending_requests: default_limit(),
            max_requests_per_connection: 0,
            idle_timeout: None,
        }
    }
}

/// Passive health checking: endpoints that keep failing are ejected for a while.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutlierDetection {
    /// Consecutive 5xx (or connection failures) that eject an endpoint; 0 disables.
    #[serde(rename = "consecutive5xx", default = "default_consecutive")]
    pub consecutive_5xx: u32,
    /// Consecutive 502/503/504 (or connection failures) that eject an endpoint; 0 disables.
    #[serde(default = "default_consecutive")]
    pub consecutive_gateway_errors: u32,
    /// How often ejected endpoints are checked for return.
    #[serde(default = "default_interval")]
    pub interval: Duration,
    /// Ejection time of a first ejection; the n-th ejection lasts n times as long.
    #[serde(default = "default_base_ejection")]
    pub base_ejection_time: Duration,
    /// At most this percentage of the endpoints is ejected at once (0..=100).
    #[serde(default = "default_percent")]
    pub max_ejection_percent: u8,
    /// Below this percentage of healthy endpoints, ejection is ignored (panic mode, 0..=100).
    #[serde(default = "default_percent")]
    pub min_health_percent: u8,
}

fn default_consecutive() -> u32 {
    5
}

fn default_interval() -> Duration {
    Duration::from_secs(10)
}

fn default_base_ejection() -> Duration {
    Duration::from_secs(30)
}

fn default_percent() -> u8 {
    50
}

impl Default for OutlierDetection {
    fn default() -> Self {
        Self {
            consecutive_5xx: default_consecutive(),
            consecutive_gateway_errors: default_consecutive(),
            interval: default_interval(),
            base_ejection_time: default_base_ejection(),
            max_ejection_percent: default_percent(),
            min_health_percent: default_percent(),
        }
    }
}

/// A local token bucket: `requestsPerSecond` refill, up to `burst` tokens (429 when empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    pub requests_per_second: u32,
    /// Bucket size; defaults to `requestsPerSecond`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// The period `requestsPerSecond` tokens are refilled over when it is not a second
    /// (100 every 60s: `requestsPerSecond: 100, per: 60s`); refill is smooth over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<Duration>,
}

impl RateLimit {
    /// The bucket size in force.
    pub fn burst(&self) -> u32 {
        self.burst.unwrap_or(self.requests_per_second)
    }
}

/// A policy value outside what is allowed; `field` is the path inside the policy.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {message}")]
pub struct PolicyError {
    pub field: &'static str,
    pub message: String,
}

impl Policy {
    /// Checks the rules serde cannot express (cross-field and ranges).
    pub fn validate(&self) -> Result<(), PolicyError> {
        let fail = |field, message: &str| {
            Err(PolicyError {
                field,
                message: message.to_owned(),
            })
        };
        let lb = &self.load_balancer;
        match (lb.algorithm, &lb.hash_on) {
            (Algorithm::ConsistentHash, None) => {
                return fail(
                    "loadBalancer.hashOn",
                    "consistent-hash needs hashOn: { header: NAME } or { cookie: NAME }",
                );
            }
            (Algorithm::ConsistentHash, Some(HashOn::Header(n) | HashOn::Cookie(n)))
                if n.is_empty() || http::HeaderName::from_bytes(n.as_bytes()).is_err() =>
            {
                return fail(
                    "loadBalancer.hashOn",
                    "the name must be a valid, non-empty token",
                );
            }
            (Algorithm::ConsistentHash, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return fail(
                    "loadBalancer.hashOn",
                    "hashOn is only allowed with algorithm: consistent-hash",
                );
            }
        }
        if self.sticky_cookie.is_some()
            && !matches!(
                (lb.algorithm, &lb.hash_on),
                (Algorithm::ConsistentHash, Some(HashOn::Cookie(_)))
            )
        {
            return fail(
                "stickyCookie",
                "needs loadBalancer: { algorithm: consistent-hash, hashOn: { cookie: NAME } }",
            );
        }
        if let Some(path) = self.sticky_cookie.as_ref().and_then(|c| c.path.as_ref())
            && (!path.starts_with('/') || path.chars().any(|c| c.is_control() || c == ';'))
        {
            return fail(
                "stickyCookie.path",
                "a cookie path starts with / and has no ';' or control characters",
            );
        }
        if let (Some(total), Some(per_try)) = (self.timeouts.request, self.timeouts.per_try)
            && per_try > total
        {
            return fail("timeouts.perTry", "must not exceed timeouts.request");
        }
        if let Some(r) = &self.retries {
            if r.attempts > 10 {
                return fail("retries.attempts", "allowed: 0 to 10 retries");
            }
            if r.retriable_status_codes
                .iter()
                .any(|c| !(100..=599).contains(c))
            {
                return fail(
                    "retries.retriableStatusCodes",
                    "allowed: HTTP statuses 100 to 599",
                );
            }
            if r.backoff.base > r.backoff.max {
                return fail(
                    "retries.backoff.base",
                    "must not exceed retries.backoff.max",
                );
            }
            if !(0.0..=1000.0).contains(&r.budget.ratio) {
                return fail(
                    "retries.budget.ratio",
                    "allowed: 0.0 to 1000.0 (0.2 = retries add at most 20 % load)",
                );
            }
        }
        let cb = &self.circuit_breaker;
        if cb.max_connections == 0 {
            return fail("circuitBreaker.maxConnections", "must be at least 1");
        }
        if cb.idle_timeout.is_some_and(|d| d.get().is_zero()) {
            return fail("circuitBreaker.idleTimeout", "must be more than 0s");
        }
        if let Some(od) = &self.outlier_detection {
            if od.max_ejection_percent > 100 {
                return fail("outlierDetection.maxEjectionPercent", "allowed: 0 to 100");
            }
            if od.min_health_percent > 100 {
                return fail("outlierDetection.minHealthPercent", "allowed: 0 to 100");
            }
            if od.interval.get().is_zero() {
                return fail("outlierDetection.interval", "must be more than 0s");
            }
        }
        if let Some(rl) = &self.rate_limit
            && (rl.requests_per_second == 0 || rl.burst() == 0)
        {
            return fail(
                "rateLimit",
                "requestsPerSecond and burst must be at least 1",
            );
        }
        if let Some(rl) = &self.rate_limit
            && rl.per.is_some_and(|p| p.get().is_zero())
        {
            return fail("rateLimit.per", "must be more than 0s");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
loadBalancer: { algorithm: consistent-hash, hashOn: { header: x-user } }
timeouts: { request: 2s, perTry: 500ms }
retries:
  attempts: 3
  retryOn: [5xx, gateway-error, connect-failure, reset, refused-stream, retriable-status-codes, "grpc:unavailable"]
  retriableStatusCodes: [409]
  backoff: { base: 25ms, max: 250ms }
  budget: { ratio: 0.2, minPerSecond: 10 }
circuitBreaker: { maxConnections: 1024, maxPendingRequests: 1024, maxRequestsPerConnection: 0 }
outlierDetection: { consecutive5xx: 5, consecutiveGatewayErrors: 5, interval: 10s,
                    baseEjectionTime: 30s, maxEjectionPercent: 50, minHealthPercent: 50 }
rateLimit: { requestsPerSecond: 100, burst: 200 }
"#;

    fn parse(yaml: &str) -> Result<Policy, String> {
        serde_saphyr::from_str::<Policy>(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn a_zero_idle_timeout_is_refused_by_name() {
        let p = parse("circuitBreaker: { idleTimeout: 0s }").unwrap();
        let e = p.validate().unwrap_err();
        assert_eq!(e.field, "circuitBreaker.idleTimeout");
        let p =
            parse("circuitBreaker: { idleTimeout: 5m, maxRequestsPerConnection: 100 }").unwrap();
        p.validate().unwrap();
    }

    #[test]
    fn parses_the_full_example() {
        let p = parse(FULL).unwrap();
        p.validate().unwrap();
        assert_eq!(
            p.load_balancer.hash_on,
            Some(HashOn::Header("x-user".into()))
        );
        assert_eq!(p.timeouts.per_try, Some(Duration::from_millis(500)));
        let r = p.retries.as_ref().unwrap();
        assert_eq!(r.attempts, 3);
        assert_eq!(r.retry_on.len(), 7);
        assert_eq!(r.retry_on[6], RetryOn::Grpc(GrpcCode::Unavailable));
        assert_eq!(
            RetryOn::Grpc(GrpcCode::Unavailable).to_string(),
            "grpc:unavailable"
        );
        assert_eq!(GrpcCode::Unavailable.code(), 14);
        assert_eq!(p.outlier_detection.as_ref().unwrap().consecutive_5xx, 5);
        assert_eq!(p.rate_limit.as_ref().unwrap().burst(), 200);
    }

    #[test]
    fn round_trips_through_yaml_and_json() {
        let p = parse(FULL).unwrap();
        let yaml = serde_saphyr::to_string(&p).unwrap();
        assert_eq!(parse(&yaml).unwrap(), p);
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"perTry\":\"500ms\""), "{json}");
        assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), p);
    }

    #[test]
    fn empty_policy_is_the_default() {
        let p = parse("{}").unwrap();
        assert_eq!(p, Policy::default());
        assert_eq!(p.load_balancer.algorithm, Algorithm::P2cEwma);
        assert!(p.retries.is_none() && p.outlier_detection.is_none() && p.rate_limit.is_none());
        p.validate().unwrap();
        let r = parse("retries: {}").unwrap().retries.unwrap();
        assert_eq!(r, Retries::default());
    }

    #[test]
    fn unknown_fields_and_values_are_errors_that_say_what_is_allowed() {
        let e = parse("retries: { attempt: 3 }").unwrap_err();
        assert!(e.contains("attempt") && e.contains("attempts"), "{e}");
        let e = parse("retries: { retryOn: [5xxx] }").unwrap_err();
        assert!(e.contains("allowed: 5xx"), "{e}");
        let e = parse("loadBalancer: { algorithm: fastest }").unwrap_err();
        assert!(
            e.contains("p2c-ewma") && e.contains("consistent-hash"),
            "{e}"
        );
        let e = parse("timeouts: { request: 2 }").unwrap_err();
        assert!(e.contains("units h, m, s, ms"), "{e}");
    }

    #[test]
    fn validate_names_the_field_and_the_rule() {
        let cases = [
            (
                "loadBalancer: { algorithm: consistent-hash }",
                "loadBalancer.hashOn",
            ),
            (
                "loadBalancer: { hashOn: { cookie: s } }",
                "loadBalancer.hashOn",
            ),
            ("timeouts: { request: 1s, perTry: 2s }", "timeouts.perTry"),
            ("retries: { attempts: 11 }", "retries.attempts"),
            (
                "retries: { backoff: { base: 1s, max: 10ms } }",
                "retries.backoff.base",
            ),
            ("retries: { budget: { ratio: -1 } }", "retries.budget.ratio"),
            (
                "retries: { retriableStatusCodes: [42] }",
                "retries.retriableStatusCodes",
            ),
            (
                "outlierDetection: { maxEjectionPercent: 101 }",
                "outlierDetection.maxEjectionPercent",
            ),
            (
                "circuitBreaker: { maxConnections: 0 }",
                "circuitBreaker.maxConnections",
            ),
            ("rateLimit: { requestsPerSecond: 0 }", "rateLimit"),
            ("stickyCookie: { ttl: 1h }", "stickyCookie"),
            (
                "{ loadBalancer: { algorithm: consistent-hash, hashOn: { cookie: s } }, \
                 stickyCookie: { ttl: 1h, path: x } }",
                "stickyCookie.path",
            ),
        ];
        for (yaml, field) in cases {
            let e = parse(yaml).unwrap().validate().unwrap_err();
            assert_eq!(e.field, field, "{yaml}");
            assert!(e.to_string().starts_with(field));
        }
    }
}
