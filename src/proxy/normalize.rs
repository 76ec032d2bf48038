//! Request path normalization before inbound authorization, as Istio does by default: so that
//! `//admin`, `/./admin` or `/%61dmin` cannot slip past a rule on `/admin*` and still reach
//! the app's `/admin`. The normalized path is what is authorized and what the app receives.

use std::borrow::Cow;

/// Why a path is refused (a 400): it has no single reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("an encoded / or \\ (%2F, %5C) in the path is refused: apps disagree on what it means")]
    EncodedSlash,
    #[error("a \\ in the path is refused: apps disagree on whether it is a /")]
    Backslash,
    #[error("a % in the path not followed by two hex digits")]
    BadEscape,
}

/// Normalizes an origin-form path (no query): percent-escapes of unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`) are decoded and other escapes upper-cased, runs of `/` become one,
/// and `.` / `..` segments are resolved (RFC 3986 5.2.4; `..` never climbs above `/`).
/// Paths that do not start with `/` (`*` of `OPTIONS *`) are left as they are.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    if !path.starts_with('/') {
        return Ok(Cow::Borrowed(path));
    }
    if path.contains('\\') {
        return Err(PathError::Backslash);
    }
    // Most paths need nothing: no escape, no empty and no dot segment.
    if !path.contains('%') && !path.contains("//") && !has_dot_segment(path) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(path)?;
    let mut out: Vec<&str> = Vec::new();
    let mut segments = decoded.split('/').skip(1).peekable();
    // A last segment of `.`, `..` or nothing keeps the trailing `/` (`/a/.` is `/a/`).
    let mut trailing = false;
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match segment {
            "" | "." => trailing = last,
            ".." => {
                out.pop();
                trailing = last;
            }
            s => {
                out.push(s);
                trailing = false;
            }
        }
    }
    let mut normalized = String::with_capacity(decoded.len());
    for s in &out {
        normalized.push('/');
        normalized.push_str(s);
    }
    if trailing || out.is_empty() {
        normalized.push('/');
    }
    Ok(Cow::Owned(normalized))
}

fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|s| s == "." || s == "..")
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Decodes escapes of unreserved characters, upper-cases the others' hex digits.
fn decode_unreserved(path: &str) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'%' {
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let (Some(hi), Some(lo)) = (
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) else {
            return Err(PathError::BadEscape);
        };
        let value = hi * 16 + lo;
        match value {
            b'/' | b'\\' => return Err(PathError::EncodedSlash),
            v if is_unreserved(v) => out.push(char::from(v)),
            v => out.push_str(&format!("%{v:02X}")),
        }
        i += 3;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(p: &str) -> Result<String, PathError> {
        normalize(p).map(Cow::into_owned)
    }

    #[test]
    fn the_usual_bypasses_all_read_as_the_plain_path() {
        for (input, want) in [
            ("/admin", "/admin"),
            ("//admin", "/admin"),
            ("/./admin", "/admin"),
            ("/%61dmin", "/admin"),
            ("/%2e/admin", "/admin"),
            ("/api/../admin", "/admin"),
            ("/api/%2E%2e/admin", "/admin"),
            ("/../../admin", "/admin"),
            ("/a//b///c", "/a/b/c"),
            ("/a/.", "/a/"),
            ("/a/..", "/"),
            ("/a/b/", "/a/b/"),
            ("/", "/"),
            ("//", "/"),
            ("/x%3fy%7e", "/x%3Fy~"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/.well-known/x", "/.well-known/x"),
            ("/a..b/c.", "/a..b/c."),
            ("*", "*"),
        ] {
            assert_eq!(n(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn encoded_slashes_backslashes_and_bad_escapes_are_refused() {
        for (input, why) in [
            ("/admin%2f", PathError::EncodedSlash),
            ("/admin%2Fx", PathError::EncodedSlash),
            ("/a%5cadmin", PathError::EncodedSlash),
            ("/a%5Cb", PathError::EncodedSlash),
            ("/a\\admin", PathError::Backslash),
            ("/a%zz", PathError::BadEscape),
            ("/a%4", PathError::BadEscape),
        ] {
            assert_eq!(n(input), Err(why), "{input}");
        }
    }

    #[test]
    fn a_plain_path_is_not_copied() {
        assert!(matches!(normalize("/api/v1/orders"), Ok(Cow::Borrowed(_))));
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::normalize;
    use crate::model::authz::Authorization;
    use crate::proxy::authz::{Authz, Decision, Subject};

    /// The most an app may read into a path: every escape decoded, `\` taken for `/`, empty
    /// and dot segments resolved.
    fn app_reading(path: &str) -> String {
        let bytes = path.as_bytes();
        let mut raw = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = |j: usize| bytes.get(j).and_then(|b| char::from(*b).to_digit(16));
            match (bytes[i], hex(i + 1), hex(i + 2)) {
                (b'%', Some(hi), Some(lo)) => {
                    raw.push(u8::try_from(hi * 16 + lo).unwrap());
                    i += 3;
                }
                (b, _, _) => {
                    raw.push(b);
                    i += 1;
                }
            }
        }
        let text = String::from_utf8_lossy(&raw).replace('\\', "/");
        let mut out: Vec<&str> = Vec::new();
        for segment in text.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    out.pop();
                }
                s => out.push(s),
            }
        }
        // A directory stays one: `/a/`, `/a/.` and `/a/b/..` all end in `/`.
        let last = text.rsplit('/').next().unwrap_or("");
        let dir = matches!(last, "" | "." | "..") && !out.is_empty();
        format!("/{}{}", out.join("/"), if dir { "/" } else { "" })
    }

    fn segment() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "admin",
            "api",
            "a",
            "",
            ".",
            "..",
            "%2e",
            "%2E%2e",
            "%61dmin",
            "%41DMIN",
            "ad%6Din",
            "%2f",
            "%2F",
            "%5c",
            "\\",
            "x%20y",
            "%7e",
            "admin.css",
            "%zz",
            "%",
            "%c3%a9",
        ])
    }

    fn path() -> impl Strategy<Value = String> {
        prop::collection::vec((segment(), prop::bool::ANY), 0..7).prop_map(|parts| {
            let mut p = String::new();
            for (s, double) in parts {
                p.push_str(if double { "//" } else { "/" });
                p.push_str(s);
            }
            if p.is_empty() { "/".to_owned() } else { p }
        })
    }

    fn policy() -> Authz {
        let config: Authorization = serde_json::from_str(
            r#"{"rules":[
                {"name":"no-admin","action":"DENY","to":[{"paths":["/admin*"]}]},
                {"name":"no-css","action":"DENY","to":[{"paths":["*.css"]}]},
                {"name":"no-a","action":"DENY","to":[{"paths":["/a/admin"]}]}]}"#,
        )
        .unwrap();
        Authz::new(&config)
    }

    fn decide(authz: &Authz, path: &str) -> Decision {
        authz.check(&Subject {
            port: 80,
            client: None,
            http: Some(("GET", path)),
            ..Subject::default()
        })
    }

    proptest! {
        /// What is authorized (the normalized path) is what the app reads, under any reading
        /// the app may make of it; and it reads the original request the same way.
        #[test]
        fn no_path_authorizes_under_one_reading_and_reaches_the_app_under_another(p in path()) {
            let authz = policy();
            match normalize(&p) {
                Ok(n) => {
                    prop_assert_eq!(normalize(&n).unwrap(), n.clone(), "idempotent");
                    let app = app_reading(&n);
                    prop_assert_eq!(decide(&authz, &n), decide(&authz, &app), "{} -> {}", n, app);
                    prop_assert_eq!(app_reading(&p), app, "same meaning as the request");
                }
                Err(_) => {
                    let lower = p.to_ascii_lowercase();
                    prop_assert!(
                        ["%2f", "%5c", "\\"].iter().any(|s| lower.contains(s))
                            || lower.contains('%'),
                        "refused only for an encoded slash, a backslash or a bad escape: {}", p
                    );
                }
            }
        }
    }
}
