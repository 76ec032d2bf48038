//! The HTTP request path: pick the service (authority, else original destination), match a
//! route, apply rate limit, faults, header filters and mirroring, forward through the
//! backend, and record metrics, stats, the access log and the span (trace context is taken
//! and passed on before routing).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{self, HeaderMap, HeaderName};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Body as _;
use hyper::body::Incoming;

use super::authz::{Decision, Subject};
use super::forward::{Answer, ConnLimits, PROXY_ERROR_HEADER, proxy_error};
use super::inbound_conn::InboundConn;
use super::metrics::{Direction, PeerLabels};
use super::server::State;
use super::table::{BackendRt, RouteRt, ServiceRt, Table};
use super::trace::{End, Kind, Started};
use super::{Body, BoxError, access_log, classify, mirror, normalize, tap, tunnel};

/// Hop-by-hop headers (RFC 9110 section 7.6.1) never forwarded, except the upgrade pair on
/// an upgrade request.
const HOP_BY_HOP: [HeaderName; 5] = [
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TRAILER,
];

/// A name, not a `&str`: looked up on every plaintext answer.
const PROXY_ERROR: HeaderName = HeaderName::from_static(PROXY_ERROR_HEADER);

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
}

/// `name`'s bit in [`strip_hop_by_hop`]'s mask: 1 `connection`, 2 `te`, 4 << i the i-th of
/// [`HOP_BY_HOP`]; 0 for an end-to-end header.
fn hop_bit(name: &HeaderName) -> u8 {
    if name == header::CONNECTION {
        1
    } else if name == header::TE {
        2
    } else {
        HOP_BY_HOP
            .iter()
            .position(|h| h == name)
            .map_or(0, |i| 4 << i)
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names says which are there, and only those are removed (each
    // removal hashes its name): most requests have none, most responses only `connection`.
    let present = headers.keys().fold(0u8, |bits, name| bits | hop_bit(name));
    if present == 0 {
        return;
    }
    for (i, h) in HOP_BY_HOP.iter().enumerate() {
        if present & (4 << i) != 0 {
            headers.remove(h);
        }
    }
    if present & 1 != 0 && !is_upgrade(headers) {
        headers.remove(header::CONNECTION);
    }
    // `te: trailers` is end-to-end for gRPC; other values are hop-by-hop.
    if present & 2 != 0 && headers.get(header::TE).is_some_and(|v| v != "trailers") {
        headers.remove(header::TE);
    }
}

fn boxed(req: Request<Incoming>) -> Request<Body> {
    req.map(|b| {
        // Most requests have no body: the empty one is zero-sized, so boxing it allocates
        // nothing (boxing `Incoming` would, per request).
        if b.is_end_stream() {
            super::empty_body()
        } else {
            b.map_err(|e| -> BoxError { Box::new(e) }).boxed()
        }
    })
}

fn percent_hit(p: f64) -> bool {
    p >= 100.0 || (p > 0.0 && fastrand::f64() * 100.0 < p)
}

/// The request's authority: from the URI (HTTP/2, absolute form), else the `host` header.
fn authority_of<B>(req: &Request<B>) -> Option<&str> {
    req.uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| req.headers().get(header::HOST)?.to_str().ok())
}

/// A request with two `Host` headers: it has no one authority to route or authorize by
/// (RFC 9112 §3.2), so it is refused (a 400) before either.
struct TwoHosts;

impl TwoHosts {
    fn response(self) -> Response<Body> {
        proxy_error(
            StatusCode::BAD_REQUEST,
            "two Host headers",
            "a request carries one `host` header",
        )
    }
}

/// The request's authority as [`authority_of`] reads it, with one lookup of `host`.
fn one_authority<B>(req: &Request<B>) -> Result<Option<&str>, TwoHosts> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(TwoHosts);
    }
    let from_uri = req.uri().authority().map(|a| a.as_str());
    Ok(from_uri.or_else(|| host?.to_str().ok()))
}

