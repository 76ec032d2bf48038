//! `Duration`: the human durations of the config files ("250ms", "2s", "1m30s", "1h").
//!
//! Same grammar as Gateway API (GEP-2257): integer amounts with units h, m, s, ms, largest first.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration written as `<n>h<n>m<n>s<n>ms` (any non-empty subset, in that order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

/// Why a duration string was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid duration {input:?}: {reason}; write integer amounts with units h, m, s, ms, \
     largest first (e.g. \"250ms\", \"2s\", \"1m30s\", \"1h\")"
)]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

impl Duration {
    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Self(std::time::Duration::from_millis(ms))
    }

    /// A duration of `s` seconds.
    pub const fn from_secs(s: u64) -> Self {
        Self(std::time::Duration::from_secs(s))
    }

    /// The standard-library duration.
    pub const fn get(self) -> std::time::Duration {
        self.0
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Self(d)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| DurationError {
            input: input.to_owned(),
            reason,
        };
        if input.is_empty() {
            return Err(err("it is empty"));
        }
        let mut rest = input;
        let mut total: u64 = 0;
        // Index into UNITS of the next unit allowed: enforces "largest first, each once".
        let mut next_unit = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(err("expected a number"));
            }
            let amount: u64 = rest[..digits]
                .parse()
                .map_err(|_| err("the number is too large"))?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            if unit.is_empty() {
                return Err(err("a unit is missing"));
            }
            let Some(pos) = UNITS.iter().position(|(u, _)| *u == unit) else {
                return Err(err("unknown unit"));
            };
            if pos < next_unit {
                return Err(err("units must appear once each, largest first"));
            }
            next_unit = pos + 1;
            total = amount
                .checked_mul(UNITS[pos].1)
                .and_then(|ms| total.checked_add(ms))
                .ok_or_else(|| err("the duration is too large"))?;
            rest = &rest[unit_len..];
        }
        Ok(Self::from_millis(total))
    }
}

impl fmt::Display for Duration {
    /// Writes the canonical form: "0s", "250ms", "2s", "1m30s", "1h".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in UNITS {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::from_str_de(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> u128 {
        s.parse::<Duration>().unwrap().0.as_millis()
    }

    #[test]
    fn parses_each_unit_and_combinations() {
        assert_eq!(ms("250ms"), 250);
        assert_eq!(ms("2s"), 2_000);
        assert_eq!(ms("1m"), 60_000);
        assert_eq!(ms("1h"), 3_600_000);
        assert_eq!(ms("1m30s"), 90_000);
        assert_eq!(ms("1h2m3s4ms"), 3_723_004);
        assert_eq!(ms("0s"), 0);
    }

    #[test]
    fn rejects_bad_input_and_says_what_is_allowed() {
        for bad in [
            "",
            "2",
            "s",
            "2x",
            "1s1m",
            "1s1s",
            "-1s",
            "1.5s",
            "2 s",
            "99999999999999999999h",
        ] {
            let e = bad.parse::<Duration>().unwrap_err().to_string();
            assert!(e.contains("units h, m, s, ms"), "{bad}: {e}");
        }
    }

    #[test]
    fn displays_canonically_and_round_trips() {
        for (input, shown) in [
            ("250ms", "250ms"),
            ("2s", "2s"),
            ("90s", "1m30s"),
            ("1h", "1h"),
            ("0ms", "0s"),
        ] {
            let d: Duration = input.parse().unwrap();
            assert_eq!(d.to_string(), shown);
            assert_eq!(shown.parse::<Duration>().unwrap(), d);
        }
    }

    #[test]
    fn serde_uses_the_string_form() {
        let d: Duration = serde_json::from_str("\"1m30s\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"1m30s\"");
        assert!(serde_json::from_str::<Duration>("\"soon\"").is_err());
    }
}
