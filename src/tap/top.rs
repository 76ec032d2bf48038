//! `meshctl top`: the busiest requests of a tap, by direction, method, authority and path,
//! with their success and latency, kept for the rows a table shows.

use std::collections::HashMap;

use super::TapEvent;

/// Distinct (direction, method, authority, path) kept: a tap over many paths folds the rest
/// into one `other` row, so memory stays bounded however long it runs.
pub const MAX_ROWS: usize = 1_000;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopKey {
    pub direction: String,
    pub method: String,
    pub authority: String,
    pub path: String,
}

/// One row's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TopRow {
    pub count: u64,
    pub failures: u64,
    pub latency_sum_ms: f64,
    pub latency_max_ms: f64,
}

impl TopRow {
    pub fn success_rate(&self) -> Option<f64> {
        (self.count > 0).then(|| (self.count - self.failures) as f64 / self.count as f64)
    }

    pub fn mean_latency_ms(&self) -> Option<f64> {
        (self.count > 0).then(|| self.latency_sum_ms / self.count as f64)
    }
}

/// Every event seen, by key.
#[derive(Debug, Default)]
pub struct Top {
    rows: HashMap<TopKey, TopRow>,
    pub events: u64,
}

fn other() -> TopKey {
    TopKey {
        direction: "-".to_owned(),
        method: "-".to_owned(),
        authority: "-".to_owned(),
        path: "other".to_owned(),
    }
}

impl Top {
    pub fn add(&mut self, e: &TapEvent) {
        self.events += 1;
        let key = TopKey {
            direction: e.direction.clone(),
            method: e.method.clone(),
            authority: e.authority.clone(),
            path: e.path.clone(),
        };
        let key = if self.rows.contains_key(&key) || self.rows.len() < MAX_ROWS - 1 {
            key
        } else {
            other()
        };
        let row = self.rows.entry(key).or_default();
        row.count += 1;
        row.failures += u64::from(e.status >= 500);
        row.latency_sum_ms += e.latency_ms;
        row.latency_max_ms = row.latency_max_ms.max(e.latency_ms);
    }

    /// The `n` busiest rows, busiest first (ties by key).
    pub fn busiest(&self, n: usize) -> Vec<(&TopKey, &TopRow)> {
        let mut rows: Vec<_> = self.rows.iter().collect();
        rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
        rows.truncate(n);
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(path: &str, status: u16, latency_ms: f64) -> TapEvent {
        TapEvent {
            ts: 0,
            direction: "inbound".to_owned(),
            method: "GET".to_owned(),
            authority: "web".to_owned(),
            path: path.to_owned(),
            status,
            latency_ms,
            tls: true,
            client_id: None,
            server_id: None,
            route: None,
            backend: None,
            headers: Default::default(),
        }
    }

    #[test]
    fn the_busiest_paths_come_first_and_the_tail_folds_into_other() {
        let mut top = Top::default();
        for _ in 0..3 {
            top.add(&event("/a", 200, 2.0));
        }
        top.add(&event("/b", 503, 10.0));
        top.add(&event("/a", 500, 8.0));
        let rows = top.busiest(10);
        assert_eq!(rows[0].0.path, "/a");
        assert_eq!(rows[0].1.count, 4);
        assert_eq!(rows[0].1.success_rate(), Some(0.75));
        assert_eq!(rows[0].1.mean_latency_ms(), Some(3.5));
        assert_eq!(rows[0].1.latency_max_ms, 8.0);
        assert_eq!(rows[1].1.success_rate(), Some(0.0));
        for i in 0..(2 * MAX_ROWS) {
            top.add(&event(&format!("/many/{i}"), 200, 1.0));
        }
        assert_eq!(top.rows.len(), MAX_ROWS);
        assert_eq!(top.events, 5 + 2 * MAX_ROWS as u64);
        let other = &top.rows[&other()];
        assert_eq!(other.count, (2 * MAX_ROWS - (MAX_ROWS - 3)) as u64);
    }
}