/// Handles one request received on the outbound listener.
pub async fn outbound(
    state: Arc<State>,
    dst: SocketAddr,
    mut req: Request<Incoming>,
) -> Response<Body> {
    let start = Instant::now();
    let authority = match one_authority(&req) {
        Ok(authority) => authority,
        Err(two) => return two.response(),
    };
    let table = state.table();
    let svc = authority
        .and_then(|a| table.by_authority(a))
        .or_else(|| table.by_addr(&dst))
        .cloned();
    let Some(svc) = svc else {
        return unknown_service(&state, &table, &req, start);
    };
    svc.http.request();
    let span = state
        .shared
        .tracer
        .start(&mut req, Kind::Client, svc.http.authority());
    let line = req_line(&state, &table, Direction::Outbound, &req);
    let Some(route) = svc.routes.iter().find(|r| r.matches(&req)) else {
        let resp = proxy_error(StatusCode::NOT_FOUND, "no route", req.uri().path());
        let mut answer = Answer::proxy(resp);
        let done = Done {
            line: line.as_ref(),
            span,
            start,
        };
        finish(&state, &svc, None, None, done, &mut answer);
        return answer.response;
    };
    let (mut answer, backend) = route_request(&svc, route, boxed(req)).await;
    let done = Done {
        line: line.as_ref(),
        span,
        start,
    };
    finish(
        &state,
        &svc,
        Some(route),
        backend.as_deref(),
        done,
        &mut answer,
    );
    answer.response
}

/// The 503 of a request for no known service, counted under the authority it gave (bounded
/// by [`super::metrics::Metrics::request_authority`]) and logged like any other.
fn unknown_service<B>(
    state: &State,
    table: &Table,
    req: &Request<B>,
    start: Instant,
) -> Response<Body> {
    let given = authority_of(req);
    let detail = given.unwrap_or("(no authority)");
    let mut resp = proxy_error(StatusCode::SERVICE_UNAVAILABLE, "unknown service", detail);
    let metrics = &state.shared.metrics;
    let authority = metrics.request_authority(given.unwrap_or(""));
    let http = metrics.http(Direction::Outbound, authority, PeerLabels::PLAIN);
    http.request();
    let latency = start.elapsed();
    classify::record(&mut resp, &http, None, [None, None, None], latency);
    if let Some(line) = req_line(state, table, Direction::Outbound, req) {
        let outcome = tap::Outcome {
            direction: Direction::Outbound,
            status: resp.status().as_u16(),
            latency,
            peer: &PeerLabels::PLAIN,
            route: None,
            backend: None,
        };
        line.log(state, http.authority(), &outcome);
    }
    resp
}

/// What the access log and taps see of a request, taken only when the log is on or
/// someone taps (it copies the method, path and a few headers).
pub struct ReqLine {
    req: tap::Request,
    log: bool,
    tapped: bool,
}

/// The view of `req` (`direction`) for the access log and taps, if either wants it.
fn req_line<B>(
    state: &State,
    table: &Table,
    direction: Direction,
    req: &Request<B>,
) -> Option<ReqLine> {
    let log = table.config.access_log;
    let tapping = state.shared.tap.is_active();
    if !log && !tapping {
        return None;
    }
    let authority = authority_of(req).unwrap_or("");
    let (method, path) = (req.method(), req.uri().path());
    let tapped = tapping && state.shared.tap.wants(direction, method, authority, path);
    (log || tapped).then(|| ReqLine {
        req: tap::Request::of(req, authority),
        log,
        tapped,
    })
}

impl ReqLine {
    /// Writes the access log line of this request (`authority` is its service's label)
    /// and sends it to the taps that want it.
    fn log(&self, state: &State, authority: &str, outcome: &tap::Outcome<'_>) {
        if self.log {
            let peer = outcome.peer;
            access_log::write(&access_log::Entry {
                tls: peer.tls_value(),
                client_id: peer.client_id.as_deref(),
                server_id: peer.server_id.as_deref(),
                direction: outcome.direction,
                authority,
                method: self.req.method.as_str(),
                path: &self.req.path,
                status: outcome.status,
                duration: outcome.latency,
                route: outcome.route,
                backend: outcome.backend,
            });
        }
        if self.tapped {
            state.shared.tap.publish(&self.req, outcome);
        }
    }
}

