//! What a tap asks for, from the query of `GET /tap`: filters the proxy applies before it
//! builds an event, the headers it may be shown, its rate and how many events it gets.

use http::{HeaderName, Method};

use crate::proxy::metrics::Direction;

/// Request headers a tap may be shown; every other header (cookies, credentials) never is.
pub const TAPPABLE_HEADERS: [&str; 6] = [
    "user-agent",
    "content-type",
    "content-length",
    "accept",
    "x-request-id",
    "traceparent",
];

/// Events a tap gets when it names no limit, and the most it may name.
pub const DEFAULT_LIMIT: u64 = 1_000;
pub const MAX_LIMIT: u64 = 100_000;
/// Events per second when the tap names no rate, and the most it may name.
pub const DEFAULT_RPS: u32 = 100;
pub const MAX_RPS: u32 = 1_000;

/// One tap's filters, all of which an event must pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// The request path starts with it.
    pub path: Option<String>,
    pub method: Option<Method>,
    /// The request's authority (host header) starts with it.
    pub authority: Option<String>,
    pub direction: Option<Direction>,
}

impl Filter {
    pub fn matches(
        &self,
        direction: Direction,
        method: &Method,
        authority: &str,
        path: &str,
    ) -> bool {
        self.direction.is_none_or(|d| d == direction)
            && self.method.as_ref().is_none_or(|m| m == method)
            && (self.path.as_deref()).is_none_or(|p| path.starts_with(p))
            && (self.authority.as_deref()).is_none_or(|a| starts_with_ignoring_case(authority, a))
    }
}

/// Whether `text` starts with `prefix` (lowercase), in any case: authorities are compared
/// as the request wrote them, without a lowercased copy.
fn starts_with_ignoring_case(text: &str, prefix: &str) -> bool {
    let (text, prefix) = (text.as_bytes(), prefix.as_bytes());
    text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// A `/tap` query, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct TapQuery {
    pub filter: Filter,
    pub headers: Vec<HeaderName>,
    pub max_rps: u32,
    pub limit: u64,
}

/// Parses `path=/api&method=GET&authority=web&direction=inbound&headers=user-agent&
/// max_rps=100&limit=1000` (every key optional); the error says which key is wrong and why.
pub fn parse(query: Option<&str>) -> Result<TapQuery, String> {
    let mut q = TapQuery {
        filter: Filter::default(),
        headers: Vec::new(),
        max_rps: DEFAULT_RPS,
        limit: DEFAULT_LIMIT,
    };
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*key {
            "path" if value.starts_with('/') => q.filter.path = Some(value.into_owned()),
            "path" => return Err(format!("path={value}: a path prefix starts with /")),
            "method" => {
                let method = Method::from_bytes(value.to_ascii_uppercase().as_bytes())
                    .map_err(|_| format!("method={value}: not an HTTP method"))?;
                q.filter.method = Some(method);
            }
            "authority" => q.filter.authority = Some(value.to_ascii_lowercase()),
            "direction" => {
                q.filter.direction = Some(match &*value {
                    "inbound" => Direction::Inbound,
                    "outbound" => Direction::Outbound,
                    _ => return Err(format!("direction={value}: inbound or outbound")),
                })
            }
            "headers" => {
                for name in value.split(',').filter(|n| !n.is_empty()) {
                    let name = name.trim().to_ascii_lowercase();
                    if !TAPPABLE_HEADERS.contains(&name.as_str()) {
                        return Err(format!(
                            "headers={name}: not shown to taps; allowed: {}",
                            TAPPABLE_HEADERS.join(", ")
                        ));
                    }
                    q.headers
                        .push(HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?);
                }
            }
            "max_rps" => q.max_rps = bounded(&key, &value, MAX_RPS.into())? as u32,
            "limit" => q.limit = bounded(&key, &value, MAX_LIMIT)?,
            _ => {
                return Err(format!(
                    "unknown key {key:?}: use path, method, authority, direction, headers, \
                     max_rps, limit"
                ));
            }
        }
    }
    Ok(q)
}

fn bounded(key: &str, value: &str, max: u64) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("{key}={value}: a whole number from 1 to {max}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_becomes_filters_and_bounds() {
        let q = parse(Some(
            "path=%2Fapi&method=get&headers=user-agent,X-Request-Id&max_rps=5&limit=7",
        ))
        .unwrap();
        assert_eq!(q.filter.path.as_deref(), Some("/api"));
        assert_eq!(q.filter.method, Some(Method::GET));
        assert_eq!(q.headers, ["user-agent", "x-request-id"]);
        assert_eq!((q.max_rps, q.limit), (5, 7));
        assert!(
            q.filter
                .matches(Direction::Inbound, &Method::GET, "web", "/api/x")
        );
        assert!(
            !q.filter
                .matches(Direction::Inbound, &Method::POST, "web", "/api/x")
        );
        assert!(
            !q.filter
                .matches(Direction::Inbound, &Method::GET, "web", "/other")
        );
        let d = parse(None).unwrap();
        assert_eq!((d.max_rps, d.limit), (DEFAULT_RPS, DEFAULT_LIMIT));
        assert!(
            d.filter
                .matches(Direction::Outbound, &Method::PUT, "x", "/")
        );
        let outbound = parse(Some("direction=outbound&authority=Web")).unwrap();
        assert!(
            outbound
                .filter
                .matches(Direction::Outbound, &Method::GET, "web:80", "/")
        );
        assert!(
            !outbound
                .filter
                .matches(Direction::Inbound, &Method::GET, "web:80", "/")
        );
        for (bad, says) in [
            ("headers=cookie", "not shown to taps"),
            ("headers=authorization", "allowed: user-agent"),
            ("limit=0", "limit=0: a whole number from 1 to 100000"),
            ("max_rps=5000", "from 1 to 1000"),
            ("path=api", "starts with /"),
            ("method=G%20T", "not an HTTP method"),
            ("body=1", "unknown key \"body\""),
        ] {
            let e = parse(Some(bad)).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
