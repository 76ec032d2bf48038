//! The nat-table rule set proxy-init owns, as data: its chains, their rules and the jumps
//! from the built-in PREROUTING and OUTPUT chains. Pure; rendering lives in `plan`.

use std::fmt;

use super::config::{InitConfig, PortRange};

/// Inbound TCP enters here from PREROUTING; admin and skipped ports return.
pub const INBOUND: &str = "MESHCTL_INBOUND";
/// Redirects to the proxy inbound port.
pub const INBOUND_REDIRECT: &str = "MESHCTL_INBOUND_REDIRECT";
/// Outbound TCP enters here from OUTPUT; the proxy, loopback and skips return.
pub const OUTPUT: &str = "MESHCTL_OUTPUT";
/// Redirects to the proxy outbound port.
pub const OUTBOUND_REDIRECT: &str = "MESHCTL_OUTBOUND_REDIRECT";
/// Every chain proxy-init owns, in the order they are declared.
pub const CHAINS: [&str; 4] = [INBOUND, INBOUND_REDIRECT, OUTPUT, OUTBOUND_REDIRECT];

/// iptables' multiport match takes at most 15 ports (a range counts as two).
const MULTIPORT_SLOTS: usize = 15;

/// The address family: iptables for IPv4, ip6tables for IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// The loopback network: never intercepted.
    fn loopback(self) -> &'static str {
        match self {
            Family::V4 => "127.0.0.0/8",
            Family::V6 => "::1/128",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// One `-A CHAIN …` rule: its match and target arguments and a comment saying why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub chain: &'static str,
    pub args: Vec<String>,
    pub comment: String,
}

impl Rule {
    fn new(chain: &'static str, args: &[&str], comment: impl Into<String>) -> Self {
        Self {
            chain,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            comment: format!("meshctl: {}", comment.into()),
        }
    }

    /// The chain or target this rule jumps to (the argument after `-j`).
    pub fn target(&self) -> &str {
        let at = self.args.iter().position(|a| a == "-j");
        at.and_then(|i| self.args.get(i + 1))
            .map_or("", String::as_str)
    }

    /// The arguments after `-A CHAIN`, the comment match included, unquoted.
    pub fn spec(&self) -> Vec<&str> {
        let mut spec: Vec<&str> = self.args.iter().map(String::as_str).collect();
        spec.extend(["-m", "comment", "--comment", &self.comment]);
        spec
    }
}

/// The full rule set for one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    pub family: Family,
    /// Rules inside the chains proxy-init owns (rebuilt on every run).
    pub rules: Vec<Rule>,
    /// Jumps from built-in chains into ours (added once, never duplicated).
    pub jumps: Vec<Rule>,
}

/// Builds the rules for `family`, following what Linkerd's and Istio's init steps do.
pub fn rule_set(config: &InitConfig, family: Family) -> RuleSet {
    let uid = config.proxy_uid.to_string();
    let mut rules = Vec::new();

    // Inbound: everything TCP except the admin port and skipped ports.
    let mut no_intercept = vec![PortRange::single(config.admin_port)];
    no_intercept.extend(&config.skip_inbound_ports);
    let why = "admin and skipped inbound ports reach the pod directly";
    rules.extend(port_returns(INBOUND, &no_intercept, why));
    rules.extend(redirect(
        INBOUND,
        INBOUND_REDIRECT,
        "inbound",
        config.inbound_port,
    ));

    // Outbound. The proxy dialing its own pod IP (an endpoint that is this pod) leaves
    // over lo: send it through the inbound side, as the app's peers would be, instead of
    // straight to the app. Loopback addresses are excluded so the inbound proxy's own
    // forward to the app on 127.0.0.1 is not looped back.
    rules.push(Rule::new(
        OUTPUT,
        &[
            "-o",
            "lo",
            "!",
            "-d",
            family.loopback(),
            "-m",
            "owner",
            "--uid-owner",
            &uid,
            "-j",
            INBOUND,
        ],
        "the proxy calling its own pod IP goes through the inbound side",
    ));
    rules.push(Rule::new(
        OUTPUT,
        &["-m", "owner", "--uid-owner", &uid, "-j", "RETURN"],
        format!("traffic of the proxy (uid {uid}) is never intercepted"),
    ));
    // The app talking to itself, over 127.0.0.1 or its own pod IP, stays direct.
    rules.push(Rule::new(
        OUTPUT,
        &["-o", "lo", "-j", "RETURN"],
        "loopback, also to the pod IP, is not intercepted",
    ));
    rules.push(Rule::new(
        OUTPUT,
        &["-d", family.loopback(), "-j", "RETURN"],
        "loopback destinations are not intercepted",
    ));
    let why = "skipped outbound ports";
    rules.extend(port_returns(OUTPUT, &config.skip_outbound_ports, why));
    for cidr in &config.skip_outbound_cidrs {
        if cidr.addr.is_ipv4() == (family == Family::V4) {
            rules.push(Rule::new(
                OUTPUT,
                &["-d", &cidr.to_string(), "-j", "RETURN"],
                "skipped outbound CIDR",
            ));
        }
    }
    rules.extend(redirect(
        OUTPUT,
        OUTBOUND_REDIRECT,
        "outbound",
        config.outbound_port,
    ));

    let jumps = vec![
        Rule::new(
            "PREROUTING",
            &["-p", "tcp", "-j", INBOUND],
            "inbound interception",
        ),
        Rule::new(
            "OUTPUT",
            &["-p", "tcp", "-j", OUTPUT],
            "outbound interception",
        ),
    ];
    RuleSet {
        family,
        rules,
        jumps,
    }
}

