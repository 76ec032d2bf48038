//! The admin listener: `/ready`, `/live`, `/metrics`, `/stats?window=1m`, `/config`,
//! `/identity` (the proxy's certificate chain and trust roots, PEM; never the key), `/tap`
//! (live request events, operators only).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Body;
use super::admin_access::OPERATOR_PATHS;
use super::server::State;
use super::stats::{MAX_WINDOW, SLOT};

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut resp = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    resp
}

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

/// Reads `window=` from the query: a duration from 10s to 10m (default 1m).
fn window_of(query: Option<&str>) -> Result<Duration, String> {
    let Some(value) = query
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("window="))
    else {
        return Ok(Duration::from_secs(60));
    };
    let d: crate::model::duration::Duration = value.parse().map_err(|e| format!("{e}\n"))?;
    let d = d.get();
    if d < SLOT || d > MAX_WINDOW {
        return Err(format!(
            "window {value:?} is out of range: allowed 10s to 10m\n"
        ));
    }
    Ok(d)
}

fn handle(state: &State, req: &Request<Incoming>, peer: IpAddr) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return respond(StatusCode::METHOD_NOT_ALLOWED, TEXT, "use GET\n");
    }
    let path = req.uri().path();
    if OPERATOR_PATHS.contains(&path) && !state.admin_operator.allows(peer) {
        return respond(
            StatusCode::FORBIDDEN,
            TEXT,
            format!(
                "{path} is served to loopback and the operator networks only ({}), not to \
                 {peer}: add the API server's nodes with the proxy's --admin-operator-from \
                 (annotation meshctl.io/admin-operator-from)\n",
                state.admin_operator
            ),
        );
    }
    match path {
        "/live" => respond(StatusCode::OK, TEXT, "live\n"),
        "/ready" => match state.not_ready() {
            None => respond(StatusCode::OK, TEXT, "ready\n"),
            Some(why) => respond(StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("{why}\n")),
        },
        "/metrics" => {
            let accept = req.headers().get(header::ACCEPT).map(|v| v.as_bytes());
            let format = crate::exposition::Format::from_accept(accept);
            match crate::exposition::encode(&state.registry, format) {
                Ok(text) => respond(StatusCode::OK, format.content_type(), text),
                Err(e) => respond(StatusCode::INTERNAL_SERVER_ERROR, TEXT, format!("{e}\n")),
            }
        }
        "/stats" => match window_of(req.uri().query()) {
            Ok(window) => {
                let mut report = state.shared.stats.report(window);
                report.identity = state.tls().map(|tls| tls.id().to_string());
                json(&report)
            }
            Err(e) => respond(StatusCode::BAD_REQUEST, TEXT, e),
        },
        "/config" => config(state),
        "/tap" => tap(state, req.uri().query()),
        "/identity" => match state.tls() {
            Some(tls) => json(&tls.view()),
            None => respond(
                StatusCode::NOT_FOUND,
                TEXT,
                "no identity: the config has no identity section (plaintext proxy)\n",
            ),
        },
        _ => respond(
            StatusCode::NOT_FOUND,
            TEXT,
            "not found; try /ready, /live, /metrics, /stats?window=1m, /config, /identity, /tap\n",
        ),
    }
}

/// The config in force; in cluster mode with the controller's version of it beside.
/// The config in force: the listeners as bound (flags override the file's), secrets
/// serialized redacted, and in cluster mode the version it came with.
fn config(state: &State) -> Response<Body> {
    let mut config = (*state.table().config).clone();
    config.listeners = state.listeners;
    let Some(discovery) = state.discovery() else {
        return json(&config);
    };
    let mut value = match serde_json::to_value(&config) {
        Ok(value) => value,
        Err(e) => return respond(StatusCode::INTERNAL_SERVER_ERROR, TEXT, format!("{e}\n")),
    };
    if let Some(fields) = value.as_object_mut() {
        fields.insert("version".to_owned(), discovery.version().into());
    }
    json(&value)
}

/// A live stream of request events (`tap` says what a query may ask).
fn tap(state: &State, query: Option<&str>) -> Response<Body> {
    let query = match super::tap::parse(query) {
        Ok(query) => query,
        Err(e) => return respond(StatusCode::BAD_REQUEST, TEXT, format!("{e}\n")),
    };
    match state.shared.tap.subscribe(query) {
        Ok(stream) => {
            let mut resp = Response::new(stream.boxed());
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/x-ndjson"),
            );
            resp
        }
        Err(busy) => respond(StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("{busy}\n")),
    }
}

fn json<T: serde::Serialize>(value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(body) => respond(StatusCode::OK, JSON, body),
        Err(e) => respond(StatusCode::INTERNAL_SERVER_ERROR, TEXT, format!("{e}\n")),
    }
}

/// Serves the admin endpoints until the task is aborted.
pub async fn serve(listener: TcpListener, state: Arc<State>, drain: watch::Receiver<bool>) {
    // The admin side must not hold up draining.
    drop(drain);
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let resp = handle(&state, &req, peer.ip());
                async move { Ok::<_, std::convert::Infallible>(resp) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_defaults_to_a_minute_and_is_bounded() {
        assert_eq!(window_of(None).unwrap(), Duration::from_secs(60));
        assert_eq!(
            window_of(Some("window=5m")).unwrap(),
            Duration::from_secs(300)
        );
        assert!(
            window_of(Some("window=1s"))
                .unwrap_err()
                .contains("10s to 10m")
        );
        assert!(window_of(Some("window=11m")).is_err());
        assert!(
            window_of(Some("window=soon"))
                .unwrap_err()
                .contains("units")
        );
    }
}
