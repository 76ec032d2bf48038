//! The proxies subscribed to this controller replica and the config version each runs: what
//! `/proxies` on the admin port shows, `check --proxy` compares and a canary waits on.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// One subscribed proxy.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyRecord {
    pub namespace: String,
    pub pod: String,
    pub identity: String,
    pub proxy_version: String,
    pub connected_at: String,
    /// The last version sent to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_version: Option<String>,
    /// The last version it acked (the config it runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_version: Option<String>,
    /// The last version it refused, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nacked: Option<Nacked>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Nacked {
    pub version: String,
    pub reason: String,
}

/// Every open stream, by a number of its own (a reconnecting proxy may briefly have two).
#[derive(Default)]
pub struct Proxies {
    next: AtomicU64,
    streams: Mutex<BTreeMap<u64, ProxyRecord>>,
}

impl Proxies {
    /// Records a new stream; the returned guard removes it when the stream ends.
    pub fn register(self: &Arc<Self>, record: ProxyRecord) -> Registration {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, record);
        Registration {
            proxies: self.clone(),
            id,
        }
    }

    pub fn list(&self) -> Vec<ProxyRecord> {
        self.lock().values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, ProxyRecord>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut ProxyRecord)) {
        if let Some(record) = self.lock().get_mut(&id) {
            f(record);
        }
    }
}

/// One stream's entry; removed on drop.
pub struct Registration {
    proxies: Arc<Proxies>,
    id: u64,
}

impl Registration {
    pub fn sent(&self, version: &str) {
        self.proxies
            .update(self.id, |r| r.sent_version = Some(version.to_owned()));
    }

    pub fn acked(&self, version: &str) {
        self.proxies
            .update(self.id, |r| r.acked_version = Some(version.to_owned()));
    }

    pub fn nacked(&self, version: &str, reason: &str) {
        self.proxies.update(self.id, |r| {
            r.nacked = Some(Nacked {
                version: version.to_owned(),
                reason: reason.to_owned(),
            });
        });
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.proxies.lock().remove(&self.id);
    }
}
