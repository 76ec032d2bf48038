//! Local rate limiting: a lock-free token bucket (GCRA) per service or route; requests over
//! it get a 429 with `retry-after`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use http::{HeaderValue, Response, StatusCode};
use prometheus_client::metrics::counter::Counter;
use tokio::time::Instant;

use super::Body;
use super::forward::proxy_error;
use crate::model::policy::RateLimit;

/// `requestsPerSecond` refill, `burst` capacity.
#[derive(Debug)]
pub struct RateLimiter {
    epoch: Instant,
    /// Time one token takes to refill, in ns.
    interval_ns: u64,
    /// How far ahead of now the bucket may be booked: burst x interval.
    capacity_ns: u64,
    /// Theoretical arrival time of the next request (ns since epoch): when the bucket
    /// would be full again minus capacity.
    tat_ns: AtomicU64,
    limited: Counter,
}

/// A refused request, and when a token will be available again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// The 429 answer, with `retry-after` in whole seconds (at least 1).
    pub fn into_response(self) -> Response<Body> {
        let secs = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        let mut resp = proxy_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate limited",
            "local rate limit reached",
        );
        resp.headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        resp
    }
}

impl RateLimiter {
    /// A full bucket; `limited` counts refusals (see `ForwardMetrics::rate_limited`).
    pub fn new(policy: &RateLimit, limited: Counter) -> Self {
        let per_ns = policy.per.map_or(1_000_000_000, |p| {
            u64::try_from(p.get().as_nanos()).unwrap_or(u64::MAX)
        });
        let interval_ns = (per_ns / u64::from(policy.requests_per_second.max(1))).max(1);
        Self {
            epoch: Instant::now(),
            interval_ns,
            capacity_ns: interval_ns * u64::from(policy.burst().max(1)),
            tat_ns: AtomicU64::new(0),
            limited,
        }
    }

    /// Takes a token, or says how long until one is available.
    pub fn check(&self) -> Result<(), RetryAfter> {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut tat = self.tat_ns.load(Relaxed);
        loop {
            let next = tat.max(now) + self.interval_ns;
            if next - now > self.capacity_ns {
                self.limited.inc();
                return Err(RetryAfter(Duration::from_nanos(
                    next - now - self.capacity_ns,
                )));
            }
            match self
                .tat_ns
                .compare_exchange_weak(tat, next, Relaxed, Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(current) => tat = current,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rps: u32, burst: u32) -> RateLimiter {
        RateLimiter::new(
            &RateLimit {
                requests_per_second: rps,
                burst: Some(burst),
                per: None,
            },
            Counter::default(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn burst_then_refill_at_the_rate() {
        let l = limiter(10, 5);
        assert_eq!((0..20).filter(|_| l.check().is_ok()).count(), 5);
        assert_eq!(l.limited.get(), 15);
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(l.check().is_ok(), "one token per 100 ms");
        assert!(l.check().is_err());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            (0..20).filter(|_| l.check().is_ok()).count(),
            5,
            "refills up to burst only"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refill_period_longer_than_a_second() {
        // 100 per minute: a burst of 100, then one every 600 ms.
        let l = RateLimiter::new(
            &RateLimit {
                requests_per_second: 100,
                burst: None,
                per: Some(crate::model::duration::Duration::from_secs(60)),
            },
            Counter::default(),
        );
        assert_eq!((0..150).filter(|_| l.check().is_ok()).count(), 100);
        tokio::time::advance(Duration::from_millis(599)).await;
        assert!(l.check().is_err());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(l.check().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn refusal_is_a_429_with_retry_after() {
        let l = limiter(1, 1);
        assert!(l.check().is_ok());
        let wait = l.check().unwrap_err();
        assert_eq!(wait.0, Duration::from_secs(1));
        let resp = wait.into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()["retry-after"], "1");
        assert_eq!(
            resp.headers()[super::super::forward::PROXY_ERROR_HEADER],
            "rate limited"
        );
        let short = RetryAfter(Duration::from_millis(1)).into_response();
        assert_eq!(short.headers()["retry-after"], "1");
    }
}
