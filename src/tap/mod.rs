//! The client side of `meshctl tap` and `top`: a `/tap` stream opened on each proxy (through
//! the API server's pod proxy, or at an admin address), its lines read as they come and
//! merged into one channel, each with the pod it came from.

pub mod top;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http_body_util::{BodyExt, BodyStream, Empty};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::inject::sidecar::ADMIN_PORT;
use crate::k8s::connect::error_chain;
use crate::k8s::pod_proxy;
use crate::stats::FetchError;

/// One request event, as a proxy's `/tap` writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TapEvent {
    pub ts: u64,
    pub direction: String,
    pub method: String,
    pub authority: String,
    pub path: String,
    pub status: u16,
    pub latency_ms: f64,
    pub tls: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub headers: serde_json::Map<String, serde_json::Value>,
}

/// A stream's last line.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct TapEnd {
    pub end: String,
    pub events: u64,
    pub skipped: u64,
}

/// What a proxy's tap said, or why it stopped.
#[derive(Debug)]
pub enum TapLine {
    Event(Box<TapEvent>),
    End(TapEnd),
    /// The stream could not be opened or broke; nothing more comes from this proxy.
    Failed(FetchError),
    /// The stream closed without a last line (the proxy went away).
    Closed,
}

/// A line and the proxy (pod `ns/name`, or admin address) it came from.
pub type FromProxy = (String, TapLine);

/// Where to open a tap.
#[derive(Clone, Debug)]
pub enum Target {
    /// A pod's proxy, through the API server.
    Pod { namespace: String, name: String },
    /// A proxy's admin address (`HOST:PORT`).
    Address(String),
}

impl Target {
    pub fn label(&self) -> String {
        match self {
            Target::Pod { namespace, name } => format!("{namespace}/{name}"),
            Target::Address(address) => address.clone(),
        }
    }
}

/// How long a proxy may take to answer `/tap` with the head of its stream (it answers at
/// once; events follow when requests come).
const OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The longest line read; a longer one is not a tap event.
const MAX_LINE: usize = 64 << 10;

/// Opens `/tap?query` on every target; their lines arrive on the channel until every
/// stream has ended (then it closes).
pub fn tap_all(
    client: Option<kube::Client>,
    targets: Vec<Target>,
    query: String,
) -> mpsc::Receiver<FromProxy> {
    let (tx, rx) = mpsc::channel(1024);
    for target in targets {
        let (tx, client, query) = (tx.clone(), client.clone(), query.clone());
        tokio::spawn(async move {
            let label = target.label();
            let lines = |line| {
                let tx = tx.clone();
                let label = label.clone();
                async move { tx.send((label, line)).await.is_ok() }
            };
            let ended = match (&target, client) {
                (Target::Pod { namespace, name }, Some(client)) => {
                    let path = pod_proxy::path(namespace, name, ADMIN_PORT, &query);
                    from_pod(&client, &path, lines).await
                }
                (Target::Address(address), _) => from_address(address, &query, lines).await,
                (Target::Pod { .. }, None) => Err(FetchError::Request("no cluster".into())),
            };
            let last = match ended {
                Ok(true) => return,
                Ok(false) => TapLine::Closed,
                Err(e) => TapLine::Failed(e),
            };
            let _ = tx.send((label, last)).await;
        });
    }
    rx
}

/// Streams `GET path` through the API server into `emit`; `Ok(true)` once the last line came.
async fn from_pod<F, Fut>(client: &kube::Client, path: &str, emit: F) -> Result<bool, FetchError>
where
    F: Fn(TapLine) -> Fut,
    Fut: Future<Output = bool>,
{
    let request = http::Request::get(path)
        .body(kube::client::Body::empty())
        .map_err(|e| FetchError::Request(e.to_string()))?;
    let response = tokio::time::timeout(OPEN_TIMEOUT, pod_proxy::stream(client, request))
        .await
        .map_err(|_| FetchError::Timeout(OPEN_TIMEOUT))??;
    read_lines(response.into_body(), emit).await
}

