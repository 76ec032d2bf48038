//! What proxy-init is told: ports, the proxy's uid and what to leave alone, parsed from
//! the comma lists the flags and `meshctl.io/skip-*` annotations carry.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::error::ParseError;

/// Everything the rule set depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitConfig {
    pub inbound_port: u16,
    pub outbound_port: u16,
    pub admin_port: u16,
    pub proxy_uid: u32,
    pub skip_inbound_ports: Vec<PortRange>,
    pub skip_outbound_ports: Vec<PortRange>,
    pub skip_outbound_cidrs: Vec<Cidr>,
}

impl Default for InitConfig {
    /// The ports and uid of the contract between proxy-init, the proxy and inject.
    fn default() -> Self {
        Self {
            inbound_port: 4143,
            outbound_port: 4140,
            admin_port: 4191,
            proxy_uid: 2102,
            skip_inbound_ports: Vec::new(),
            skip_outbound_ports: Vec::new(),
            skip_outbound_cidrs: Vec::new(),
        }
    }
}

/// One port or an inclusive range (`8000-8100`, also written `8000:8100`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn single(port: u16) -> Self {
        Self {
            first: port,
            last: port,
        }
    }

    /// How many of multiport's 15 slots this entry takes (a range takes two).
    pub(crate) fn multiport_slots(self) -> usize {
        if self.first == self.last { 1 } else { 2 }
    }
}

impl fmt::Display for PortRange {
    /// iptables' own spelling: `22` or `8000:8100`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}:{}", self.first, self.last)
        }
    }
}

impl FromStr for PortRange {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| ParseError::Port {
            value: s.to_owned(),
            why: why.to_owned(),
        };
        let port = |p: &str| match p.trim().parse::<u16>() {
            Ok(0) => Err(bad("port 0 is not a port")),
            Ok(n) => Ok(n),
            Err(_) => Err(bad("expected a port number 1-65535")),
        };
        let (first, last) = match s.split_once(['-', ':']) {
            Some((a, b)) => (port(a)?, port(b)?),
            None => {
                let p = port(s)?;
                (p, p)
            }
        };
        if first > last {
            return Err(bad("a range must go from low to high"));
        }
        Ok(Self { first, last })
    }
}

/// An IPv4 or IPv6 network in CIDR notation (a bare address means a single host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| ParseError::Cidr {
            value: s.to_owned(),
            why: why.to_owned(),
        };
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| bad("expected an address like 10.0.0.0/8 or fd00::/8"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix.map(str::parse::<u8>) {
            None => max,
            Some(Ok(p)) if p <= max => p,
            Some(_) => return Err(bad(&format!("the prefix length must be 0-{max}"))),
        };
        Ok(Self { addr, prefix })
    }
}

/// Parses a comma-separated list; blanks are ignored so `""` and `"22,"` are fine.
pub fn parse_list<T: FromStr<Err = ParseError>>(s: &str) -> Result<Vec<T>, ParseError> {
    s.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_ranges_parse_and_print_the_iptables_way() {
        let ports: Vec<PortRange> = parse_list(" 22, 8080,8000-8100,9000:9001,").unwrap();
        let shown: Vec<String> = ports.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["22", "8080", "8000:8100", "9000:9001"]);
        assert_eq!(ports[0].multiport_slots(), 1);
        assert_eq!(ports[2].multiport_slots(), 2);
        assert!(parse_list::<PortRange>("").unwrap().is_empty());
    }

    #[test]
    fn bad_ports_say_what_is_wrong() {
        for (input, why) in [
            ("0", "port 0"),
            ("70000", "1-65535"),
            ("ssh", "1-65535"),
            ("90-80", "low to high"),
        ] {
            let err = parse_list::<PortRange>(input).unwrap_err().to_string();
            assert!(err.contains(input) && err.contains(why), "{input}: {err}");
        }
    }

    #[test]
    fn cidrs_of_both_families_parse() {
        let cidrs: Vec<Cidr> = parse_list("10.0.0.0/8, fd00::/8,192.168.1.1").unwrap();
        let shown: Vec<String> = cidrs.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/8", "fd00::/8", "192.168.1.1/32"]);
        for bad in ["10.0.0.0/33", "fd00::/129", "10.0.0/8", "x/8", "10.0.0.0/"] {
            let err = parse_list::<Cidr>(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }
}
