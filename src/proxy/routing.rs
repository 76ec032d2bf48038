//! Route matching (path, method, headers, query parameters), header filters and the
//! weighted split, compiled once per config so the request path only compares.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request};
use regex::Regex;

use crate::model::route::{HeaderFilter, PathMatch, RouteMatch, ValueMatch};

/// Builds a regex that must match the whole input.
fn whole(re: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{re})$"))
}

#[derive(Debug)]
enum PathM {
    Exact(String),
    /// Stored without a trailing slash; matches whole segments.
    Prefix(String),
    Regex(Regex),
}

#[derive(Debug)]
enum ValueM {
    Exact(String),
    Prefix(String),
    Regex(Regex),
    Present(bool),
}

impl ValueM {
    fn compile(v: &ValueMatch) -> Result<Self, regex::Error> {
        Ok(match (&v.exact, &v.prefix, &v.regex, v.present) {
            (Some(e), ..) => ValueM::Exact(e.clone()),
            (_, Some(p), ..) => ValueM::Prefix(p.clone()),
            (_, _, Some(r), _) => ValueM::Regex(whole(r)?),
            (.., present) => ValueM::Present(present.unwrap_or(true)),
        })
    }

    fn matches(&self, value: Option<&str>) -> bool {
        match (self, value) {
            (ValueM::Present(want), v) => *want == v.is_some(),
            (_, None) => false,
            (ValueM::Exact(e), Some(v)) => e == v,
            (ValueM::Prefix(p), Some(v)) => v.starts_with(p.as_str()),
            (ValueM::Regex(r), Some(v)) => r.is_match(v),
        }
    }
}

/// One compiled `RouteMatch`: every condition must hold.
#[derive(Debug)]
pub struct Matcher {
    path: Option<PathM>,
    method: Option<Method>,
    headers: Vec<(HeaderName, ValueM)>,
    query: Vec<(String, ValueM)>,
}

impl Matcher {
    /// Compiles a validated match (the config checks already ran).
    pub fn compile(m: &RouteMatch) -> Result<Self, regex::Error> {
        let path = match &m.path {
            None => None,
            Some(PathMatch::Exact(p)) => Some(PathM::Exact(p.clone())),
            Some(PathMatch::Prefix(p)) => Some(PathM::Prefix(p.trim_end_matches('/').to_owned())),
            Some(PathMatch::Regex(r)) => Some(PathM::Regex(whole(r)?)),
        };
        let headers = m
            .headers
            .iter()
            .filter_map(|h| Some((HeaderName::from_bytes(h.name.as_bytes()).ok()?, h)))
            .map(|(name, h)| Ok((name, ValueM::compile(h)?)))
            .collect::<Result<_, regex::Error>>()?;
        let query = m
            .query_params
            .iter()
            .map(|q| Ok((q.name.clone(), ValueM::compile(q)?)))
            .collect::<Result<_, regex::Error>>()?;
        Ok(Self {
            path,
            method: m.method.as_deref().and_then(|s| s.parse().ok()),
            headers,
            query,
        })
    }

    pub fn matches<B>(&self, req: &Request<B>) -> bool {
        if self.method.as_ref().is_some_and(|m| m != req.method()) {
            return false;
        }
        let path = req.uri().path();
        let path_ok = match &self.path {
            None => true,
            Some(PathM::Exact(p)) => p == path,
            Some(PathM::Prefix(p)) => path
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || p.is_empty()),
            Some(PathM::Regex(r)) => r.is_match(path),
        };
        if !path_ok {
            return false;
        }
        let headers = req.headers();
        if !self
            .headers
            .iter()
            .all(|(name, m)| m.matches(headers.get(name).and_then(|v| v.to_str().ok())))
        {
            return false;
        }
        if self.query.is_empty() {
            return true;
        }
        let query = req.uri().query().unwrap_or("");
        self.query.iter().all(|(name, m)| {
            let value = query
                .split('&')
                .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
                .find(|(k, _)| k == name)
                .map(|(_, v)| v);
            m.matches(value)
        })
    }
}

/// A compiled header filter: remove, then set, then add.
#[derive(Debug, Default)]
pub struct Filter {
    remove: Vec<HeaderName>,
    set: Vec<(HeaderName, HeaderValue)>,
    add: Vec<(HeaderName, HeaderValue)>,
}

