//! `Config`: the whole proxy configuration (listeners, inbound side, services) and the
//! checks serde cannot express (references, uniqueness, ranges, regexes).

use std::collections::HashSet;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::authz::Authorization;
use super::identity::{Identity, InboundTls};
use super::route::{HeaderFilter, PathMatch, PathRewrite, Rewrite, Route, RouteMatch, ValueMatch};
use super::service::Service;

/// Everything `meshctl proxy` runs on; the static file and the controller both produce it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub listeners: Listeners,
    #[serde(default)]
    pub inbound: Inbound,
    /// The proxy's mesh identity; without it there is no mTLS (plaintext everywhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// One JSON line per request on stdout.
    #[serde(default)]
    pub access_log: bool,
    /// Spans of every request exported over OTLP (off without an endpoint).
    #[serde(default, skip_serializing_if = "is_default")]
    pub tracing: super::tracing::Tracing,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Service>,
}

/// Where the proxy listens (command-line flags override these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Listeners {
    #[serde(default = "default_outbound")]
    pub outbound: SocketAddr,
    #[serde(default = "default_inbound")]
    pub inbound: SocketAddr,
    #[serde(default = "default_admin")]
    pub admin: SocketAddr,
}

fn default_outbound() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 4140))
}

fn default_inbound() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 4143))
}

fn default_admin() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 4191))
}

impl Default for Listeners {
    fn default() -> Self {
        Self {
            outbound: default_outbound(),
            inbound: default_inbound(),
            admin: default_admin(),
        }
    }
}

/// The inbound side: connections for the application in this pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inbound {
    /// The application's port on 127.0.0.1, used when a connection's original destination
    /// is unknown (no interception).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_port: Option<u16>,
    /// Ports forwarded as TCP without protocol detection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub opaque_ports: Vec<u16>,
    /// Ports an app opened on localhost only that peers may still reach (opt-in: an
    /// intercepted connection for a port whose listeners are all loopback is refused).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub localhost_ports: Vec<u16>,
    /// mTLS modes (STRICT / PERMISSIVE / DISABLE) for connections to the app.
    #[serde(default)]
    pub tls: InboundTls,
    /// Who may call the app, checked per request (HTTP) or connection (opaque TCP).
    #[serde(default)]
    pub authorization: Authorization,
    /// End-user JWTs verified on HTTP requests (a missing token is not an error; an invalid
    /// one is a 401).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jwt: Vec<super::jwt::JwtRule>,
}

/// A value the checks refused: `path` is the field (`services[0].routes[1].backends[0].name`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct Invalid {
    pub path: String,
    pub message: String,
}

impl Invalid {
    /// A refusal of the field at `path`.
    pub fn at(path: &str, message: impl Into<String>) -> Self {
        invalid(path.to_owned(), message)
    }
}

fn invalid(path: String, message: impl Into<String>) -> Invalid {
    Invalid {
        path,
        message: message.into(),
    }
}

impl Config {
    /// Checks everything serde cannot; the first problem found is returned.
    pub fn validate(&self) -> Result<(), Invalid> {
        match &self.identity {
            Some(identity) => identity.validate()?,
            None => self.inbound.tls.require_no_strict()?,
        }
        self.inbound
            .authorization
            .validate("inbound.authorization")?;
        self.tracing.validate("tracing")?;
        super::jwt::validate(&self.inbound.jwt, "inbound.jwt")?;
        // Port 0 is what serde reads from `0` or `00`; no app listens there.
        let inbound = &self.inbound;
        let ports = (inbound
            .app_port
            .iter()
            .map(|p| ("inbound.appPort".to_owned(), *p)))
        .chain(
            inbound
                .opaque_ports
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("inbound.opaquePorts[{i}]"), *p)),
        )
        .chain(
            inbound
                .localhost_ports
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("inbound.localhostPorts[{i}]"), *p)),
        )
        .chain(
            inbound
                .tls
                .ports
                .keys()
                .map(|p| ("inbound.tls.ports".to_owned(), *p)),
        );
        if let Some((at, _)) = ports.into_iter().find(|(_, p)| *p == 0) {
            return Err(invalid(
                at,
                "port 0 is not a port the app can listen on: give one from 1 to 65535",
            ));
        }
        let mut names = HashSet::new();
        let mut authorities = HashSet::new();
        let mut addresses = HashSet::new();
        for (i, svc) in self.services.iter().enumerate() {
            let at = format!("services[{i}]");
            if svc.name.is_empty() || !names.insert(svc.name.as_str()) {
                return Err(invalid(
                    format!("{at}.name"),
                    "every service needs a unique, non-empty name",
                ));
            }
            for (j, a) in svc.authorities.iter().enumerate() {
                let path = format!("{at}.authorities[{j}]");
                if a.parse::<http::uri::Authority>().is_err() || a.contains('@') {
                    return Err(invalid(
                        path,
                        "expected host or host:port, e.g. web.shop:80",
                    ));
                }
                if !authorities.insert(a.to_ascii_lowercase()) {
                    return Err(invalid(path, "already used by another service"));
                }
            }
            for (j, a) in svc.addresses.iter().enumerate() {
                if !addresses.insert(*a) {
                    return Err(invalid(
                        format!("{at}.addresses[{j}]"),
                        "already used by another service",
                    ));
                }
            }
            validate_service(svc, &at)?;
        }
        Ok(())
    }
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