async fn route_request(
    svc: &ServiceRt,
    route: &RouteRt,
    mut req: Request<Body>,
) -> (Answer, Option<Arc<BackendRt>>) {
    if let Some(limiter) = &route.rate_limit
        && let Err(retry_after) = limiter.check()
    {
        return (Answer::proxy(retry_after.into_response()), None);
    }
    if let Some(abort) = route.abort
        && percent_hit(abort.percent)
    {
        let resp = match abort.grpc_status {
            Some(code) => grpc_error(code, "fault injected"),
            None => proxy_error(abort.status, "fault injected", &svc.name),
        };
        return (Answer::proxy(resp), None);
    }
    if let Some((delay, p)) = route.delay
        && percent_hit(p)
    {
        tokio::time::sleep(delay).await;
    }
    strip_hop_by_hop(req.headers_mut());
    route.request_headers.apply(req.headers_mut());
    if let Some(rw) = &route.rewrite {
        rw.apply(&mut req);
    }
    if let Some((shadow, p)) = &route.mirror
        && percent_hit(*p)
    {
        mirror::mirror(shadow, &mut req);
    }
    let Some(backend) = route.split.pick().cloned() else {
        let resp = proxy_error(StatusCode::SERVICE_UNAVAILABLE, "no backend", &route.name);
        return (Answer::proxy(resp), None);
    };
    let client_upgrade = is_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
    let mut answer = backend.forward.call(req).await;
    let resp = &mut answer.response;
    if let Some(client) = client_upgrade {
        tunnel::splice_upgrades(client, resp);
    }
    strip_hop_by_hop(resp.headers_mut());
    route.response_headers.apply(resp.headers_mut());
    (answer, Some(backend))
}

/// A gRPC error the proxy answers itself: a trailers-only response (HTTP 200, the status in
/// the headers, no body), which gRPC clients read as that status.
fn grpc_error(code: u32, message: &'static str) -> Response<Body> {
    let mut resp = proxy_error(StatusCode::OK, message, "");
    *resp.body_mut() = http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    headers.insert("grpc-status", http::HeaderValue::from(code));
    headers.insert("grpc-message", http::HeaderValue::from_static(message));
    resp
}

/// What an outbound request leaves to record when its answer is there.
struct Done<'a> {
    line: Option<&'a ReqLine>,
    span: Started,
    start: Instant,
}

/// Ends a request's span (if sampled) with its status, route, backend and identities.
fn end_span(
    state: &State,
    span: Started,
    latency: Duration,
    status: u16,
    peer: &PeerLabels,
    names: (Option<&str>, Option<&str>),
) {
    if span.is_none() {
        return;
    }
    let end = End {
        status,
        route: names.0,
        backend: names.1,
        client_id: peer.client_id.as_deref(),
        server_id: peer.server_id.as_deref(),
    };
    state.shared.tracer.end(span, latency, &end);
}

fn finish(
    state: &State,
    svc: &ServiceRt,
    route: Option<&RouteRt>,
    backend: Option<&BackendRt>,
    done: Done<'_>,
    answer: &mut Answer,
) {
    let Done { line, span, start } = done;
    let resp = &mut answer.response;
    // The labels of the mesh peer that answered, else the service's.
    let peer = answer.peer.as_ref().map(|p| &p.labels);
    let now = Instant::now();
    let latency = now - start;
    let status = resp.status().as_u16();
    // Who answered, for `edges`: a mesh peer, or a plaintext server (not the proxy itself).
    match peer {
        Some(labels) => svc.stats.peer(labels),
        None if !resp.headers().contains_key(PROXY_ERROR) => {
            (svc.stats).peer_once(&PeerLabels::PLAIN, &svc.plain_noted, now);
        }
        None => {}
    }
    let windows = [
        Some(&svc.stats),
        route.map(|r| &r.stats),
        backend.map(|b| &b.stats),
    ];
    classify::record(resp, &svc.http, peer, windows, latency);
    let (route, backend) = (route.map(|r| &*r.name), backend.map(|b| &*b.name));
    let peer = peer.unwrap_or_else(|| svc.http.peer());
    end_span(state, span, latency, status, peer, (route, backend));
    if let Some(line) = line {
        let authority = svc.http.authority();
        let outcome = tap::Outcome {
            direction: Direction::Outbound,
            status,
            latency,
            peer,
            route,
            backend,
        };
        line.log(state, authority, &outcome);
    }
}