impl Filter {
    /// Compiles a validated filter (invalid entries were refused by the config checks).
    pub fn compile(f: &HeaderFilter) -> Self {
        let pairs = |list: &[crate::model::route::Header]| {
            list.iter()
                .filter_map(|h| {
                    Some((
                        HeaderName::from_bytes(h.name.as_bytes()).ok()?,
                        HeaderValue::from_str(&h.value).ok()?,
                    ))
                })
                .collect()
        };
        Self {
            remove: f
                .remove
                .iter()
                .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
                .collect(),
            set: pairs(&f.set),
            add: pairs(&f.add),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty() && self.add.is_empty()
    }

    pub fn apply(&self, headers: &mut HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
    }
}

/// Picks an item in proportion to its weight.
#[derive(Debug)]
pub struct Split<T> {
    /// Running totals of the weights, with the item each range maps to.
    cumulative: Vec<(u64, T)>,
    total: u64,
}

impl<T> Split<T> {
    /// Items with weight 0 are never picked; at least one weight must be above 0.
    pub fn new(items: impl IntoIterator<Item = (u32, T)>) -> Self {
        let mut total = 0;
        let cumulative = items
            .into_iter()
            .filter(|(w, _)| *w > 0)
            .map(|(w, item)| {
                total += u64::from(w);
                (total, item)
            })
            .collect();
        Self { cumulative, total }
    }

    pub fn pick(&self) -> Option<&T> {
        if self.cumulative.len() == 1 {
            return Some(&self.cumulative[0].1);
        }
        let r = fastrand::u64(0..self.total.max(1));
        let i = self.cumulative.partition_point(|(upto, _)| *upto <= r);
        self.cumulative.get(i).map(|(_, item)| item)
    }

    pub fn items(&self) -> impl Iterator<Item = &T> {
        self.cumulative.iter().map(|(_, item)| item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(yaml: &str) -> Matcher {
        Matcher::compile(&serde_saphyr::from_str::<RouteMatch>(yaml).unwrap()).unwrap()
    }

    fn req(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn paths_match_exact_prefix_by_segment_and_regex() {
        let p = m("path: { prefix: /api }");
        assert!(p.matches(&req("GET", "/api", &[])));
        assert!(p.matches(&req("GET", "/api/v1?x=1", &[])));
        assert!(!p.matches(&req("GET", "/apix", &[])));
        assert!(m("path: { prefix: / }").matches(&req("GET", "/anything", &[])));
        let e = m("path: { exact: /a }");
        assert!(e.matches(&req("GET", "/a?q", &[])) && !e.matches(&req("GET", "/a/", &[])));
        let r = m("path: { regex: '/users/[0-9]+' }");
        assert!(r.matches(&req("GET", "/users/42", &[])));
        assert!(!r.matches(&req("GET", "/users/42/x", &[])));
    }

    #[test]
    fn method_headers_and_query_must_all_hold() {
        let x = m(
            "method: POST\nheaders: [{ name: x-canary, exact: '1' }, { name: x-debug, present: false }, \
                   { name: user-agent, regex: 'curl/.*' }, { name: x-env, prefix: prod }]\n\
                   queryParams: [{ name: v, exact: '2' }]",
        );
        let h = [
            ("x-canary", "1"),
            ("user-agent", "curl/8"),
            ("x-env", "prod-eu"),
        ];
        assert!(x.matches(&req("POST", "/?a=b&v=2", &h)));
        assert!(!x.matches(&req("GET", "/?v=2", &h)));
        assert!(!x.matches(&req("POST", "/?v=3", &h)));
        assert!(!x.matches(&req("POST", "/?v=2", &h[..2])));
        let mut with_debug = h.to_vec();
        with_debug.push(("x-debug", "1"));
        assert!(!x.matches(&req("POST", "/?v=2", &with_debug)));
    }

    #[test]
    fn filters_remove_set_then_add() {
        let f: HeaderFilter = serde_saphyr::from_str(
            "remove: [x-a]\nset: [{ name: x-b, value: new }]\nadd: [{ name: x-c, value: two }]",
        )
        .unwrap();
        let f = Filter::compile(&f);
        let mut h = HeaderMap::new();
        h.insert("x-a", HeaderValue::from_static("1"));
        h.insert("x-b", HeaderValue::from_static("old"));
        h.insert("x-c", HeaderValue::from_static("one"));
        f.apply(&mut h);
        assert!(!h.contains_key("x-a"));
        assert_eq!(h["x-b"], "new");
        assert_eq!(h.get_all("x-c").iter().count(), 2);
    }

    #[test]
    fn split_follows_the_weights() {
        let s = Split::new([(90, "a"), (0, "never"), (10, "b")]);
        let a = (0..10_000).filter(|_| *s.pick().unwrap() == "a").count();
        assert!((8_700..=9_300).contains(&a), "{a}");
        assert_eq!(s.items().count(), 2);
    }
}
