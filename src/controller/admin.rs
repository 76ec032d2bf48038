//! The controller's admin port: `/live`, `/ready` (caches synced, CA loaded, first config
//! published), `/metrics`, and `/proxies` (every subscribed proxy and the version it runs).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::Shared;

const TEXT: &str = "text/plain; charset=utf-8";

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    resp
}

fn handle(shared: &Shared, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    match req.uri().path() {
        "/live" => respond(StatusCode::OK, TEXT, "live\n"),
        "/ready" => match shared.not_ready() {
            None => respond(StatusCode::OK, TEXT, "ready\n"),
            Some(why) => respond(
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                format!("not ready: {why}\n"),
            ),
        },
        "/metrics" => {
            let accept = req.headers().get(header::ACCEPT).map(|v| v.as_bytes());
            let format = crate::exposition::Format::from_accept(accept);
            respond(
                StatusCode::OK,
                format.content_type(),
                shared.metrics.encode(format),
            )
        }
        "/proxies" => match serde_json::to_vec(&shared.proxies.list()) {
            Ok(body) => respond(StatusCode::OK, "application/json", body),
            Err(e) => respond(StatusCode::INTERNAL_SERVER_ERROR, TEXT, format!("{e}\n")),
        },
        _ => respond(
            StatusCode::NOT_FOUND,
            TEXT,
            "not found; try /ready, /live, /metrics, /proxies\n",
        ),
    }
}

/// Serves until the task is aborted.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
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
