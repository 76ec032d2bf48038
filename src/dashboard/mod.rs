//! The dashboard (`meshctl dashboard`, and `meshctl demo`'s page): a web page with the
//! topology of who calls whom (identities, mTLS per edge) and golden signals per workload and
//! per edge over the last minutes, kept live by server-sent events. The page and its
//! libraries (cytoscape, uPlot; licences in assets/vendor/) are built into the binary.

pub mod collect;
pub mod edges;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::broadcast;

pub use collect::{Collector, Snapshot, Target};

/// Snapshots kept for the charts: 10 minutes at one every 2 s.
const HISTORY: usize = 300;

/// (path, content type, bytes) of everything the page loads.
const ASSETS: [(&str, &str, &[u8]); 8] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("../../assets/dashboard/index.html"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/dashboard/app.js"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/dashboard/style.css"),
    ),
    (
        "/vendor/cytoscape.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/cytoscape/cytoscape.min.js"),
    ),
    (
        "/vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/uplot/uPlot.iife.min.js"),
    ),
    (
        "/vendor/uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/vendor/uplot/uPlot.min.css"),
    ),
    (
        "/vendor/cytoscape.LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/vendor/cytoscape/LICENSE"),
    ),
    (
        "/vendor/uPlot.LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/vendor/uplot/LICENSE"),
    ),
];

type Body = BoxBody<Bytes, Infallible>;

/// What the connections share: the snapshots kept, and new ones as they come.
struct Shared {
    history: Mutex<VecDeque<Arc<Snapshot>>>,
    updates: broadcast::Sender<Arc<Snapshot>>,
}

/// Reads the proxies every [`collect::INTERVAL`] and serves the page on `listener` until
/// the task is aborted.
pub async fn serve(listener: TcpListener, mut collector: Collector) {
    let (updates, _) = broadcast::channel(16);
    let shared = Arc::new(Shared {
        history: Mutex::new(VecDeque::new()),
        updates,
    });
    let poller = shared.clone();
    let poll = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(collect::INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let snapshot = Arc::new(collector.poll().await);
            {
                let mut history = poller.history.lock().unwrap_or_else(|e| e.into_inner());
                history.push_back(snapshot.clone());
                while history.len() > HISTORY {
                    history.pop_front();
                }
            }
            let _ = poller.updates.send(snapshot);
        }
    });
    // Abort the poller with the server.
    struct AbortOnDrop(tokio::task::JoinHandle<()>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _poll = AbortOnDrop(poll);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let resp = handle(&shared, &req);
                async move { Ok::<_, Infallible>(resp) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(Full::new(body.into()).boxed());
    *resp.status_mut() = status;
    if let Ok(value) = header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    resp
}

fn json<T: serde::Serialize>(value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(body) => full(StatusCode::OK, "application/json", body),
        Err(e) => full(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            e.to_string(),
        ),
    }
}

fn handle(shared: &Shared, req: &Request<Incoming>) -> Response<Body> {
    let path = req.uri().path();
    if let Some((_, content_type, bytes)) = ASSETS.iter().find(|(p, _, _)| *p == path) {
        return full(StatusCode::OK, content_type, Bytes::from_static(bytes));
    }
    let history = || -> Vec<Arc<Snapshot>> {
        let history = shared.history.lock().unwrap_or_else(|e| e.into_inner());
        history.iter().cloned().collect()
    };
    match path {
        "/api/snapshot" => json(&history().last()),
        "/api/history" => json(&history()),
        "/events" => events(history(), shared.updates.subscribe()),
        _ => full(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found; the dashboard is at /, its data at /api/snapshot, /api/history, /events\n",
        ),
    }
}

/// Server-sent events: the history once (`event: history`), then each new snapshot.
fn events(
    history: Vec<Arc<Snapshot>>,
    updates: broadcast::Receiver<Arc<Snapshot>>,
) -> Response<Body> {
    let first = event("history", &history);
    let rest = futures::stream::unfold(updates, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(snapshot) => return Some((event("snapshot", &*snapshot), rx)),
                // A slow reader skips what it missed; the next snapshot is whole.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let stream = futures::StreamExt::map(
        futures::StreamExt::chain(futures::stream::once(async { first }), rest),
        |bytes| Ok::<_, Infallible>(Frame::data(bytes)),
    );
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    resp
}

fn event<T: serde::Serialize + ?Sized>(name: &str, data: &T) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "null".to_owned());
    Bytes::from(format!("event: {name}\ndata: {json}\n\n"))
}
