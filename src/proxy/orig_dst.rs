//! The destination a connection had before iptables REDIRECT sent it to the proxy
//! (SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST), read from the accepted socket.

use std::net::SocketAddr;
use std::os::fd::AsFd;

use nix::sys::socket::{SockaddrIn, SockaddrIn6, getsockopt, sockopt};

/// The original destination of a redirected TCP connection, asked in the socket's own
/// family (`local` is the address it was accepted on). Fails with ENOENT when the
/// connection was not redirected (no NAT entry), e.g. a client that dialed the proxy
/// port directly.
pub fn original_dst<S: AsFd>(socket: &S, local: SocketAddr) -> std::io::Result<SocketAddr> {
    let fd = socket.as_fd();
    match local {
        SocketAddr::V4(_) => Ok(SockaddrIn::from(getsockopt(&fd, sockopt::OriginalDst)?).into()),
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            // An IPv4 client on a dual-stack socket: the IPv4 NAT table holds the entry.
            Some(_) => Ok(SockaddrIn::from(getsockopt(&fd, sockopt::OriginalDst)?).into()),
            None => Ok(SockaddrIn6::from(getsockopt(&fd, sockopt::Ip6tOriginalDst)?).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn a_connection_that_was_not_redirected_has_no_original_destination() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        let local = server.local_addr().unwrap();
        // Without a NAT entry the kernel answers ENOENT (or ENOPROTOOPT without conntrack),
        // or, when conntrack tracks the flow, the address really dialed: never another one.
        if let Ok(dst) = original_dst(&server, local) {
            assert_eq!(dst, addr, "only the real destination may be returned");
        }
    }
}
