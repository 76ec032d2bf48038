//! Trace context on the wire: W3C `traceparent` and B3 (the single `b3` header and the
//! `X-B3-*` set) read from a request, and written back with this hop's span as the parent.
//! `tracestate` is never touched, so it passes through. No allocation except the values
//! written.

use http::HeaderValue;
use http::header::{HeaderMap, HeaderName};

/// Names, not `&str`s: looking a `&str` up parses and checks it on every request.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub const B3: HeaderName = HeaderName::from_static("b3");
pub const B3_TRACE_ID: HeaderName = HeaderName::from_static("x-b3-traceid");
pub const B3_SPAN_ID: HeaderName = HeaderName::from_static("x-b3-spanid");
pub const B3_PARENT_ID: HeaderName = HeaderName::from_static("x-b3-parentspanid");
pub const B3_SAMPLED: HeaderName = HeaderName::from_static("x-b3-sampled");
pub const B3_FLAGS: HeaderName = HeaderName::from_static("x-b3-flags");

/// Which headers carried the context, so the same ones are rewritten downstream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Formats {
    pub w3c: bool,
    pub b3_single: bool,
    pub b3_multi: bool,
}

/// What a request said about its trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Incoming {
    /// The trace id and the caller's span id (this hop's parent).
    pub parent: Option<(u128, u64)>,
    /// The caller's sampling decision, if it made one.
    pub sampled: Option<bool>,
    pub formats: Formats,
}

impl Incoming {
    /// Reads `traceparent`, else `b3`, else `X-B3-*`; malformed values count as absent.
    pub fn read(headers: &HeaderMap) -> Self {
        // Most requests carry no trace context: one pass over their few names costs less
        // than looking up the names it could be in.
        if !headers.keys().any(is_trace_name) {
            return Self::default();
        }
        if let Some((trace, span, sampled)) = headers.get(&TRACEPARENT).and_then(w3c) {
            let mut formats = Formats {
                w3c: true,
                ..Formats::default()
            };
            // B3 beside W3C is rewritten too, so apps reading either see this hop.
            formats.b3_single = headers.contains_key(&B3);
            formats.b3_multi = headers.contains_key(&B3_TRACE_ID);
            return Self {
                parent: Some((trace, span)),
                sampled: Some(sampled),
                formats,
            };
        }
        if let Some((parent, sampled)) = headers.get(&B3).and_then(b3_single) {
            return Self {
                parent,
                sampled,
                formats: Formats {
                    b3_single: true,
                    ..Formats::default()
                },
            };
        }
        if let Some((parent, sampled)) = b3_multi(headers) {
            return Self {
                parent,
                sampled,
                formats: Formats {
                    b3_multi: true,
                    ..Formats::default()
                },
            };
        }
        Self::default()
    }
}

/// Whether `name` is one of the headers [`Incoming::read`] reads.
fn is_trace_name(name: &HeaderName) -> bool {
    let name = name.as_str();
    name == TRACEPARENT.as_str() || name == B3.as_str() || name.starts_with("x-b3-")
}

/// This hop's place in a trace, as written downstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hop {
    pub trace: u128,
    pub span: u64,
    /// The caller's span, if the request came with one.
    pub parent: Option<u64>,
    pub sampled: bool,
}

impl Hop {
    /// Writes this hop into `headers` as `traceparent` (when `formats.w3c`) and in the B3
    /// forms the request came with.
    pub fn write(&self, headers: &mut HeaderMap, formats: Formats) {
        if formats.w3c {
            let mut out = *b"00-00000000000000000000000000000000-0000000000000000-00";
            hex(&mut out[3..35], self.trace);
            hex(&mut out[36..52], self.span.into());
            out[54] = if self.sampled { b'1' } else { b'0' };
            insert(headers, TRACEPARENT, &out);
        }
        let sampled = if self.sampled { b'1' } else { b'0' };
        let mut trace = [0u8; 32];
        // B3 trace ids may be 64-bit; one that fits is written that way.
        let trace = if self.trace >> 64 == 0 {
            hex(&mut trace[..16], self.trace);
            &trace[..16]
        } else {
            hex(&mut trace, self.trace);
            &trace[..]
        };
        let mut span = [0u8; 16];
        hex(&mut span, self.span.into());
        let mut parent = [0u8; 16];
        if let Some(p) = self.parent {
            hex(&mut parent, p.into());
        }
        if formats.b3_single {
            // {trace}-{span}-{sampled}[-{parent}]
            let mut out = [0u8; 32 + 1 + 16 + 2 + 17];
            let mut n = 0;
            for part in [trace, b"-", &span, b"-", &[sampled]] {
                out[n..n + part.len()].copy_from_slice(part);
                n += part.len();
            }
            if self.parent.is_some() {
                out[n] = b'-';
                out[n + 1..n + 17].copy_from_slice(&parent);
                n += 17;
            }
            insert(headers, B3, &out[..n]);
        }
        if formats.b3_multi {
            insert(headers, B3_TRACE_ID, trace);
            insert(headers, B3_SPAN_ID, &span);
            match self.parent {
                Some(_) => insert(headers, B3_PARENT_ID, &parent),
                None => drop(headers.remove(&B3_PARENT_ID)),
            }
            insert(headers, B3_SAMPLED, &[sampled]);
            // The debug flag implies sampled and is kept as it came.
        }
    }
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: &[u8]) {
    if let Ok(v) = HeaderValue::from_bytes(value) {
        headers.insert(name, v);
    }
}

