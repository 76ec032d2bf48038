//! Which addresses the pod's apps listen on, read from `/proc/net/tcp{,6}` of the proxy's
//! network namespace (the pod's): an intercepted connection for a port the app opened on
//! localhost only is refused, so what an app keeps to itself is not exposed by the proxy's
//! forward to 127.0.0.1.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one reading of the socket tables answers for.
const FRESH: Duration = Duration::from_secs(1);
/// A port not open to the pod is only judged on a reading at most this old.
const FRESH_TO_REFUSE: Duration = Duration::from_millis(10);

/// Who can reach an app port, by the addresses its listening sockets are bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Nothing listens there (the connection is refused by the kernel anyway).
    NotListening,
    /// Only loopback addresses: the app keeps the port to the pod.
    LocalhostOnly,
    /// A wildcard or a pod address: peers are meant to reach it.
    Pod,
}

/// The listening sockets of the pod, read at most once per [`FRESH`].
#[derive(Debug, Default)]
pub struct AppListeners {
    last: Mutex<Option<Reading>>,
}

/// When the tables were read, and the listening addresses they held.
type Reading = (Instant, Vec<(IpAddr, u16)>);

impl AppListeners {
    /// How `port` is exposed, from a recent enough reading of the socket tables.
    pub fn exposure(&self, port: u16) -> Exposure {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let stale =
            |last: &Option<(Instant, _)>, age| last.as_ref().is_none_or(|(at, _)| now - *at > age);
        if stale(&last, FRESH) {
            *last = Some((now, read_listeners()));
        }
        let exposure = exposure_of(&last.as_ref().expect("read above").1, port);
        // Only a wide-open port is taken from an older reading: one that was not listening
        // a moment ago may be a localhost-only app that just started.
        if exposure != Exposure::Pod && stale(&last, FRESH_TO_REFUSE) {
            *last = Some((now, read_listeners()));
            return exposure_of(&last.as_ref().expect("read above").1, port);
        }
        exposure
    }
}

fn exposure_of(listeners: &[(IpAddr, u16)], port: u16) -> Exposure {
    let mut on_port = listeners.iter().filter(|(_, p)| *p == port).peekable();
    if on_port.peek().is_none() {
        return Exposure::NotListening;
    }
    if on_port.all(|(ip, _)| is_loopback(*ip)) {
        Exposure::LocalhostOnly
    } else {
        Exposure::Pod
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Listening sockets of both families; a table that cannot be read (no IPv6, no procfs)
/// adds none, so nothing is refused on its account.
fn read_listeners() -> Vec<(IpAddr, u16)> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|table| parse_table(&table))
        .collect()
}

/// The LISTEN rows (state `0A`) of a `/proc/net/tcp` or `tcp6` table.
fn parse_table(table: &str) -> Vec<(IpAddr, u16)> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            if state != "0A" {
                return None;
            }
            let (ip, port) = local.split_once(':')?;
            Some((parse_ip(ip)?, u16::from_str_radix(port, 16).ok()?))
        })
        .collect()
}

/// The kernel prints an address as 32-bit words in the host's byte order.
fn parse_ip(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| {
        hex.get(i * 8..i * 8 + 8)
            .and_then(|w| u32::from_str_radix(w, 16).ok())
            .map(u32::to_ne_bytes)
    };
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut octets = [0u8; 16];
            for i in 0..4 {
                octets[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex4(ip: Ipv4Addr) -> String {
        format!("{:08X}", u32::from_ne_bytes(ip.octets()))
    }

    fn hex6(ip: Ipv6Addr) -> String {
        ip.octets()
            .chunks(4)
            .map(|w| format!("{:08X}", u32::from_ne_bytes(w.try_into().unwrap())))
            .collect()
    }

    fn row(local: &str, state: &str) -> String {
        format!(
            "   0: {local} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0"
        )
    }

    #[test]
    fn listen_rows_of_both_families_are_read_and_others_skipped() {
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
        let v4 = [
            header.to_owned(),
            row(&format!("{}:1F90", hex4(Ipv4Addr::LOCALHOST)), "0A"),
            row(&format!("{}:0050", hex4(Ipv4Addr::UNSPECIFIED)), "0A"),
            // Established, not a listener.
            row(&format!("{}:0051", hex4(Ipv4Addr::new(10, 0, 0, 5))), "01"),
        ]
        .join("\n");
        assert_eq!(
            parse_table(&v4),
            vec![
                (IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
                (IpAddr::V4(Ipv4Addr::UNSPECIFIED), 80)
            ]
        );
        let v6 = [
            header.to_owned(),
            row(&format!("{}:1F91", hex6(Ipv6Addr::LOCALHOST)), "0A"),
        ]
        .join("\n");
        assert_eq!(
            parse_table(&v6),
            vec![(IpAddr::V6(Ipv6Addr::LOCALHOST), 8081)]
        );
        assert!(parse_table("garbage\nnot a row\n  1: zz:yy 0 0A").is_empty());
    }

    #[test]
    fn a_port_is_localhost_only_when_every_listener_is_loopback() {
        let lo4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let mapped = IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped());
        let any = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        let pod = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5));
        let listeners = [
            (lo4, 1),
            (lo6, 1),
            (mapped, 1),
            (lo4, 2),
            (any, 2),
            (pod, 3),
        ];
        assert_eq!(exposure_of(&listeners, 1), Exposure::LocalhostOnly);
        assert_eq!(exposure_of(&listeners, 2), Exposure::Pod);
        assert_eq!(exposure_of(&listeners, 3), Exposure::Pod);
        assert_eq!(exposure_of(&listeners, 4), Exposure::NotListening);
    }

    #[test]
    fn this_processs_own_listeners_are_seen_as_they_open() {
        let listeners = AppListeners::default();
        let local = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = local.local_addr().unwrap().port();
        assert_eq!(listeners.exposure(port), Exposure::LocalhostOnly);
        // A listener opened after a reading is seen once the reading is 10 ms old.
        let all = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        std::thread::sleep(FRESH_TO_REFUSE + Duration::from_millis(20));
        assert_eq!(
            listeners.exposure(all.local_addr().unwrap().port()),
            Exposure::Pod
        );
    }
}
