//! `Secret`: text that must never be shown (tokens, private keys). It deserializes from a
//! string, but serializes and Debug-prints as `"<redacted>"`, so a config dump (`/config`),
//! a log line or an error cannot leak it by accident; only [`Secret::expose`] reads it.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a secret prints and serializes as.
pub const REDACTED: &str = "<redacted>";

/// A secret string; compare with [`Secret::expose`], never print it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The secret itself, for the one place that must send or write it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl From<&str> for Secret {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_text_but_never_shows_it() {
        let s: Secret = serde_json::from_str(r#""tok-MARKER""#).unwrap();
        assert_eq!(s.expose(), "tok-MARKER");
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""<redacted>""#);
        assert_eq!(
            format!("{s:?} {s} {:?}", Some(&s)),
            "<redacted> <redacted> Some(<redacted>)"
        );
        #[derive(Debug, Serialize)]
        struct Holder {
            token: Secret,
        }
        let h = Holder { token: s };
        assert!(!format!("{h:?} {:#?}", h).contains("MARKER"));
        assert!(!serde_json::to_string(&h).unwrap().contains("MARKER"));
    }
}