/// Writes the low `out.len() * 4` bits of `value` as lower-case hex.
fn hex(out: &mut [u8], value: u128) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = out.len();
    for (i, c) in out.iter_mut().enumerate() {
        *c = HEX[((value >> (4 * (n - 1 - i))) & 0xf) as usize];
    }
}

/// Lower-case hex of 1 to 32 digits (W3C allows no upper case; B3 writes lower case).
fn unhex(b: &[u8]) -> Option<u128> {
    if b.is_empty() || b.len() > 32 {
        return None;
    }
    b.iter().try_fold(0u128, |acc, c| {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        Some(acc << 4 | u128::from(d))
    })
}

/// `00-<32 hex trace>-<16 hex span>-<2 hex flags>` (later versions may append fields);
/// all-zero ids and version `ff` are invalid.
fn w3c(v: &HeaderValue) -> Option<(u128, u64, bool)> {
    let b = v.as_bytes();
    if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let version = unhex(&b[..2])?;
    if version == 0xff || (version == 0 && b.len() != 55) || (b.len() > 55 && b[55] != b'-') {
        return None;
    }
    let trace = unhex(&b[3..35])?;
    let span = u64::try_from(unhex(&b[36..52])?).ok()?;
    let flags = unhex(&b[53..55])?;
    (trace != 0 && span != 0).then_some((trace, span, flags & 1 == 1))
}

type B3 = (Option<(u128, u64)>, Option<bool>);

/// A B3 trace id (16 or 32 hex) and span id (16 hex), neither zero.
fn b3_ids(trace: &[u8], span: &[u8]) -> Option<(u128, u64)> {
    if !matches!(trace.len(), 16 | 32) || span.len() != 16 {
        return None;
    }
    let (trace, span) = (unhex(trace)?, u64::try_from(unhex(span)?).ok()?);
    (trace != 0 && span != 0).then_some((trace, span))
}

/// `0`, `1` or `d` (debug, which means sampled).
fn b3_decision(b: &[u8]) -> Option<bool> {
    match b {
        b"1" | b"d" => Some(true),
        b"0" => Some(false),
        _ => None,
    }
}

/// `{trace}-{span}[-{sampled}[-{parent}]]`, or a lone decision (`0`, `1`, `d`).
fn b3_single(v: &HeaderValue) -> Option<B3> {
    let b = v.as_bytes();
    if b.len() == 1 {
        return Some((None, Some(b3_decision(b)?)));
    }
    let mut parts = b.split(|c| *c == b'-');
    let ids = b3_ids(parts.next()?, parts.next()?)?;
    let sampled = match parts.next() {
        Some(d) => Some(b3_decision(d)?),
        None => None,
    };
    if let Some(parent) = parts.next() {
        // The caller's parent is not needed, but a malformed one makes the header invalid.
        if parent.len() != 16 || unhex(parent).is_none() {
            return None;
        }
    }
    parts.next().is_none().then_some((Some(ids), sampled))
}