async fn from_address<F, Fut>(address: &str, query: &str, emit: F) -> Result<bool, FetchError>
where
    F: Fn(TapLine) -> Fut,
    Fut: Future<Output = bool>,
{
    use hyper_util::client::legacy::Client;
    let client: Client<_, Empty<Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let uri: http::Uri = format!("http://{address}{query}")
        .parse()
        .map_err(|_| FetchError::Address(address.to_owned()))?;
    let response = tokio::time::timeout(OPEN_TIMEOUT, client.get(uri))
        .await
        .map_err(|_| FetchError::Timeout(OPEN_TIMEOUT))?
        .map_err(|e| FetchError::Request(error_chain(&e)))?;
    let status = response.status();
    if !status.is_success() {
        let limited = http_body_util::Limited::new(response.into_body(), MAX_LINE);
        let body = limited.collect().await;
        let text = body.map(|b| b.to_bytes()).unwrap_or_default();
        return Err(pod_proxy::error_of(status, &text).into());
    }
    read_lines(response.into_body(), emit).await
}

/// Splits `body` into lines and hands each to `emit` as it completes; `Ok(true)` when the
/// last line arrived, `Ok(false)` when the body ended without one or `emit` wants no more.
async fn read_lines<B, F, Fut>(body: B, emit: F) -> Result<bool, FetchError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Display,
    F: Fn(TapLine) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut frames = std::pin::pin!(BodyStream::new(body));
    let mut pending = BytesMut::new();
    while let Some(frame) = frames.next().await {
        let frame = frame.map_err(|e| FetchError::Request(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(at) = pending.iter().position(|b| *b == b'\n') {
            let line = pending.split_to(at + 1);
            let line = parse_line(&line[..at])?;
            let end = matches!(line, TapLine::End(_));
            if !emit(line).await {
                return Ok(false);
            }
            if end {
                return Ok(true);
            }
        }
        if pending.len() > MAX_LINE {
            return Err(FetchError::TooLarge);
        }
    }
    Ok(false)
}

fn parse_line(line: &[u8]) -> Result<TapLine, FetchError> {
    if let Ok(end) = serde_json::from_slice::<TapEnd>(line) {
        return Ok(TapLine::End(end));
    }
    Ok(TapLine::Event(Box::new(serde_json::from_slice(line)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn lines_split_across_frames_are_read_whole_until_the_last() {
        let event = r#"{"ts": 1, "direction": "inbound", "method": "GET", "authority": "web",
            "path": "/a", "status": 200, "latencyMs": 2.5, "tls": true,
            "clientId": "spiffe://td/ns/shop/sa/a"}"#
            .replace('\n', " ");
        let text =
            format!("{event}\n{event}\n{{\"end\": \"limit\", \"events\": 2, \"skipped\": 4}}\n");
        let (a, b) = text.split_at(30);
        let frames: Vec<Result<http_body::Frame<Bytes>, std::convert::Infallible>> = [a, b]
            .into_iter()
            .map(|part| Ok(http_body::Frame::data(Bytes::from(part.to_owned()))))
            .collect();
        let body = http_body_util::StreamBody::new(futures::stream::iter(frames));
        let seen = Mutex::new(Vec::new());
        let ended = read_lines(body, |line| {
            seen.lock().unwrap().push(line);
            async { true }
        })
        .await
        .unwrap();
        assert!(ended);
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 3);
        let TapLine::Event(e) = &seen[0] else {
            panic!("{seen:?}")
        };
        assert_eq!((e.path.as_str(), e.status, e.latency_ms), ("/a", 200, 2.5));
        assert_eq!(e.client_id.as_deref(), Some("spiffe://td/ns/shop/sa/a"));
        let TapLine::End(end) = &seen[2] else {
            panic!("{seen:?}")
        };
        assert_eq!((end.events, end.skipped), (2, 4));
        assert!(matches!(parse_line(b"not json"), Err(FetchError::Body(_))));
    }
}
