//! Who may read the admin port's operator endpoints (`/config`, `/tap`: the proxy's routing
//! and live requests). Probes and `/metrics` stay open to all (kubelet,
//! Prometheus). Loopback callers (in the pod, `kubectl port-forward`) are always served;
//! others only from the networks the operator lists, e.g. the nodes the API server's pod
//! proxy comes from (`meshctl stat`, `check --proxy`). Nothing listed: loopback only.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::netinit::Cidr;

/// The admin paths only operators may read: the routing config and live requests (`/tap`
/// shows paths and identities as they happen; through the API server's pod proxy it needs
/// `get` on `pods/proxy`, which RBAC grants per namespace). `/stats` is open like
/// `/metrics` (the same counters, which Prometheus scrapes from anywhere) and `/identity`
/// shows public certificates every TLS peer is shown anyway; closing them would break
/// `meshctl stat` and `check --proxy` through the API server's pod proxy out of the box.
pub const OPERATOR_PATHS: [&str; 2] = ["/config", "/tap"];

/// `--admin-operator-from`: `all`, or networks (CIDRs or addresses) besides loopback.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OperatorAccess {
    /// Any caller (the proxy's behaviour before this setting; for trusted networks only).
    All,
    /// Loopback, and callers in these networks.
    #[default]
    LoopbackAnd,
    From(Vec<Cidr>),
}

impl OperatorAccess {
    /// Whether a caller at `peer` may read the operator endpoints.
    pub fn allows(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        if peer.is_loopback() {
            return true;
        }
        match self {
            OperatorAccess::All => true,
            OperatorAccess::LoopbackAnd => false,
            OperatorAccess::From(networks) => networks.iter().any(|n| contains(n, peer)),
        }
    }
}

fn contains(network: &Cidr, ip: IpAddr) -> bool {
    match (network.addr, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), network.prefix),
        (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), network.prefix),
        _ => false,
    }
}

/// Whether the first `bits` bits of `a` and `b` are the same.
fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (whole, rest) = (usize::from(bits / 8), bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[whole] & mask == b[whole] & mask
    }
}

impl FromStr for OperatorAccess {
    type Err = String;

    /// `all`; or a comma list of CIDRs (`loopback` may be named, it is always in); or empty.
    fn from_str(s: &str) -> Result<Self, String> {
        let items: Vec<&str> = s
            .split(',')
            .map(str::trim)
            .filter(|i| !i.is_empty() && *i != "loopback")
            .collect();
        if items == ["all"] {
            return Ok(OperatorAccess::All);
        }
        if items.is_empty() {
            return Ok(OperatorAccess::LoopbackAnd);
        }
        let networks = items
            .iter()
            .map(|i| {
                i.parse::<Cidr>().map_err(|_| {
                    format!(
                        "{i:?} is not a network: give `all`, or CIDRs such as 10.0.0.0/16 (the \
                         nodes the API server's pod proxy comes from); loopback is always served"
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(OperatorAccess::From(networks))
    }
}

impl fmt::Display for OperatorAccess {
    /// What `/metrics` and `check --proxy` say is exposed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OperatorAccess::All => f.write_str("all"),
            OperatorAccess::LoopbackAnd => f.write_str("loopback"),
            OperatorAccess::From(networks) => {
                f.write_str("loopback")?;
                networks.iter().try_for_each(|n| write!(f, ",{n}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_always_then_only_the_listed_networks() {
        let none: OperatorAccess = "".parse().unwrap();
        assert_eq!(none, OperatorAccess::LoopbackAnd);
        for local in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert!(none.allows(ip(local)), "{local}");
        }
        assert!(!none.allows(ip("10.213.0.10")));
        let nodes: OperatorAccess = "loopback, 10.213.0.1/32,fd00:1::/64".parse().unwrap();
        assert_eq!(nodes.to_string(), "loopback,10.213.0.1/32,fd00:1::/64");
        assert!(nodes.allows(ip("10.213.0.1")) && nodes.allows(ip("::ffff:10.213.0.1")));
        assert!(!nodes.allows(ip("10.213.0.10")), "a pod of the same /24");
        assert!(nodes.allows(ip("fd00:1::9")) && !nodes.allows(ip("fd00:2::9")));
        let wide: OperatorAccess = "10.0.0.0/9".parse().unwrap();
        assert!(wide.allows(ip("10.127.255.255")) && !wide.allows(ip("10.128.0.0")));
        let all: OperatorAccess = "all".parse().unwrap();
        assert!(all.allows(ip("192.0.2.1")));
        let e = "10.0.0.0/8,pods".parse::<OperatorAccess>().unwrap_err();
        assert!(e.contains("\"pods\" is not a network"), "{e}");
    }
}