/// `X-B3-TraceId` with `X-B3-SpanId`, `X-B3-Sampled` (`1`, `0`,
/// or the legacy `true`/`false`), `X-B3-Flags: 1` (debug).
fn b3_multi(headers: &HeaderMap) -> Option<B3> {
    let get = |name: &HeaderName| headers.get(name).map(HeaderValue::as_bytes);
    // A span id without a trace id says nothing (and costs no lookup when both are absent).
    let ids = match get(&B3_TRACE_ID) {
        Some(trace) => Some(b3_ids(trace, get(&B3_SPAN_ID)?)?),
        None => None,
    };
    let sampled = if get(&B3_FLAGS) == Some(b"1") {
        Some(true)
    } else {
        match get(&B3_SAMPLED) {
            Some(b"1" | b"true") => Some(true),
            Some(b"0" | b"false") => Some(false),
            Some(_) => return None,
            None => None,
        }
    };
    (ids.is_some() || sampled.is_some()).then_some((ids, sampled))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse::<HeaderName>().unwrap(), v.parse().unwrap()))
            .collect()
    }

    const TRACE: u128 = 0x0af7651916cd43dd8448eb211c80319c;
    const SPAN: u64 = 0xb7ad6b7169203331;

    #[test]
    fn w3c_is_read_and_written_with_this_hop_as_parent() {
        let h = headers(&[(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )]);
        let inc = Incoming::read(&h);
        assert_eq!(inc.parent, Some((TRACE, SPAN)));
        assert_eq!(inc.sampled, Some(true));
        assert!(inc.formats.w3c && !inc.formats.b3_single && !inc.formats.b3_multi);
        let mut h = h;
        let hop = Hop {
            trace: TRACE,
            span: 0x1234,
            parent: Some(SPAN),
            sampled: false,
        };
        hop.write(&mut h, inc.formats);
        assert_eq!(
            h[TRACEPARENT],
            "00-0af7651916cd43dd8448eb211c80319c-0000000000001234-00"
        );
        // Unsampled flag, and a later version with an extra field.
        let inc = Incoming::read(&headers(&[(
            "traceparent",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-what",
        )]));
        assert_eq!(inc.sampled, Some(false));
    }

    #[test]
    fn malformed_context_is_ignored() {
        for bad in [
            "garbage",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01",
        ] {
            let inc = Incoming::read(&headers(&[("traceparent", bad)]));
            assert_eq!(inc, Incoming::default(), "{bad}");
        }
        for bad in ["x", "abc-def", "463ac35c9f6413ad-0020000000000001-2", "-"] {
            let inc = Incoming::read(&headers(&[("b3", bad)]));
            assert_eq!(inc, Incoming::default(), "{bad}");
        }
        // A span id without a trace id, and a bad decision.
        let inc = Incoming::read(&headers(&[("x-b3-spanid", "0020000000000001")]));
        assert_eq!(inc, Incoming::default());
        let inc = Incoming::read(&headers(&[("x-b3-sampled", "maybe")]));
        assert_eq!(inc, Incoming::default());
        // An invalid traceparent falls back to valid B3.
        let inc = Incoming::read(&headers(&[
            ("traceparent", "nope"),
            ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"),
        ]));
        assert!(inc.formats.b3_single && inc.parent.is_some());
    }

    #[test]
    fn b3_single_is_read_and_rewritten() {
        let h = headers(&[(
            "b3",
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
        )]);
        let inc = Incoming::read(&h);
        let trace = 0x80f198ee56343ba864fe8b2a57d3eff7;
        assert_eq!(inc.parent, Some((trace, 0xe457b5a2e4d86bd1)));
        assert_eq!(inc.sampled, Some(true));
        let mut h = h;
        let hop = Hop {
            trace,
            span: 0xaa,
            parent: Some(0xe457b5a2e4d86bd1),
            sampled: true,
        };
        hop.write(&mut h, inc.formats);
        assert_eq!(
            h[B3],
            "80f198ee56343ba864fe8b2a57d3eff7-00000000000000aa-1-e457b5a2e4d86bd1"
        );
        assert!(!h.contains_key(TRACEPARENT));
        // 64-bit trace ids, no decision, debug, and a decision alone.
        let inc = Incoming::read(&headers(&[("b3", "463ac35c9f6413ad-0020000000000001")]));
        assert_eq!(inc.parent, Some((0x463ac35c9f6413ad, 0x20000000000001)));
        assert_eq!(inc.sampled, None);
        let inc = Incoming::read(&headers(&[("b3", "463ac35c9f6413ad-0020000000000001-d")]));
        assert_eq!(inc.sampled, Some(true));
        let inc = Incoming::read(&headers(&[("b3", "0")]));
        assert_eq!((inc.parent, inc.sampled), (None, Some(false)));
        let mut h = HeaderMap::new();
        let hop = Hop {
            trace: 0x463ac35c9f6413ad,
            span: 1,
            parent: None,
            sampled: false,
        };
        hop.write(&mut h, inc.formats);
        assert_eq!(h[B3], "463ac35c9f6413ad-0000000000000001-0");
    }

    #[test]
    fn b3_multi_is_read_and_rewritten() {
        let h = headers(&[
            ("x-b3-traceid", "463ac35c9f6413ad48485a3953bb6124"),
            ("x-b3-spanid", "a2fb4a1d1a96d312"),
            ("x-b3-parentspanid", "0020000000000001"),
            ("x-b3-sampled", "1"),
        ]);
        let inc = Incoming::read(&h);
        let trace = 0x463ac35c9f6413ad48485a3953bb6124;
        assert_eq!(inc.parent, Some((trace, 0xa2fb4a1d1a96d312)));
        assert_eq!(inc.sampled, Some(true));
        assert!(inc.formats.b3_multi);
        let mut h = h;
        let hop = Hop {
            trace,
            span: 0xbb,
            parent: Some(0xa2fb4a1d1a96d312),
            sampled: true,
        };
        hop.write(&mut h, inc.formats);
        assert_eq!(h[B3_TRACE_ID], "463ac35c9f6413ad48485a3953bb6124");
        assert_eq!(h[B3_SPAN_ID], "00000000000000bb");
        assert_eq!(h[B3_PARENT_ID], "a2fb4a1d1a96d312");
        assert_eq!(h[B3_SAMPLED], "1");
        // Debug flag, legacy booleans, a decision alone.
        let inc = Incoming::read(&headers(&[("x-b3-flags", "1")]));
        assert_eq!((inc.parent, inc.sampled), (None, Some(true)));
        let inc = Incoming::read(&headers(&[
            ("x-b3-traceid", "463ac35c9f6413ad"),
            ("x-b3-spanid", "a2fb4a1d1a96d312"),
            ("x-b3-sampled", "false"),
        ]));
        assert_eq!(inc.sampled, Some(false));
        assert_eq!(inc.parent, Some((0x463ac35c9f6413ad, 0xa2fb4a1d1a96d312)));
    }
}
