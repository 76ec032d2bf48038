//! Transparent interception on the proxy side: where an accepted connection was really
//! going (its destination before proxy-init's REDIRECT), and plain TCP passthrough for
//! destinations no service claims.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::{Arc, LazyLock};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::io::{ByteCounters, Prefixed};
use super::server::State;
use super::{orig_dst, tcp};

/// The `authority` label of connections passed through untouched: one value, so a pod
/// dialing many unknown addresses cannot grow the metrics without bound.
pub const PASSTHROUGH: &str = "passthrough";

/// [`PASSTHROUGH`] as the metrics take it, allocated once.
static PASSTHROUGH_LABEL: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(PASSTHROUGH));

/// Where a connection was going.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dst {
    /// The original destination, or the listener's own address when not intercepted.
    pub addr: SocketAddr,
    /// Whether iptables redirected it here (else the client dialed the proxy itself).
    pub intercepted: bool,
}

/// Reads `stream`'s original destination. A connection that was not redirected (no NAT
/// entry, or one whose original destination is the listener itself) is not intercepted.
pub fn destination(stream: &TcpStream) -> Dst {
    let Ok(local) = stream.local_addr() else {
        return Dst {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            intercepted: false,
        };
    };
    classify(local, orig_dst::original_dst(stream, local).ok())
}

/// Pure part of [`destination`]. Addresses are compared canonically: on a dual-stack
/// listener an IPv4 client's local address is `::ffff:a.b.c.d`, and taking that for a
/// redirect would forward the proxy's own port back to itself.
fn classify(local: SocketAddr, original: Option<SocketAddr>) -> Dst {
    let canonical = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
    match original.map(canonical) {
        Some(orig) if orig != canonical(local) => Dst {
            addr: orig,
            intercepted: true,
        },
        _ => Dst {
            addr: canonical(local),
            intercepted: false,
        },
    }
}

/// Forwards an intercepted connection that no service claims to where it was going, as
/// plain TCP without detection (no stall for server-speaks-first protocols), counted in
/// `tcp_*{direction="outbound",authority="passthrough"}`.
pub async fn pass_through(
    stream: TcpStream,
    state: &State,
    dst: SocketAddr,
    bytes: ByteCounters,
    drain: watch::Receiver<bool>,
) {
    let io = Prefixed::new(bytes::Bytes::new(), super::tls::Io::Plain(stream), bytes);
    tcp::forward_to(io, state, dst, PASSTHROUGH_LABEL.clone(), drain).await;
}

/// The IPv6 counterpart of an IPv4 listener address (127.0.0.1 -> ::1, 0.0.0.0 -> ::):
/// proxy-init redirects IPv6 TCP to the same ports, so in a dual-stack pod the proxy must
/// listen in both families. None for other addresses and for port 0 (tests).
fn ipv6_twin(addr: SocketAddr) -> Option<SocketAddrV6> {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_loopback() => Ipv6Addr::LOCALHOST,
        IpAddr::V4(v4) if v4.is_unspecified() => Ipv6Addr::UNSPECIFIED,
        _ => return None,
    };
    (addr.port() != 0).then(|| SocketAddrV6::new(ip, addr.port(), 0, 0))
}

/// Binds the IPv6 twin of `addr` (IPv6 only: the IPv4 listener holds the port in its
/// family). None when there is no twin or the pod has no IPv6; other failures are
/// logged, since this pod's IPv6 connections will then be refused.
pub fn bind_ipv6_twin(addr: SocketAddr) -> Option<TcpListener> {
    let twin = ipv6_twin(addr)?;
    match listen_ipv6_only(twin) {
        Ok(listener) => Some(listener),
        Err(e) if no_ipv6(&e) => {
            tracing::debug!(%twin, error = %e, "no IPv6 in this pod: IPv4 listener only");
            None
        }
        Err(e) => {
            tracing::warn!(
                %twin,
                error = %e,
                "cannot listen on IPv6: this pod's intercepted IPv6 connections will be refused"
            );
            None
        }
    }
}

/// IPv6 is off in the kernel (EAFNOSUPPORT) or in this namespace (no ::1, EADDRNOTAVAIL).
fn no_ipv6(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(nix::errno::Errno::EAFNOSUPPORT as i32)
        || e.kind() == std::io::ErrorKind::AddrNotAvailable
}

fn listen_ipv6_only(addr: SocketAddrV6) -> std::io::Result<TcpListener> {
    use nix::sys::socket::{
        self, AddressFamily, Backlog, SockFlag, SockType, SockaddrIn6, sockopt,
    };
    use std::os::fd::AsRawFd;
    let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
    let fd = socket::socket(AddressFamily::Inet6, SockType::Stream, flags, None)?;
    socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    socket::bind(fd.as_raw_fd(), &SockaddrIn6::from(addr))?;
    socket::listen(&fd, Backlog::new(1024)?)?;
    TcpListener::from_std(std::net::TcpListener::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_redirected_connection_reports_its_original_destination() {
        let dst = classify(addr("127.0.0.1:4140"), Some(addr("10.1.2.3:80")));
        assert_eq!(
            dst,
            Dst {
                addr: addr("10.1.2.3:80"),
                intercepted: true
            }
        );
    }

    #[test]
    fn only_the_ipv4_loopback_and_wildcard_listeners_get_an_ipv6_twin() {
        let twin = |a| ipv6_twin(addr(a)).map(SocketAddr::V6);
        assert_eq!(twin("127.0.0.1:4140"), Some(addr("[::1]:4140")));
        assert_eq!(twin("0.0.0.0:4143"), Some(addr("[::]:4143")));
        for none in ["10.0.0.5:4143", "[::]:4143", "127.0.0.1:0"] {
            assert_eq!(ipv6_twin(addr(none)), None, "{none}");
        }
    }

    #[tokio::test]
    async fn the_twin_listens_beside_the_ipv4_listener_on_the_same_port() {
        let v4 = TcpListener::bind("0.0.0.0:0").await.unwrap();
        let port = v4.local_addr().unwrap().port();
        let Some(v6) = bind_ipv6_twin(SocketAddr::from(([0, 0, 0, 0], port))) else {
            return; // no IPv6 on this machine
        };
        assert_eq!(
            v6.local_addr().unwrap(),
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))
        );
        let client = TcpStream::connect(SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
        let (client, accepted) = tokio::join!(client, v6.accept());
        assert!(client.is_ok() && accepted.is_ok());
    }

    #[test]
    fn a_direct_connection_is_not_intercepted_in_either_family_spelling() {
        // conntrack answers with the real destination when there was no NAT.
        for (local, orig) in [
            ("10.0.0.5:4143", Some("10.0.0.5:4143")),
            ("[::ffff:10.0.0.5]:4143", Some("10.0.0.5:4143")),
            ("[::1]:4140", None),
        ] {
            let dst = classify(addr(local), orig.map(addr));
            assert!(!dst.intercepted, "{local} {orig:?}");
            assert_eq!(dst.addr.port(), addr(local).port());
            assert!(!dst.addr.ip().to_string().starts_with("::ffff:"));
        }
    }
}
