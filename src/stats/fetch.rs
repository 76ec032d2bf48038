//! Asking many proxies for `/stats?window=` at once: a bounded number in flight, a timeout per
//! proxy, and a result per proxy so one that does not answer is reported, not fatal.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::report::StatsAnswer;
use crate::k8s::PodProxyError;

/// Why one proxy gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("request failed: {0}")]
    Request(String),
    #[error("answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the answer is not /stats JSON: {0}")]
    Body(#[from] serde_json::Error),
    #[error("bad address {0:?}: expected HOST:PORT")]
    Address(String),
    #[error(
        "the answer is larger than {} MiB: cut off there (a proxy's /stats is a few kB; \
         is this a meshctl proxy's admin port?)",
        crate::k8s::pod_proxy::MAX_ANSWER_BYTES >> 20
    )]
    TooLarge,
    #[error(
        "answered for a {answered} s window instead of the {asked} s asked (a proxy that \
         ignores ?window=: upgrade it)"
    )]
    Window { asked: u64, answered: u64 },
}

/// The `/stats` answer in `body`, asked for `window`. One covering another window is refused:
/// a proxy that ignored `?window=` would pass its default minute off as the window asked.
pub fn stats_answer(body: &[u8], window: Duration) -> Result<StatsAnswer, FetchError> {
    let answer: StatsAnswer = serde_json::from_slice(body)?;
    let asked = window.as_secs();
    if answer.window_seconds != asked {
        return Err(FetchError::Window {
            asked,
            answered: answer.window_seconds,
        });
    }
    Ok(answer)
}

impl From<PodProxyError> for FetchError {
    fn from(e: PodProxyError) -> Self {
        match e {
            PodProxyError::Status { code, message } => FetchError::Status {
                status: code,
                body: message,
            },
            PodProxyError::Request(why) => FetchError::Request(why),
            PodProxyError::TooLarge => FetchError::TooLarge,
        }
    }
}

/// How to ask.
#[derive(Clone, Copy, Debug)]
pub struct FetchOptions {
    pub window: Duration,
    /// Most requests in flight at once.
    pub concurrency: usize,
    /// Longest one proxy may take (connect, answer, body).
    pub timeout: Duration,
}

/// Asks every admin address (`HOST:PORT`) for its `/stats`; the results are in the order of
/// `addresses`.
pub async fn fetch_all(
    addresses: &[String],
    options: FetchOptions,
) -> Vec<Result<StatsAnswer, FetchError>> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let client = &client;
    let FetchOptions {
        window,
        concurrency,
        timeout,
    } = options;
    ask_all(addresses, concurrency, timeout, |address| {
        fetch_one(client, address, window)
    })
    .await
}

/// Asks every address at once, each bounded by `timeout` (for a handful of addresses, e.g. a
/// canary's pods). Unlike [`fetch_all`] no closure lives in the future, so the controller can
/// spawn it.
pub async fn fetch_each(
    addresses: &[String],
    window: Duration,
    timeout: Duration,
) -> Vec<Result<StatsAnswer, FetchError>> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let asks = addresses.iter().map(|address| {
        let answer = fetch_one(&client, address, window);
        async move {
            tokio::time::timeout(timeout, answer)
                .await
                .unwrap_or(Err(FetchError::Timeout(timeout)))
        }
    });
    futures::future::join_all(asks).await
}

