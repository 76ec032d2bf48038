//! Generated affinity cookies (Istio's `httpCookie` with a ttl): a request without the
//! cookie gets a fresh value, which the consistent hash places like any other, and the
//! response sets it, so the client's next requests go to the same endpoint.

use http::HeaderMap;
use http::header::{COOKIE, HeaderValue};

use super::hash::request_key;
use crate::model::policy::{Algorithm, HashOn, Policy};

/// The cookie a backend hands out.
#[derive(Debug)]
pub(super) struct Sticky {
    name: String,
    /// `; Max-Age=...; Path=...; HttpOnly`, made once.
    attributes: String,
}

impl Sticky {
    /// Some when the policy hashes on a cookie and asks for it to be generated.
    pub(super) fn new(policy: &Policy) -> Option<Self> {
        let cookie = policy.sticky_cookie.as_ref()?;
        let Some(HashOn::Cookie(name)) = &policy.load_balancer.hash_on else {
            return None;
        };
        if policy.load_balancer.algorithm != Algorithm::ConsistentHash {
            return None;
        }
        let mut attributes = String::new();
        let ttl = cookie.ttl.get().as_secs();
        if ttl > 0 {
            attributes.push_str(&format!("; Max-Age={ttl}"));
        }
        if let Some(path) = &cookie.path {
            attributes.push_str(&format!("; Path={path}"));
        }
        attributes.push_str("; HttpOnly");
        Some(Self {
            name: name.clone(),
            attributes,
        })
    }

    /// When the request lacks the cookie: adds a new value to its `cookie` header (so this
    /// request hashes on it) and returns the `set-cookie` value for the response.
    pub(super) fn assign(&self, headers: &mut HeaderMap) -> Option<HeaderValue> {
        if request_key(&HashOn::Cookie(self.name.clone()), headers).is_some() {
            return None;
        }
        let pair = format!("{}={:016x}", self.name, fastrand::u64(..));
        // HTTP/1 allows one cookie header: extend the first one if there is one.
        let merged = match headers.get(COOKIE).and_then(|v| v.to_str().ok()) {
            Some(existing) if !existing.trim().is_empty() => format!("{existing}; {pair}"),
            _ => pair.clone(),
        };
        headers.insert(COOKIE, HeaderValue::from_str(&merged).ok()?);
        HeaderValue::from_str(&format!("{pair}{}", self.attributes)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::duration::Duration;
    use crate::model::policy::{LoadBalancer, StickyCookie};

    fn policy(ttl: u64, path: Option<&str>) -> Policy {
        Policy {
            load_balancer: LoadBalancer {
                algorithm: Algorithm::ConsistentHash,
                hash_on: Some(HashOn::Cookie("session".into())),
            },
            sticky_cookie: Some(StickyCookie {
                path: path.map(str::to_owned),
                ttl: Duration::from_secs(ttl),
            }),
            ..Policy::default()
        }
    }

    #[test]
    fn a_request_without_the_cookie_gets_one_and_a_request_with_it_keeps_it() {
        let s = Sticky::new(&policy(3600, Some("/shop"))).unwrap();
        let mut h = HeaderMap::new();
        h.insert(COOKIE, "a=1".parse().unwrap());
        let set = s.assign(&mut h).unwrap();
        let set = set.to_str().unwrap();
        let value = set.split(';').next().unwrap();
        assert!(
            set.ends_with("; Max-Age=3600; Path=/shop; HttpOnly"),
            "{set}"
        );
        assert_eq!(h[COOKIE], format!("a=1; {value}"));
        assert!(request_key(&HashOn::Cookie("session".into()), &h).is_some());
        assert!(s.assign(&mut h).is_none(), "it has the cookie now");
        // A session cookie (ttl 0) has no Max-Age.
        let session = Sticky::new(&policy(0, None)).unwrap();
        let set = session.assign(&mut HeaderMap::new()).unwrap();
        assert!(
            set.to_str().unwrap().ends_with("; HttpOnly")
                && !set.to_str().unwrap().contains("Max-Age")
        );
        assert!(Sticky::new(&Policy::default()).is_none());
    }
}
