//! W3C trace context: keep the trace id of an incoming `traceparent` and give this hop a
//! new span (parent) id, so tracing backends see the proxy as one hop.

use http::HeaderValue;
use http::header::{HeaderMap, HeaderName};

/// A name, not a `&str`: looking a `&str` up parses and checks it on every request.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Rewrites a valid `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`) with a fresh parent id;
/// leaves anything else alone.
pub fn new_hop(headers: &mut HeaderMap) {
    let Some(v) = headers.get(&TRACEPARENT) else {
        return;
    };
    let b = v.as_bytes();
    let valid = b.len() == 55
        && b[2] == b'-'
        && b[35] == b'-'
        && b[52] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 2 | 35 | 52) || c.is_ascii_hexdigit());
    if !valid {
        return;
    }
    let mut out = [0u8; 55];
    out.copy_from_slice(b);
    let span = fastrand::u64(1..);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in 0..16 {
        out[36 + i] = HEX[((span >> (60 - 4 * i)) & 0xf) as usize];
    }
    if let Ok(v) = HeaderValue::from_bytes(&out) {
        headers.insert(TRACEPARENT, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_trace_and_changes_the_span() {
        let old = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let mut h = HeaderMap::new();
        h.insert(TRACEPARENT, HeaderValue::from_static(old));
        new_hop(&mut h);
        let new = h[TRACEPARENT].to_str().unwrap();
        assert_eq!(new.len(), 55);
        assert_eq!(&new[..36], &old[..36]);
        assert_eq!(&new[52..], "-01");
        assert_ne!(&new[36..52], &old[36..52]);
        let mut bad = HeaderMap::new();
        bad.insert(TRACEPARENT, HeaderValue::from_static("garbage"));
        new_hop(&mut bad);
        assert_eq!(bad[TRACEPARENT], "garbage");
    }
}
