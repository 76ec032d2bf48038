//! Synthetic load for canaries whose real traffic is too little to judge on (`--load URL`):
//! while a rollout runs, the leader sends `GET url` at the asked rate, answers ignored (the
//! canary's proxies count them like any other request).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinHandle;

use crate::canary::resource::Load;

/// Longest one synthetic request may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The load tasks running, by `namespace/name` of their Canary.
#[derive(Default)]
pub struct Loads {
    running: Mutex<HashMap<String, (Load, JoinHandle<()>)>>,
}

impl Loads {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Load, JoinHandle<()>)>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `load` for `key` from now on (`None`: stops it); true when it just started.
    pub fn set(&self, key: &str, load: Option<&Load>) -> bool {
        let mut running = self.lock();
        if running.get(key).map(|(l, _)| Some(l)) == Some(load) {
            return false;
        }
        if let Some((_, task)) = running.remove(key) {
            task.abort();
        }
        let Some(load) = load.filter(|l| l.rps > 0) else {
            return false;
        };
        running.insert(
            key.to_owned(),
            (load.clone(), tokio::spawn(send(load.clone()))),
        );
        true
    }

    /// Stops every load whose key `keep` does not hold (their Canary is gone).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.lock().retain(|key, (_, task)| {
            let kept = keep(key);
            if !kept {
                task.abort();
            }
            kept
        });
    }
}

impl Drop for Loads {
    fn drop(&mut self) {
        self.retain(|_| false);
    }
}

async fn send(load: Load) {
    let Ok(uri) = load.url.parse::<http::Uri>() else {
        return;
    };
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut every = tokio::time::interval(Duration::from_secs(1) / load.rps);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        every.tick().await;
        let request = client.get(uri.clone());
        // Open loop: a slow answer does not lower the rate.
        tokio::spawn(async move {
            let _ = tokio::time::timeout(TIMEOUT, request).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An HTTP server on 127.0.0.1 counting the requests it answers.
    async fn counting_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let count = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let counted = counted.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = stream.read(&mut buf).await;
                    counted.fetch_add(1, Ordering::Relaxed);
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await;
                });
            }
        });
        (url, count)
    }

    #[tokio::test]
    async fn sends_at_the_rate_asked_until_stopped() {
        use std::sync::atomic::Ordering;
        let (url, count) = counting_server().await;
        let loads = Loads::default();
        let load = Load { url, rps: 20 };
        assert!(loads.set("shop/web", Some(&load)));
        // The same load again is not a restart.
        assert!(!loads.set("shop/web", Some(&load)));
        tokio::time::sleep(Duration::from_millis(1050)).await;
        let sent = count.load(Ordering::Relaxed);
        assert!(
            (15..=25).contains(&sent),
            "{sent} requests in a second at 20 rps"
        );
        loads.set("shop/web", None);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stopped = count.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(count.load(Ordering::Relaxed), stopped);
    }
}