fn policy_err(at: &str, e: super::policy::PolicyError) -> Invalid {
    invalid(format!("{at}.policy.{}", e.field), e.message)
}

fn validate_service(svc: &Service, at: &str) -> Result<(), Invalid> {
    svc.policy.validate().map_err(|e| policy_err(at, e))?;
    if svc.backends.is_empty() {
        return Err(invalid(
            format!("{at}.backends"),
            "a service needs at least one backend: [{ name: NAME, endpoints: [...] }]",
        ));
    }
    let mut backends = HashSet::new();
    for (j, b) in svc.backends.iter().enumerate() {
        if b.name.is_empty() || !backends.insert(b.name.as_str()) {
            return Err(invalid(
                format!("{at}.backends[{j}].name"),
                "every backend of a service needs a unique, non-empty name",
            ));
        }
    }
    let mut routes = HashSet::new();
    for (j, route) in svc.routes.iter().enumerate() {
        let at = format!("{at}.routes[{j}]");
        if route.name.is_empty() || !routes.insert(route.name.as_str()) {
            return Err(invalid(
                format!("{at}.name"),
                "every route of a service needs a unique, non-empty name",
            ));
        }
        validate_route(route, &at, &backends)?;
    }
    Ok(())
}

fn validate_route(route: &Route, at: &str, backends: &HashSet<&str>) -> Result<(), Invalid> {
    let known = |name: &str| {
        let mut list: Vec<&str> = backends.iter().copied().collect();
        list.sort_unstable();
        format!(
            "no backend {name:?} in this service; known: {}",
            list.join(", ")
        )
    };
    if route.backends.is_empty() {
        return Err(invalid(
            format!("{at}.backends"),
            "a route needs at least one backend",
        ));
    }
    for (k, b) in route.backends.iter().enumerate() {
        if !backends.contains(b.name.as_str()) {
            return Err(invalid(format!("{at}.backends[{k}].name"), known(&b.name)));
        }
    }
    if route.backends.iter().all(|b| b.weight == 0) {
        return Err(invalid(
            format!("{at}.backends"),
            "at least one backend needs a weight above 0",
        ));
    }
    for (k, m) in route.matches.iter().enumerate() {
        validate_match(m, &format!("{at}.matches[{k}]"))?;
    }
    validate_filter(&route.request_headers, &format!("{at}.requestHeaders"))?;
    validate_filter(&route.response_headers, &format!("{at}.responseHeaders"))?;
    if let Some(fault) = &route.fault {
        if let Some(d) = &fault.delay {
            check_percent(d.percent, format!("{at}.fault.delay.percent"))?;
        }
        if let Some(a) = &fault.abort {
            check_percent(a.percent, format!("{at}.fault.abort.percent"))?;
            if !(200..=599).contains(&a.status) {
                return Err(invalid(
                    format!("{at}.fault.abort.status"),
                    "allowed: HTTP statuses 200 to 599",
                ));
            }
            if a.grpc_status.is_some_and(|c| c > 16) {
                return Err(invalid(
                    format!("{at}.fault.abort.grpcStatus"),
                    "allowed: gRPC status codes 0 to 16",
                ));
            }
        }
    }
    if let Some(m) = &route.mirror {
        if !backends.contains(m.backend.as_str()) {
            return Err(invalid(format!("{at}.mirror.backend"), known(&m.backend)));
        }
        check_percent(m.percent, format!("{at}.mirror.percent"))?;
    }
    if let Some(r) = &route.rewrite {
        validate_rewrite(route, r, &format!("{at}.rewrite"))?;
    }
    if let Some(p) = &route.policy {
        p.validate().map_err(|e| policy_err(at, e))?;
    }
    Ok(())
}

