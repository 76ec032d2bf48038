//! The demo's apps, in this process: stand-ins for the containers beside each proxy. The web
//! versions answer "Hello from v1" / "Hello from v2" (v2 fails one request in `fail_every`
//! with a 503, which the VirtualService's retries hide); the client sends steady load to its
//! proxy's outbound listener with `Host: web`, as an app without interception would.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// Serves the echo app of `version` on `listener` until the task is aborted.
pub async fn echo(listener: TcpListener, version: &'static str, fail_every: Option<u64>) {
    let served = Arc::new(AtomicU64::new(0));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let served = served.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |_req: Request<Incoming>| {
                let n = served.fetch_add(1, Ordering::Relaxed) + 1;
                let fail = fail_every.is_some_and(|every| n.is_multiple_of(every));
                let resp = if fail {
                    let mut r = Response::new(Full::new(Bytes::from_static(b"v2 hiccup\n")));
                    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                    r
                } else {
                    Response::new(Full::new(Bytes::from(format!("Hello from {version}\n"))))
                };
                async move { Ok::<_, Infallible>(resp) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// What the client saw: answers by body (or status when it failed).
#[derive(Default)]
pub struct Seen(Mutex<BTreeMap<String, u64>>);

impl Seen {
    fn count(&self, what: String) {
        *self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(what)
            .or_default() += 1;
    }

    /// The counts since the last call.
    pub fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Sends `rps` requests per second for `host` to the proxy's outbound listener, until the
/// task is aborted; each answer is counted in `seen`.
pub async fn load(outbound: SocketAddr, host: &'static str, rps: u32, seen: Arc<Seen>) {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rps.max(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let (client, seen) = (client.clone(), seen.clone());
        tokio::spawn(async move {
            let request = Request::get(format!("http://{outbound}/"))
                .header(http::header::HOST, host)
                .body(Empty::new());
            let Ok(request) = request else { return };
            let answer = tokio::time::timeout(Duration::from_secs(5), async {
                let response = client.request(request).await.ok()?;
                let status = response.status();
                let body = response.into_body().collect().await.ok()?.to_bytes();
                Some((status, body))
            })
            .await;
            seen.count(match answer {
                Ok(Some((status, body))) if status.is_success() => {
                    String::from_utf8_lossy(&body).trim().to_owned()
                }
                Ok(Some((status, _))) => format!("HTTP {}", status.as_u16()),
                _ => "no answer".to_owned(),
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_client_counts_what_the_echo_answers() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(echo(listener, "v2", Some(4)));
        let seen = Arc::new(Seen::default());
        let client = tokio::spawn(load(addr, "web", 100, seen.clone()));
        tokio::time::sleep(Duration::from_millis(500)).await;
        client.abort();
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.abort();
        let counts = seen.take();
        let ok = counts.get("Hello from v2").copied().unwrap_or(0);
        let failed = counts.get("HTTP 503").copied().unwrap_or(0);
        assert!(ok >= 20, "{counts:?}");
        // One in four fails (give or take the requests in flight when counting stopped).
        assert!(failed * 3 <= ok + 3 && failed * 3 + 3 >= ok, "{counts:?}");
    }
}
