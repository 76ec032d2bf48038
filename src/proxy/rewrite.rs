//! Route rewrites: the request's path (whole, or the matched prefix; the query is kept) and
//! its authority (URI and `host`), before the request is forwarded.

use http::header::{self, HeaderValue};
use http::uri::{Authority, PathAndQuery, Uri};

use crate::model::route::{PathMatch, PathRewrite, Rewrite as ModelRewrite, Route};

/// A compiled rewrite.
#[derive(Debug)]
pub struct Rewrite {
    path: Option<PathRewrite>,
    /// The route's prefixes without their trailing `/`, longest first: the one that matched
    /// is the first the path starts with by whole segments.
    prefixes: Vec<String>,
    authority: Option<(Authority, HeaderValue)>,
}

impl Rewrite {
    /// The route's rewrite (validated: a prefix rewrite's matches are all prefixes).
    pub fn compile(route: &Route) -> Option<Self> {
        let ModelRewrite { path, authority } = route.rewrite.as_ref()?;
        let mut prefixes: Vec<String> = route
            .matches
            .iter()
            .filter_map(|m| match &m.path {
                Some(PathMatch::Prefix(p)) => Some(p.trim_end_matches('/').to_owned()),
                _ => None,
            })
            .collect();
        prefixes.sort_by_key(|p| std::cmp::Reverse(p.len()));
        let authority = authority
            .as_ref()
            .and_then(|a| Some((a.parse::<Authority>().ok()?, HeaderValue::from_str(a).ok()?)));
        Some(Self {
            path: path.clone(),
            prefixes,
            authority,
        })
    }

    /// Rewrites `req` in place.
    pub fn apply<B>(&self, req: &mut http::Request<B>) {
        let mut parts = req.uri().clone().into_parts();
        if let Some(new) = self.path.as_ref().and_then(|p| self.new_path(p, req.uri())) {
            parts.path_and_query = Some(new);
        }
        if let Some((authority, value)) = &self.authority {
            if parts.authority.is_some() {
                parts.authority = Some(authority.clone());
            }
            req.headers_mut().insert(header::HOST, value.clone());
        }
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }

    fn new_path(&self, rewrite: &PathRewrite, uri: &Uri) -> Option<PathAndQuery> {
        let path = uri.path();
        let replaced = match rewrite {
            PathRewrite::Full(p) => p.clone(),
            PathRewrite::Prefix(replacement) => {
                let prefix = self.prefixes.iter().find(|p| {
                    path.strip_prefix(p.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                })?;
                let rest = &path[prefix.len()..];
                let joined = format!("{}{rest}", replacement.trim_end_matches('/'));
                if joined.is_empty() {
                    "/".to_owned()
                } else {
                    joined
                }
            }
        };
        let text = match uri.query() {
            Some(q) => format!("{replaced}?{q}"),
            None => replaced,
        };
        text.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::route::RouteMatch;

    fn route(prefixes: &[&str], rewrite: PathRewrite, authority: Option<&str>) -> Route {
        Route {
            matches: prefixes
                .iter()
                .map(|p| RouteMatch {
                    path: Some(PathMatch::Prefix((*p).into())),
                    ..RouteMatch::default()
                })
                .collect(),
            rewrite: Some(ModelRewrite {
                path: Some(rewrite),
                authority: authority.map(str::to_owned),
            }),
            ..Route::default()
        }
    }

    fn run(r: &Route, uri: &str) -> (String, Option<String>) {
        let mut req = http::Request::builder().uri(uri).body(()).unwrap();
        Rewrite::compile(r).unwrap().apply(&mut req);
        let host = req
            .headers()
            .get("host")
            .map(|h| h.to_str().unwrap().to_owned());
        (req.uri().to_string(), host)
    }

    #[test]
    fn prefixes_are_replaced_by_whole_segments_and_the_query_is_kept() {
        let r = route(
            &["/api", "/api/v1/"],
            PathRewrite::Prefix("/v2".into()),
            None,
        );
        assert_eq!(run(&r, "/api/x?a=1").0, "/v2/x?a=1");
        assert_eq!(run(&r, "/api").0, "/v2");
        assert_eq!(
            run(&r, "/api/v1/y").0,
            "/v2/y",
            "the longest prefix is the one replaced"
        );
        let root = route(&["/"], PathRewrite::Prefix("/v2/".into()), None);
        assert_eq!(run(&root, "/x").0, "/v2/x");
        let to_root = route(&["/api"], PathRewrite::Prefix("/".into()), None);
        assert_eq!(run(&to_root, "/api/x").0, "/x");
        assert_eq!(run(&to_root, "/api").0, "/");
    }

    #[test]
    fn full_paths_and_authorities() {
        let r = route(
            &[],
            PathRewrite::Full("/health".into()),
            Some("api.internal:8080"),
        );
        let (uri, host) = run(&r, "http://web.shop/a/b?c=d");
        assert_eq!(uri, "http://api.internal:8080/health?c=d");
        assert_eq!(host.as_deref(), Some("api.internal:8080"));
        let (uri, host) = run(&r, "/a");
        assert_eq!(
            (uri.as_str(), host.as_deref()),
            ("/health", Some("api.internal:8080"))
        );
    }
}
