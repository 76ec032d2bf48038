//! Circuit breaking by connection-pool limits: at most `maxConnections` tries in flight and
//! `maxPendingRequests` waiting for one; anything beyond is refused at once.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::model::policy::CircuitBreaker;

#[derive(Debug)]
pub(super) struct Circuit {
    slots: Semaphore,
    pending: AtomicU32,
    max_pending: u32,
}

/// Decrements the pending count even when the waiting request is cancelled (timeout).
struct Pending<'a>(&'a AtomicU32);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

impl Circuit {
    pub(super) fn new(policy: &CircuitBreaker) -> Self {
        Self {
            slots: Semaphore::new(policy.max_connections as usize),
            pending: AtomicU32::new(0),
            max_pending: policy.max_pending_requests,
        }
    }

    /// A slot for one try; `None` when the slots and the pending queue are full.
    pub(super) async fn acquire(&self) -> Option<SemaphorePermit<'_>> {
        if let Ok(permit) = self.slots.try_acquire() {
            return Some(permit);
        }
        self.pending
            .fetch_update(Relaxed, Relaxed, |p| {
                (p < self.max_pending).then_some(p + 1)
            })
            .ok()?;
        let _pending = Pending(&self.pending);
        // The semaphore is never closed, so acquire only fails if it were.
        self.slots.acquire().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn queues_up_to_max_pending_then_refuses() {
        let c = Circuit::new(&CircuitBreaker {
            max_connections: 2,
            max_pending_requests: 1,
            max_requests_per_connection: 0,
            idle_timeout: None,
        });
        let a = c.acquire().await.unwrap();
        let _b = c.acquire().await.unwrap();
        let waiter = c.acquire();
        tokio::pin!(waiter);
        // The third one waits (pending 1/1) ...
        assert!(futures::poll!(waiter.as_mut()).is_pending());
        // ... and a fourth is refused at once.
        assert!(c.acquire().await.is_none());
        drop(a);
        assert!(waiter.await.is_some());
        assert_eq!(c.pending.load(Relaxed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_frees_its_pending_place() {
        let c = Circuit::new(&CircuitBreaker {
            max_connections: 1,
            max_pending_requests: 1,
            max_requests_per_connection: 0,
            idle_timeout: None,
        });
        let _a = c.acquire().await.unwrap();
        let waited = tokio::time::timeout(std::time::Duration::from_millis(10), c.acquire()).await;
        assert!(waited.is_err());
        assert_eq!(c.pending.load(Relaxed), 0);
    }
}