fn validate_rewrite(route: &Route, r: &Rewrite, at: &str) -> Result<(), Invalid> {
    match &r.path {
        Some(PathRewrite::Full(p) | PathRewrite::Prefix(p)) if !p.starts_with('/') => {
            return Err(invalid(format!("{at}.path"), "a path starts with /"));
        }
        Some(PathRewrite::Prefix(_))
            if route.matches.is_empty()
                || route
                    .matches
                    .iter()
                    .any(|m| !matches!(m.path, Some(PathMatch::Prefix(_)))) =>
        {
            return Err(invalid(
                format!("{at}.path.prefix"),
                "replaces the matched prefix: every match of the route needs path: { prefix: ... }",
            ));
        }
        _ => {}
    }
    if let Some(a) = &r.authority
        && (a.parse::<http::uri::Authority>().is_err() || a.contains('@'))
    {
        return Err(invalid(
            format!("{at}.authority"),
            "expected host or host:port, e.g. web.shop:80",
        ));
    }
    Ok(())
}

fn check_percent(p: f64, path: String) -> Result<(), Invalid> {
    if (0.0..=100.0).contains(&p) {
        Ok(())
    } else {
        Err(invalid(path, "allowed: 0 to 100"))
    }
}

fn validate_match(m: &RouteMatch, at: &str) -> Result<(), Invalid> {
    match &m.path {
        Some(PathMatch::Exact(p) | PathMatch::Prefix(p)) if !p.starts_with('/') => {
            return Err(invalid(format!("{at}.path"), "a path starts with /"));
        }
        Some(PathMatch::Regex(r)) => check_regex(r, format!("{at}.path.regex"))?,
        _ => {}
    }
    if let Some(method) = &m.method
        && method.parse::<http::Method>().is_err()
    {
        return Err(invalid(
            format!("{at}.method"),
            "expected an HTTP method, e.g. GET",
        ));
    }
    for (k, h) in m.headers.iter().enumerate() {
        let at = format!("{at}.headers[{k}]");
        if http::HeaderName::from_bytes(h.name.as_bytes()).is_err() {
            return Err(invalid(format!("{at}.name"), "not a valid header name"));
        }
        validate_value_match(h, &at)?;
    }
    for (k, q) in m.query_params.iter().enumerate() {
        validate_value_match(q, &format!("{at}.queryParams[{k}]"))?;
    }
    Ok(())
}

fn validate_value_match(v: &ValueMatch, at: &str) -> Result<(), Invalid> {
    let given = usize::from(v.exact.is_some())
        + usize::from(v.prefix.is_some())
        + usize::from(v.regex.is_some())
        + usize::from(v.present.is_some());
    if given != 1 {
        return Err(invalid(
            at.to_owned(),
            "give exactly one of exact, prefix, regex, present",
        ));
    }
    if let Some(r) = &v.regex {
        check_regex(r, format!("{at}.regex"))?;
    }
    Ok(())
}

fn check_regex(r: &str, path: String) -> Result<(), Invalid> {
    regex::Regex::new(r)
        .map(drop)
        .map_err(|e| invalid(path, format!("not a valid regular expression: {e}")))
}

fn validate_filter(f: &HeaderFilter, at: &str) -> Result<(), Invalid> {
    for (kind, list) in [("set", &f.set), ("add", &f.add)] {
        for (k, h) in list.iter().enumerate() {
            if http::HeaderName::from_bytes(h.name.as_bytes()).is_err() {
                return Err(invalid(
                    format!("{at}.{kind}[{k}].name"),
                    "not a valid header name",
                ));
            }
            if http::HeaderValue::from_str(&h.value).is_err() {
                return Err(invalid(
                    format!("{at}.{kind}[{k}].value"),
                    "not a valid header value (visible ASCII only)",
                ));
            }
        }
    }
    for (k, name) in f.remove.iter().enumerate() {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(invalid(
                format!("{at}.remove[{k}]"),
                "not a valid header name",
            ));
        }
    }
    Ok(())
}
