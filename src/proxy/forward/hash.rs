//! Consistent hashing for session affinity: the request key (a header or cookie) and a
//! ring of virtual nodes, so adding an endpoint moves only about 1/n of the keys.

use http::HeaderMap;

use crate::model::endpoint::Endpoint;
use crate::model::policy::HashOn;

/// Virtual nodes per endpoint: enough for an even spread, small enough to rebuild on updates.
const VNODES: u32 = 128;

/// FNV-1a then a murmur3 finalizer: stable across processes and versions, well mixed.
pub(super) fn hash(bytes: &[u8], seed: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(seed);
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The hash of the request's affinity key, if the request carries one.
pub(super) fn request_key(hash_on: &HashOn, headers: &HeaderMap) -> Option<u64> {
    match hash_on {
        HashOn::Header(name) => headers.get(name.as_str()).map(|v| hash(v.as_bytes(), 0)),
        HashOn::Cookie(name) => headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| hash(v.as_bytes(), 0)),
    }
}

/// Points on the ring, sorted, each naming an endpoint by index.
#[derive(Debug, Default)]
pub(super) struct Ring {
    points: Vec<(u64, u32)>,
}

impl Ring {
    pub(super) fn new(endpoints: &[Endpoint]) -> Self {
        let mut points = Vec::with_capacity(endpoints.len() * VNODES as usize);
        let mut buf = String::new();
        for (i, ep) in endpoints.iter().enumerate() {
            use std::fmt::Write;
            buf.clear();
            let _ = write!(buf, "{}", ep.addr);
            for v in 0..VNODES {
                points.push((hash(buf.as_bytes(), v), i as u32));
            }
        }
        points.sort_unstable();
        Self { points }
    }

    /// Endpoint indexes in ring order starting at `key` (each point once; callers stop at
    /// the first usable endpoint).
    pub(super) fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.points.partition_point(|(h, _)| *h < key);
        let (tail, head) = self.points.split_at(start.min(self.points.len()));
        head.iter().chain(tail).map(|(_, i)| *i as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eps(n: usize) -> Vec<Endpoint> {
        (0..n)
            .map(|i| Endpoint::new(([10, 0, 0, i as u8 + 1], 80).into()))
            .collect()
    }

    #[test]
    fn keys_spread_evenly_and_mostly_stay_when_an_endpoint_is_added() {
        let four = Ring::new(&eps(4));
        let five = Ring::new(&eps(5));
        let mut counts = [0u32; 4];
        let mut moved = 0;
        for k in 0..10_000u32 {
            let key = hash(&k.to_le_bytes(), 0);
            let a = four.walk(key).next().unwrap();
            let b = five.walk(key).next().unwrap();
            counts[a] += 1;
            if a != b {
                moved += 1;
                assert_eq!(b, 4, "a key may only move to the new endpoint");
            }
        }
        for c in counts {
            assert!((1_800..=3_200).contains(&c), "{counts:?}");
        }
        // Ideal is 1/5 = 2000 of 10000.
        assert!((1_400..=2_600).contains(&moved), "{moved}");
    }

    #[test]
    fn key_from_header_or_cookie() {
        let mut h = HeaderMap::new();
        h.insert("x-user", "alice".parse().unwrap());
        h.append("cookie", "a=1; session=s-42".parse().unwrap());
        let by_header = request_key(&HashOn::Header("x-user".into()), &h);
        assert_eq!(by_header, Some(hash(b"alice", 0)));
        let by_cookie = request_key(&HashOn::Cookie("session".into()), &h);
        assert_eq!(by_cookie, Some(hash(b"s-42", 0)));
        assert_eq!(request_key(&HashOn::Cookie("nope".into()), &h), None);
        assert_eq!(request_key(&HashOn::Header("x-none".into()), &h), None);
    }
}
