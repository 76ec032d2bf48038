//! Which tries are retried (retry-on conditions, gRPC status of trailers-only responses)
//! and how long to wait before the next one (jittered exponential backoff).

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Response, StatusCode};

use super::UpstreamError;
use crate::model::policy::{Retries, RetryOn};
use crate::proxy::Body;
use crate::proxy::tls::MeshPeer;

/// How one try ended.
pub(super) enum Try {
    /// The endpoint answered (over mesh TLS to this peer, if any).
    Response(Response<Body>, Option<Arc<MeshPeer>>),
    /// The proxy answered itself (overflow, no endpoint): never retried.
    Proxy(Response<Body>),
    Failed(UpstreamError),
    /// The per-try timeout expired.
    TimedOut,
}

/// The retry-on conditions compiled to flags (checked per try, no allocation).
#[derive(Debug)]
pub(super) struct RetryPolicy {
    pub(super) attempts: u32,
    any_5xx: bool,
    gateway: bool,
    connect: bool,
    reset: bool,
    refused: bool,
    statuses: Vec<u16>,
    /// Bit n set: gRPC status n is retried.
    grpc: u32,
    base: Duration,
    max: Duration,
}

impl RetryPolicy {
    /// `None` when the policy never retries.
    pub(super) fn new(r: &Retries) -> Option<Self> {
        let mut p = Self {
            attempts: r.attempts,
            any_5xx: false,
            gateway: false,
            connect: false,
            reset: false,
            refused: false,
            statuses: Vec::new(),
            grpc: 0,
            base: r.backoff.base.get(),
            max: r.backoff.max.get(),
        };
        for cond in &r.retry_on {
            match cond {
                RetryOn::Status5xx => p.any_5xx = true,
                RetryOn::GatewayError => p.gateway = true,
                RetryOn::ConnectFailure => p.connect = true,
                RetryOn::Reset => p.reset = true,
                RetryOn::RefusedStream => p.refused = true,
                RetryOn::RetriableStatusCodes => p.statuses.clone_from(&r.retriable_status_codes),
                RetryOn::Grpc(code) => p.grpc |= 1 << code.code(),
            }
        }
        (p.attempts > 0 && !r.retry_on.is_empty()).then_some(p)
    }

    /// Whether this try's outcome may be retried (`grpc`: the request is gRPC).
    pub(super) fn retriable(&self, outcome: &Try, grpc: bool) -> bool {
        match outcome {
            Try::Response(resp, _) => {
                self.status_retriable(resp.status())
                    || (grpc && self.grpc_retriable(resp.headers()))
            }
            Try::Failed(UpstreamError::Connect(_)) => self.connect,
            Try::Failed(UpstreamError::Reset(_)) => self.reset,
            Try::Failed(UpstreamError::RefusedStream(_)) => self.refused,
            Try::TimedOut => self.any_5xx || self.gateway,
            Try::Proxy(_) | Try::Failed(UpstreamError::Other(_)) => false,
        }
    }

    fn status_retriable(&self, status: StatusCode) -> bool {
        let code = status.as_u16();
        (self.any_5xx && status.is_server_error())
            || (self.gateway && matches!(code, 502..=504))
            || self.statuses.contains(&code)
    }

    /// A trailers-only gRPC response carries `grpc-status` in its headers.
    fn grpc_retriable(&self, headers: &HeaderMap) -> bool {
        headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u32>().ok())
            .is_some_and(|code| code < 32 && self.grpc & (1 << code) != 0)
    }

    /// The wait before retry number `retry` (1 for the first): uniformly random in
    /// `[d/2, d]` with `d = min(max, base x 2^(retry-1))`.
    pub(super) fn backoff(&self, retry: u32) -> Duration {
        let d = self
            .base
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
            .min(self.max);
        let half = d / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// Whether the request is gRPC (its statuses come in `grpc-status`).
pub(super) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::policy::GrpcCode;

    fn policy(retry_on: Vec<RetryOn>) -> RetryPolicy {
        RetryPolicy::new(&Retries {
            retry_on,
            retriable_status_codes: vec![409],
            ..Retries::default()
        })
        .unwrap()
    }

    fn failed(make: fn(crate::proxy::BoxError) -> UpstreamError) -> Try {
        Try::Failed(make("test".into()))
    }

    fn status(code: u16) -> Try {
        let mut r = Response::new(Body::default());
        *r.status_mut() = StatusCode::from_u16(code).unwrap();
        Try::Response(r, None)
    }

    #[test]
    fn each_condition_selects_its_outcomes() {
        let p = policy(vec![RetryOn::Status5xx]);
        assert!(p.retriable(&status(500), false) && p.retriable(&status(503), false));
        assert!(
            !p.retriable(&status(409), false)
                && !p.retriable(&failed(UpstreamError::Connect), false)
        );
        assert!(p.retriable(&Try::TimedOut, false));
        let p = policy(vec![RetryOn::GatewayError]);
        assert!(!p.retriable(&status(500), false) && p.retriable(&status(502), false));
        let p = policy(vec![RetryOn::ConnectFailure]);
        assert!(
            p.retriable(&failed(UpstreamError::Connect), false)
                && !p.retriable(&failed(UpstreamError::Reset), false)
        );
        let p = policy(vec![RetryOn::Reset]);
        assert!(
            p.retriable(&failed(UpstreamError::Reset), false) && !p.retriable(&status(503), false)
        );
        let p = policy(vec![RetryOn::RefusedStream]);
        assert!(
            p.retriable(&failed(UpstreamError::RefusedStream), false)
                && !p.retriable(&failed(UpstreamError::Other), false)
        );
        let p = policy(vec![RetryOn::RetriableStatusCodes]);
        assert!(p.retriable(&status(409), false) && !p.retriable(&status(503), false));
    }

    #[test]
    fn grpc_status_of_trailers_only_responses() {
        let p = policy(vec![RetryOn::Grpc(GrpcCode::Unavailable)]);
        let mut unavailable = status(200);
        let mut internal = status(200);
        if let (Try::Response(u, _), Try::Response(i, _)) = (&mut unavailable, &mut internal) {
            u.headers_mut().insert("grpc-status", "14".parse().unwrap());
            i.headers_mut().insert("grpc-status", "13".parse().unwrap());
        }
        assert!(p.retriable(&unavailable, true));
        assert!(
            !p.retriable(&unavailable, false),
            "only gRPC requests are read for grpc-status"
        );
        assert!(!p.retriable(&internal, true));
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/grpc+proto".parse().unwrap());
        assert!(is_grpc(&h));
    }

    #[test]
    fn backoff_grows_exponentially_within_bounds() {
        let p = policy(vec![RetryOn::Status5xx]); // base 25ms, max 250ms
        for (retry, cap) in [(1, 25), (2, 50), (3, 100), (4, 200), (5, 250), (30, 250)] {
            let cap = Duration::from_millis(cap);
            let waits: Vec<Duration> = (0..200).map(|_| p.backoff(retry)).collect();
            assert!(
                waits.iter().all(|w| *w >= cap / 2 && *w <= cap),
                "retry {retry}"
            );
            let distinct: std::collections::HashSet<_> = waits.iter().collect();
            assert!(distinct.len() > 100, "jittered");
        }
    }

    #[test]
    fn no_policy_without_attempts_or_conditions() {
        assert!(
            RetryPolicy::new(&Retries {
                attempts: 0,
                ..Retries::default()
            })
            .is_none()
        );
        assert!(
            RetryPolicy::new(&Retries {
                retry_on: vec![],
                ..Retries::default()
            })
            .is_none()
        );
    }
}