/// Runs `ask` for every item, at most `concurrency` at once, each bounded by `timeout`; the
/// results are in the order of `items`. `fetch_all` asks addresses, cluster mode and the
/// data-plane checks ask pods through the API server.
pub async fn ask_all<'a, T, F, Fut, A>(
    items: &'a [T],
    concurrency: usize,
    timeout: Duration,
    ask: F,
) -> Vec<Result<A, FetchError>>
where
    F: Fn(&'a T) -> Fut,
    Fut: Future<Output = Result<A, FetchError>>,
{
    futures::stream::iter(items)
        .map(|item| {
            let answer = ask(item);
            async move {
                tokio::time::timeout(timeout, answer)
                    .await
                    .unwrap_or(Err(FetchError::Timeout(timeout)))
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

async fn fetch_one(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
    address: &str,
    window: Duration,
) -> Result<StatsAnswer, FetchError> {
    let uri: http::Uri = format!("http://{address}/stats?window={}s", window.as_secs())
        .parse()
        .map_err(|_| FetchError::Address(address.to_owned()))?;
    let response = client
        .get(uri)
        .await
        .map_err(|e| FetchError::Request(error_chain(&e)))?;
    let status = response.status();
    let limit = crate::k8s::pod_proxy::MAX_ANSWER_BYTES;
    let body = http_body_util::Limited::new(response.into_body(), limit)
        .collect()
        .await
        .map_err(
            |e| match e.downcast_ref::<http_body_util::LengthLimitError>() {
                Some(_) => FetchError::TooLarge,
                None => FetchError::Request(error_chain(&*e)),
            },
        )?
        .to_bytes();
    if !status.is_success() {
        return Err(FetchError::Status {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).trim().to_owned(),
        });
    }
    stats_answer(&body, window)
}

/// The error and its causes on one line (hyper's own message alone says little).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const ANSWER: &str = r#"{"windowSeconds": 60, "latencyBucketsMs": [10.0], "rows": []}"#;

    /// A fake admin port: answers `/stats` after `delay` with `status` and `body`, and counts
    /// the requests in flight at the same time (the highest count is returned through `peak`).
    async fn admin(
        status: u16,
        body: &'static str,
        delay: Duration,
        in_flight: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
    ) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (in_flight, peak) = (in_flight.clone(), peak.clone());
                tokio::spawn(async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    let mut request = [0u8; 1024];
                    let read = conn.read(&mut request).await.unwrap_or(0);
                    assert!(request[..read].starts_with(b"GET /stats?window=60s "));
                    tokio::time::sleep(delay).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(answer.as_bytes()).await;
                });
            }
        });
        address
    }

    fn options(concurrency: usize) -> FetchOptions {
        FetchOptions {
            window: Duration::from_secs(60),
            concurrency,
            timeout: Duration::from_millis(500),
        }
    }

    #[tokio::test]
    async fn each_proxy_gets_its_own_result_in_order() {
        let counters = || (Arc::default(), Arc::default());
        let (a, b) = counters();
        let good = admin(200, ANSWER, Duration::ZERO, a, b).await;
        let (a, b) = counters();
        let slow = admin(200, ANSWER, Duration::from_secs(5), a, b).await;
        let (a, b) = counters();
        let failing = admin(400, "window \"x\" is out of range", Duration::ZERO, a, b).await;
        let (a, b) = counters();
        let garbage = admin(200, "not json", Duration::ZERO, a, b).await;
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().to_string()
        };
        let addresses = [good, slow, failing, garbage, closed, "no port".to_owned()];
        let results = fetch_all(&addresses, options(4)).await;
        assert_eq!(results.len(), 6);
        assert_eq!(results[0].as_ref().unwrap().window_seconds, 60);
        assert!(
            matches!(results[1], Err(FetchError::Timeout(_))),
            "{:?}",
            results[1]
        );
        let status = results[2].as_ref().unwrap_err().to_string();
        assert!(status.contains("HTTP 400: window"), "{status}");
        assert!(matches!(results[3], Err(FetchError::Body(_))));
        let refused = results[4].as_ref().unwrap_err().to_string();
        assert!(refused.contains("refused"), "{refused}");
        assert!(matches!(results[5], Err(FetchError::Address(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn the_timeout_bounds_each_proxy_not_the_whole_round() {
        // Six answers of 300 ms, two at a time, take 900 ms in all: each is within its
        // 500 ms; only the one of 600 ms is given up on.
        let delays = [300, 300, 300, 600, 300, 300].map(Duration::from_millis);
        let started = tokio::time::Instant::now();
        let results = ask_all(&delays, 2, Duration::from_millis(500), |delay| async move {
            tokio::time::sleep(*delay).await;
            Ok::<_, FetchError>(*delay)
        })
        .await;
        let timed_out: Vec<usize> = (results.iter().enumerate())
            .filter(|(_, r)| matches!(r, Err(FetchError::Timeout(_))))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(timed_out, [3]);
        assert!(
            started.elapsed() >= Duration::from_millis(1_100),
            "in turns of two"
        );
    }

    #[tokio::test]
    async fn no_more_than_the_bound_are_in_flight() {
        let in_flight: Arc<AtomicUsize> = Arc::default();
        let peak: Arc<AtomicUsize> = Arc::default();
        let mut addresses = Vec::new();
        for _ in 0..6 {
            let delay = Duration::from_millis(50);
            addresses.push(admin(200, ANSWER, delay, in_flight.clone(), peak.clone()).await);
        }
        let results = fetch_all(&addresses, options(2)).await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }
}