/// Handles one request received on the inbound listener: normalize the path, authorize
/// it, forward it (with the path that was authorized) to the app.
pub async fn inbound(
    state: Arc<State>,
    conn: Arc<InboundConn>,
    mut req: Request<Incoming>,
) -> Response<Body> {
    let start = Instant::now();
    let table = state.table();
    let metrics = conn.metrics(&state.shared.metrics, authority_of(&req).unwrap_or(""));
    let metrics = &*metrics;
    metrics.request();
    conn.note_peer(&table.inbound_stats, start);
    let line = req_line(&state, &table, Direction::Inbound, &req);
    let port = conn.target.addr.port();
    // Answers the proxy gives itself (400, 403) are counted, logged and traced like the app's.
    let refuse = |mut resp: Response<Body>, line: Option<ReqLine>, span: Started| {
        let latency = start.elapsed();
        let windows = [Some(&table.inbound_stats), None, None];
        classify::record(&mut resp, metrics, None, windows, latency);
        let (authority, peer) = (metrics.authority(), metrics.peer());
        let status = resp.status().as_u16();
        end_span(&state, span, latency, status, peer, (None, None));
        if let Some(line) = line {
            let outcome = tap::Outcome::inbound(status, latency, peer);
            line.log(&state, authority, &outcome);
        }
        resp
    };
    if let Err(two) = one_authority(&req) {
        return refuse(two.response(), line, None);
    }
    let span = state
        .shared
        .tracer
        .start(&mut req, Kind::Server, metrics.authority());
    let normalized = match normalize::normalize(req.uri().path()) {
        Ok(std::borrow::Cow::Borrowed(_)) => None,
        Ok(std::borrow::Cow::Owned(path)) => Some(path),
        Err(e) => {
            tracing::info!(port, path = req.uri().path(), error = %e, "request refused: path");
            let resp = proxy_error(StatusCode::BAD_REQUEST, "bad path", &e.to_string());
            return refuse(resp, line, span);
        }
    };
    if let Some(path) = &normalized
        && let Err(e) = set_path(&mut req, path)
    {
        let resp = proxy_error(StatusCode::BAD_REQUEST, "bad path", &e.to_string());
        return refuse(resp, line, span);
    }
    let auth = if table.jwt.is_empty() {
        None
    } else {
        let query = req.uri().query().map(str::to_owned);
        match table.jwt.authenticate(req.headers_mut(), query.as_deref()) {
            Ok(auth) => auth,
            Err(e) => {
                tracing::info!(port, path = req.uri().path(), reason = %e, "request refused: JWT");
                state.shared.metrics.jwt_refused(port, e.reason());
                let mut resp =
                    proxy_error(StatusCode::UNAUTHORIZED, "unauthorized", &e.to_string());
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                return refuse(resp, line, span);
            }
        }
    };
    if !table.authz.allows_all() {
        let subject = Subject {
            port,
            client: conn.authz_client(),
            http: Some((req.method().as_str(), req.uri().path())),
            source_ip: conn.peer_ip,
            host: authority_of(&req),
            headers: Some(req.headers()),
            auth: auth.as_ref(),
        };
        if let Decision::Deny(rule) = table.authz.check(&subject) {
            tracing::info!(
                port,
                client = subject.client.map(|c| c.text),
                method = %req.method(),
                path = req.uri().path(),
                %rule,
                "request denied by authorization policy"
            );
            state.shared.metrics.authz_denied(true, port, rule);
            let resp = proxy_error(StatusCode::FORBIDDEN, "forbidden", "authorization policy");
            return refuse(resp, line, span);
        }
    }
    let mut req = boxed(req);
    strip_hop_by_hop(req.headers_mut());
    let client_upgrade = is_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
    let mut resp = match state
        .shared
        .pool
        .send_to(&conn.target, None, ConnLimits::default(), req)
        .await
    {
        Ok(resp) => resp,
        Err(e) => proxy_error(StatusCode::BAD_GATEWAY, "app unreachable", &e.to_string()),
    };
    if let Some(client) = client_upgrade {
        tunnel::splice_upgrades(client, &mut resp);
    }
    strip_hop_by_hop(resp.headers_mut());
    let latency: Duration = start.elapsed();
    let windows = [Some(&table.inbound_stats), None, None];
    classify::record(&mut resp, metrics, None, windows, latency);
    let status = resp.status().as_u16();
    end_span(&state, span, latency, status, metrics.peer(), (None, None));
    if let Some(line) = line {
        let outcome = tap::Outcome::inbound(status, latency, metrics.peer());
        line.log(&state, metrics.authority(), &outcome);
    }
    resp
}