/// RETURN rules for `ports` in `chain`, as few multiport matches as fit.
fn port_returns(chain: &'static str, ports: &[PortRange], why: &str) -> Vec<Rule> {
    multiport_lists(ports)
        .iter()
        .map(|list| {
            let args = [
                "-p",
                "tcp",
                "-m",
                "multiport",
                "--dports",
                list,
                "-j",
                "RETURN",
            ];
            Rule::new(chain, &args, why)
        })
        .collect()
}

/// The last rule of `entry` (the rest of TCP goes to `target`) and `target`'s REDIRECT.
fn redirect(entry: &'static str, target: &'static str, side: &str, port: u16) -> [Rule; 2] {
    let port = port.to_string();
    [
        Rule::new(
            entry,
            &["-p", "tcp", "-j", target],
            format!("{side} TCP goes to the proxy"),
        ),
        Rule::new(
            target,
            &["-p", "tcp", "-j", "REDIRECT", "--to-ports", &port],
            format!("to the {side} port {port} of the proxy"),
        ),
    ]
}

/// Splits ports into comma lists that each fit in one multiport match.
fn multiport_lists(ports: &[PortRange]) -> Vec<String> {
    let mut lists = Vec::new();
    let (mut current, mut used) = (String::new(), 0);
    for port in ports {
        if used + port.multiport_slots() > MULTIPORT_SLOTS {
            lists.push(std::mem::take(&mut current));
            used = 0;
        }
        if !current.is_empty() {
            current.push(',');
        }
        current.push_str(&port.to_string());
        used += port.multiport_slots();
    }
    if !current.is_empty() {
        lists.push(current);
    }
    lists
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netinit::config::parse_list;

    fn config() -> InitConfig {
        InitConfig {
            skip_inbound_ports: parse_list("22,8080").unwrap(),
            skip_outbound_ports: parse_list("3306").unwrap(),
            skip_outbound_cidrs: parse_list("10.0.0.0/8,fd00::/8").unwrap(),
            ..InitConfig::default()
        }
    }

    fn lines(set: &RuleSet) -> Vec<String> {
        set.rules
            .iter()
            .map(|r| format!("{} {}", r.chain, r.args.join(" ")))
            .collect()
    }

    #[test]
    fn ipv4_rules_intercept_tcp_both_ways_with_the_exceptions() {
        let set = rule_set(&config(), Family::V4);
        assert_eq!(
            lines(&set),
            [
                "MESHCTL_INBOUND -p tcp -m multiport --dports 4191,22,8080 -j RETURN",
                "MESHCTL_INBOUND -p tcp -j MESHCTL_INBOUND_REDIRECT",
                "MESHCTL_INBOUND_REDIRECT -p tcp -j REDIRECT --to-ports 4143",
                "MESHCTL_OUTPUT -o lo ! -d 127.0.0.0/8 -m owner --uid-owner 2102 -j MESHCTL_INBOUND",
                "MESHCTL_OUTPUT -m owner --uid-owner 2102 -j RETURN",
                "MESHCTL_OUTPUT -o lo -j RETURN",
                "MESHCTL_OUTPUT -d 127.0.0.0/8 -j RETURN",
                "MESHCTL_OUTPUT -p tcp -m multiport --dports 3306 -j RETURN",
                "MESHCTL_OUTPUT -d 10.0.0.0/8 -j RETURN",
                "MESHCTL_OUTPUT -p tcp -j MESHCTL_OUTBOUND_REDIRECT",
                "MESHCTL_OUTBOUND_REDIRECT -p tcp -j REDIRECT --to-ports 4140",
            ]
        );
        let jumps: Vec<_> = set.jumps.iter().map(|j| (j.chain, j.target())).collect();
        assert_eq!(jumps, [("PREROUTING", INBOUND), ("OUTPUT", OUTPUT)]);
        assert!(set.rules.iter().all(|r| r.comment.starts_with("meshctl: ")));
    }

    #[test]
    fn ipv6_rules_use_ipv6_loopback_and_only_ipv6_cidrs() {
        let set = rule_set(&config(), Family::V6);
        let text = lines(&set).join("\n");
        assert!(text.contains("! -d ::1/128 -m owner"), "{text}");
        assert!(text.contains("-d fd00::/8 -j RETURN"), "{text}");
        assert!(!text.contains("10.0.0.0/8"), "{text}");
    }

    #[test]
    fn long_port_lists_are_split_to_fit_multiport() {
        let ports: Vec<PortRange> = (1..=20)
            .map(PortRange::single)
            .chain([PortRange {
                first: 100,
                last: 200,
            }])
            .collect();
        let lists = multiport_lists(&ports);
        assert_eq!(lists.len(), 2);
        assert_eq!(lists[0], "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15");
        assert_eq!(lists[1], "16,17,18,19,20,100:200");
        assert!(multiport_lists(&[]).is_empty());
    }
}
