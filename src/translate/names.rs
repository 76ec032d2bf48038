//! Names: Kubernetes name rules, the DNS names a Service answers to, and the
//! `meshctl.io/opaque-ports` list.

use std::collections::BTreeSet;

/// The annotation listing ports forwarded as TCP without detection.
pub(crate) const OPAQUE_PORTS: &str = "meshctl.io/opaque-ports";

/// A DNS-1123 label (what Kubernetes requires of namespace and pod hostnames; Service
/// names are stricter, which this accepts too).
pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// `svc.ns`, `svc.ns.svc`, `svc.ns.svc.<domain>`: the names of a Service in every namespace.
pub(crate) fn qualified_hosts(name: &str, ns: &str, domain: &str) -> Vec<String> {
    let mut hosts = vec![format!("{name}.{ns}"), format!("{name}.{ns}.svc")];
    if !domain.is_empty() {
        hosts.push(format!("{name}.{ns}.svc.{domain}"));
    }
    hosts
}

/// Each host with `:port`, and also without it when `portless`.
pub(crate) fn with_ports(hosts: &[String], port: u16, portless: bool) -> Vec<String> {
    let mut out = Vec::with_capacity(hosts.len() * 2);
    for h in hosts {
        if portless {
            out.push(h.clone());
        }
        out.push(format!("{h}:{port}"));
    }
    out
}

/// Ports from an opaque-ports value: `3306`, `3306,5432`, ranges `8000-8010`. Bad items are
/// returned apart so the caller can report them.
pub(crate) fn opaque_ports(value: &str) -> (BTreeSet<u16>, Vec<String>) {
    let mut ports = BTreeSet::new();
    let mut bad = Vec::new();
    let port = |p: &str| p.trim().parse::<u16>().ok().filter(|p| *p > 0);
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        match item.split_once('-') {
            Some((low, high)) => match (port(low), port(high)) {
                (Some(l), Some(h)) if l <= h && h - l <= 1024 => ports.extend(l..=h),
                _ => bad.push(item.to_owned()),
            },
            None => match port(item) {
                Some(p) => {
                    ports.insert(p);
                }
                None => bad.push(item.to_owned()),
            },
        }
    }
    (ports, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert!(is_dns_label("web-v2"));
        for bad in ["", "Web", "web.shop", "-web", "web-", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }

    #[test]
    fn opaque_lists() {
        let (ports, bad) = opaque_ports("3306, 5432,8000-8002,x,0,9-1");
        assert_eq!(
            ports.into_iter().collect::<Vec<_>>(),
            [3306, 5432, 8000, 8001, 8002]
        );
        assert_eq!(bad, ["x", "0", "9-1"]);
    }
}
