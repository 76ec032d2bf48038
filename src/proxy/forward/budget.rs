//! The retry budget: over a sliding 10 s window, retries may add at most `ratio` of the
//! requests, plus `minPerSecond` always; so retries cannot amplify an outage.

use std::sync::Mutex;

use crate::model::policy::RetryBudget;

const WINDOW_SECS: usize = 10;
/// Fixed point: one retry costs this many units.
const UNIT: i64 = 1_000;

#[derive(Debug)]
pub(super) struct Budget {
    deposit: i64,
    reserve: i64,
    window: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    /// Net units per second slot (deposits minus withdrawals).
    slots: [i64; WINDOW_SECS],
    /// The second the newest slot belongs to.
    second: u64,
}

impl Window {
    fn advance(&mut self, second: u64) {
        if second <= self.second {
            return;
        }
        let stale = (second - self.second).min(WINDOW_SECS as u64);
        for s in 1..=stale {
            self.slots[((self.second + s) % WINDOW_SECS as u64) as usize] = 0;
        }
        self.second = second;
    }

    fn current(&mut self) -> &mut i64 {
        &mut self.slots[(self.second % WINDOW_SECS as u64) as usize]
    }
}

impl Budget {
    pub(super) fn new(policy: &RetryBudget) -> Self {
        Self {
            deposit: (policy.ratio * UNIT as f64) as i64,
            reserve: i64::from(policy.min_per_second) * WINDOW_SECS as i64 * UNIT,
            window: Mutex::new(Window::default()),
        }
    }

    /// Counts one original request.
    pub(super) fn deposit(&self, now_ns: u64) {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        w.advance(now_ns / 1_000_000_000);
        *w.current() += self.deposit;
    }

    /// Takes one retry from the budget; false when it is spent.
    pub(super) fn withdraw(&self, now_ns: u64) -> bool {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        w.advance(now_ns / 1_000_000_000);
        let balance: i64 = w.slots.iter().sum::<i64>() + self.reserve;
        if balance < UNIT {
            return false;
        }
        *w.current() -= UNIT;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn allows_ratio_of_requests_plus_the_reserve() {
        let b = Budget::new(&RetryBudget {
            ratio: 0.2,
            min_per_second: 1,
        });
        for _ in 0..100 {
            b.deposit(0);
        }
        // 100 requests x 0.2 + 1/s x 10 s reserve = 30 retries.
        let granted = (0..100).filter(|_| b.withdraw(0)).count();
        assert_eq!(granted, 30);
    }

    #[test]
    fn old_deposits_expire_after_the_window() {
        let b = Budget::new(&RetryBudget {
            ratio: 1.0,
            min_per_second: 0,
        });
        for _ in 0..5 {
            b.deposit(0);
        }
        assert!(b.withdraw(9 * SEC));
        assert!(
            !b.withdraw(10 * SEC + 1),
            "the deposits of second 0 left the window"
        );
        b.deposit(30 * SEC);
        assert!(b.withdraw(30 * SEC));
        assert!(!b.withdraw(30 * SEC));
    }
}