/// Replaces the request's path, keeping its query (and scheme and authority, if any).
fn set_path<B>(req: &mut Request<B>, path: &str) -> Result<(), http::Error> {
    let mut parts = std::mem::take(req.uri_mut()).into_parts();
    let query = parts
        .path_and_query
        .as_ref()
        .and_then(|pq| pq.query())
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    parts.path_and_query = Some(format!("{path}{query}").parse()?);
    *req.uri_mut() = http::Uri::from_parts(parts)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_path_keeps_the_query() {
        let mut req = Request::get("/a//b?x=1&y").body(()).unwrap();
        set_path(&mut req, "/a/b").unwrap();
        assert_eq!(req.uri(), "/a/b?x=1&y");
        let mut req = Request::get("http://web:80/./a").body(()).unwrap();
        set_path(&mut req, "/a").unwrap();
        assert_eq!(req.uri(), "http://web:80/a");
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn each_hop_by_hop_name_has_its_own_bit() {
        let mut names = vec![header::CONNECTION, header::TE];
        names.extend(HOP_BY_HOP.iter().cloned());
        let bits: Vec<u8> = names.iter().map(hop_bit).collect();
        assert_eq!(bits, [1, 2, 4, 8, 16, 32, 64]);
        for end_to_end in [header::HOST, header::USER_AGENT, header::CONTENT_LENGTH] {
            assert_eq!(hop_bit(&end_to_end), 0, "{end_to_end}");
        }
        assert_eq!(hop_bit(&HeaderName::from_static("keep-alivf")), 0);
    }

    #[test]
    fn hop_by_hop_headers_are_stripped_and_end_to_end_ones_kept() {
        let mut h = headers(&[
            ("host", "web"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("connection", "close"),
            ("te", "gzip"),
            ("trailer", "x"),
            ("accept", "*/*"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h, headers(&[("host", "web"), ("accept", "*/*")]));
        // gRPC's `te: trailers`, and an upgrade's `connection`, go through.
        let kept = headers(&[
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("connection", "upgrade"),
        ]);
        let mut h = kept.clone();
        strip_hop_by_hop(&mut h);
        assert_eq!(h, kept);
        // An upstream's usual `connection: keep-alive` alone.
        let mut h = headers(&[("connection", "keep-alive"), ("content-length", "3")]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h, headers(&[("content-length", "3")]));
        let plain = headers(&[("host", "web"), ("content-length", "3")]);
        let mut h = plain.clone();
        strip_hop_by_hop(&mut h);
        assert_eq!(h, plain);
    }
}
